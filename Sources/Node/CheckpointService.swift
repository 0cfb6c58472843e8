import EventStore
import Logging
import ServiceLifecycle

/// The Merkle integrator as a node's service (`streamd serve`): it keeps the tree at the log's
/// head and signs checkpoints until graceful shutdown.
public struct CheckpointService: Service, CustomStringConvertible {
    public let description = "Merkle integrator"
    let integrator: MerkleIntegrator
    let logger: Logger

    public init(integrator: MerkleIntegrator, logger: Logger) {
        self.integrator = integrator
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await integrator.run() }
        logger.info("stopped \(description)")
    }
}
