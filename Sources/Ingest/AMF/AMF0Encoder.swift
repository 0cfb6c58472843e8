/// Writes AMF0 values.
public struct AMF0Encoder: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public static func encode(_ values: [AMF0Value]) -> [UInt8] {
        var encoder = AMF0Encoder()
        for value in values { encoder.encode(value) }
        return encoder.bytes
    }

    public mutating func encode(_ value: AMF0Value) {
        switch value {
        case .number(let number):
            bytes.append(0x00)
            appendDouble(number)
        case .boolean(let flag):
            bytes += [0x01, flag ? 1 : 0]
        case .string(let text):
            let utf8 = Array(text.utf8)
            if utf8.count > 0xFFFF {
                bytes.append(0x0C)
                appendU32(UInt32(truncatingIfNeeded: utf8.count))
            } else {
                bytes.append(0x02)
                appendU16(UInt16(utf8.count))
            }
            bytes += utf8
        case .object(let object):
            bytes.append(0x03)
            appendProperties(object)
        case .null:
            bytes.append(0x05)
        case .undefined:
            bytes.append(0x06)
        case .reference(let index):
            bytes.append(0x07)
            appendU16(index)
        case .ecmaArray(let object):
            bytes.append(0x08)
            appendU32(UInt32(truncatingIfNeeded: object.properties.count))
            appendProperties(object)
        case .strictArray(let elements):
            bytes.append(0x0A)
            appendU32(UInt32(truncatingIfNeeded: elements.count))
            for element in elements { encode(element) }
        case .date(let time, let zone):
            bytes.append(0x0B)
            appendDouble(time)
            appendU16(UInt16(bitPattern: zone))
        case .xmlDocument(let text):
            let utf8 = Array(text.utf8)
            bytes.append(0x0F)
            appendU32(UInt32(truncatingIfNeeded: utf8.count))
            bytes += utf8
        case .typedObject(let name, let object):
            bytes.append(0x10)
            appendShortString(name)
            appendProperties(object)
        case .unsupported:
            bytes.append(0x0D)
        }
    }

    private mutating func appendProperties(_ object: AMF0Object) {
        for property in object.properties {
            appendShortString(property.key)
            encode(property.value)
        }
        bytes += [0x00, 0x00, 0x09]
    }

    private mutating func appendShortString(_ text: String) {
        let utf8 = Array(text.utf8.prefix(0xFFFF))
        appendU16(UInt16(utf8.count))
        bytes += utf8
    }

    private mutating func appendU16(_ value: UInt16) {
        bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
    }

    private mutating func appendU32(_ value: UInt32) {
        bytes += RTMPMessage.bigEndian(value)
    }

    private mutating func appendDouble(_ value: Double) {
        let bits = value.bitPattern
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }
}
