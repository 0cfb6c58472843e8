import Media

/// A sans-I/O MPEG-TS demuxer (ISO/IEC 13818-1): feed it bytes as they arrive, in any chunking;
/// it returns the program's elementary streams and their reassembled PES packets with unwrapped
/// 90 kHz timestamps.
///
/// It survives what a network delivers: lost sync (resynchronises on the next 0x47 that repeats
/// 188 bytes later), continuity-counter gaps (counted; the broken PES is dropped), duplicate
/// packets, corrupt PSI (CRC-checked), and the discontinuity indicator (a `.discontinuity`
/// output when the timeline really jumps). Memory is bounded: one partial packet, one PSI
/// section per PID and one PES per elementary stream, each with a cap.
public struct TSDemuxer: Sendable {
    public static let packetSize = 188

    public struct Limits: Sendable, Hashable {
        /// Largest video PES (an access unit) accepted.
        public var maxVideoPES = 8 * 1024 * 1024
        public var maxAudioPES = 512 * 1024
        /// Bytes without a valid packet after which the input is not MPEG-TS.
        public var maxUnsyncedBytes = 64 * 1024
        /// Bytes of valid packets without a PAT and PMT after which the input carries no program.
        public var maxBytesWithoutProgram = 4 * 1024 * 1024

        public init() {}
    }

    public enum StreamKind: Sendable, Hashable {
        case h264
        case hevc
        case aac
        /// Registration descriptor `Opus`; each access unit behind a control header.
        case opus
        /// A codec streamd cannot decode; `name` is for the user.
        case unsupported(name: String, track: TrackKind)
        /// Metadata, subtitles, SCTE-35 and the like: ignored.
        case data
    }

    public struct ElementaryStream: Sendable, Hashable {
        public var pid: UInt16
        public var streamType: UInt8
        public var kind: StreamKind
    }

    public struct PES: Sendable {
        public var stream: ElementaryStream
        /// Unwrapped 90 kHz timestamps; `dts` equals `pts` when the PES has no DTS.
        public var pts: Int64?
        public var dts: Int64?
        /// The adaptation field's random-access indicator on the PES's first packet.
        public var randomAccess: Bool
        public var payload: [UInt8]
    }

    public enum Output: Sendable {
        /// The PMT (first or changed): the program's elementary streams.
        case program([ElementaryStream])
        case pes(PES)
        /// The timeline jumped (discontinuity indicator): timestamps restart after this.
        case discontinuity
    }

    public struct Counters: Sendable, Hashable {
        public var packets = 0
        public var continuityErrors = 0
        public var duplicatePackets = 0
        public var syncLosses = 0
        public var skippedBytes = 0
        public var crcErrors = 0
        public var transportErrors = 0
        public var malformedPES = 0
        public var discontinuities = 0
    }

    private struct Assembler: Sendable {
        var buffer: [UInt8] = []
        var expectedLength: Int?
        var randomAccess = false
        /// The first packet carried the discontinuity indicator.
        var discontinuity = false
        var active = false
    }

    public let limits: Limits
    public private(set) var counters = Counters()
    public private(set) var streams: [UInt16: ElementaryStream] = [:]
    public private(set) var pcrPID: UInt16?
    public var hasProgram: Bool { pmtPID != nil && !streams.isEmpty }

    private var carry: [UInt8] = []
    private var pmtPID: UInt16?
    private var pmtVersion: Int?
    private var continuity: [UInt16: UInt8] = [:]
    private var sections: [UInt16: [UInt8]] = [:]
    private var assemblers: [UInt16: Assembler] = [:]
    private var unwrappers: [UInt16: TSTimestampUnwrapper] = [:]
    private var programReference: Int64?
    private var emittedPES = false
    private var unsyncedBytes = 0
    private var bytesWithoutProgram = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Demuxes the next bytes of the stream.
    public mutating func push(_ bytes: some Collection<UInt8>) throws(TSStreamError) -> [Output] {
        var outputs: [Output] = []
        var input = ArraySlice(bytes)
        if !carry.isEmpty {
            let needed = Self.packetSize - carry.count
            carry.append(contentsOf: input.prefix(needed))
            input = input.dropFirst(needed)
            guard carry.count == Self.packetSize else { return outputs }
            let pending = carry
            carry.removeAll(keepingCapacity: true)
            if pending[0] == 0x47 {
                try packet(pending[...], into: &outputs)
            } else {
                // Lost sync inside the carried bytes: rescan them with what follows.
                input = ArraySlice(pending.dropFirst() + input)
                try skipped(1)
            }
        }
        var index = input.startIndex
        while index < input.endIndex {
            guard input[index] == 0x47 else {
                let start = index
                index = input[index...].firstIndex(of: 0x47) ?? input.endIndex
                try skipped(index - start)
                counters.syncLosses += 1
                continue
            }
            let remaining = input.endIndex - index
            guard remaining >= Self.packetSize else {
                carry.append(contentsOf: input[index...])
                break
            }
            // A sync byte must repeat one packet later (where that is in view) before it is trusted.
            if remaining > Self.packetSize, input[index + Self.packetSize] != 0x47 {
                index += 1
                try skipped(1)
                counters.syncLosses += 1
                continue
            }
            try packet(input[index..<(index + Self.packetSize)], into: &outputs)
            index += Self.packetSize
        }
        return outputs
    }

