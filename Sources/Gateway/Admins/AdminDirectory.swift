import EventStore
import Foundation
import Logging
import Synchronization

/// The admins a node accepts: `AdminRoster` in memory, read from the log at start (`load`) and
/// kept current by following it (`follow`), so a revocation made anywhere (another node, the
/// CLI) refuses the token here as soon as the event arrives. Also remembers when each admin was
/// last seen on this node.
public final class AdminDirectory: Sendable {
    struct State {
        var roster: AdminRoster
        /// The log position read up to.
        var position: Int64 = 0
        var lastUsed: [String: Date] = [:]
    }

    private let state: Mutex<State>

    public init() {
        state = Mutex(State(roster: AdminRoster()))
    }

    /// A directory that accepts `token` as the admin `admin` without reading the log (a Gateway
    /// built without a node); `load` replaces it with the log's roster.
    public init(ownerToken: String) {
        var roster = AdminRoster()
        roster.apply(
            AdminAdded(name: AdminRoster.ownerName, tokenHash: AdminRoster.hashHex(ownerToken)), at: Date(),
            by: EventActor.system("gateway").description)
        state = Mutex(State(roster: roster))
    }

    /// The name of the live admin whose token this is, or nil; notes the use.
    public func identify(_ token: String?) -> String? {
        guard let token else { return nil }
        return state.withLock { state in
            guard let admin = state.roster.admin(presenting: token) else { return nil }
            state.lastUsed[admin.name] = Date()
            return admin.name
        }
    }

    public func isLive(_ name: String) -> Bool {
        state.withLock { $0.roster.admins[name]?.isLive ?? false }
    }

    public var roster: AdminRoster { state.withLock { $0.roster } }

    /// When `name` last presented its token or console session to this node (since it started).
    public func lastUsed(_ name: String) -> Date? { state.withLock { $0.lastUsed[name] } }

    public var position: Int64 { state.withLock { $0.position } }

    /// Folds what the `admins` stream holds beyond what this node has seen: a route that just
    /// added or revoked someone answers once its own node knows it, without waiting for `follow`.
    public func refresh(from store: EventStore) async throws {
        let events = try await store.readStream(AdminRoster.stream, fromVersion: roster.version + 1, limit: 1_000)
        try state.withLock { state in
            for event in events { try state.roster.apply(event, registry: store.registry) }
        }
    }

    /// Reads the `admins` stream whole; the log's head before reading is where `follow` goes on.
    public func load(from store: EventStore) async throws {
        let head = try await store.headPosition()
        let roster = try await AdminRegistry(store: store).roster()
        state.withLock {
            $0.roster = roster
            $0.position = max($0.position, head)
        }
    }

    /// Applies admin events after what `load` read until the task is cancelled.
    public func follow(_ store: EventStore, logger: Logger) async {
        let start = position
        for await event in store.subscribe(after: start, filter: EventFilter(types: AdminRoster.eventTypes)) {
            state.withLock { state in
                do {
                    try state.roster.apply(event, registry: store.registry)
                } catch {
                    DecodeFailures.report(
                        event, error, consumer: "admin directory", consequence: "the admins on this node may be out of date",
                        logger: logger)
                }
                state.position = event.position
            }
        }
    }
}
