import Foundation

/// See ``EventStore/subscribe(after:filter:pageSize:)``.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent

    let store: EventStore
    let start: Int64
    let filter: EventFilter
    let pageSize: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, position: start, filter: filter, pageSize: pageSize)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let store: EventStore
        /// The last position handed out, or the start.
        public private(set) var position: Int64
        let filter: EventFilter
        let pageSize: Int
        private var buffer: [RecordedEvent] = []
        private var index = 0
        private var failures = 0
        /// Reads continue after here: the last position handed out, or further once a short page
        /// has shown that nothing up to a known head passes the filter. A filter that matches
        /// little would otherwise re-read from its last match after every commit, and miss the
        /// store's memory of recent commits, which reaches back only so far.
        private var scanned: Int64
        /// The page after `buffer`, already being read while `buffer` is handed out, so a
        /// subscription catching up overlaps the database's work with its consumer's.
        private var readAhead: Task<[RecordedEvent], any Error>?

        init(store: EventStore, position: Int64, filter: EventFilter, pageSize: Int) {
            self.store = store
            self.position = position
            self.scanned = position
            self.filter = filter
            self.pageSize = pageSize
        }

        public mutating func next() async -> RecordedEvent? {
            while !Task.isCancelled {
                if index < buffer.count {
                    let event = buffer[index]
                    index += 1
                    position = event.position
                    scanned = Swift.max(scanned, event.position)
                    return event
                }
                // Everything up to `head` had committed before this read began (see LogNotifier).
                let head = await store.knownHeadPosition()
                do {
                    if let readAhead {
                        self.readAhead = nil
                        buffer = try await readAhead.value
                    } else {
                        buffer = try await store.readLive(after: scanned, limit: pageSize, filter: filter)
                        // Began after `head` was known: a short page holds everything up to it.
                        if buffer.count < pageSize { scanned = Swift.max(scanned, head) }
                    }
                    index = 0
                    failures = 0
                    // A full page means more is probably there: start reading it now.
                    if buffer.count == pageSize, let last = buffer.last?.position {
                        let (store, filter, pageSize) = (store, filter, pageSize)
                        readAhead = Task { try await store.readLive(after: last, limit: pageSize, filter: filter) }
                    }
                } catch {
                    failures += 1
                    if failures == 1 || failures % 30 == 0 {
                        store.logger.warning("subscription read failed, retrying: \(AppendBatcher.describe(error))")
                    }
                    try? await Task.sleep(for: .milliseconds(Swift.min(1000, 100 * failures)))
                    continue
                }
                if buffer.isEmpty { await store.waitForEvents(after: Swift.max(head, scanned)) }
            }
            return nil
        }
    }
}