    private mutating func skipped(_ count: Int) throws(TSStreamError) {
        counters.skippedBytes += count
        unsyncedBytes += count
        guard unsyncedBytes <= limits.maxUnsyncedBytes else {
            throw TSStreamError(
                .notTransportStream,
                "no MPEG-TS packet in \(unsyncedBytes) bytes: the stream is not MPEG-TS (188-byte packets starting with 0x47); \(TSStreamError.advice)"
            )
        }
    }

    // MARK: Packets

    /// The fixed 4-byte packet header (ISO/IEC 13818-1 §2.4.3.2).
    struct PacketHeader: Sendable, Hashable {
        var transportError: Bool
        var unitStart: Bool
        var pid: UInt16
        var scrambled: Bool
        /// adaptation_field_control: bit 1 an adaptation field, bit 0 a payload.
        var adaptation: UInt8
        var continuityCounter: UInt8

        /// From the header as one big-endian word: sync_byte (8), transport_error_indicator,
        /// payload_unit_start_indicator, transport_priority, PID (13), transport_scrambling_control (2),
        /// adaptation_field_control (2), continuity_counter (4).
        init(_ word: UInt32) {
            transportError = word & 0x0080_0000 != 0
            unitStart = word & 0x0040_0000 != 0
            pid = UInt16(truncatingIfNeeded: word >> 8) & 0x1FFF
            scrambled = word & 0xC0 != 0
            adaptation = UInt8(truncatingIfNeeded: word >> 4) & 0x03
            continuityCounter = UInt8(truncatingIfNeeded: word) & 0x0F
        }
    }

    /// The adaptation field's flags this demuxer uses (§2.4.3.4).
    struct AdaptationField: Sendable, Hashable {
        var discontinuity = false
        var randomAccess = false

        /// `field` is the adaptation field after its length byte (maybe empty: then no flags).
        init(_ field: ArraySlice<UInt8>) {
            if let flags = field.first {
                discontinuity = flags & 0x80 != 0
                randomAccess = flags & 0x40 != 0
            }
        }
    }

    private mutating func packet(_ p: ArraySlice<UInt8>, into outputs: inout [Output]) throws(TSStreamError) {
        unsyncedBytes = 0
        counters.packets += 1
        var reader = ByteReader(p, structure: "MPEG-TS packet")
        // Every packet has its 4-byte header: the caller passes 188 bytes.
        guard let word = try? reader.u32() else {
            counters.transportErrors += 1
            return
        }
        let header = PacketHeader(word)
        let pid = header.pid
        if !hasProgram {
            bytesWithoutProgram += Self.packetSize
            guard bytesWithoutProgram <= limits.maxBytesWithoutProgram else {
                throw TSStreamError(
                    .noProgram, "no PAT/PMT in the first \(bytesWithoutProgram / 1024) KiB of MPEG-TS; \(TSStreamError.advice)")
            }
        }
        guard pid != 0x1FFF else { return }
        guard !header.transportError else {
            counters.transportErrors += 1
            assemblers[pid]?.active = false
            return
        }
        var field: AdaptationField?
        if header.adaptation & 0x02 != 0 {
            // A field longer than the 183 bytes after its length byte is corrupt.
            guard let length = try? reader.u8(), let bytes = try? reader.slice(Int(length)) else {
                counters.transportErrors += 1
                return
            }
            field = AdaptationField(bytes)
        }
        let discontinuity = field?.discontinuity ?? false
        let randomAccess = field?.randomAccess ?? false
        let hasPayload = header.adaptation & 0x01 != 0 && !reader.isAtEnd
        let known = pid == 0 || pid == pmtPID || streams[pid] != nil
        guard known else { return }

        if header.adaptation & 0x01 != 0 {
            let cc = header.continuityCounter
            if let last = continuity[pid], !discontinuity {
                if cc == last {
                    counters.duplicatePackets += 1
                    return
                }
                if cc != (last &+ 1) & 0x0F {
                    counters.continuityErrors += 1
                    assemblers[pid]?.active = false
                    sections[pid] = nil
                }
            }
            continuity[pid] = cc
        }
        guard hasPayload, !header.scrambled else { return }
        let payload = reader.restSlice()
        if pid == 0 || pid == pmtPID {
            psi(pid: pid, payload: payload, unitStart: header.unitStart, into: &outputs)
        } else if let stream = streams[pid] {
            try pes(
                stream, payload: payload, unitStart: header.unitStart, randomAccess: randomAccess, discontinuity: discontinuity,
                into: &outputs)
        }
    }

