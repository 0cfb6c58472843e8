import Channels
import EventStore
import Foundation
import Hummingbird

/// `GET /v1/nodes`: every node that joined the cluster on this database, live ones first, with
/// its lease (docs/api.md).
struct NodeRoutes: Sendable {
    let leases: ClusterLeases

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("nodes") { _, _ in
            let nodes = try await leases.nodes()
            return JSONBody.response(["nodes": nodes])
        }
    }
}
