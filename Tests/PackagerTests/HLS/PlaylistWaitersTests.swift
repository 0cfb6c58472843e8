import Testing

@testable import Packager

@Suite("Blocked playlist and part requests")
struct PlaylistWaitersTests {
    /// Polls `condition` until it holds; generous, for a loaded two-core machine.
    private static func eventually(_ what: String, within limit: Duration = .seconds(60), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private static func playlist(_ msn: Int, _ part: Int? = nil) throws -> PlaylistWaiters.Request {
        .playlist(try BlockingRequest(msn: msn, part: part))
    }

    @Test("a waiter wakes when an update brings what it waits for, not before")
    func wakesOnUpdate() async throws {
        var state = try HLSFixtures.blockingState()
        let waiters = PlaylistWaiters(timeout: .seconds(120))
        waiters.update(state)
        let request = try Self.playlist(12, 3)
        let task = Task { await waiters.wait(for: request) }
        try await Self.eventually("the waiter to register") { waiters.count == 1 }

        try HLSFixtures.addParts(&state, count: 1, duration: 1)
        waiters.update(state)
        #expect(waiters.count == 1, "part 2 does not satisfy a wait for part 3")

        try HLSFixtures.addParts(&state, count: 1, duration: 1)
        waiters.update(state)
        #expect(waiters.count == 0)
        #expect(await task.value == .ready)
    }

    @Test("requests the newest state already decides are answered without waiting")
    func immediate() async throws {
        let waiters = PlaylistWaiters(timeout: .seconds(120))
        waiters.update(try HLSFixtures.blockingState())
        #expect(await waiters.wait(for: try Self.playlist(12, 1)) == .ready)
        #expect(await waiters.wait(for: .part(try PartRequest(msn: 11, index: 0))) == .ready)
        guard case .badRequest = await waiters.wait(for: try Self.playlist(40)) else {
            Issue.record("expected 400 for a request far ahead")
            return
        }
        guard case .notFound = await waiters.wait(for: .part(try PartRequest(msn: 11, index: 4))) else {
            Issue.record("expected 404 for a part that was never made")
            return
        }
        #expect(waiters.count == 0)
    }

    @Test("a part waiter learns the part will never come when its segment closes without it")
    func partNeverMade() async throws {
        var state = try HLSFixtures.blockingState()
        let waiters = PlaylistWaiters(timeout: .seconds(120))
        waiters.update(state)
        let hinted = Task { await waiters.wait(for: .part(try PartRequest(msn: 12, index: 2))) }
        try await Self.eventually("the part waiter to register") { waiters.count == 1 }
        // The keyframe came early: segment 12 closes with two parts.
        try state.segmentReady(.init(msn: 12, duration: 2, byteSize: 1))
        waiters.update(state)
        guard case .notFound = try await hinted.value else {
            Issue.record("expected not found")
            return
        }
    }

    @Test("a waiter nobody answers times out after the timeout")
    func timesOut() async throws {
        let waiters = PlaylistWaiters(timeout: .milliseconds(200))
        waiters.update(try HLSFixtures.blockingState())
        let started = ContinuousClock.now
        #expect(await waiters.wait(for: try Self.playlist(13)) == .timedOut)
        #expect(started.duration(to: .now) >= .milliseconds(200))
        #expect(waiters.count == 0)
    }

    @Test("answered waiters leave the deadline queue; the rest still time out, in order")
    func mixedTimeouts() async throws {
        var state = try HLSFixtures.blockingState()
        // Long enough that registering and updating fit in it on a badly overloaded machine.
        let waiters = PlaylistWaiters(timeout: .seconds(5))
        waiters.update(state)
        let early = Task { await waiters.wait(for: try Self.playlist(12, 2)) }
        try await Self.eventually("the first waiter") { waiters.count == 1 }
        let late = Task { await waiters.wait(for: try Self.playlist(13)) }
        try await Self.eventually("the second waiter") { waiters.count == 2 }
        try HLSFixtures.addParts(&state, count: 1, duration: 1)
        waiters.update(state)
        #expect(try await early.value == .ready)
        #expect(try await late.value == .timedOut)
        #expect(waiters.count == 0)
        // The timer stopped with the queue empty; a new waiter starts it again.
        #expect(await waiters.wait(for: try Self.playlist(13)) == .timedOut)
    }

    @Test("cancelling a waiting task removes its waiter at once")
    func cancellation() async throws {
        let waiters = PlaylistWaiters(timeout: .seconds(120))
        waiters.update(try HLSFixtures.blockingState())
        let request = try Self.playlist(13)
        let task = Task { await waiters.wait(for: request) }
        try await Self.eventually("the waiter to register") { waiters.count == 1 }
        task.cancel()
        #expect(waiters.count == 0, "removed by the cancellation handler, synchronously")
        #expect(await task.value == .cancelled)

        // Already cancelled before waiting: answered at once, never registered.
        let cancelledFirst = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await waiters.wait(for: request)
        }
        #expect(await cancelledFirst.value == .cancelled)
        #expect(waiters.count == 0)
    }

    @Test("finish wakes everyone: playlist requests are ready, missing parts are not found")
    func finish() async throws {
        let waiters = PlaylistWaiters(timeout: .seconds(120))
        waiters.update(try HLSFixtures.blockingState())
        let playlist = Task { await waiters.wait(for: try Self.playlist(13)) }
        let part = Task { await waiters.wait(for: .part(try PartRequest(msn: 12, index: 2))) }
        try await Self.eventually("both waiters") { waiters.count == 2 }
        waiters.finish()
        #expect(try await playlist.value == .ready)
        guard case .notFound = try await part.value else {
            Issue.record("expected not found")
            return
        }
        #expect(await waiters.wait(for: try Self.playlist(14)) == .ready)
    }

    @Test("10,000 waiters are all answered by one update")
    func tenThousand() async throws {
        var state = try HLSFixtures.blockingState()
        let waiters = PlaylistWaiters(timeout: .seconds(600))
        waiters.update(state)
        let requests = [
            try Self.playlist(12, 2), try Self.playlist(12, 3), try Self.playlist(12),
            try Self.playlist(13), try Self.playlist(13, 0), .part(try PartRequest(msn: 12, index: 2)),
        ]
        let total = 10_000
        try await withThrowingTaskGroup(of: PlaylistWaiters.Outcome.self) { group in
            for index in 0..<total {
                let request = requests[index % requests.count]
                group.addTask { await waiters.wait(for: request) }
            }
            try await Self.eventually("10,000 waiters to register", within: .seconds(120)) { waiters.count == total }
            // One update: segment 12 completes with four parts, segment 13 completes, 14 starts.
            try HLSFixtures.addParts(&state, count: 2, duration: 1)
            try state.segmentReady(.init(msn: 12, duration: 4, byteSize: 1))
            try HLSFixtures.addSegment(&state, parts: 4, partDuration: 1)
            try HLSFixtures.addParts(&state, count: 1, duration: 1)
            waiters.update(state)
            #expect(waiters.count == 0)
            var ready = 0
            for try await outcome in group where outcome == .ready { ready += 1 }
            #expect(ready == total)
        }
    }
}
