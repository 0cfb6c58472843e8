import EventStore
import Foundation
import TestSupport
import Testing

@Suite struct IntegrityTests {
    func seeded(_ label: String, count: Int = 10) async throws -> EventStore {
        let store = try await TestDatabase.makeStore(label, registry: .test)
        for i in 1...count {
            _ = try await store.append(Counted(writer: "v", n: i), to: "verify-\(i % 3)", metadata: testActor)
        }
        return store
    }

    /// As a superuser with the append-only trigger disabled, the way an attacker would.
    func tamper(_ store: EventStore, _ statement: String) async throws {
        try await SQL.execute(
            store.url,
            "ALTER TABLE events DISABLE TRIGGER events_append_only", statement, "ALTER TABLE events ENABLE TRIGGER events_append_only")
    }

    @Test func intactLogVerifies() async throws {
        let store = try await seeded("vok")
        defer { Task { await store.shutdown() } }
        #expect(try await HashChainVerifier(store: store).verify() == .verified(count: 10))
    }

    @Test func editedRowIsFound() async throws {
        let store = try await seeded("vedit")
        defer { Task { await store.shutdown() } }
        try await tamper(store, #"UPDATE events SET data = '{"writer":"v","n":999}' WHERE position = 4"#)
        guard case .broken(let position, _) = try await HashChainVerifier(store: store).verify() else {
            Issue.record("an edited row went unnoticed"); return
        }
        #expect(position == 4)
    }

    @Test func editedMetadataIsFound() async throws {
        let store = try await seeded("vmeta")
        defer { Task { await store.shutdown() } }
        try await tamper(
            store, #"UPDATE events SET metadata = jsonb_set(metadata::jsonb, '{actor,id}', '"someone-else"') WHERE position = 7"#)
        #expect(
            try await HashChainVerifier(store: store).verify()
                == .broken(position: 7, reason: "its content or place does not match the hash chain (edited or reordered)"))
    }

    @Test func deletedRowIsFound() async throws {
        let store = try await seeded("vdel")
        defer { Task { await store.shutdown() } }
        try await tamper(store, "DELETE FROM events WHERE position = 6")
        guard case .broken(let position, let reason) = try await HashChainVerifier(store: store).verify() else {
            Issue.record("a deleted row went unnoticed"); return
        }
        #expect(position == 6)
        #expect(reason.contains("deleted"))
    }

    @Test func deletedTailIsFound() async throws {
        let store = try await seeded("vtail")
        defer { Task { await store.shutdown() } }
        try await tamper(store, "DELETE FROM events WHERE position = 10")
        guard case .broken(let position, _) = try await HashChainVerifier(store: store).verify() else {
            Issue.record("a deleted last row went unnoticed"); return
        }
        #expect(position == 10)
    }

    @Test func reorderedRowsAreFound() async throws {
        let store = try await seeded("vswap")
        defer { Task { await store.shutdown() } }
        try await tamper(
            store,
            """
            UPDATE events SET position = CASE position WHEN 2 THEN -3 WHEN 3 THEN -2 END WHERE position IN (2, 3);
            """)
        try await tamper(store, "UPDATE events SET position = -position WHERE position < 0")
        guard case .broken(let position, _) = try await HashChainVerifier(store: store).verify() else {
            Issue.record("reordered rows went unnoticed"); return
        }
        #expect(position == 2)
    }
}

@Suite struct MigrationTests {
    @Test func changedAppliedMigrationStopsStartUp() async throws {
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("migrations-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "CREATE TABLE a (x int);\n-- a comment; with a semicolon\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;"
            .write(to: folder.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
        let url = try await TestDatabase.freshDatabase("mig")
        let client = PostgresClientHandle(url: url)
        defer { client.close() }
        #expect(try await Migrator(folder: folder).migrate(client.client, logger: TestDatabase.logger) == ["0001_first.sql"])
        #expect(try await Migrator(folder: folder).migrate(client.client, logger: TestDatabase.logger) == [])
        try "CREATE TABLE b (y int);".write(to: folder.appendingPathComponent("0002_second.sql"), atomically: true, encoding: .utf8)
        #expect(try await Migrator(folder: folder).migrate(client.client, logger: TestDatabase.logger) == ["0002_second.sql"])

        try "CREATE TABLE a (x bigint);".write(to: folder.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
        do {
            try await Migrator(folder: folder).migrate(client.client, logger: TestDatabase.logger)
            Issue.record("a changed migration was accepted")
        } catch let error as EventStoreError {
            #expect(error.description.contains("0001_first.sql was changed after it was applied"))
        }
    }

    /// Rows hashed by the database over jsonb before 0007 still verify after it turns the columns
    /// into json, with rows the committer hashed appended behind them.
    @Test func aLogFromBeforeTheJSONColumnsVerifiesAfterThem() async throws {
        let url = try await TestDatabase.freshDatabase("pre7")
        let client = PostgresClientHandle(url: url)
        defer { client.close() }
        let bundled = try Migrator.bundled()
        try await Migrator(migrations: bundled.migrations.filter { $0.version < 7 }).migrate(client.client, logger: TestDatabase.logger)
        // As a build before 0007 appended: the old batch function, jsonb arguments.
        try await SQL.execute(
            url,
            """
            SELECT * FROM streamd_append_batch(ARRAY['test-old', 'test-other'], ARRAY[1, 2, 1], ARRAY[-1, 0, -1]::bigint[],
                ARRAY[1, 2, 1], ARRAY[1, 2, 2, 3], ARRAY[gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid()],
                ARRAY['TestOld', 'TestOld', 'TestOld', 'TestOld'], ARRAY[1, 1, 1, 1],
                ARRAY['{"b": 2, "a": [1, 2.50, 1e3]}', '{"text": "grüße \\"q\\" 🎥"}', '{}', '[]']::jsonb[],
                ARRAY['{"actor": {"id": "old", "kind": "system"}}', '{"actor": {"id": "old", "kind": "system"}}',
                      '{"actor": {"id": "old", "kind": "system"}}', '{"actor": {"id": "old", "kind": "system"}}']::jsonb[])
            """)
        let store = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        for i in 0..<6 {
            _ = try await store.append(Counted(writer: "new", n: i), to: i.isMultiple(of: 2) ? "test-old" : "test-new", metadata: testActor)
        }
        #expect(try await store.readStream("test-old").map(\.streamVersion) == [1, 2, 3, 4, 5])
        #expect(try await HashChainVerifier(store: store).verify() == .verified(count: 10))
    }

    @Test func scriptSplitterKeepsBodiesWhole() {
        let statements = SQLScript.statements(
            """
            -- leading; comment
            CREATE TABLE t (a text DEFAULT 'x;y');
            /* block; comment */ CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; END $body$;
            SELECT $$a;b$$, "weird;name" FROM t
            """)
        #expect(statements.count == 3)
        #expect(statements[0] == "CREATE TABLE t (a text DEFAULT 'x;y')")
        #expect(statements[1].hasSuffix("$body$ BEGIN PERFORM 1; END $body$"))
        #expect(statements[2] == "SELECT $$a;b$$, \"weird;name\" FROM t")
    }
}
