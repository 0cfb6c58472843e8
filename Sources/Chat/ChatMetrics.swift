import CoreMetrics
import Foundation

/// Chat's figures for `/metrics`, through swift-metrics (no-ops until a backend is bootstrapped).
/// Open sockets are counted by the gateway when scraped.
public enum ChatMetrics {
    public static let posts = "streamd_chat_posts_total"
    public static let deliverySeconds = "streamd_chat_delivery_seconds"
    public static let evictions = "streamd_chat_evictions_total"

    public static let help: [String: String] = [
        posts:
            "Chat posts by outcome: posted, rejected (recorded), rejected_unrecorded (past the per-user allowance) or rate_limited.",
        deliverySeconds:
            "Time from a chat message's commit to the log to its frame entering the room's feed, which the socket writers send within about a millisecond.",
        evictions: "Chat sockets closed because they fell too far behind their room's feed.",
    ]
    public static let buckets: [String: [Double]] = [
        deliverySeconds: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
    ]

    static let posted = Counter(label: posts, dimensions: [("outcome", "posted")])
    static let rejected = Counter(label: posts, dimensions: [("outcome", "rejected")])
    static let rejectedUnrecorded = Counter(label: posts, dimensions: [("outcome", "rejected_unrecorded")])
    static let rateLimited = Counter(label: posts, dimensions: [("outcome", "rate_limited")])
    static let delivery = Timer(label: deliverySeconds)
    static let evicted = Counter(label: evictions)

    static func delivered(recordedAt: Date) {
        delivery.recordSeconds(max(0, Date().timeIntervalSince(recordedAt)))
    }
}
