/// An AMF0 value (Action Message Format 0, as RTMP commands and onMetaData carry it).
public enum AMF0Value: Sendable, Hashable {
    case number(Double)
    case boolean(Bool)
    case string(String)
    case object(AMF0Object)
    case null
    case undefined
    /// A back-reference to an earlier complex value, kept as its index (not resolved).
    case reference(UInt16)
    case ecmaArray(AMF0Object)
    case strictArray([AMF0Value])
    /// Milliseconds since the Unix epoch and the (unused) time zone field.
    case date(Double, timeZone: Int16)
    case xmlDocument(String)
    case typedObject(className: String, AMF0Object)
    case unsupported

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    public var bool: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    /// The properties of an object, ECMA array or typed object.
    public var object: AMF0Object? {
        switch self {
        case .object(let value), .ecmaArray(let value), .typedObject(_, let value): value
        default: nil
        }
    }
}

/// Ordered key/value pairs of an AMF0 object or ECMA array.
public struct AMF0Object: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public struct Property: Sendable, Hashable {
        public var key: String
        public var value: AMF0Value

        public init(_ key: String, _ value: AMF0Value) {
            self.key = key
            self.value = value
        }
    }

    public var properties: [Property]

    public init(_ properties: [Property] = []) {
        self.properties = properties
    }

    public init(dictionaryLiteral elements: (String, AMF0Value)...) {
        properties = elements.map { Property($0.0, $0.1) }
    }

    public subscript(key: String) -> AMF0Value? {
        properties.first { $0.key == key }?.value
    }
}
