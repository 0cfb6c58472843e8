import Channels
import EventStore
import Foundation
import Node
import TestSupport
import Testing

/// Least privilege in PostgreSQL (docs/event-log.md#database-roles): streamd's own connections run
/// as a role that reads and appends the log but cannot edit it, whatever the database.
@Suite struct DatabaseRolesTests {
    static let admin = EventMetadata(actor: .admin)

    /// Each is refused the application's role with PostgreSQL's 42501 insufficient_privilege.
    static let edits = [
        "ALTER TABLE events DISABLE TRIGGER ALL",
        "UPDATE events SET stream_id = 'rewritten' WHERE position = 1",
        "DELETE FROM events",
        "TRUNCATE events",
        "DROP TRIGGER events_append_only ON events",
        "DELETE FROM event_log_head",
        "CREATE TABLE shadow (x int)",
    ]

    static func folder(_ label: String) -> URL {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("streamd-\(label)-\(UUID().uuidString.prefix(8))")
    }

    @Test(.timeLimit(.minutes(3))) func theEmbeddedClusterRunsAsARoleThatCannotEditTheLog() async throws {
        let root = Self.folder("roles")
        defer { try? FileManager.default.removeItem(at: root) }
        let database = try await NodeDatabase.open(url: nil, dataDirectory: root, logger: TestDatabase.logger)
        do {
            let store = database.store
            #expect(store.url.username == EmbeddedPostgres.applicationRole)
            try await Self.expectAppendReadAndRebuild(store, channel: "first")
            try await Self.expectEditsRefused(store.url)
            #expect(try await SQL.refusal(store.url, "SET ROLE \(EmbeddedPostgres.ownerRole)") == "42501")
            #expect(
                try await SQL.column(
                    store.url,
                    "SELECT concat_ws(',', rolsuper, rolcreaterole, rolcreatedb, rolbypassrls) FROM pg_roles WHERE rolname = current_user"
                ) == ["f,f,f,f"])
            #expect(
                try await SQL.column(store.url, "SELECT tableowner::text FROM pg_tables WHERE tablename = 'events'") == [
                    EmbeddedPostgres.ownerRole
                ])
            for secret in ["postgres.password", "postgres-owner.password", "postgres-app.password"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(secret).path)
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(secret)")
            }
            #expect(try await store.roleThatCanRewriteLog() == nil)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    /// A data folder from before the roles: its tables and functions are the superuser's, as an
    /// earlier streamd made them. The next start hands them to the owner, and the log goes on.
    @Test(.timeLimit(.minutes(3))) func aClusterMadeWhenStreamdWasSuperuserIsUpgradedInPlace() async throws {
        let root = Self.folder("roles-upgrade")
        defer { try? FileManager.default.removeItem(at: root) }
        let cluster = try EmbeddedPostgres(dataDirectory: root, durable: false, logger: TestDatabase.logger)
        defer { cluster.stop() }
        let (superuser, _) = try cluster.start()
        try await cluster.ensureDatabase(url: superuser, logger: TestDatabase.logger)
        let old = try await EventStore.open(url: superuser, registry: .platform, logger: TestDatabase.logger)
        try await Self.expectAppendReadAndRebuild(old, channel: "before")
        await old.shutdown()
        cluster.stop()

        for start in 1...2 {
            let database = try await NodeDatabase.open(url: nil, dataDirectory: root, logger: TestDatabase.logger)
            do {
                let (store, streamd) = (database.store, superuser.with(database: "streamd"))
                #expect(
                    try await SQL.column(
                        streamd,
                        """
                        SELECT count(*)::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relowner <> 'streamd_owner'::regrole
                        UNION ALL
                        SELECT count(*)::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proowner <> 'streamd_owner'::regrole
                        """) == ["0", "0"])
                let channels = ChannelService(store: store)
                channels.start()
                #expect(await channels.runner.waitUntil(try await store.headPosition()))
                #expect(try await channels.channel(named: "before") != nil, "start \(start)")
                await channels.shutdown()
                try await Self.expectAppendReadAndRebuild(store, channel: "after\(start)")
                try await Self.expectEditsRefused(store.url)
                #expect(try await HashChainVerifier(store: store).verify() == .verified(count: Int64(2 + 2 * start)))
            } catch {
                await database.close()
                throw error
            }
            await database.close()
        }
    }

    /// An external server set up as docs/event-log.md#database-roles says: the owner migrates and
    /// grants, the application's role appends and reads and is refused every edit.
    @Test func anExternalDatabaseWithTheDocumentedRoles() async throws {
        let roles = try await ExternalRoles.make(prefix: "roles")
        let (owner, application) = (roles.owner, roles.application)
        do {
            // Alone on a fresh database, the application's role cannot migrate, and says what to do.
            await #expect {
                try await NodeDatabase.open(url: application.urlString, dataDirectory: Self.folder("unused"), logger: TestDatabase.logger)
            } throws: { error in
                "\(error)".contains("--database-owner-url")
            }

            let database = try await NodeDatabase.open(
                url: application.urlString, ownerURL: owner.urlString, dataDirectory: Self.folder("unused"), logger: TestDatabase.logger)
            do {
                #expect(try await database.store.roleThatCanRewriteLog() == nil)
                try await Self.expectAppendReadAndRebuild(database.store, channel: "external")
                try await Self.expectEditsRefused(application)
            } catch {
                await database.close()
                throw error
            }
            await database.close()

            // Once migrated, the application's role starts alone; the owner would be warned about.
            let again = try await NodeDatabase.open(
                url: application.urlString, dataDirectory: Self.folder("unused"), logger: TestDatabase.logger)
            #expect(try await again.store.headPosition() == 2)
            await again.close()
            let asOwner = try await EventStore.open(url: owner, registry: .platform, logger: TestDatabase.logger)
            #expect(try await asOwner.roleThatCanRewriteLog() == owner.username)
            await asOwner.shutdown()
        } catch {
            try await roles.drop()
            throw error
        }
        try await roles.drop()
    }

    @Test func aSuperuserStoreIsOneThatCanRewriteTheLog() async throws {
        let store = try await TestDatabase.makeStore("rewriter")
        #expect(try await store.roleThatCanRewriteLog() == TestDatabase.serverURL().username)
        await store.shutdown()
    }

    /// Appends through the channels service, reads the stream back, and rebuilds the read model.
    static func expectAppendReadAndRebuild(_ store: EventStore, channel: String) async throws {
        let channels = ChannelService(store: store)
        channels.start()
        do {
            let (record, _) = try await channels.create(name: channel, metadata: admin)
            #expect(await channels.runner.waitUntil(try await store.headPosition()))
            #expect(try await channels.channel(named: channel)?.id == record.id)
            #expect(try await store.readStream("channel-\(channel)").map(\.eventType) == ["ChannelCreated", "StreamKeyIssued"])
            let report = try await ProjectionReplay(store: store, projection: ChannelsProjection()).run()
            #expect(report.isIdentical, "\(report)")
        } catch {
            await channels.shutdown()
            throw error
        }
        await channels.shutdown()
    }

    static func expectEditsRefused(_ url: DatabaseURL) async throws {
        for statement in edits {
            #expect(try await SQL.refusal(url, statement) == "42501", "\(statement) as \(url.username)")
        }
        #expect(try await SQL.column(url, "SELECT count(*)::text FROM events WHERE stream_id = 'rewritten'") == ["0"])
    }
}
