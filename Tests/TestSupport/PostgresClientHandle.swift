import EventStore
import Foundation
import PostgresNIO

/// A running PostgresClient for tests that need one without an EventStore.
public final class PostgresClientHandle: Sendable {
    public let client: PostgresClient
    private let task: Task<Void, Never>

    public init(url: DatabaseURL) {
        let client = PostgresClient(configuration: url.clientConfiguration, backgroundLogger: TestDatabase.logger)
        self.client = client
        self.task = Task { await client.run() }
    }

    public func close() { task.cancel() }
}
