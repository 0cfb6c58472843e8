import Testing

@testable import Ingest

@Suite struct AMF0Tests {
    static let nested: [AMF0Value] = [
        .string("connect"), .number(1),
        .object([
            "app": .string("live"), "tcUrl": .string("rtmp://host/live"), "fpad": .boolean(false),
            "capabilities": .number(239),
            "inner": .object(["deeper": .object(["x": .number(-1.5)]), "list": .strictArray([.number(1), .string("two"), .null])]),
        ]),
        .null, .undefined,
        .ecmaArray(["duration": .number(0), "width": .number(1920), "encoder": .string("Lavf59.27.100")]),
        .strictArray([.object(["a": .boolean(true)]), .strictArray([]), .undefined]),
        .date(1_700_000_000_000, timeZone: -60),
        .string(String(repeating: "é", count: 40_000)),  // > 65535 bytes: long string
        .typedObject(className: "Point", ["x": .number(1), "y": .number(2)]),
        .xmlDocument("<a/>"), .reference(3), .unsupported,
    ]

    @Test func roundTripsNestedObjectsAndArrays() throws {
        let bytes = AMF0Encoder.encode(Self.nested)
        #expect(try AMF0Decoder.decodeAll(bytes) == Self.nested)
    }

    @Test func decodesWhatFFmpegSendsForConnect() throws {
        // ffmpeg's connect: "connect", 1, {app, type, flashVer, tcUrl}
        let bytes = AMF0Encoder.encode([
            .string("connect"), .number(1),
            .object([
                "app": .string("live"), "type": .string("nonprivate"), "flashVer": .string("FMLE/3.0 (compatible; Lavf59.27.100)"),
                "tcUrl": .string("rtmp://127.0.0.1:1935/live"),
            ]),
        ])
        let values = try AMF0Decoder.decodeAll(bytes)
        #expect(values[2].object?["app"]?.string == "live")
        #expect(values[2].object?["flashVer"]?.string?.hasPrefix("FMLE") == true)
    }

    @Test func everyTruncationIsATypedError() {
        let bytes = AMF0Encoder.encode(Self.nested.filter { if case .string(let s) = $0 { s.count < 100 } else { true } })
        for length in 0..<bytes.count {
            let prefix = Array(bytes[0..<length])
            do {
                let values = try AMF0Decoder.decodeAll(prefix)
                // A cut exactly between values is a valid shorter list.
                #expect(values.count < Self.nested.count)
            } catch {
                #expect(error.stage == .amf)
            }
        }
    }

    @Test func hostileInputsAreRefused() {
        // A strict array claiming 4 billion elements.
        #expect(throws: RTMPProtocolError.self) { try AMF0Decoder.decodeAll([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05]) }
        // Objects nested 1000 deep.
        var deep: [UInt8] = []
        for _ in 0..<1000 { deep += [0x03, 0x00, 0x01, 0x61] }
        #expect(throws: RTMPProtocolError.self) { try AMF0Decoder.decodeAll(deep) }
        // An unterminated object, a stray object end, an unknown marker, AMF3 inside AMF0.
        for bytes: [UInt8] in [[0x03, 0x00, 0x01, 0x61, 0x05], [0x09], [0x42], [0x11, 0x01], [0x02, 0x00, 0x10, 0x41]] {
            #expect(throws: RTMPProtocolError.self) { try AMF0Decoder.decodeAll(bytes) }
        }
    }

    /// An object of `count` one-letter-keyed nulls.
    static func object(properties count: Int) -> [UInt8] {
        var bytes: [UInt8] = [0x03]
        for _ in 0..<count { bytes += [0x00, 0x01, 0x61, 0x05] }
        return bytes + [0x00, 0x00, 0x09]
    }

    static func strictArray(nulls count: Int) -> [UInt8] {
        [0x0A] + RTMPMessage.bigEndian(UInt32(count)) + [UInt8](repeating: 0x05, count: count)
    }

    static func reason(_ bytes: [UInt8]) -> String? {
        do {
            _ = try AMF0Decoder.decodeAll(bytes)
            return nil
        } catch {
            #expect(error.stage == .amf)
            return error.reason
        }
    }

    @Test func propertiesPerObjectAreBounded() throws {
        let limit = AMF0Decoder.maximumProperties
        #expect(try AMF0Decoder.decodeAll(Self.object(properties: limit)).first?.object?.properties.count == limit)
        #expect(Self.reason(Self.object(properties: limit + 1)) == "object with more than \(limit) properties")
        // ECMA arrays and typed objects too, whatever count the ECMA array claims.
        let ecma = [0x08, 0, 0, 0, 1] + Self.object(properties: limit + 1).dropFirst()
        #expect(Self.reason(ecma) == "object with more than \(limit) properties")
        let typed = [0x10, 0x00, 0x01, 0x54] + Self.object(properties: limit + 1).dropFirst()
        #expect(Self.reason(typed) == "object with more than \(limit) properties")
    }

    @Test func elementsPerStrictArrayAreBounded() throws {
        let limit = AMF0Decoder.maximumArrayElements
        #expect(try AMF0Decoder.decodeAll(Self.strictArray(nulls: limit)).first == .strictArray(Array(repeating: .null, count: limit)))
        #expect(Self.reason(Self.strictArray(nulls: limit + 1)) == "strict array of \(limit + 1) elements exceeds the limit of \(limit)")
        // A claim beyond the bytes left is still refused as a lie first.
        #expect(Self.reason([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05])?.contains("only 1 bytes remain") == true)
    }

    @Test func valuesPerMessageAreBounded() throws {
        let limit = AMF0Decoder.maximumValues
        // Top-level values count…
        let nulls = [UInt8](repeating: 0x05, count: limit)
        #expect(try AMF0Decoder.decodeAll(nulls).count == limit)
        #expect(Self.reason(nulls + [0x05]) == "more than \(limit) values in one message")
        // …and so do nested ones, each array within its own limit: 1 + 3 × 8,192 values.
        var nested: [UInt8] = [0x0A] + RTMPMessage.bigEndian(3)
        for _ in 0..<3 { nested += Self.strictArray(nulls: AMF0Decoder.maximumArrayElements - 1) }
        #expect(Self.reason(nested) == "more than \(limit) values in one message")
        // The count is per decoder (one message): a fresh one starts from zero.
        #expect(try AMF0Decoder.decodeAll(nulls).count == limit)
    }
}
