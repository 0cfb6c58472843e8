import Media

/// The CMAF header (init segment) of one track: `ftyp` + `moov` with a single `trak` (track id 1),
/// empty sample tables and `mvex/trex`, so that every sample lives in the fragments.
///
/// `ftyp` is major brand `iso6` with compatible brands `iso6 cmfc mp41`:
/// - `iso6` because the fragments use ISO/IEC 14496-12 features that the `iso4`…`iso6` brands
///   introduced: `tfdt` version 1, `trun` version 1 (signed composition offsets) and
///   `default-base-is-moof` in `tfhd`; `iso6` is the brand CMAF (ISO/IEC 23000-19) builds on.
/// - `cmfc` declares the CMAF structural constraints the output meets (one track per header and
///   per fragment, every fragment a `moof`+`mdat`, segments starting with a sync sample).
/// - `mp41` lets older MP4 readers that predate `iso6` accept the file.
/// No media-profile brand (`cfhd`, `caac`…) is claimed: those constrain levels and bitrates that
/// the ladder does not promise.
public struct CMAFInitSegment: Sendable {
    public static let trackID: UInt32 = 1

    public let bytes: [UInt8]
    /// Ticks per second of the track's media timeline (`mdhd` timescale, `tfdt`, `trun`).
    public let timescale: UInt32
    /// The RFC 6381 codec string for `CODECS`.
    public let codecString: String
    /// Picture size written in `tkhd`/`avc1` (from the SPS when the track does not say).
    public let width: Int?
    public let height: Int?

    public init(track: TrackInfo) throws(CMAFError) {
        let timescale = Self.timescale(for: track)
        self.timescale = timescale
        var writer = BoxWriter(capacity: 1024)
        writer.box("ftyp") { w in
            w.fourCC("iso6")
            w.u32(0)
            w.fourCC("iso6")
            w.fourCC("cmfc")
            w.fourCC("mp41")
        }
        switch (track.kind, track.configuration) {
        case (.video, .avc(let record)):
            let sps = record.sequenceParameterSets.first.flatMap { try? H264SequenceParameterSet(parsing: $0) }
            let width = track.width ?? sps?.width
            let height = track.height ?? sps?.height
            guard let width, let height, (1...65535).contains(width), (1...65535).contains(height) else {
                throw CMAFError(
                    "the H.264 track has no usable picture size (neither the track nor its SPS gives one): check the encoder's output")
            }
            self.width = width
            self.height = height
            codecString = CodecString.avc(record)
            Self.writeMovie(&writer, track: track, timescale: timescale, handler: "vide", width: width, height: height) { w in
                Self.writeAVCSampleEntry(&w, record: record, sps: sps, width: width, height: height)
            }
        case (.audio, .aac(let config)):
            width = nil
            height = nil
            codecString = CodecString.aac(config)
            Self.writeMovie(&writer, track: track, timescale: timescale, handler: "soun", width: 0, height: 0) { w in
                Self.writeAACSampleEntry(&w, config: config, track: track)
            }
        default:
            throw CMAFError.unsupported(
                "\(track.kind) \(track.codec)\(track.configuration == nil ? " without a decoder configuration" : "")")
        }
        bytes = writer.finish()
    }

    /// 90 kHz for video unless the track's timebase is finer (then its own denominator, exact);
    /// the sample rate for audio. Timestamps are rescaled from the packets' timebase per packet,
    /// each from its absolute value, so rounding never accumulates.
    public static func timescale(for track: TrackInfo) -> UInt32 {
        switch track.kind {
        case .audio:
            var rate = track.sampleRate
            if rate == nil, case .aac(let config) = track.configuration { rate = config.sampleRate }
            if let rate, rate > 0, rate <= Int(UInt32.max) { return UInt32(rate) }
            return finerThan90kHz(track.timebase) ?? 90_000
        case .video:
            return finerThan90kHz(track.timebase) ?? 90_000
        }
    }

    /// A timescale that represents every tick of `timebase` exactly, when its ticks are shorter
    /// than 1/90000 s.
    private static func finerThan90kHz(_ timebase: Timebase) -> UInt32? {
        let (n, d) = (timebase.numerator, timebase.denominator)
        let (scaled, overflow) = n.multipliedReportingOverflow(by: 90_000)
        guard !overflow, scaled < d else { return nil }
        if d % n == 0, d / n <= Int64(UInt32.max) { return UInt32(d / n) }
        if d <= Int64(UInt32.max) { return UInt32(d) }
        return nil
    }

