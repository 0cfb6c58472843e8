import NIOCore

/// Sans-I/O RTMP chunk stream writer. Headers are compressed the way ffmpeg does (type 1 when only
/// the length or type changed, 2 when only the delta changed, 3 when nothing did), so every chunk
/// type appears on the wire. Sending a Set Chunk Size message applies the new size after it.
public struct RTMPChunkEncoder: Sendable {
    struct LastHeader: Sendable {
        var timestamp: UInt32
        var timestampField: UInt32
        var length: Int
        var typeID: UInt8
        var messageStreamID: UInt32
    }

    public private(set) var chunkSize = 128
    private var last: [UInt32: LastHeader] = [:]

    public init() {}

    public mutating func encode(_ message: RTMPMessage, into out: inout ByteBuffer) {
        let csid = message.chunkStreamID
        let previous = last[csid]
        var format: UInt8 = 0
        var field = message.timestamp
        if let previous, previous.messageStreamID == message.messageStreamID, message.timestamp >= previous.timestamp {
            field = message.timestamp &- previous.timestamp
            if previous.typeID == message.typeID, previous.length == message.payload.count {
                format = field == previous.timestampField ? 3 : 2
            } else {
                format = 1
            }
        }
        let extended = field >= 0xFF_FFFF
        writeBasicHeader(format: format, csid: csid, into: &out)
        if format < 3 {
            out.writeUInt24(extended ? 0xFF_FFFF : field)
            if format < 2 {
                out.writeUInt24(UInt32(truncatingIfNeeded: message.payload.count))
                out.writeInteger(message.typeID)
                if format == 0 { out.writeInteger(message.messageStreamID, endianness: .little) }
            }
        }
        if extended { out.writeInteger(field) }
        last[csid] = LastHeader(
            timestamp: message.timestamp, timestampField: field, length: message.payload.count,
            typeID: message.typeID, messageStreamID: message.messageStreamID)

        var offset = 0
        repeat {
            if offset > 0 {
                writeBasicHeader(format: 3, csid: csid, into: &out)
                if extended { out.writeInteger(field) }
            }
            let end = min(offset + chunkSize, message.payload.count)
            out.writeBytes(message.payload[offset..<end])
            offset = end
        } while offset < message.payload.count

        if message.type == .setChunkSize, let size = RTMPChunkDecoder.bigEndianU32(message.payload) {
            chunkSize = max(1, Int(size & 0x7FFF_FFFF))
        }
    }

    public mutating func encode(_ message: RTMPMessage) -> [UInt8] {
        var out = ByteBuffer()
        encode(message, into: &out)
        return out.readBytes(length: out.readableBytes) ?? []
    }

    private func writeBasicHeader(format: UInt8, csid: UInt32, into out: inout ByteBuffer) {
        if csid >= 2, csid <= 63 {
            out.writeInteger(format << 6 | UInt8(csid))
        } else if csid >= 64, csid <= 319 {
            out.writeInteger(format << 6)
            out.writeInteger(UInt8(csid - 64))
        } else {
            let value = csid &- 64
            out.writeInteger(format << 6 | 1)
            out.writeInteger(UInt8(truncatingIfNeeded: value))
            out.writeInteger(UInt8(truncatingIfNeeded: value >> 8))
        }
    }
}

extension ByteBuffer {
    mutating func writeUInt24(_ value: UInt32) {
        writeInteger(UInt8(truncatingIfNeeded: value >> 16))
        writeInteger(UInt8(truncatingIfNeeded: value >> 8))
        writeInteger(UInt8(truncatingIfNeeded: value))
    }
}
