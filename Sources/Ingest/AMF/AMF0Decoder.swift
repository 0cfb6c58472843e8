/// Reads AMF0 values from untrusted bytes; every failure is an `RTMPProtocolError` of stage `.amf`.
public struct AMF0Decoder: Sendable {
    /// Objects nested deeper than this are refused (a hostile peer could otherwise exhaust the stack).
    public static let maximumDepth = 32

    public let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var isAtEnd: Bool { offset >= bytes.count }

    /// Decodes every value up to the end.
    public static func decodeAll(_ bytes: [UInt8]) throws(RTMPProtocolError) -> [AMF0Value] {
        var decoder = AMF0Decoder(bytes)
        var values: [AMF0Value] = []
        while !decoder.isAtEnd { values.append(try decoder.decode()) }
        return values
    }

    public mutating func decode() throws(RTMPProtocolError) -> AMF0Value {
        try decode(depth: 0)
    }

    private mutating func decode(depth: Int) throws(RTMPProtocolError) -> AMF0Value {
        guard depth <= Self.maximumDepth else {
            throw RTMPProtocolError(.amf, "values nested deeper than \(Self.maximumDepth) levels")
        }
        let marker = try u8()
        switch marker {
        case 0x00: return .number(try double())
        case 0x01: return .boolean(try u8() != 0)
        case 0x02: return .string(try string(length: Int(try u16())))
        case 0x03: return .object(try properties(depth: depth))
        case 0x05: return .null
        case 0x06: return .undefined
        case 0x07: return .reference(try u16())
        case 0x08:
            _ = try u32()  // the count is a hint only; the end marker is what counts
            return .ecmaArray(try properties(depth: depth))
        case 0x0A:
            let count = Int(try u32())
            // Each element takes at least one byte: a count larger than what is left is a lie.
            guard count <= bytes.count - offset else {
                throw RTMPProtocolError(.amf, "strict array claims \(count) elements but only \(bytes.count - offset) bytes remain")
            }
            var elements: [AMF0Value] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try decode(depth: depth + 1)) }
            return .strictArray(elements)
        case 0x0B:
            let time = try double()
            let zone = Int16(bitPattern: try u16())
            return .date(time, timeZone: zone)
        case 0x0C: return .string(try string(length: Int(try u32())))
        case 0x0D: return .unsupported
        case 0x0F: return .xmlDocument(try string(length: Int(try u32())))
        case 0x10:
            let name = try string(length: Int(try u16()))
            return .typedObject(className: name, try properties(depth: depth))
        case 0x11:
            throw RTMPProtocolError(.amf, "AMF3 value inside AMF0 (marker 0x11) is not supported; use AMF0 encoding")
        case 0x04:
            throw RTMPProtocolError(.amf, "movieclip marker 0x04 is reserved")
        case 0x09:
            throw RTMPProtocolError(.amf, "object end marker outside an object at offset \(offset - 1)")
        default:
            throw RTMPProtocolError(.amf, "unknown AMF0 type marker 0x\(String(marker, radix: 16)) at offset \(offset - 1)")
        }
    }

    private mutating func properties(depth: Int) throws(RTMPProtocolError) -> AMF0Object {
        var result = AMF0Object()
        while true {
            let keyLength = Int(try u16())
            if keyLength == 0 {
                guard offset < bytes.count else {
                    throw RTMPProtocolError(.amf, "object not terminated before the end of the data")
                }
                if bytes[offset] == 0x09 {
                    offset += 1
                    return result
                }
            }
            let key = try string(length: keyLength)
            result.properties.append(.init(key, try decode(depth: depth + 1)))
        }
    }

    private mutating func need(_ count: Int) throws(RTMPProtocolError) {
        guard count >= 0, count <= bytes.count - offset else {
            throw RTMPProtocolError(.amf, "needs \(count) bytes at offset \(offset), has \(bytes.count - offset)")
        }
    }

    private mutating func u8() throws(RTMPProtocolError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func u16() throws(RTMPProtocolError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    private mutating func u32() throws(RTMPProtocolError) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    private mutating func double() throws(RTMPProtocolError) -> Double {
        try need(8)
        var bits: UInt64 = 0
        for index in offset..<(offset + 8) { bits = bits << 8 | UInt64(bytes[index]) }
        offset += 8
        return Double(bitPattern: bits)
    }

    private mutating func string(length: Int) throws(RTMPProtocolError) -> String {
        try need(length)
        defer { offset += length }
        return String(decoding: bytes[offset..<(offset + length)], as: UTF8.self)
    }
}
