import EventStore
import Foundation
import Gateway
import Testing

@Suite struct AdminRosterTests {
    static var registry: EventRegistry {
        var registry = EventRegistry()
        registry.registerGatewayEvents()
        return registry
    }

    static func recorded(_ event: some DomainEvent, version: Int64, actor: EventActor, reason: String? = nil) throws -> RecordedEvent {
        let new = try NewEvent(event, metadata: EventMetadata(actor: actor, reason: reason))
        return RecordedEvent(
            position: version, streamId: AdminRoster.stream, streamVersion: version, eventId: new.eventId, eventType: new.eventType,
            schemaVersion: new.schemaVersion, data: Data(new.data.utf8), metadata: new.metadata,
            recordedAt: Date(timeIntervalSince1970: Double(version)), hash: [])
    }

    @Test func foldsAddsRevocationsAndReplacedTokens() throws {
        let (alice, bob, newAlice) = ("st_alice-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "st_bob-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "st_x")
        let events = [
            try Self.recorded(AdminAdded(name: "alice", tokenHash: AdminRoster.hashHex(alice)), version: 1, actor: .system("serve")),
            try Self.recorded(AdminAdded(name: "bob", tokenHash: AdminRoster.hashHex(bob)), version: 2, actor: .admin(named: "alice")),
            try Self.recorded(AdminRevoked(name: "bob"), version: 3, actor: .admin(named: "alice"), reason: "left the team"),
            try Self.recorded(AdminAdded(name: "alice", tokenHash: AdminRoster.hashHex(newAlice)), version: 4, actor: .system("serve")),
        ]
        var roster = AdminRoster()
        for event in events { try roster.apply(event, registry: Self.registry) }
        // Folding an event again (a page read twice) changes nothing.
        for event in events { try roster.apply(event, registry: Self.registry) }
        #expect(roster.version == 4)
        #expect(roster.admin(presenting: bob) == nil, "a revoked admin's token is refused")
        #expect(roster.admin(presenting: alice) == nil, "a replaced token is refused")
        #expect(roster.admin(presenting: newAlice)?.name == "alice")
        #expect(roster.admin(presenting: "") == nil)
        let revoked = try #require(roster.admins["bob"])
        #expect(!revoked.isLive)
        #expect(revoked.addedBy == "admin:alice")
        #expect(revoked.revokedBy == "admin:alice")
        #expect(revoked.revokedReason == "left the team")
        let owner = try #require(roster.admins["alice"])
        #expect(owner.addedAt == Date(timeIntervalSince1970: 1))
        #expect(owner.tokenSince == Date(timeIntervalSince1970: 4))
        #expect(roster.sorted.map(\.name) == ["alice", "bob"])
    }

    @Test func aRevokedNameAddedAgainIsANewAdmin() throws {
        var roster = AdminRoster()
        roster.apply(AdminAdded(name: "ops", tokenHash: AdminRoster.hashHex("one")), at: Date(timeIntervalSince1970: 1), by: "system:serve")
        roster.apply(AdminRevoked(name: "ops"), at: Date(timeIntervalSince1970: 2), by: "admin:admin", reason: nil)
        roster.apply(AdminAdded(name: "ops", tokenHash: AdminRoster.hashHex("two")), at: Date(timeIntervalSince1970: 3), by: "admin:admin")
        let ops = try #require(roster.admins["ops"])
        #expect(ops.isLive)
        #expect(ops.addedAt == Date(timeIntervalSince1970: 3))
        #expect(roster.admin(presenting: "one") == nil)
        #expect(roster.admin(presenting: "two")?.name == "ops")
    }

    @Test func namesAreShortAndPlain() {
        for good in ["admin", "alice", "ops-1", "a.b_c", "0", String(repeating: "x", count: 32)] {
            #expect(throws: Never.self, "\(good)") { try AdminRoster.validate(name: good) }
        }
        for bad in ["", "Alice", "-x", ".x", "with space", "ünï", "a/b", String(repeating: "x", count: 33), "admin\n"] {
            #expect(throws: AdminError.invalidName(bad), "\(bad)") { try AdminRoster.validate(name: bad) }
        }
    }

    @Test func tokensAreNewEachTimeAndHashedAsHex() {
        let (one, two) = (AdminRoster.generateToken(), AdminRoster.generateToken())
        #expect(one != two)
        #expect(one.hasPrefix("st_") && one.count == 46)
        #expect(AdminRoster.hashHex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
