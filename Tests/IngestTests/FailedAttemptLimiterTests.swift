import Testing

@testable import Ingest

@Suite struct FailedAttemptLimiterTests {
    let start = ContinuousClock.now

    @Test func locksOutAfterTooManyFailuresWithinTheWindow() {
        var limiter = FailedAttemptLimiter(policy: .init(maxFailures: 3, window: .seconds(60), lockout: .seconds(120)))
        #expect(limiter.recordFailure("10.0.0.1", now: start) == nil)
        #expect(limiter.recordFailure("10.0.0.1", now: start.advanced(by: .seconds(10))) == nil)
        #expect(limiter.check("10.0.0.1", now: start.advanced(by: .seconds(11))) == .allowed)
        #expect(limiter.recordFailure("10.0.0.1", now: start.advanced(by: .seconds(20))) == .seconds(120))
        #expect(limiter.check("10.0.0.1", now: start.advanced(by: .seconds(30))) == .lockedOut(remaining: .seconds(110)))
        #expect(limiter.check("10.0.0.2", now: start.advanced(by: .seconds(30))) == .allowed)
        #expect(limiter.check("10.0.0.1", now: start.advanced(by: .seconds(141))) == .allowed)
        let counters = limiter.counters(now: start.advanced(by: .seconds(141)))
        #expect(counters.failures == 3)
        #expect(counters.lockouts == 1)
        #expect(counters.refusedWhileLockedOut == 1)
        #expect(counters.addressesLockedOut == 0)
    }

    @Test func failuresOutsideTheWindowAndSuccessesReset() {
        var limiter = FailedAttemptLimiter(policy: .init(maxFailures: 2, window: .seconds(10), lockout: .seconds(60)))
        _ = limiter.recordFailure("a", now: start)
        #expect(limiter.recordFailure("a", now: start.advanced(by: .seconds(11))) == nil)
        limiter.recordSuccess("a")
        #expect(limiter.recordFailure("a", now: start.advanced(by: .seconds(12))) == nil)
        #expect(limiter.recordFailure("a", now: start.advanced(by: .seconds(13))) == .seconds(60))
        #expect(limiter.counters(now: start.advanced(by: .seconds(14))).addressesLockedOut == 1)
    }

    @Test func aFloodOfAddressesStaysBounded() {
        var limiter = FailedAttemptLimiter(policy: .init(maxFailures: 5, window: .seconds(1), lockout: .seconds(1)), capacity: 100)
        for index in 0..<10_000 {
            _ = limiter.recordFailure("addr-\(index)", now: start.advanced(by: .milliseconds(index)))
        }
        #expect(limiter.counters(now: start.advanced(by: .seconds(10))).failures == 10_000)
    }
}
