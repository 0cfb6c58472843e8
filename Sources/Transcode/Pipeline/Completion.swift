import Foundation

/// A one-shot signal a thread raises and either async code or another thread awaits.
///
/// `@unchecked Sendable`: `done` and `waiters` are touched only under `condition`'s lock.
final class Completion: @unchecked Sendable {
    private let condition = NSCondition()
    private var done = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func signal() {
        condition.lock()
        done = true
        let waiting = waiters
        waiters = []
        condition.broadcast()
        condition.unlock()
        for waiter in waiting { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            let finished = done
            if !finished { waiters.append(continuation) }
            condition.unlock()
            if finished { continuation.resume() }
        }
    }

    /// Blocks the calling thread until `signal()`; for threads only, never from a task.
    func block() {
        condition.lock()
        while !done { condition.wait() }
        condition.unlock()
    }
}
