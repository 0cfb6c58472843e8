import Testing

@testable import Gateway

@Suite struct ByteRangeRequestTests {
    @Test(
        arguments: [
            (nil, 100, ByteRangeRequest.whole),
            ("bytes=0-99", 100, .range(0...99)),
            ("bytes=0-", 100, .range(0...99)),
            ("bytes=10-19", 100, .range(10...19)),
            ("bytes=90-200", 100, .range(90...99)),
            ("bytes=-10", 100, .range(90...99)),
            ("bytes=-500", 100, .range(0...99)),
            ("bytes=100-", 100, .unsatisfiable),
            ("bytes=-0", 100, .unsatisfiable),
            ("bytes=0-0", 0, .unsatisfiable),
            ("bytes=5-2", 100, .ignored),
            ("bytes=0-1,5-6", 100, .ignored),
            ("items=0-1", 100, .ignored),
            ("bytes=a-b", 100, .ignored),
            ("bytes=99999999999999999999-", 100, .ignored),
            (" bytes= 3 - 4 ", 100, .range(3...4)),
        ] as [(String?, Int, ByteRangeRequest)])
    func parses(header: String?, size: Int, expected: ByteRangeRequest) {
        #expect(ByteRangeRequest.parse(header, size: size) == expected)
    }
}
