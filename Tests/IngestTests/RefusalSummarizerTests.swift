import Foundation
import Testing

@testable import Ingest

@Suite struct RefusalSummarizerTests {
    let start = ContinuousClock.now
    let wall = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theAllowanceIsRecordedAndTheRestSummarisedWhenTheWindowEnds() {
        var summarizer = RefusalSummarizer(policy: .init(allowance: 3, window: .seconds(60)))
        let decisions = (0..<10).map { _ in summarizer.refusal(from: "10.0.0.1", reason: "unknown_key", now: start, wallClock: wall) }
        #expect(decisions.filter { $0 == .record }.count == 3)
        #expect(decisions.suffix(7).allSatisfy { $0 == .counted })
        #expect(summarizer.due(now: start.advanced(by: .seconds(59)), wallClock: wall).isEmpty)
        let summaries = summarizer.due(now: start.advanced(by: .seconds(60)), wallClock: wall.addingTimeInterval(60))
        #expect(summaries.count == 1)
        #expect(summaries.first?.address == "10.0.0.1")
        #expect(summaries.first?.count == 7)
        #expect(summaries.first?.reasons == ["unknown_key": 7])
        #expect(summaries.first?.windowStart == wall)
        #expect(summaries.first?.windowEnd == wall.addingTimeInterval(60))
        // A new window starts with a fresh allowance.
        #expect(
            summarizer.refusal(from: "10.0.0.1", reason: "unknown_key", now: start.advanced(by: .seconds(61)), wallClock: wall) == .record)
    }

    @Test func refusalsDuringALockOutAreOnlyCounted() {
        var summarizer = RefusalSummarizer()
        for _ in 0..<5 {
            #expect(
                summarizer.refusal(from: "10.0.0.2", reason: "too_many_failed_attempts", summariseOnly: true, now: start, wallClock: wall)
                    == .counted)
        }
        #expect(summarizer.flush(wallClock: wall).map(\.count) == [5])
        #expect(summarizer.trackedAddresses == 0)
    }

    @Test func aWindowWithNothingCountedGivesNoSummary() {
        var summarizer = RefusalSummarizer(policy: .init(allowance: 2))
        _ = summarizer.refusal(from: "10.0.0.3", reason: "unknown_key", now: start, wallClock: wall)
        #expect(summarizer.due(now: start.advanced(by: .seconds(120)), wallClock: wall).isEmpty)
        #expect(summarizer.trackedAddresses == 0)
    }

    @Test func manyAddressesTryingOneChannelAreBoundedPerChannel() {
        var summarizer = RefusalSummarizer(policy: .init(allowance: 10, globalAllowance: 600, channelAllowance: 5))
        var recorded = 0
        for address in 0..<50
        where summarizer.refusal(from: "10.2.0.\(address)", reason: "revoked_key", channel: "demo", now: start, wallClock: wall) == .record
        {
            recorded += 1
        }
        #expect(recorded == 5)
        // Another channel, and refusals that name none, have their own room.
        #expect(summarizer.refusal(from: "10.2.1.1", reason: "revoked_key", channel: "other", now: start, wallClock: wall) == .record)
        #expect(summarizer.refusal(from: "10.2.1.2", reason: "unknown_key", now: start, wallClock: wall) == .record)
        // The counted ones come out in their addresses' summaries, and the next window has room again.
        #expect(summarizer.flush(wallClock: wall).map(\.count).reduce(0, +) == 45)
        #expect(
            summarizer.refusal(
                from: "10.2.0.1", reason: "revoked_key", channel: "demo", now: start.advanced(by: .seconds(61)), wallClock: wall)
                == .record)
    }

    @Test func manyAddressesShareTheGlobalAllowance() {
        var summarizer = RefusalSummarizer(policy: .init(allowance: 10, globalAllowance: 20))
        var recorded = 0
        for address in 0..<100
        where summarizer.refusal(from: "10.1.0.\(address)", reason: "unknown_key", now: start, wallClock: wall) == .record {
            recorded += 1
        }
        #expect(recorded == 20)
        let summaries = summarizer.flush(wallClock: wall)
        #expect(summaries.map(\.count).reduce(0, +) == 80)
    }

    @Test func addressesPastTheCapacityAreCountedTogether() {
        var summarizer = RefusalSummarizer(policy: .init(capacity: 2))
        for address in 0..<5 { _ = summarizer.refusal(from: "10.2.0.\(address)", reason: "unknown_key", now: start, wallClock: wall) }
        #expect(summarizer.trackedAddresses == 3)
        let overflow = summarizer.flush(wallClock: wall).first { $0.address == RefusalSummarizer.overflowAddress }
        #expect(overflow?.count == 3)
    }
}
