import Testing

/// A test-side ISO-BMFF reader, independent of the writer: walks the box tree and checks that
/// every size adds up.
struct ParsedBox: CustomStringConvertible {
    var type: String
    /// The box's bytes, header included.
    var bytes: ArraySlice<UInt8>
    /// The box's body (after size, type and any largesize).
    var body: ArraySlice<UInt8>
    var children: [ParsedBox]

    var description: String {
        "\(type)(\(bytes.count))\(children.isEmpty ? "" : "[" + children.map(\.description).joined(separator: " ") + "]")"
    }

    func child(_ type: String) -> ParsedBox? { children.first { $0.type == type } }

    /// The box at a slash-separated path below this one, e.g. `trak/mdia/mdhd`.
    func find(_ path: String) -> ParsedBox? {
        var box: ParsedBox? = self
        for part in path.split(separator: "/") { box = box?.child(String(part)) }
        return box
    }

    var version: UInt8 { body[body.startIndex] }
    var flags: UInt32 { TestBytes.u24(body, 1) }
    /// Body after version and flags.
    var fullBody: ArraySlice<UInt8> { body.dropFirst(4) }
}

enum TestBytes {
    static func u16(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt16 {
        let i = b.startIndex + at
        return UInt16(b[i]) << 8 | UInt16(b[i + 1])
    }
    static func u24(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt32 {
        let i = b.startIndex + at
        return UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
    }
    static func u32(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt32 {
        let i = b.startIndex + at
        return UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
    static func u64(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt64 {
        UInt64(u32(b, at)) << 32 | UInt64(u32(b, at + 4))
    }
    static func fourCC(_ b: ArraySlice<UInt8>, _ at: Int) -> String {
        let i = b.startIndex + at
        return String(decoding: b[i..<i + 4], as: UTF8.self)
    }
}

enum TestBoxParser {
    struct Malformed: Error, CustomStringConvertible { var description: String }

    static let containers: Set<String> = ["moov", "trak", "mdia", "minf", "dinf", "stbl", "mvex", "moof", "traf"]
    /// Boxes with a fixed header before their child boxes.
    static let prefixed: [String: Int] = ["stsd": 8, "dref": 8, "avc1": 78, "mp4a": 28]

    static func parse(_ bytes: [UInt8]) throws -> [ParsedBox] { try parse(bytes[...]) }

    static func parse(_ bytes: ArraySlice<UInt8>) throws -> [ParsedBox] {
        var boxes: [ParsedBox] = []
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            guard bytes.endIndex - offset >= 8 else { throw Malformed(description: "\(bytes.endIndex - offset) stray bytes") }
            var size = Int(TestBytes.u32(bytes, offset - bytes.startIndex))
            let type = TestBytes.fourCC(bytes, offset - bytes.startIndex + 4)
            var header = 8
            if size == 1 {
                size = Int(TestBytes.u64(bytes, offset - bytes.startIndex + 8))
                header = 16
            }
            guard size >= header, offset + size <= bytes.endIndex else {
                throw Malformed(description: "box \(type) of size \(size) at \(offset) overruns \(bytes.endIndex)")
            }
            let whole = bytes[offset..<offset + size]
            let body = whole.dropFirst(header)
            var children: [ParsedBox] = []
            if containers.contains(type) {
                children = try parse(body)
            } else if let skip = prefixed[type] {
                guard body.count >= skip else { throw Malformed(description: "\(type) shorter than its header") }
                children = try parse(body.dropFirst(skip))
            }
            boxes.append(ParsedBox(type: type, bytes: whole, body: body, children: children))
            offset += size
        }
        return boxes
    }
}
