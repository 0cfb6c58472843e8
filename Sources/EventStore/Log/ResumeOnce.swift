import Foundation

/// A continuation resumed exactly once, from whichever of several tasks comes first (`withDeadline`,
/// `abandoningOnCancel`). `@unchecked Sendable`: its state is guarded by the lock.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    /// A result that came before the continuation was installed.
    private var early: Result<T, any Error>?
    private var done = false

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        if let early {
            self.early = nil
            lock.unlock()
            continuation.resume(with: early)
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    /// Resumes with `result` unless something resumed first; says whether this call did.
    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        lock.lock()
        guard !done else {
            lock.unlock()
            return false
        }
        done = true
        guard let continuation else {
            early = result
            lock.unlock()
            return true
        }
        self.continuation = nil
        lock.unlock()
        continuation.resume(with: result)
        return true
    }
}
