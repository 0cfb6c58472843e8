import Foundation

/// A bounded FIFO whose consumer is a dedicated thread: the source's items on their way to the
/// decoding thread, and decoded frames on their way to one encoder thread.
///
/// An async producer suspends while the queue is full (`push`) instead of blocking a cooperative
/// thread; a thread producer blocks (`put`). The consumer blocks while it is empty.
/// `@unchecked Sendable`: every stored property is read and written only under `condition`'s lock.
final class FrameQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    /// Popped slots are cleared at once: a frame the consumer has taken must not stay referenced
    /// here until the array is compacted, or every frame behind it stays alive with it (the
    /// decoder's and scalers' pools then grow by one picture per retained frame).
    private var items: [Element?] = []
    private var head = 0
    private var closed = false
    private var spaceWaiter: CheckedContinuation<Void, Never>?
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    private var storedCount: Int { items.count - head }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return storedCount
    }

    func push(_ element: Element) async {
        while !offer(element) {
            await withCheckedContinuation { waitForSpace($0) }
        }
    }

    /// Appends, blocking the calling thread while the queue is full (never call it from a task).
    func put(_ element: Element) {
        condition.lock()
        defer { condition.unlock() }
        while !closed, storedCount >= capacity { condition.wait() }
        if closed { return }
        items.append(element)
        condition.broadcast()
    }

    /// Appends when there is room (or the queue is closed, which discards); false when full.
    private func offer(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return true }
        guard storedCount < capacity else { return false }
        items.append(element)
        condition.broadcast()
        return true
    }

    private func waitForSpace(_ continuation: CheckedContinuation<Void, Never>) {
        condition.lock()
        if closed || storedCount < capacity {
            condition.unlock()
            continuation.resume()
            return
        }
        spaceWaiter = continuation
        condition.unlock()
    }

    /// The next element, blocking the calling thread; `nil` once closed and empty.
    func pop() -> Element? {
        condition.lock()
        while storedCount == 0, !closed { condition.wait() }
        guard storedCount > 0 else {
            condition.unlock()
            return nil
        }
        let element = items[head]
        items[head] = nil
        head += 1
        if head > 64, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        let waiter = spaceWaiter
        spaceWaiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume()
        return element
    }

    /// Drops everything queued (a shed rung must not keep encoding its backlog).
    func removeAll() {
        condition.lock()
        items.removeAll()
        head = 0
        let waiter = spaceWaiter
        spaceWaiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume()
    }

    /// No more elements: `pop` returns the rest, then `nil`; pushes are discarded.
    func close() {
        condition.lock()
        closed = true
        let waiter = spaceWaiter
        spaceWaiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume()
    }
}
