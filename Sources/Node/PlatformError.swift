/// A node that cannot start, with what to do about it.
public struct PlatformError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