    // MARK: PSI

    private mutating func psi(pid: UInt16, payload: ArraySlice<UInt8>, unitStart: Bool, into outputs: inout [Output]) {
        var reader = ByteReader(payload, structure: "PSI")
        if unitStart {
            // pointer_field: the bytes before it end the previous section.
            guard let pointer = try? reader.u8(), let tail = try? reader.slice(Int(pointer)) else {
                sections[pid] = nil
                return
            }
            if var partial = sections[pid] {
                partial.append(contentsOf: tail)
                sections[pid] = partial
                drainSections(pid: pid, into: &outputs)
            }
            sections[pid] = Array(reader.restSlice())
        } else {
            guard var partial = sections[pid] else { return }
            partial.append(contentsOf: reader.restSlice())
            sections[pid] = partial
        }
        drainSections(pid: pid, into: &outputs)
    }

    /// Parses every complete section buffered for `pid`, keeping an incomplete tail.
    private mutating func drainSections(pid: UInt16, into outputs: inout [Output]) {
        guard let buffer = sections[pid] else { return }
        var reader = ByteReader(buffer, structure: "PSI section")
        while reader.remaining >= 3 {
            // table_id (8), then flags and section_length (12), read ahead of the section.
            var header = reader
            guard let tableID = try? header.u8(), let lengthField = try? header.u16() else { break }
            guard tableID != 0xFF else {
                _ = reader.restSlice()  // stuffing: the rest of the packet is padding
                break
            }
            let length = Int(lengthField & 0x0FFF)
            guard length <= 1021 else {
                counters.crcErrors += 1
                _ = reader.restSlice()
                break
            }
            guard let section = try? reader.slice(3 + length) else { break }
            guard section.count >= 12, CRC32MPEG2.checksum(section) == 0 else {
                counters.crcErrors += 1
                continue
            }
            if pid == 0, tableID == 0x00 {
                pat(section)
            } else if pid == pmtPID, tableID == 0x02 {
                pmt(section, into: &outputs)
            }
        }
        if reader.isAtEnd {
            sections[pid] = nil
        } else if reader.offset > 0 {
            sections[pid] = Array(reader.restSlice())
        }
    }

    /// The first program's PMT PID from a PAT section (§2.4.4.3), CRC already checked.
    static func programMapPID(inPAT section: ArraySlice<UInt8>) -> UInt16? {
        // Header (8 bytes), then 4-byte entries up to the CRC.
        var reader = ByteReader(section.dropLast(4), structure: "PAT")
        guard (try? reader.skip(8)) != nil else { return nil }
        while let program = try? reader.u16(), let pid = try? reader.u16() {
            if program != 0 { return pid & 0x1FFF }  // program 0 names the network PID
        }
        return nil
    }

    private mutating func pat(_ section: ArraySlice<UInt8>) {
        guard let pid = Self.programMapPID(inPAT: section), pmtPID != pid else { return }
        if let old = pmtPID { sections[old] = nil }
        pmtPID = pid
        pmtVersion = nil
    }

    /// A PMT section's fields (§2.4.4.8), CRC already checked.
    struct ProgramMap: Sendable, Hashable {
        var version: Int
        var currentNext: Bool
        var pcrPID: UInt16
        /// The elementary streams whose entries are whole; a truncated entry ends the list.
        var streams: [ElementaryStream]

