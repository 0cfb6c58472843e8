import Hummingbird
import Synchronization

/// Per-address rate limits of the public routes that cost the log or the database something:
/// viewer registration (each is an event) and chat history (each is a query); of CMCD event
/// reports (each is parsed and folded); and the tarpit for clients that ask in a loop
/// (`HTTPLimits.tarpit`).
public final class RequestRateLimits: Sendable {
    private let viewers: Mutex<AddressRateLimiter>
    private let history: Mutex<AddressRateLimiter>
    private let misses: Mutex<AddressRateLimiter>
    /// Console sign-ins: 10 a minute per address, against guessing the admin token.
    private let logins = Mutex(AddressRateLimiter(burst: 10, interval: .seconds(6)))
    private let cmcdReports: Mutex<AddressRateLimiter>
    private let tarpit: Duration

    public init(limits: HTTPLimits) {
        viewers = Mutex(AddressRateLimiter(burst: limits.viewerBurst, interval: limits.viewerInterval))
        history = Mutex(AddressRateLimiter(burst: limits.historyBurst, interval: limits.historyInterval))
        misses = Mutex(AddressRateLimiter(burst: limits.missBurst, interval: limits.missInterval))
        cmcdReports = Mutex(AddressRateLimiter(burst: limits.cmcdBurst, interval: limits.cmcdInterval))
        tarpit = limits.tarpit
    }

    /// Throws a 429 with `Retry-After`, after the tarpit, when `host` registered viewers too fast.
    func checkViewerRegistration(from host: String) async throws(APIError) {
        try await check(viewers, host, "viewer registrations")
    }

    /// Throws a 429 with `Retry-After`, after the tarpit, when `host` asked for chat history too fast.
    func checkHistory(from host: String) async throws(APIError) {
        try await check(history, host, "chat history requests")
    }

    /// Throws a 429 with `Retry-After`, after the tarpit, when `host` tried to sign in too often.
    func checkLogin(from host: String) async throws(APIError) {
        try await check(logins, host, "sign-in attempts")
    }

    /// Throws a 429 with `Retry-After`, after the tarpit, when `host` posted CMCD reports too fast.
    func checkCMCDReports(from host: String) async throws(APIError) {
        try await check(cmcdReports, host, "CMCD reports")
    }

    /// Counts a request from `host` for something that does not exist (a recording); past the
    /// address's allowance, holds the answer for the tarpit.
    func missed(from host: String) async {
        guard misses.withLock({ $0.take(host, now: .now) }) != nil else { return }
        try? await Task.sleep(for: tarpit)
    }

    private func check(_ limiter: borrowing Mutex<AddressRateLimiter>, _ host: String, _ what: String) async throws(APIError) {
        guard let wait = limiter.withLock({ $0.take(host, now: .now) }) else { return }
        let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
        try? await Task.sleep(for: tarpit)
        throw APIError(
            .tooManyRequests, code: "rate_limited", "too many \(what) from your address; try again in \(seconds) s",
            retryAfterSeconds: seconds)
    }
}
