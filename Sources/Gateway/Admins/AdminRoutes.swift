import EventStore
import Foundation
import Hummingbird

/// `/v1/admins`: list, add (the token is in the answer, once) and revoke admins, as the CLI's
/// `streamd admins` does; each change names the admin who made it.
struct AdminRoutes: Sendable {
    let registry: AdminRegistry
    let directory: AdminDirectory

    struct AddRequest: Decodable { var name: String }

    struct Added: Encodable {
        var name: String
        var token: String
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        let (registry, directory) = (registry, directory)
        group.get("admins") { _, _ in
            let roster = try await registry.roster()
            let listed = roster.sorted.map { AdminRoster.Listing($0, lastUsedOnThisNode: directory.lastUsed($0.name)) }
            return JSONBody.response(["admins": listed])
        }
        group.post("admins") { request, context in
            let body = try await JSONBody.decode(AddRequest.self, from: request, limit: 4_096)
            let added = try await registry.add(name: body.name, metadata: context.eventMetadata())
            try await directory.refresh(from: registry.store)
            return JSONBody.response(Added(name: body.name, token: added.token), status: .created)
        }
        group.delete("admins/:name") { request, context in
            let name = try context.parameters.require("name")
            try await registry.revoke(
                name: name, metadata: context.eventMetadata(reason: request.uri.queryParameters["reason"].map(String.init)))
            try await directory.refresh(from: registry.store)
            return Response(status: .noContent)
        }
    }
}
