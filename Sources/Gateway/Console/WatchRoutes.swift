import Hummingbird
import Packager

/// The public pages: `/` lists the live channels, `/watch/CHANNEL` plays one with its chat.
struct WatchRoutes: Sendable {
    let directory: PlaybackDirectory?

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/") { _, _ in
            let live = (directory?.all ?? []).map(\.identity.channelName).sorted()
            return ConsolePages.html(ConsolePages.index(live: live))
        }
        router.get("watch/:channel") { _, context in
            let channel = try context.parameters.require("channel")
            guard Self.isChannelName(channel) else {
                return ConsolePages.text(.notFound, "\(channel) is not a channel name; see / for what is live")
            }
            return ConsolePages.html(ConsolePages.watch(channel: channel))
        }
    }

    /// A slug as channels are named (2 to 63 lowercase letters, digits and dashes).
    static func isChannelName(_ text: String) -> Bool {
        (2...63).contains(text.utf8.count) && text.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }
}
