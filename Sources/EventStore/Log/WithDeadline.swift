/// Resumes once, with whichever comes first: the work's outcome or the deadline. Unlike a task
/// group it does not wait for work that ignores cancellation; such work is left to finish alone.
func withDeadline<T: Sendable>(
    _ limit: Duration, onTimeout: @escaping @Sendable () async -> Void, _ work: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withCheckedThrowingContinuation { continuation in
        once.install(continuation)
        let worker = Task { once.resume(with: await Result(catching: { try await work() })) }
        let timer = Task {
            try? await Task.sleep(for: limit)
            if once.resume(with: .failure(DeadlineExceeded(limit: limit))) {
                worker.cancel()
                await onTimeout()
            }
        }
        // The timer goes as soon as the work is done: one left sleeping per read would pile up by
        // the thousand at a few hundred reads a second.
        Task {
            _ = await worker.value
            timer.cancel()
        }
    }
}
