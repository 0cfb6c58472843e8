import Channels
import Chat
import EventStore
import Gateway
import Packager
import Quality

/// The SQL read models of a node, which `streamd events replay` can rebuild.
public enum Projections {
    public static let all: [any SQLProjection] = [
        ChannelsProjection(), DVRProjection(), QualityProjection(), ChatProjection(), DashboardProjection(),
    ]
    public static var names: [String] { all.map(\.name) }
    public static func named(_ name: String) -> (any SQLProjection)? { all.first { $0.name == name } }
}
