import Channels
import EventStore
import Foundation
import Hummingbird

/// A gateway that cannot start (an unreadable certificate, an unwritable secret), with what to do.
public struct GatewayError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
