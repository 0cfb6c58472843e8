import ArgumentParser
import Foundation
import Node

struct ViewersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "viewers",
        abstract: "Erase chat viewers' personal data (works without a running server).",
        subcommands: [Erase.self])

    struct Erase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Destroy a viewer's data key: their name and messages read as [erased] everywhere, the log stays verifiable.",
            discussion: """
                Deletes the viewer's key (migrations/0013), appends ViewerErased to chat.viewers and waits \
                until the chat read model has blanked their rows. The log's bytes are untouched, so \
                `streamd events verify` still passes. A running server stops showing the text when it \
                reads the event (at once on the node that served DELETE /v1/viewers/ID).
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The viewer's user id (a message's \"userId\", u_…).") var userId: String
        @Option(help: "Why: the request this answers (recorded in the log; put no personal data in it).") var reason: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withDatabase(database) { store in
                let chat = ChatService(store: store, channels: ChannelService(store: store))
                // The chat read model is this command's to bring up to the erasure when no server runs.
                let runner = Task { await chat.runner.run() }
                defer { runner.cancel() }
                var metadata = ChannelsCommand.cliActor
                metadata.reason = reason
                let erasure: ChatService.Erasure
                do {
                    erasure = try await chat.eraseViewer(userId, metadata: metadata)
                } catch let error as ChatError {
                    throw CommandFailure(error.description)
                }
                let applied = await chat.runner.waitUntil(erasure.position, timeout: .seconds(60))
                runner.cancel()
                await runner.value
                if json {
                    printJSON(erasure)
                } else {
                    print(
                        "erased viewer \(erasure.userId): \(erasure.keysDestroyed) key(s) destroyed, ViewerErased at position \(erasure.position)"
                    )
                    if !applied {
                        print("the chat read model has not applied it yet; it will when it catches up (check `streamd events list`)")
                    }
                }
            }
        }
    }
}
