/// Runs `work` but returns as soon as the calling task is cancelled (throwing
/// `CancellationError`), leaving `work` to finish alone. For PostgresNIO calls that wait on a pool
/// lease or a connection that ignores cancellation: without it a node stopping while the database
/// is away waited for the database to come back.
func abandoningOnCancel<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try Task.checkCancellation()
    let once = ResumeOnce<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            once.install(continuation)
            Task { once.resume(with: await Result(catching: { try await work() })) }
        }
    } onCancel: {
        once.resume(with: .failure(CancellationError()))
    }
}
