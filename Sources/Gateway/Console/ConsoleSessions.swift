import Channels
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Signed-in console users: the admin token exchanged for a random session id, sent back in an
/// `HttpOnly`, `SameSite=Strict` cookie, each session with its own CSRF token that every state
/// change must carry (`X-CSRF-Token`, or the form's `csrf` field). Kept in memory, by the id's
/// SHA-256: a restart signs everyone out, and a leaked table holds no usable id.
public final class ConsoleSessions: Sendable {
    public static let cookie = "streamd_console"
    /// The double-submit cookie of the sign-in form.
    public static let loginCookie = "streamd_login"

    public struct Session: Sendable, Hashable {
        public var csrf: String
        /// The admin who signed in.
        public var admin: String
        var expires: ContinuousClock.Instant
    }

    let lifetime: Duration
    let capacity: Int
    private let sessions = Mutex<[String: Session]>([:])

    public init(lifetime: Duration = .seconds(12 * 3600), capacity: Int = 1_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// A new session: its id (for the cookie) and its CSRF token. Past `capacity`, the session
    /// closest to expiry makes room.
    public func open(admin: String = "admin", now: ContinuousClock.Instant = .now) -> (id: String, csrf: String) {
        let id = Self.randomToken()
        let session = Session(csrf: Self.randomToken(), admin: admin, expires: now + lifetime)
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            if sessions.count >= capacity, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires }) {
                sessions.removeValue(forKey: oldest.key)
            }
            sessions[Self.key(id)] = session
        }
        return (id, session.csrf)
    }

    /// The live session of a cookie's id; each use keeps it alive for another `lifetime`.
    public func session(id: String, now: ContinuousClock.Instant = .now) -> Session? {
        guard id.utf8.count == 43 else { return nil }
        let key = Self.key(id)
        return sessions.withLock { sessions in
            guard var session = sessions[key] else { return nil }
            guard session.expires > now else {
                sessions.removeValue(forKey: key)
                return nil
            }
            session.expires = now + lifetime
            sessions[key] = session
            return session
        }
    }

    public func close(id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: Self.key(id)) }
    }

    public var count: Int { sessions.withLock { $0.count } }

    /// Whether `request` comes from a signed-in console user: false without a live session cookie;
    /// throws when it would change something without the session's CSRF token.
    func admits(_ request: Request) throws(APIError) -> Bool {
        try admittedAdmin(request) != nil
    }

    /// The admin signed in with `request`'s session cookie; nil without a live session; throws
    /// when it would change something without the session's CSRF token.
    func admittedAdmin(_ request: Request) throws(APIError) -> String? {
        guard let id = request.cookies[Self.cookie]?.value, let session = session(id: id) else { return nil }
        let safe = request.method == .get || request.method == .head || request.method == .options
        guard safe || Self.matches(request.headers[Self.csrfHeader], session.csrf) else {
            throw APIError(
                .forbidden, code: "csrf",
                "this change needs the console's CSRF token in the X-CSRF-Token header; reload the console page and try again")
        }
        return session.admin
    }

    static var csrfHeader: HTTPField.Name { HTTPField.Name("X-CSRF-Token")! }

    /// Constant-time comparison of a presented token with the expected one.
    public static func matches(_ presented: String?, _ expected: String) -> Bool {
        guard let presented else { return false }
        return StreamKey.constantTimeEqual(StreamKey.hash(presented), StreamKey.hash(expected))
    }

    /// 32 random bytes, base64url without padding (43 characters): a stream key's secret part.
    static func randomToken() -> String {
        String(StreamKey.generate().text.dropFirst("sk_".count))
    }

    private static func key(_ id: String) -> String {
        StreamKey(text: id).hashHex
    }
}
