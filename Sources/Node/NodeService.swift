import Logging
import ServiceLifecycle

/// One long-running part of a node, as a ServiceLifecycle service. A node's services run in one
/// `ServiceGroup` in the order `Platform.services` declares and stop in reverse, each after the
/// one above it has finished; every stop is logged, so the shutdown's order can be read back.
struct NodeService: Service, CustomStringConvertible {
    enum Stop: Sendable {
        /// Runs `body` until graceful shutdown cancels it (projection runners, log followers).
        case cancel(@Sendable () async -> Void)
        /// Waits for graceful shutdown, then runs `stop` (listeners that end their sessions).
        case call(@Sendable () async -> Void)
        /// Runs `body` from the start and, once graceful shutdown reaches it, waits for it to end
        /// by itself (the live pipeline, which drains when ingest has stopped).
        case drain(@Sendable () async -> Void)
    }

    let description: String
    let stop: Stop
    let logger: Logger

    init(_ name: String, logger: Logger, _ stop: Stop) {
        self.description = name
        self.stop = stop
        self.logger = logger
    }

    func run() async throws {
        switch stop {
        case .cancel(let body):
            await cancelWhenGracefulShutdown { await body() }
        case .call(let stop):
            // Cancellation (a failed start, a second signal) stops the part the same way.
            try? await gracefulShutdown()
            await stop()
        case .drain(let body):
            await withDiscardingTaskGroup { group in
                group.addTask { await body() }
                try? await gracefulShutdown()
            }
        }
        logger.info("stopped \(description)")
    }
}

/// A service of someone else's (the HTTP servers) that logs `stopped NAME` like the node's own.
public struct NamedService: Service, CustomStringConvertible {
    public let description: String
    let service: any Service
    let logger: Logger

    public init(_ name: String, _ service: any Service, logger: Logger) {
        self.description = name
        self.service = service
        self.logger = logger
    }

    public func run() async throws {
        defer { logger.info("stopped \(description)") }
        try await service.run()
    }
}
