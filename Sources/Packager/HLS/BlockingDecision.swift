/// What to do with a blocking playlist or part request against the current playlist state.
public enum BlockingDecision: Sendable, Hashable {
    /// Answer now: render the playlist, or serve the part.
    case ready
    /// Hold the request until the state changes (`PlaylistWaiters`), at most three target durations.
    case wait
    /// 400: the request asks too far ahead (RFC 8216bis §6.2.5.2). The reason is for the client.
    case badRequest(String)
    /// 404: a part that will never exist, or one too far ahead to have been hinted
    /// (RFC 8216bis §6.2.6). Only part requests get this.
    case notFound(String)
}
