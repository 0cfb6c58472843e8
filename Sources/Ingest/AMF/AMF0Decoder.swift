import Media

/// Reads AMF0 values from untrusted bytes; every failure is an `RTMPProtocolError` of stage `.amf`.
///
/// A hostile peer is bounded: nesting depth, properties per object, elements per strict array
/// and values per message each have a limit, so one message cannot make the decoder allocate
/// or recurse far beyond its own size.
public struct AMF0Decoder: Sendable {
    /// Objects nested deeper than this are refused (a hostile peer could otherwise exhaust the stack).
    public static let maximumDepth = 32
    /// Properties in one object, ECMA array or typed object. Commands and `onMetaData` carry a few
    /// dozen at most.
    public static let maximumProperties = 1_024
    /// Elements in one strict array: room for an FLV keyframe index (`keyframes.times` and
    /// `filepositions`) of a few hours.
    public static let maximumArrayElements = 8_192
    /// Values decoded from one message (one decoder), every nested value counted: what one message
    /// can make the decoder build, whatever its size.
    public static let maximumValues = 16_384

    private var reader: ByteReader
    /// Values decoded so far, nested ones included.
    private var valueCount = 0

    public init(_ bytes: [UInt8]) {
        reader = ByteReader(bytes, structure: "AMF0")
    }

    public init(_ bytes: ArraySlice<UInt8>) {
        reader = ByteReader(bytes, structure: "AMF0")
    }

    /// Bytes consumed so far.
    public var offset: Int { reader.offset }
    public var isAtEnd: Bool { reader.isAtEnd }

    /// Decodes every value up to the end.
    public static func decodeAll(_ bytes: [UInt8]) throws(RTMPProtocolError) -> [AMF0Value] {
        try decodeAll(bytes[...])
    }

    /// Decodes every value up to the end.
    public static func decodeAll(_ bytes: ArraySlice<UInt8>) throws(RTMPProtocolError) -> [AMF0Value] {
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
        valueCount += 1
        guard valueCount <= Self.maximumValues else {
            throw RTMPProtocolError(.amf, "more than \(Self.maximumValues) values in one message")
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
            guard count <= reader.remaining else {
                throw RTMPProtocolError(.amf, "strict array claims \(count) elements but only \(reader.remaining) bytes remain")
            }
            guard count <= Self.maximumArrayElements else {
                throw RTMPProtocolError(.amf, "strict array of \(count) elements exceeds the limit of \(Self.maximumArrayElements)")
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
            throw RTMPProtocolError(.amf, "object end marker outside an object at offset \(reader.offset - 1)")
        default:
            throw RTMPProtocolError(.amf, "unknown AMF0 type marker 0x\(String(marker, radix: 16)) at offset \(reader.offset - 1)")
        }
    }

    private mutating func properties(depth: Int) throws(RTMPProtocolError) -> AMF0Object {
        var result = AMF0Object()
        while true {
            let keyLength = Int(try u16())
            if keyLength == 0 {
                guard let next = try? reader.peek() else {
                    throw RTMPProtocolError(.amf, "object not terminated before the end of the data")
                }
                if next == 0x09 {
                    _ = try u8()
                    return result
                }
            }
            guard result.properties.count < Self.maximumProperties else {
                throw RTMPProtocolError(.amf, "object with more than \(Self.maximumProperties) properties")
            }
            let key = try string(length: keyLength)
            result.properties.append(.init(key, try decode(depth: depth + 1)))
        }
    }

    // MARK: Reads: the reader's failures are AMF errors with its reason

    private mutating func u8() throws(RTMPProtocolError) -> UInt8 {
        do { return try reader.u8() } catch { throw RTMPProtocolError(.amf, error.reason) }
    }

    private mutating func u16() throws(RTMPProtocolError) -> UInt16 {
        do { return try reader.u16() } catch { throw RTMPProtocolError(.amf, error.reason) }
    }

    private mutating func u32() throws(RTMPProtocolError) -> UInt32 {
        do { return try reader.u32() } catch { throw RTMPProtocolError(.amf, error.reason) }
    }

    private mutating func double() throws(RTMPProtocolError) -> Double {
        do { return try reader.double() } catch { throw RTMPProtocolError(.amf, error.reason) }
    }

    private mutating func string(length: Int) throws(RTMPProtocolError) -> String {
        do { return String(decoding: try reader.slice(length), as: UTF8.self) } catch { throw RTMPProtocolError(.amf, error.reason) }
    }
}
