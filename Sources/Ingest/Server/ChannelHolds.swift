/// A channel is live on one node of a cluster at a time. The node implements this over its
/// shared database (`ClusterLeases`); a single node runs without it.
public protocol ChannelHolds: Sendable {
    /// Takes `channelID` for this node before a new session starts on it.
    func take(channelID: String) async -> ChannelHold
    /// The node that holds `channelID` when it is not this one (a read, for SRT's listen callback).
    func holderElsewhere(channelID: String) async -> String?
    /// Gives the channel back when its session ends; `token` is the one `take` returned, so a
    /// later take by a new session is not given back with the old one.
    func giveBack(channelID: String, token: String) async
    /// The session holding the channel waits for its encoder (`true`: another node may take the
    /// channel) or has it back (`false`); returns false when another node has taken it meanwhile.
    /// `order` grows with each call, so calls that arrive out of order keep the last word.
    func waiting(channelID: String, token: String, _ waiting: Bool, order: Int64) async -> Bool
}

public enum ChannelHold: Sendable, Hashable {
    /// This node holds it now; nil token: the holds could not be reached (the database is away),
    /// and the publish goes on rather than failing a live stream for want of the lease.
    case held(token: String?)
    /// Another live node holds it: its URL.
    case elsewhere(node: String)
}