        init(_ section: ArraySlice<UInt8>) throws(MediaFormatError) {
            var reader = ByteReader(section.dropLast(4), structure: "PMT")
            try reader.skip(5)  // table_id, section_length, program_number
            let versionByte = try reader.u8()
            version = Int(versionByte >> 1) & 0x1F
            currentNext = versionByte & 0x01 != 0
            try reader.skip(2)  // section_number, last_section_number
            pcrPID = try reader.u16() & 0x1FFF
            let programInfoLength = Int(try reader.u16() & 0x0FFF)
            try reader.skip(programInfoLength)
            streams = []
            while reader.remaining >= 5 {
                let type = try reader.u8()
                let pid = try reader.u16() & 0x1FFF
                let infoLength = Int(try reader.u16() & 0x0FFF)
                guard let descriptors = try? reader.slice(infoLength) else { break }
                streams.append(ElementaryStream(pid: pid, streamType: type, kind: TSDemuxer.kind(of: type, descriptors: descriptors)))
            }
        }
    }

    private mutating func pmt(_ section: ArraySlice<UInt8>, into outputs: inout [Output]) {
        guard let map = try? ProgramMap(section), map.currentNext, map.version != pmtVersion || streams.isEmpty else { return }
        let found = map.streams
        guard !found.isEmpty else { return }
        pmtVersion = map.version
        pcrPID = map.pcrPID
        let previous = streams
        streams = Dictionary(found.map { ($0.pid, $0) }, uniquingKeysWith: { first, _ in first })
        for pid in previous.keys where streams[pid] != previous[pid] {
            assemblers[pid] = nil
            unwrappers[pid] = nil
            continuity[pid] = nil
        }
        if previous != streams { outputs.append(.program(found)) }
    }

    static func kind(of streamType: UInt8, descriptors: ArraySlice<UInt8>) -> StreamKind {
        switch streamType {
        case 0x1B: return .h264
        case 0x0F: return .aac
        case 0x24: return .hevc
        case 0x01: return .unsupported(name: "MPEG-1 video", track: .video)
        case 0x02: return .unsupported(name: "MPEG-2 video", track: .video)
        case 0x10: return .unsupported(name: "MPEG-4 part 2 video", track: .video)
        case 0x03, 0x04: return .unsupported(name: "MPEG audio (MP2/MP3)", track: .audio)
        case 0x11: return .unsupported(name: "AAC in LATM", track: .audio)
        case 0x81: return .unsupported(name: "AC-3", track: .audio)
        case 0x87: return .unsupported(name: "E-AC-3", track: .audio)
        case 0x06:
            // Descriptors: tag (8), length (8), body; a body cut short by the loop's end still counts.
            var reader = ByteReader(descriptors, structure: "descriptor")
            while let tag = try? reader.u8(), let length = try? reader.u8() {
                let body = reader.slice(atMost: Int(length))
                if tag == 0x05, body.prefix(4).elementsEqual("Opus".utf8) { return .opus }
                if tag == 0x05, body.prefix(4).elementsEqual("HEVC".utf8) { return .hevc }
                if tag == 0x6A { return .unsupported(name: "AC-3", track: .audio) }
                if tag == 0x7A { return .unsupported(name: "E-AC-3", track: .audio) }
            }
            return .data
        default:
            return .data
        }
    }

    // MARK: PES

    private mutating func pes(
        _ stream: ElementaryStream, payload: ArraySlice<UInt8>, unitStart: Bool, randomAccess: Bool, discontinuity: Bool,
        into outputs: inout [Output]
    ) throws(TSStreamError) {
        switch stream.kind {
        case .h264, .hevc, .aac, .opus: break
        case .unsupported, .data: return
        }
        var assembler = assemblers[stream.pid] ?? Assembler()
        if unitStart {
            if assembler.active, !assembler.buffer.isEmpty {
                finish(stream, assembler, into: &outputs)
            }
            assembler.buffer.removeAll(keepingCapacity: true)
            assembler.active = true
            assembler.randomAccess = randomAccess
            assembler.discontinuity = discontinuity
            assembler.expectedLength = nil
            // packet_start_code_prefix (24), stream_id (8), PES_packet_length (16): 0 is unbounded.
            var header = ByteReader(payload, structure: "PES header")
            if (try? header.skip(4)) != nil, let length = try? header.u16(), length > 0 {
                assembler.expectedLength = 6 + Int(length)
            }
        } else if !assembler.active {
            assemblers[stream.pid] = assembler
            return
        }
        let limit = stream.kind == .h264 || stream.kind == .hevc ? limits.maxVideoPES : limits.maxAudioPES
        guard assembler.buffer.count + payload.count <= limit else {
            throw TSStreamError(
                .oversizedPacket,
                "a PES packet on PID \(stream.pid) exceeds \(limit / 1024) KiB without ending; the stream is malformed or not live media")
        }
        assembler.buffer.append(contentsOf: payload)
        if let expected = assembler.expectedLength, assembler.buffer.count >= expected {
            finish(stream, assembler, into: &outputs)
            assembler.buffer.removeAll(keepingCapacity: true)
            assembler.active = false
        }
        assemblers[stream.pid] = assembler
    }

