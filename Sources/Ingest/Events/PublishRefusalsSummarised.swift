import EventStore
import Foundation

/// Refused publish attempts from one address that were counted instead of logged one by one: those
/// during a lock-out, and those past the per-window allowance (see `RefusalSummarizer`). One event
/// per address per window, so a flood of bad connects adds a handful of rows, not one per attempt.
public struct PublishRefusalsSummarised: DomainEvent, Hashable {
    public static let eventType = "PublishRefusalsSummarised"

    /// The address, or `*` for addresses beyond the summarizer's capacity, counted together.
    public var remoteAddress: String
    public var count: Int
    /// Refusal reason names (`PublishRefusalReason.name`) and how many of each.
    public var reasons: [String: Int]
    public var windowStart: Date
    public var windowEnd: Date

    public init(remoteAddress: String, count: Int, reasons: [String: Int], windowStart: Date, windowEnd: Date) {
        self.remoteAddress = remoteAddress
        self.count = count
        self.reasons = reasons
        self.windowStart = windowStart
        self.windowEnd = windowEnd
    }
}
