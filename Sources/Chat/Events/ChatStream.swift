import EventStore

public enum ChatStream {
    public static let viewers = "chat.viewers"
    public static func room(_ channel: String) -> String { "chat-\(channel)" }
    /// The channel of a room stream, or nil for other streams.
    public static func channel(of stream: String) -> String? {
        stream.hasPrefix("chat-") ? String(stream.dropFirst(5)) : nil
    }
}
