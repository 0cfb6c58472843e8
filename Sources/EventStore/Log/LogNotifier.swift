import Foundation
import Logging
import PostgresNIO

/// Tells waiting readers that the log grew. Only a hint (DESIGN.md §4): readers always re-read the
/// log, and every wait ends after a poll interval anyway, so a lost notification costs latency,
/// never an event.
actor LogNotifier {
    private(set) var latest: Int64 = 0
    let recent: RecentEvents?
    private var waiters: [UUID: (after: Int64, continuation: CheckedContinuation<Void, Never>, timer: Task<Void, Never>?)] = [:]
    /// This node's batches between `commitStarted` and `commitFinished`.
    private var localCommits = 0
    /// The newest notification held back while they commit.
    private var held: Int64 = 0

    init(recent: RecentEvents? = nil) {
        self.recent = recent
    }

    func advance(to position: Int64) {
        guard position > latest else { return }
        latest = position
        recent?.noteHead(position)
        for (id, waiter) in waiters where waiter.after < position {
            waiters.removeValue(forKey: id)
            waiter.timer?.cancel()
            waiter.continuation.resume()
        }
    }

    /// A batch of this node's is about to commit. Its own notification can arrive on the LISTEN
    /// connection before the committer has the batch's result; readers woken by it would miss the
    /// rows the committer is about to hand `recent` and read them from the database instead. So
    /// waking on notifications waits for the batches in flight (a commit's time, or its retries').
    /// `recent` learns of the position at once all the same, so that no read it answers in the
    /// meantime (a poll) leaves out another node's rows.
    func commitStarted() {
        localCommits += 1
    }

    /// The batch committed up to `position`, or failed (`nil`).
    func commitFinished(at position: Int64?) {
        localCommits = Swift.max(0, localCommits - 1)
        let target = Swift.max(position ?? 0, held)
        held = 0
        advance(to: target)
    }

    /// A notification from any node's commit (this one's included).
    func notified(_ position: Int64) {
        if localCommits > 0 {
            recent?.noteHead(position)
            held = Swift.max(held, position)
        } else {
            advance(to: position)
        }
    }

    /// Returns once the log is known to extend past `position`, or after `timeout`.
    func wait(after position: Int64, timeout: Duration) async {
        if latest > position || Task.isCancelled { return }
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Cancelled when the wait ends early, so timers do not pile up at a commit rate.
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    await self?.expire(id)
                }
                waiters[id] = (position, continuation, timer)
            }
        } onCancel: {
            Task { [weak self] in await self?.expire(id) }
        }
    }

    private func expire(_ id: UUID) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume()
    }

    /// LISTENs on `streamd_events` (sent by every append transaction, on every node), reconnecting
    /// after failures until cancelled.
    nonisolated func listen(url: DatabaseURL, eventLoop: any EventLoop, logger: Logger) async {
        var attempt = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    on: eventLoop, configuration: try url.connectionConfiguration(), id: 0, logger: logger)
                attempt = 0
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: "streamd_events") { notifications in
                    for try await notification in notifications {
                        if let position = Int64(notification.payload) { await notified(position) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                attempt += 1
                if attempt == 1 || attempt % 30 == 0 {
                    logger.warning("event log notifications unavailable, polling until they return: \(String(reflecting: error))")
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
