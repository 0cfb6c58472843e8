import EventStore

/// An address made too many failed key attempts and is refused for a while.
public struct PublishLockedOut: DomainEvent, Hashable {
    public static let eventType = "PublishLockedOut"

    public var remoteAddress: String
    public var failures: Int
    public var windowSeconds: Double
    public var lockoutSeconds: Double

    public init(remoteAddress: String, failures: Int, windowSeconds: Double, lockoutSeconds: Double) {
        self.remoteAddress = remoteAddress
        self.failures = failures
        self.windowSeconds = windowSeconds
        self.lockoutSeconds = lockoutSeconds
    }
}
