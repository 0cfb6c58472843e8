import Testing

@testable import Ingest

@Suite struct AddressConnectionCountsTests {
    @Test func connectionsPastTheLimitAreRefusedAndNotCounted() {
        var counts = AddressConnectionCounts(limit: 2)
        #expect(counts.open("a") == (true, 0))
        #expect(counts.open("a") == (true, 0))
        #expect(counts.open("a") == (false, 1))
        #expect(counts.open("a") == (false, 2))
        #expect(counts.count(for: "a") == 2)
        #expect(counts.open("b") == (true, 0))
        #expect(!counts.admits("a"))
        counts.close("a")
        #expect(counts.admits("a"))
        #expect(counts.open("a") == (true, 0))
    }

    @Test func addressesWithNoOpenConnectionAreForgotten() {
        var counts = AddressConnectionCounts(limit: 1)
        _ = counts.open("a")
        _ = counts.open("a")
        counts.close("a")
        counts.close("a")
        #expect(counts.addresses == 0)
        #expect(counts.open("a") == (true, 0))
    }

    @Test func refusalsAreLoggedFirstThenEveryThousandth() {
        #expect(AddressConnectionCounts.shouldLog(refusals: 1))
        #expect(!AddressConnectionCounts.shouldLog(refusals: 2))
        #expect(AddressConnectionCounts.shouldLog(refusals: 2_000))
    }
}
