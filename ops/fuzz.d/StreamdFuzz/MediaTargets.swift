import Ingest
import Media
import Packager

/// MPEG-TS from SRT publishers, the audio inside it, and what the packager makes of the media.
enum MediaTargets {
    /// The demuxer on the whole input and on the same bytes cut into reads of 1 to 255 bytes (the
    /// first byte says how long): the same outputs for any cutting, as long as the sync byte was
    /// never lost (a lost sync is regained by looking one packet ahead "where that is in view",
    /// which depends on the cutting by design).
    @Sendable static func transportStream(_ data: [UInt8]) {
        let whole = demux([data[...]])
        guard let size = data.first.map({ Int(max($0, 1)) }) else { return }
        let reads = stride(from: 0, to: data.count, by: size).map { data[$0..<min($0 + size, data.count)] }
        let cut = demux(reads)
        // A push that throws returns none of its outputs: after an error only the error is compared.
        let same = whole.error != nil || cut.error != nil ? whole.error == cut.error : whole.outputs == cut.outputs
        guard whole.syncLosses > 0 || cut.syncLosses > 0 || same else {
            fatalError("the demuxer's outputs depend on how the input is cut (\(size)-byte reads): \(whole) vs \(cut)")
        }
    }

    /// Outputs in short form, and the error that stopped the stream.
    private static func demux(_ reads: [ArraySlice<UInt8>]) -> (outputs: [String], error: String?, syncLosses: Int) {
        var demuxer = TSDemuxer()
        var outputs: [String] = []
        do {
            for read in reads {
                for output in try demuxer.push(read) {
                    switch output {
                    case .program(let streams): outputs.append("program \(streams.map { "\($0.pid):\($0.streamType)" })")
                    case .pes(let pes):
                        outputs.append(
                            "pes \(pes.stream.pid) \(pes.pts ?? -1) \(pes.dts ?? -1) \(pes.randomAccess) \(pes.payload.hashValue)")
                    case .discontinuity: outputs.append("discontinuity")
                    }
                }
            }
        } catch {
            return (outputs, "\(error.kind)", demuxer.counters.syncLosses)
        }
        return (outputs, nil, demuxer.counters.syncLosses)
    }

    /// The input as the payload of two AAC PES packets (cut in the middle) behind a valid PAT and PMT:
    /// ADTS frames as an SRT publisher sends them, through the extractor and the CMAF segmenter.
    @Sendable static func adts(_ data: [UInt8]) {
        if data.count >= 7, let header = try? ADTSHeader(parsing: data[...]) {
            guard header.frameLength > header.headerLength, header.sampleRate > 0 else { fatalError("ADTS header \(header) accepted") }
            _ = try? AudioSpecificConfig(parsing: header.audioSpecificConfig.bytes)
        }
        _ = try? AudioSpecificConfig(parsing: data)
        packageMedia(TSWriter.program(streamType: 0x0F, descriptor: [], payload: data))
    }

    /// The input as Opus PES payloads (control headers and packets, registration descriptor `Opus`).
    @Sendable static func opus(_ data: [UInt8]) {
        packageMedia(TSWriter.program(streamType: 0x06, descriptor: [0x05, 4] + Array("Opus".utf8), payload: data))
    }

    /// Any TS (an SRT publish) through the extractor, then each track's first configuration into a
    /// CMAF init segment and its packets through a segmenter, as the live packager does.
    @Sendable static func cmaf(_ data: [UInt8]) {
        packageMedia(data)
    }

    static func packageMedia(_ stream: [UInt8]) {
        var extractor = TSMediaExtractor()
        var items: [MediaItem] = []
        do {
            let half = stream.count / 2 / 188 * 188
            items += try extractor.push(stream[..<half]).items
            items += try extractor.push(stream[half...]).items
        } catch {}
        if var flushed = try? extractor.push([UInt8]()) {
            extractor.flushHeldVideo(into: &flushed)
            items += flushed.items
        }
        var segmenters: [TrackKind: CMAFSegmenter] = [:]
        for item in items {
            switch item {
            case .track(let track):
                guard segmenters[track.kind] == nil, track.codec == .h264 || track.codec == .aac else { continue }
                guard let initSegment = try? CMAFInitSegment(track: track) else { continue }
                guard !initSegment.bytes.isEmpty else { fatalError("an empty init segment for \(track)") }
                segmenters[track.kind] = CMAFSegmenter(track: track)
            case .packet(let packet):
                _ = segmenters[packet.track]?.push(packet)
            case .discontinuity:
                for kind in Array(segmenters.keys) { _ = segmenters[kind]?.discontinuity() }
            }
        }
        for kind in Array(segmenters.keys) { _ = segmenters[kind]?.finish() }
    }
}

/// A program of one elementary stream at PID 0x101: PAT, PMT and the payload in two PES packets.
enum TSWriter {
    static func program(streamType: UInt8, descriptor: [UInt8], payload: [UInt8]) -> [UInt8] {
        var continuity: [UInt16: UInt8] = [:]
        let pat: [UInt8] = [0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00]
        var pmt: [UInt8] = [0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x01, 0xF0, 0x00]
        pmt += [streamType, 0xE1, 0x01, 0xF0, UInt8(descriptor.count)] + descriptor
        var out = packets(pid: 0, payload: [0] + section(0x00, pat), continuity: &continuity)
        out += packets(pid: 0x1000, payload: [0] + section(0x02, pmt), continuity: &continuity)
        let middle = payload.count / 2
        for (index, part) in [payload[..<middle], payload[middle...]].enumerated() {
            let header: [UInt8] = [0x80, 0x80, 5] + timestamp(90_000 + Int64(index) * 1920)
            let length = min(header.count + part.count, 0xFFFF)
            out += packets(
                pid: 0x101, payload: [0, 0, 1, 0xC0, UInt8(length >> 8), UInt8(length & 0xFF)] + header + part, continuity: &continuity)
        }
        return out
    }

    static func section(_ tableID: UInt8, _ body: [UInt8]) -> [UInt8] {
        let length = body.count + 4
        var section: [UInt8] = [tableID, 0xB0 | UInt8(length >> 8), UInt8(length & 0xFF)] + body
        let crc = crc32MPEG2(section)
        section += [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
        return section
    }

    static func crc32MPEG2(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte) << 24
            for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? crc << 1 ^ 0x04C1_1DB7 : crc << 1 }
        }
        return crc
    }

    static func timestamp(_ value: Int64) -> [UInt8] {
        [
            0x21 | UInt8((value >> 29) & 0x0E), UInt8((value >> 22) & 0xFF), UInt8((value >> 14) & 0xFE) | 1, UInt8((value >> 7) & 0xFF),
            UInt8((value << 1) & 0xFE) | 1,
        ]
    }

    static func packets(pid: UInt16, payload: [UInt8], continuity: inout [UInt16: UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        repeat {
            let remaining = payload.count - offset
            let chunk = min(remaining, remaining < 184 ? 182 : 184)
            let counter = continuity[pid, default: 0]
            continuity[pid] = (counter + 1) & 0x0F
            out += [0x47, (offset == 0 ? 0x40 : 0) | UInt8(pid >> 8), UInt8(pid & 0xFF), (chunk < 184 ? 0x30 : 0x10) | counter]
            if chunk < 184 {
                out += [UInt8(184 - chunk - 1)] + (184 - chunk >= 2 ? [0] + [UInt8](repeating: 0xFF, count: 184 - chunk - 2) : [])
            }
            out += payload[offset..<(offset + chunk)]
            offset += chunk
        } while offset < payload.count
        return out
    }
}
