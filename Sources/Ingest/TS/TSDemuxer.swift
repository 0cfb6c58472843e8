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

    private mutating func packet(_ p: ArraySlice<UInt8>, into outputs: inout [Output]) throws(TSStreamError) {
        unsyncedBytes = 0
        counters.packets += 1
        let base = p.startIndex
        let b1 = p[base + 1]
        let b3 = p[base + 3]
        let pid = UInt16(b1 & 0x1F) << 8 | UInt16(p[base + 2])
        if !hasProgram {
            bytesWithoutProgram += Self.packetSize
            guard bytesWithoutProgram <= limits.maxBytesWithoutProgram else {
                throw TSStreamError(
                    .noProgram, "no PAT/PMT in the first \(bytesWithoutProgram / 1024) KiB of MPEG-TS; \(TSStreamError.advice)")
            }
        }
        guard pid != 0x1FFF else { return }
        guard b1 & 0x80 == 0 else {
            counters.transportErrors += 1
            assemblers[pid]?.active = false
            return
        }
        let unitStart = b1 & 0x40 != 0
        let scrambled = b3 & 0xC0 != 0
        let adaptation = (b3 >> 4) & 0x03
        let cc = b3 & 0x0F
        var payloadStart = base + 4
        var discontinuity = false
        var randomAccess = false
        if adaptation & 0x02 != 0 {
            let length = Int(p[base + 4])
            guard length <= 183 else {
                counters.transportErrors += 1
                return
            }
            if length > 0 {
                let flags = p[base + 5]
                discontinuity = flags & 0x80 != 0
                randomAccess = flags & 0x40 != 0
            }
            payloadStart = base + 5 + length
        }
        let hasPayload = adaptation & 0x01 != 0 && payloadStart < p.endIndex
        let known = pid == 0 || pid == pmtPID || streams[pid] != nil
        guard known else { return }

        if adaptation & 0x01 != 0 {
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
        guard hasPayload, !scrambled else { return }
        let payload = p[payloadStart...]
        if pid == 0 || pid == pmtPID {
            psi(pid: pid, payload: payload, unitStart: unitStart, into: &outputs)
        } else if let stream = streams[pid] {
            try pes(
                stream, payload: payload, unitStart: unitStart, randomAccess: randomAccess, discontinuity: discontinuity, into: &outputs)
        }
    }

    // MARK: PSI

    private mutating func psi(pid: UInt16, payload: ArraySlice<UInt8>, unitStart: Bool, into outputs: inout [Output]) {
        var data = payload
        if unitStart {
            let pointer = Int(data[data.startIndex])
            data = data.dropFirst()
            guard pointer <= data.count else {
                sections[pid] = nil
                return
            }
            if var partial = sections[pid] {
                partial.append(contentsOf: data.prefix(pointer))
                sections[pid] = partial
                drainSections(pid: pid, into: &outputs)
            }
            sections[pid] = Array(data.dropFirst(pointer))
        } else {
            guard var partial = sections[pid] else { return }
            partial.append(contentsOf: data)
            sections[pid] = partial
        }
        drainSections(pid: pid, into: &outputs)
    }

    /// Parses every complete section buffered for `pid`, keeping an incomplete tail.
    private mutating func drainSections(pid: UInt16, into outputs: inout [Output]) {
        guard var buffer = sections[pid] else { return }
        while buffer.count >= 3 {
            if buffer[0] == 0xFF {
                buffer.removeAll()
                break
            }
            let length = Int(buffer[1] & 0x0F) << 8 | Int(buffer[2])
            guard length <= 1021 else {
                counters.crcErrors += 1
                buffer.removeAll()
                break
            }
            let total = 3 + length
            guard buffer.count >= total else { break }
            let section = Array(buffer[0..<total])
            buffer.removeFirst(total)
            guard total >= 12, CRC32MPEG2.checksum(section) == 0 else {
                counters.crcErrors += 1
                continue
            }
            if pid == 0, section[0] == 0x00 {
                pat(section)
            } else if pid == pmtPID, section[0] == 0x02 {
                pmt(section, into: &outputs)
            }
        }
        sections[pid] = buffer.isEmpty ? nil : buffer
    }

    private mutating func pat(_ section: [UInt8]) {
        var offset = 8
        while offset + 4 <= section.count - 4 {
            let program = UInt16(section[offset]) << 8 | UInt16(section[offset + 1])
            let pid = UInt16(section[offset + 2] & 0x1F) << 8 | UInt16(section[offset + 3])
            offset += 4
            guard program != 0 else { continue }
            if pmtPID != pid {
                if let old = pmtPID { sections[old] = nil }
                pmtPID = pid
                pmtVersion = nil
            }
            return
        }
    }

    private mutating func pmt(_ section: [UInt8], into outputs: inout [Output]) {
        let version = Int(section[5] >> 1) & 0x1F
        guard section[5] & 0x01 != 0, version != pmtVersion || streams.isEmpty else { return }
        let pcr = UInt16(section[8] & 0x1F) << 8 | UInt16(section[9])
        let programInfoLength = Int(section[10] & 0x0F) << 8 | Int(section[11])
        var offset = 12 + programInfoLength
        let end = section.count - 4
        var found: [ElementaryStream] = []
        while offset + 5 <= end {
            let type = section[offset]
            let pid = UInt16(section[offset + 1] & 0x1F) << 8 | UInt16(section[offset + 2])
            let infoLength = Int(section[offset + 3] & 0x0F) << 8 | Int(section[offset + 4])
            let descriptorsEnd = offset + 5 + infoLength
            guard descriptorsEnd <= end else { break }
            let descriptors = section[(offset + 5)..<descriptorsEnd]
            found.append(ElementaryStream(pid: pid, streamType: type, kind: Self.kind(of: type, descriptors: descriptors)))
            offset = descriptorsEnd
        }
        guard !found.isEmpty else { return }
        pmtVersion = version
        pcrPID = pcr
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
            var index = descriptors.startIndex
            while index + 2 <= descriptors.endIndex {
                let tag = descriptors[index]
                let length = Int(descriptors[index + 1])
                let body = descriptors[(index + 2)..<min(index + 2 + length, descriptors.endIndex)]
                if tag == 0x05, Array(body.prefix(4)) == Array("Opus".utf8) { return .opus }
                if tag == 0x05, Array(body.prefix(4)) == Array("HEVC".utf8) { return .hevc }
                if tag == 0x6A { return .unsupported(name: "AC-3", track: .audio) }
                if tag == 0x7A { return .unsupported(name: "E-AC-3", track: .audio) }
                index += 2 + length
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
            if payload.count >= 6 {
                let i = payload.startIndex
                let length = Int(payload[i + 4]) << 8 | Int(payload[i + 5])
                if length > 0 { assembler.expectedLength = 6 + length }
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

    private mutating func finish(_ stream: ElementaryStream, _ assembler: Assembler, into outputs: inout [Output]) {
        let bytes = assembler.buffer
        guard bytes.count >= 9, bytes[0] == 0, bytes[1] == 0, bytes[2] == 1 else {
            counters.malformedPES += 1
            return
        }
        let streamID = bytes[3]
        let declared = Int(bytes[4]) << 8 | Int(bytes[5])
        let end = declared > 0 ? min(6 + declared, bytes.count) : bytes.count
        var start = 6
        var pts: Int64?
        var dts: Int64?
        if ![0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF].contains(streamID) {
            let flags = bytes[7] >> 6
            let headerLength = Int(bytes[8])
            start = 9 + headerLength
            guard start <= end else {
                counters.malformedPES += 1
                return
            }
            if flags & 0x02 != 0, headerLength >= 5 { pts = Self.timestamp(bytes, at: 9) }
            if flags == 0x03, headerLength >= 10 { dts = Self.timestamp(bytes, at: 14) }
        }
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
            .pes(PES(stream: stream, pts: pts, dts: dts, randomAccess: assembler.randomAccess, payload: Array(bytes[start..<end]))))
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

    static func timestamp(_ bytes: [UInt8], at offset: Int) -> Int64? {
        guard offset >= 0, offset + 5 <= bytes.count else { return nil }
        let b0 = Int64(bytes[offset]), b1 = Int64(bytes[offset + 1]), b2 = Int64(bytes[offset + 2])
        let b3 = Int64(bytes[offset + 3]), b4 = Int64(bytes[offset + 4])
        return ((b0 >> 1) & 0x07) << 30 | b1 << 22 | (b2 >> 1) << 15 | b3 << 7 | b4 >> 1
    }
}
