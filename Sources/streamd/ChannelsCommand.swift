import ArgumentParser
import Foundation
import Node

struct ChannelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channels",
        abstract: "Create channels and manage their stream keys (works without a running server).",
        subcommands: [Create.self, List.self, RotateKey.self, RevokeKey.self])

    static let cliActor = EventMetadata(actor: EventActor(.admin, id: "cli:\(ProcessInfo.processInfo.userName)"))

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a channel and print its stream key (shown this once).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Channel name: 2-63 lowercase letters, digits and dashes.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                let service = ChannelService(store: store)
                service.start()
                let (channel, key) = try await service.create(name: name, metadata: ChannelsCommand.cliActor)
                if json {
                    printJSON([
                        "id": channel.id.uuidString, "name": channel.name, "streamKey": key.text,
                        "rtmpURL": "rtmp://localhost:1935/live/\(key.text)", "playbackURL": "/live/\(channel.name)/index.m3u8",
                    ])
                } else {
                    print("created channel \(channel.name) (\(channel.id))")
                    print("stream key: \(key.text)   (shown once: store it now)")
                    print("publish to: rtmp://localhost:1935/live/\(key.text)")
                }
                await service.shutdown()
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List channels.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                let service = ChannelService(store: store)
                service.start()
                let head = try await store.headPosition()
                await service.runner.waitUntil(head)
                let channels = try await service.list()
                await service.shutdown()
                if json {
                    printJSON(channels)
                } else if channels.isEmpty {
                    print("no channels yet; create one with `streamd channels create NAME`")
                } else {
                    for channel in channels {
                        print(
                            "\(channel.name)\t\(channel.id)\tcreated \(EventCoding.formatDate(channel.createdAt)) by \(channel.createdBy)\t\(channel.hasActiveKey ? "key active" : "no active key")"
                        )
                    }
                }
            }
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key", abstract: "Revoke a channel's key and issue a new one (shown this once).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Channel name.") var name: String
        @Option(help: "Why, for the audit log.") var reason: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                let service = ChannelService(store: store)
                service.start()
                var metadata = ChannelsCommand.cliActor
                metadata.reason = reason
                let key = try await service.rotateKey(name: name, metadata: metadata)
                await service.shutdown()
                if json {
                    printJSON(["name": name, "streamKey": key.text])
                } else {
                    print("new stream key for \(name): \(key.text)   (shown once; the old key no longer works)")
                }
            }
        }
    }

    struct RevokeKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-key", abstract: "Revoke a channel's key; publishing stops until a new key is issued.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Channel name.") var name: String
        @Option(help: "Why, for the audit log.") var reason: String?

        func run() async throws {
            try await withDatabase(database) { store in
                let service = ChannelService(store: store)
                service.start()
                var metadata = ChannelsCommand.cliActor
                metadata.reason = reason
                try await service.revokeKey(name: name, metadata: metadata)
                await service.shutdown()
                print("revoked the stream key of \(name); issue a new one with `streamd channels rotate-key \(name)`")
            }
        }
    }
}

func printJSON(_ value: some Encodable) {
    let encoder = EventCoding.encoder()
    encoder.outputFormatting.insert(.prettyPrinted)
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}
