/// Server-to-client WebSocket frames (unmasked, RFC 6455 §5.2) read from raw bytes, for the tests'
/// raw-socket chat clients.
public enum WebSocketFrames {
    public struct Frame: Sendable, Hashable {
        public var opcode: UInt8
        public var payload: [UInt8]
    }

    /// The complete frames in `bytes` from `start`, and where the first incomplete one begins.
    public static func parse(_ bytes: [UInt8], from start: Int) -> (frames: [Frame], end: Int) {
        var frames: [Frame] = []
        var index = start
        while bytes.count - index >= 2 {
            var length = Int(bytes[index + 1] & 0x7F)
            var header = 2
            if length == 126 {
                guard bytes.count - index >= 4 else { break }
                length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
                header = 4
            } else if length == 127 {
                guard bytes.count - index >= 10 else { break }
                length = bytes[(index + 2)..<(index + 10)].reduce(0) { $0 << 8 | Int($1) }
                header = 10
            }
            guard length >= 0, bytes.count - index - header >= length else { break }
            frames.append(Frame(opcode: bytes[index] & 0x0F, payload: Array(bytes[(index + header)..<(index + header + length)])))
            index += header + length
        }
        return (frames, index)
    }
}
