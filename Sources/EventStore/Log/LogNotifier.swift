import Foundation
import Logging
import PostgresNIO

/// Tells waiting readers that the log grew. Only a hint (DESIGN.md §4): readers always re-read the
/// log, and every wait ends after a poll interval anyway, so a lost notification costs latency,
/// never an event.
actor LogNotifier {
    private(set) var latest: Int64 = 0
    let recent: RecentEvents?

    init(recent: RecentEvents? = nil) {
        self.recent = recent
    }
    private var waiters: [UUID: (after: Int64, continuation: CheckedContinuation<Void, Never>)] = [:]

    func advance(to position: Int64) {
        guard position > latest else { return }
        latest = position
        recent?.noteHead(position)
        for (id, waiter) in waiters where waiter.after < position {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume()
        }
    }

    /// Returns once the log is known to extend past `position`, or after `timeout`.
    func wait(after position: Int64, timeout: Duration) async {
        if latest > position || Task.isCancelled { return }
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                waiters[id] = (position, continuation)
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    await self?.expire(id)
                }
            }
        } onCancel: {
            Task { [weak self] in await self?.expire(id) }
        }
    }

    private func expire(_ id: UUID) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    /// LISTENs on `streamd_events` (sent by every append transaction, on every node), reconnecting
    /// after failures until cancelled.
    nonisolated func listen(url: DatabaseURL, logger: Logger) async {
        var attempt = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try url.connectionConfiguration(), id: 0, logger: logger)
                attempt = 0
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: "streamd_events") { notifications in
                    for try await notification in notifications {
                        if let position = Int64(notification.payload) { await advance(to: position) }
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
