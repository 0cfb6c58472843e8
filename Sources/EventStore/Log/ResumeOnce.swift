import Foundation

/// `withDeadline`'s continuation, resumed exactly once from whichever of two tasks comes first.
/// `@unchecked Sendable`: the continuation is guarded by the lock.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    var continuation: CheckedContinuation<T, any Error>?

    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        lock.lock()
        let continuation = self.continuation
        self.continuation = nil
        lock.unlock()
        continuation?.resume(with: result)
        return continuation != nil
    }
}
