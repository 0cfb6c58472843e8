import Foundation

@testable import Ingest

/// Writes small MPEG-TS streams for the demuxer tests: PAT, PMT (with CRC), and PES packets cut
/// into 188-byte packets with continuity counters and adaptation-field flags.
struct TSTestWriter {
    static let pmtPID: UInt16 = 0x1000
    static let videoPID: UInt16 = 0x100
    static let audioPID: UInt16 = 0x101

    var continuity: [UInt16: UInt8] = [:]

    mutating func pat(pmtPID: UInt16 = pmtPID) -> [UInt8] {
        let body: [UInt8] = [0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xE0 | UInt8(pmtPID >> 8), UInt8(pmtPID & 0xFF)]
        return psi(pid: 0, section: Self.section(tableID: 0x00, body: body))
    }

    mutating func pmt(streams: [(type: UInt8, pid: UInt16)], version: UInt8 = 0, descriptors: [UInt16: [UInt8]] = [:]) -> [UInt8] {
        var body: [UInt8] = [0x00, 0x01, 0xC1 | (version & 0x1F) << 1, 0x00, 0x00]
        let pcr = streams.first?.pid ?? 0x1FFF
        body += [0xE0 | UInt8(pcr >> 8), UInt8(pcr & 0xFF), 0xF0, 0x00]
        for stream in streams {
            let info = descriptors[stream.pid] ?? []
            body += [
                stream.type, 0xE0 | UInt8(stream.pid >> 8), UInt8(stream.pid & 0xFF), 0xF0 | UInt8(info.count >> 8),
                UInt8(info.count & 0xFF),
            ]
            body += info
        }
        return psi(pid: Self.pmtPID, section: Self.section(tableID: 0x02, body: body))
    }

    static func section(tableID: UInt8, body: [UInt8]) -> [UInt8] {
        let length = body.count + 4
        var section: [UInt8] = [tableID, 0xB0 | UInt8(length >> 8), UInt8(length & 0xFF)] + body
        let crc = CRC32MPEG2.checksum(section)
        section += [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
        return section
    }

    mutating func psi(pid: UInt16, section: [UInt8]) -> [UInt8] {
        var payload = [0x00] + section
        payload += [UInt8](repeating: 0xFF, count: max(0, 184 - payload.count))
        return packets(pid: pid, payload: payload, unitStart: true)
    }

    /// A PES packet; `bounded` writes PES_packet_length (audio), otherwise 0 (video).
    mutating func pes(
        pid: UInt16, streamID: UInt8, pts: Int64, dts: Int64? = nil, payload: [UInt8], bounded: Bool,
        discontinuity: Bool = false, randomAccess: Bool = false
    ) -> [UInt8] {
        var header: [UInt8] = [0x80, dts == nil ? 0x80 : 0xC0, dts == nil ? 5 : 10]
        header += Self.timestamp(pts, prefix: dts == nil ? 0x2 : 0x3)
        if let dts { header += Self.timestamp(dts, prefix: 0x1) }
        let length = bounded ? header.count + payload.count : 0
        let pes: [UInt8] = [0, 0, 1, streamID, UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)] + header + payload
        var flags: UInt8 = 0
        if discontinuity { flags |= 0x80 }
        if randomAccess { flags |= 0x40 }
        return packets(pid: pid, payload: pes, unitStart: true, firstFlags: flags)
    }

    static func timestamp(_ value: Int64, prefix: UInt8) -> [UInt8] {
        let ts = value & ((1 << 33) - 1)
        return [
            prefix << 4 | UInt8((ts >> 29) & 0x0E) | 1, UInt8((ts >> 22) & 0xFF), UInt8((ts >> 14) & 0xFE) | 1,
            UInt8((ts >> 7) & 0xFF), UInt8((ts << 1) & 0xFE) | 1,
        ]
    }

    mutating func packets(pid: UInt16, payload: [UInt8], unitStart: Bool, firstFlags: UInt8 = 0) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        var first = true
        while offset < payload.count {
            let remaining = payload.count - offset
            let flags = first ? firstFlags : 0
            let needsAdaptation = flags != 0 || remaining < 184
            let chunk = needsAdaptation ? min(remaining, 182) : 184
            let cc = continuity[pid, default: 0]
            continuity[pid] = (cc + 1) & 0x0F
            out += [0x47, (unitStart && first ? 0x40 : 0) | UInt8(pid >> 8), UInt8(pid & 0xFF), (needsAdaptation ? 0x30 : 0x10) | cc]
            if needsAdaptation {
                let adaptation = 184 - chunk
                out.append(UInt8(adaptation - 1))
                out.append(flags)
                out += [UInt8](repeating: 0xFF, count: adaptation - 2)
            }
            out += payload[offset..<(offset + chunk)]
            offset += chunk
            first = false
        }
        return out
    }

    /// A tiny H.264 access unit in Annex B: AUD, then SPS+PPS+IDR or a non-IDR slice.
    static func h264AccessUnit(keyframe: Bool, size: Int = 600) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0, 1, 0x09, 0xF0]
        if keyframe {
            bytes += [0, 0, 0, 1] + sps
            bytes += [0, 0, 1] + pps
        }
        bytes += [0, 0, 1, keyframe ? 0x65 : 0x41] + (0..<size).map { UInt8(truncatingIfNeeded: $0 % 200 + 2) }
        return bytes
    }

    /// 640x360 Baseline SPS (from x264).
    static let sps: [UInt8] = [
        0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x2F, 0xF9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3C, 0x0F,
        0x16, 0x2E, 0x48,
    ]
    static let pps: [UInt8] = [0x68, 0xCB, 0x83, 0xCB, 0x20]

    /// One ADTS frame: AAC-LC, 48 kHz, stereo.
    static func adtsFrame(payload: Int = 200) -> [UInt8] {
        let length = payload + 7
        return [
            0xFF, 0xF1, 0x4C, 0x80 | UInt8((length >> 11) & 0x03), UInt8((length >> 3) & 0xFF), UInt8((length & 0x07) << 5) | 0x1F, 0xFC,
        ] + (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    }

    /// A program of `frames` video frames at 30 fps and AAC audio, starting at `start` (90 kHz).
    static func stream(frames: Int, start: Int64 = 126_000, keyframeInterval: Int = 30) -> [UInt8] {
        var writer = TSTestWriter()
        var out = writer.pat() + writer.pmt(streams: [(0x1B, videoPID), (0x0F, audioPID)])
        for frame in 0..<frames {
            let time = start + Int64(frame) * 3000
            let key = frame % keyframeInterval == 0
            out += writer.pes(
                pid: videoPID, streamID: 0xE0, pts: (time + 3000) & ((1 << 33) - 1), dts: time & ((1 << 33) - 1),
                payload: h264AccessUnit(keyframe: key), bounded: false, randomAccess: key)
            if frame % 2 == 0 {
                out += writer.pes(
                    pid: audioPID, streamID: 0xC0, pts: time & ((1 << 33) - 1), payload: adtsFrame() + adtsFrame(), bounded: true)
            }
        }
        return out
    }
}
