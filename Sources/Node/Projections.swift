import Channels
import Chat
import EventStore
import Gateway
import Packager
import Quality

/// The read models of a node, which `streamd events replay` can rebuild: the SQL ones, and the
/// ones kept in memory (their live value comes from a running node, `/v1/audit/projections`).
public enum Projections {
    public static let all: [any SQLProjection] = [
        ChannelsProjection(), DVRProjection(), QualityProjection(), ChatProjection(), DashboardProjection(),
        IngestAlertProjection(),
    ]
    public static let inMemory: [InMemoryModelAudit] = [ChatRoomsAudit.model, PlaybackDirectoryAudit.model]
    public static var names: [String] { all.map(\.name) + inMemory.map(\.name) }
    public static func named(_ name: String) -> (any SQLProjection)? { all.first { $0.name == name } }
    public static func memoryModel(named name: String) -> InMemoryModelAudit? { inMemory.first { $0.name == name } }
}
