import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

public enum ChannelError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidName(String)
    case duplicate(String)
    case notFound(String)
    case noActiveKey(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "\"\(name)\" is not a valid channel name: use 2-63 lowercase letters, digits and dashes, starting with a letter or digit"
        case .duplicate(let name): "a channel named \(name) already exists; choose another name"
        case .notFound(let name): "no channel named \(name); list channels with GET /v1/channels or `streamd channels list`"
        case .noActiveKey(let name):
            "channel \(name) has no active stream key; issue one with POST /v1/channels/\(name)/key or `streamd channels rotate-key \(name)`"
        }
    }
}
