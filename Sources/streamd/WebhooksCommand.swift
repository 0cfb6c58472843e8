import ArgumentParser
import Foundation
import Node

struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks",
        abstract: "Subscribe URLs to event types; a running node delivers them from the log, signed (docs/api.md#webhooks).",
        subcommands: [Add.self, List.self, Remove.self, RotateSecret.self])

    /// The CLI is not a node: it cannot tell a node's own ports, only link-local targets are refused here.
    static func registry(_ store: EventStore) -> WebhookRegistry {
        WebhookRegistry(store: store, targets: WebhookTarget(ownPorts: []))
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Subscribe URL to event types; prints its id and secret (shown once).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Where to POST the events (http:// or https://).") var url: String
        @Option(name: .customLong("event"), help: "An event type to deliver (repeatable): StreamStarted, StreamEnded, …")
        var events: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                do {
                    let (hook, secret) = try await WebhooksCommand.registry(store).add(
                        url: url, events: events, metadata: ChannelsCommand.cliActor)
                    if json {
                        printJSON(["id": hook.id.uuidString.lowercased(), "secret": secret])
                    } else {
                        print("webhook \(hook.id.uuidString.lowercased()) → \(hook.url) for \(hook.events.joined(separator: ", "))")
                        print("secret: \(secret)   (shown once: give it to the receiver to check webhook-signature)")
                    }
                } catch let error as WebhookError {
                    throw CommandFailure(error.description)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the subscriptions.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                let hooks = try await WebhooksCommand.registry(store).list()
                if json {
                    printJSON(hooks)
                } else if hooks.isEmpty {
                    print("no webhooks; add one with `streamd webhooks add URL --event StreamStarted`")
                }
                for hook in hooks where !json {
                    print(
                        "\(hook.id.uuidString.lowercased())\t\(hook.url)\t\(hook.events.joined(separator: ","))\tsecret \(hook.secretHint)…"
                    )
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a subscription; nothing more is delivered to it.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The webhook's id.") var id: String

        func run() async throws {
            guard let uuid = UUID(uuidString: id) else { throw ValidationError("\(id) is not a webhook id; see `streamd webhooks list`") }
            try await withDatabase(database) { store in
                do { try await WebhooksCommand.registry(store).remove(uuid, metadata: ChannelsCommand.cliActor) } catch let error
                    as WebhookError
                {
                    throw CommandFailure(error.description)
                }
                print("removed webhook \(id)")
            }
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Give a subscription a new secret (printed once); deliveries are signed with it from now on.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The webhook's id.") var id: String

        func run() async throws {
            guard let uuid = UUID(uuidString: id) else { throw ValidationError("\(id) is not a webhook id; see `streamd webhooks list`") }
            try await withDatabase(database) { store in
                do {
                    let secret = try await WebhooksCommand.registry(store).rotateSecret(uuid, metadata: ChannelsCommand.cliActor)
                    print("secret: \(secret)   (shown once)")
                } catch let error as WebhookError {
                    throw CommandFailure(error.description)
                }
            }
        }
    }
}
