import Foundation

/// What a chat request can fail with; each description says what to do.
public enum ChatError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalid(String)
    case invalidName(String)
    case nameTaken(String)
    case roomNotFound(String)
    case messageNotFound(UUID)
    case viewerNotFound(String)
    case notModerator
    case unauthenticated

    public var description: String {
        switch self {
        case .invalid(let reason): reason
        case .invalidName(let reason): "that name cannot be used: \(reason)"
        case .nameTaken(let name): "the name \(name) is taken in this room; register another name with POST /v1/viewers"
        case .roomNotFound(let channel): "no channel named \(channel); list channels with GET /v1/channels"
        case .messageNotFound(let id): "no message \(id) in this room's recent messages; check the id in the history"
        case .viewerNotFound(let id): "no viewer \(id) has a key or a record here; check the id (a message's \"userId\")"
        case .notModerator: "this needs the admin token or a moderator's viewer token of this channel"
        case .unauthenticated: "identify first: send {\"type\":\"auth\",\"token\":…} with a token from POST /v1/viewers"
        }
    }
}
