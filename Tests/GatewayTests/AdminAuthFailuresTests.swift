import Foundation
import Synchronization
import Testing

@testable import Gateway

/// The lockout of wrong admin tokens and the one event per address and window, with time passed in.
@Suite struct AdminAuthFailuresTests {
    final class Recorded: Sendable {
        let events = Mutex<[AdminAuthRejected]>([])
    }

    func settle() async throws { try await Task.sleep(for: .milliseconds(50)) }

    @Test func tenWrongTokensLockTheAddressOutForFiveMinutes() async throws {
        let recorded = Recorded()
        let failures = AdminAuthFailures { event in recorded.events.withLock { $0.append(event) } }
        let start = ContinuousClock.now
        for n in 0..<9 { #expect(failures.failed("a", now: start + .seconds(n)) == nil) }
        #expect(failures.lockedOut("a", now: start + .seconds(9)) == nil)
        #expect(failures.failed("a", now: start + .seconds(9)) == .seconds(300))
        #expect(failures.lockedOut("a", now: start + .seconds(10)) == .seconds(299))
        #expect(failures.lockedOut("b", now: start + .seconds(10)) == nil, "another address is not affected")
        for n in 10..<20 { _ = failures.failed("a", now: start + .seconds(n)) }
        #expect(failures.lockedOut("a", now: start + .seconds(309)) == nil, "the lockout ends")
        try await settle()
        let events = recorded.events.withLock { $0 }
        #expect(events.count == 1, "one event for the window, at the lockout")
        #expect(events.first?.count == 10 && events.first?.lockoutSeconds == 300 && events.first?.remoteAddress == "a")
    }

    @Test func fewWrongTokensAreRecordedOnceTheirWindowHasPassed() async throws {
        let recorded = Recorded()
        let failures = AdminAuthFailures { event in recorded.events.withLock { $0.append(event) } }
        let start = ContinuousClock.now
        for n in 0..<3 { _ = failures.failed("c", now: start + .seconds(n)) }
        #expect(failures.lockedOut("c", now: start + .seconds(30)) == nil)
        try await settle()
        #expect(recorded.events.withLock { $0 }.isEmpty, "the window is still open")
        _ = failures.lockedOut("other", now: start + .seconds(61))
        try await settle()
        let events = recorded.events.withLock { $0 }
        #expect(events.count == 1)
        #expect(events.first?.count == 3 && events.first?.lockoutSeconds == nil)
        // A new window starts with the next failure.
        _ = failures.failed("c", now: start + .seconds(62))
        _ = failures.failed("c", now: start + .seconds(130))
        try await settle()
        #expect(recorded.events.withLock { $0 }.map(\.count) == [3, 1])
    }
}
