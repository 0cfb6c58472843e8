import Hummingbird
import Synchronization

/// Per-address rate limits of the public routes that cost the log or the database something:
/// viewer registration (each is an event) and chat history (each is a query).
public final class RequestRateLimits: Sendable {
    private let viewers: Mutex<AddressRateLimiter>
    private let history: Mutex<AddressRateLimiter>

    public init(limits: HTTPLimits) {
        viewers = Mutex(AddressRateLimiter(burst: limits.viewerBurst, interval: limits.viewerInterval))
        history = Mutex(AddressRateLimiter(burst: limits.historyBurst, interval: limits.historyInterval))
    }

    /// Throws a 429 with `Retry-After` when `host` registered viewers too fast.
    func checkViewerRegistration(from host: String) throws(APIError) {
        try check(viewers, host, "viewer registrations")
    }

    /// Throws a 429 with `Retry-After` when `host` asked for chat history too fast.
    func checkHistory(from host: String) throws(APIError) {
        try check(history, host, "chat history requests")
    }

    private func check(_ limiter: borrowing Mutex<AddressRateLimiter>, _ host: String, _ what: String) throws(APIError) {
        guard let wait = limiter.withLock({ $0.take(host, now: .now) }) else { return }
        let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
        throw APIError(
            .tooManyRequests, code: "rate_limited", "too many \(what) from your address; try again in \(seconds) s",
            retryAfterSeconds: seconds)
    }
}