    /// A PES packet's header fields (§2.4.3.6) and where its payload lies.
    struct PESHeader: Sendable, Hashable {
        /// Raw 33-bit 90 kHz timestamps.
        var pts: Int64?
        var dts: Int64?
        /// The indices of the payload in the packet.
        var payload: Range<Int>

        /// Whether packets of a stream ID carry the optional header (§2.4.3.7): all but program
        /// stream map, padding, private stream 2, ECM, EMM, DSM-CC, H.222.1 type E and directory.
        static func hasOptionalHeader(_ streamID: UInt8) -> Bool {
            switch streamID {
            case 0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF: false
            default: true
            }
        }

        init(_ bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
            guard bytes.count >= 9 else { throw MediaFormatError("PES header", "needs 9 bytes, has \(bytes.count)") }
            var reader = ByteReader(bytes, structure: "PES header")
            guard try reader.u24() == 1 else { throw MediaFormatError("PES header", "no packet start code") }
            let streamID = try reader.u8()
            let declared = Int(try reader.u16())
            // A declared length beyond the bytes assembled is cut to them; 0 is unbounded.
            var packet = ByteReader(declared > 0 ? reader.slice(atMost: declared) : reader.restSlice(), structure: "PES header")
            if Self.hasOptionalHeader(streamID) {
                try packet.skip(1)  // scrambling, priority, alignment, copyright, original
                let flags = try packet.u8() >> 6
                let headerLength = Int(try packet.u8())
                var header = ByteReader(try packet.slice(headerLength), structure: "PES header")
                if flags & 0x02 != 0, headerLength >= 5 { pts = try Self.timestamp(&header) }
                if flags == 0x03, headerLength >= 10 { dts = try Self.timestamp(&header) }
            }
            payload = packet.restSlice().indices
        }

        /// A 33-bit timestamp in its 5-byte form (4 bits prefix, then 3, 15 and 15 bits, each with a marker bit).
        static func timestamp(_ reader: inout ByteReader) throws(MediaFormatError) -> Int64 {
            let high = Int64(try reader.u8())
            let middle = Int64(try reader.u16())
            let low = Int64(try reader.u16())
            return ((high >> 1) & 0x07) << 30 | (middle >> 1) << 15 | low >> 1
        }
    }

    private mutating func finish(_ stream: ElementaryStream, _ assembler: Assembler, into outputs: inout [Output]) {
        let bytes = assembler.buffer
        guard let header = try? PESHeader(bytes[...]) else {
            counters.malformedPES += 1
            return
        }
        var pts = header.pts
        var dts = header.dts
        if let raw = pts {
            let rawDTS = dts ?? raw
            if assembler.discontinuity { timelineCheck(rawDTS, into: &outputs) }
            var unwrapper = unwrappers[stream.pid] ?? TSTimestampUnwrapper()
            let unwrappedDTS = unwrapper.unwrap(rawDTS, reference: programReference)
            unwrappers[stream.pid] = unwrapper
            // PTS sits just after DTS: place it on the period nearest the DTS.
            var ptsUnwrapper = TSTimestampUnwrapper()
            let unwrappedPTS = ptsUnwrapper.unwrap(raw, reference: unwrappedDTS)
            pts = unwrappedPTS
            dts = unwrappedDTS
            programReference = unwrappedDTS
        }
        emittedPES = true
        outputs.append(
            .pes(PES(stream: stream, pts: pts, dts: dts, randomAccess: assembler.randomAccess, payload: Array(bytes[header.payload]))))
    }

    /// After a discontinuity indicator, a timestamp more than 2 s away from the timeline restarts it
    /// (each stream signals the same jump: only the first moves the timeline).
    private mutating func timelineCheck(_ raw: Int64, into outputs: inout [Output]) {
        guard emittedPES, let reference = programReference else { return }
        let distance = (raw &- (reference & (TSTimestampUnwrapper.period &- 1))) & (TSTimestampUnwrapper.period &- 1)
        let near = min(distance, TSTimestampUnwrapper.period &- distance) <= 2 * 90_000
        guard !near else { return }
        counters.discontinuities += 1
        for pid in unwrappers.keys { unwrappers[pid]?.reset() }
        programReference = nil
        outputs.append(.discontinuity)
    }
}
