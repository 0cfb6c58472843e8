import ArgumentParser
import Foundation
import Node

struct AdminsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admins",
        abstract: "Add, list and revoke admin identities (works without a running server; running nodes follow at once).",
        subcommands: [Add.self, List.self, Revoke.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an admin and print their token (shown this once; only its SHA-256 is kept).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Admin name: 1-32 lowercase letters, digits, '.', '_' or '-'.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                let added = try await AdminRegistry(store: store).add(name: name, metadata: ChannelsCommand.cliActor)
                if json {
                    printJSON(["name": name, "token": added.token])
                } else {
                    print("added admin \(name)")
                    print("token: \(added.token)   (shown once: hand it to \(name) now)")
                    print("use it as: Authorization: Bearer <token>, or sign in at /admin")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List admins, live and revoked.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                let admins = try await AdminRegistry(store: store).roster().sorted
                if json {
                    printJSON(admins.map { AdminRoster.Listing($0) })
                } else if admins.isEmpty {
                    print("no admins yet; `streamd serve` records its first-start token as `admin`, `streamd admins add NAME` adds one")
                } else {
                    for admin in admins {
                        var line = "\(admin.name)\tadded \(EventCoding.formatDate(admin.addedAt)) by \(admin.addedBy)"
                        if admin.tokenSince != admin.addedAt { line += "\ttoken since \(EventCoding.formatDate(admin.tokenSince))" }
                        if let revokedAt = admin.revokedAt {
                            line += "\trevoked \(EventCoding.formatDate(revokedAt)) by \(admin.revokedBy ?? "?")"
                            if let reason = admin.revokedReason { line += ": \(reason)" }
                        } else {
                            line += "\tlive"
                        }
                        print(line)
                    }
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke an admin: their token is refused at once by every running node.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Admin name.") var name: String
        @Option(help: "Why, for the audit log.") var reason: String?

        func run() async throws {
            try await withDatabase(database) { store in
                var metadata = ChannelsCommand.cliActor
                metadata.reason = reason
                try await AdminRegistry(store: store).revoke(name: name, metadata: metadata)
                print("revoked admin \(name); their token is refused from now on")
            }
        }
    }
}
