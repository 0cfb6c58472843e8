import ArgumentParser
import Node

@main
struct Streamd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamd",
        abstract: "A live-streaming platform: RTMP/SRT ingest, in-process transcoding, LL-HLS delivery, chat, and an audited event log.",
        discussion: """
            Every option of every command can also be set in the environment as STREAMD_<NAME> \
            (for example --database-url as STREAMD_DATABASE_URL). Without a database URL, streamd \
            runs its own private PostgreSQL cluster in the data folder.
            """,
        subcommands: [
            ServeCommand.self, ChannelsCommand.self, AdminsCommand.self, EventsCommand.self, ViewersCommand.self,
            VodCommand.self, VerifyExportCommand.self, WebhooksCommand.self,
        ],
        defaultSubcommand: nil)
}