    // MARK: moov

    private static let unityMatrix: [UInt32] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]

    private static func writeMovie(
        _ w: inout BoxWriter, track: TrackInfo, timescale: UInt32, handler: FourCC, width: Int, height: Int,
        sampleEntry: (inout BoxWriter) -> Void
    ) {
        w.box("moov") { w in
            w.fullBox("mvhd", version: 0, flags: 0) { w in
                w.u32(0)  // creation_time
                w.u32(0)  // modification_time
                w.u32(timescale)
                w.u32(0)  // duration: unknown (fragmented)
                w.u32(0x0001_0000)  // rate 1.0
                w.u16(0x0100)  // volume 1.0
                w.zeros(2 + 8)
                for value in unityMatrix { w.u32(value) }
                w.zeros(24)  // pre_defined
                w.u32(trackID + 1)  // next_track_ID
            }
            w.box("trak") { w in
                w.fullBox("tkhd", version: 0, flags: 0x000003) { w in  // enabled, in movie
                    w.u32(0)
                    w.u32(0)
                    w.u32(trackID)
                    w.u32(0)  // reserved
                    w.u32(0)  // duration
                    w.zeros(8)
                    w.u16(0)  // layer
                    w.u16(0)  // alternate_group
                    w.u16(handler == "soun" ? 0x0100 : 0)  // volume
                    w.u16(0)
                    for value in unityMatrix { w.u32(value) }
                    w.u32(UInt32(truncatingIfNeeded: width) << 16)  // 16.16 fixed point
                    w.u32(UInt32(truncatingIfNeeded: height) << 16)
                }
                w.box("mdia") { w in
                    w.fullBox("mdhd", version: 0, flags: 0) { w in
                        w.u32(0)
                        w.u32(0)
                        w.u32(timescale)
                        w.u32(0)
                        w.u16(0x55C4)  // language "und", packed ISO-639-2/T
                        w.u16(0)
                    }
                    w.fullBox("hdlr", version: 0, flags: 0) { w in
                        w.u32(0)  // pre_defined
                        w.fourCC(handler)
                        w.zeros(12)
                        w.append(Array((handler == "vide" ? "VideoHandler" : "SoundHandler").utf8))
                        w.u8(0)
                    }
                    w.box("minf") { w in
                        if handler == "vide" {
                            w.fullBox("vmhd", version: 0, flags: 1) { w in w.zeros(8) }  // graphicsmode, opcolor
                        } else {
                            w.fullBox("smhd", version: 0, flags: 0) { w in w.zeros(4) }  // balance, reserved
                        }
                        w.box("dinf") { w in
                            w.fullBox("dref", version: 0, flags: 0) { w in
                                w.u32(1)
                                w.fullBox("url ", version: 0, flags: 1) { _ in }  // media in this file
                            }
                        }
                        w.box("stbl") { w in
                            w.fullBox("stsd", version: 0, flags: 0) { w in
                                w.u32(1)
                                sampleEntry(&w)
                            }
                            w.fullBox("stts", version: 0, flags: 0) { w in w.u32(0) }
                            w.fullBox("stsc", version: 0, flags: 0) { w in w.u32(0) }
                            w.fullBox("stsz", version: 0, flags: 0) { w in
                                w.u32(0); w.u32(0)
                            }
                            w.fullBox("stco", version: 0, flags: 0) { w in w.u32(0) }
                        }
                    }
                }
            }
            w.box("mvex") { w in
                w.fullBox("trex", version: 0, flags: 0) { w in
                    w.u32(trackID)
                    w.u32(1)  // default_sample_description_index
                    w.u32(0)  // default_sample_duration
                    w.u32(0)  // default_sample_size
                    w.u32(0)  // default_sample_flags (every trun says its own)
                }
            }
        }
    }

    // MARK: Sample entries

    private static func writeAVCSampleEntry(
        _ w: inout BoxWriter, record: AVCDecoderConfigurationRecord, sps: H264SequenceParameterSet?, width: Int, height: Int
    ) {
        w.box("avc1") { w in
            w.zeros(6)  // SampleEntry reserved
            w.u16(1)  // data_reference_index
            w.zeros(2 + 2 + 12)  // pre_defined, reserved, pre_defined
            w.u16(UInt16(truncatingIfNeeded: width))
            w.u16(UInt16(truncatingIfNeeded: height))
            w.u32(0x0048_0000)  // 72 dpi
            w.u32(0x0048_0000)
            w.u32(0)
            w.u16(1)  // frame_count
            w.zeros(32)  // compressorname
            w.u16(0x0018)  // depth
            w.i16(-1)  // pre_defined
            w.box("avcC") { w in
                w.append(record.serialized())
                // ISO/IEC 14496-15 §5.3.3.1.2: the High profiles repeat chroma format and bit depth.
                if let sps, H264SequenceParameterSet.highProfiles.contains(record.profileIndication) {
                    w.u8(0xFC | UInt8(truncatingIfNeeded: sps.chromaFormat) & 0x03)
                    w.u8(0xF8 | UInt8(truncatingIfNeeded: sps.bitDepthLuma - 8) & 0x07)
                    w.u8(0xF8 | UInt8(truncatingIfNeeded: sps.bitDepthChroma - 8) & 0x07)
                    w.u8(0)  // numOfSequenceParameterSetExt
                }
            }
        }
    }

    private static func writeAACSampleEntry(_ w: inout BoxWriter, config: AudioSpecificConfig, track: TrackInfo) {
        let channels = config.channelConfiguration > 0 ? config.channelConfiguration : (track.channels ?? 2)
        let rate = track.sampleRate ?? config.sampleRate
        w.box("mp4a") { w in
            w.zeros(6)
            w.u16(1)  // data_reference_index
            w.zeros(8)  // reserved
            w.u16(UInt16(clamping: channels))
            w.u16(16)  // samplesize
            w.u16(0)  // pre_defined
            w.u16(0)  // reserved
            w.u32(rate > 0 && rate <= 0xFFFF ? UInt32(rate) << 16 : 0)  // 16.16; 0 when it does not fit
            w.fullBox("esds", version: 0, flags: 0) { w in
                writeESDescriptor(&w, config: config, bitrate: track.bitrate)
            }
        }
    }

    /// ISO/IEC 14496-1 §7.2.6.5 ES_Descriptor with a DecoderConfigDescriptor (MPEG-4 Audio, 0x40)
    /// whose DecoderSpecificInfo is the AudioSpecificConfig, and the MP4 SLConfigDescriptor.
    private static func writeESDescriptor(_ w: inout BoxWriter, config: AudioSpecificConfig, bitrate: Int?) {
        let asc = config.bytes
        let decoderSpecific = 1 + sizeFieldLength(asc.count) + asc.count
        let decoderConfig = 13 + decoderSpecific
        let slConfig = 3
        let esBody = 3 + (1 + sizeFieldLength(decoderConfig) + decoderConfig) + slConfig
        descriptorHeader(&w, tag: 0x03, size: esBody)
        w.u16(0)  // ES_ID
        w.u8(0)  // no dependency, URL or OCR stream
        descriptorHeader(&w, tag: 0x04, size: decoderConfig)
        w.u8(0x40)  // objectTypeIndication: MPEG-4 Audio
        w.u8(0x05 << 2 | 0x01)  // streamType audio, upStream 0, reserved 1
        w.u24(0)  // bufferSizeDB: unknown
        let bits = UInt32(clamping: max(bitrate ?? 0, 0))
        w.u32(bits)  // maxBitrate
        w.u32(bits)  // avgBitrate
        descriptorHeader(&w, tag: 0x05, size: asc.count)
        w.append(asc)
        descriptorHeader(&w, tag: 0x06, size: 1)
        w.u8(0x02)  // predefined: MP4 file
    }

    private static func sizeFieldLength(_ size: Int) -> Int {
        size < 0x80 ? 1 : size < 0x4000 ? 2 : size < 0x20_0000 ? 3 : 4
    }

    /// A descriptor tag and its expandable size (7 bits per byte, high bit = more follow).
    private static func descriptorHeader(_ w: inout BoxWriter, tag: UInt8, size: Int) {
        w.u8(tag)
        let length = sizeFieldLength(size)
        for index in stride(from: length - 1, through: 0, by: -1) {
            let group = UInt8(truncatingIfNeeded: size >> (7 * index)) & 0x7F
            w.u8(index == 0 ? group : group | 0x80)
        }
    }
}
