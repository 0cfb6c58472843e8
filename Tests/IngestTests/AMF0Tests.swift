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
}
