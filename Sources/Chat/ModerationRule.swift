import Foundation

/// One post as moderation sees it.
public struct PostAttempt: Sendable, Hashable {
    public var userId: String
    public var name: String
    /// Already NFKC-normalised.
    public var text: String
    public var isModerator: Bool
    /// The admin token (operators, bots, the benchmark): not rate-limited.
    public var isAdmin: Bool
    public var now: Date

    public init(userId: String, name: String, text: String, isModerator: Bool = false, isAdmin: Bool = false, now: Date) {
        self.userId = userId
        self.name = name
        self.text = text
        self.isModerator = isModerator || isAdmin
        self.isAdmin = isAdmin
        self.now = now
    }
}

/// What one user did lately in one room, as the rate, slow-mode and duplicate rules need it.
public struct UserActivity: Sendable, Hashable {
    public struct Post: Sendable, Hashable {
        public let at: Date
        public let text: String
        /// `DuplicateRule.key(text)`, kept so that each new post normalises only its own text.
        public let duplicateKey: String

        public init(at: Date, text: String) {
            self.at = at
            self.text = text
            self.duplicateKey = DuplicateRule.key(text)
        }
    }

    /// Accepted posts, oldest first, at most `keep` seconds old.
    public var posts: [Post] = []
    public var coolDownUntil: Date?
    /// When this user's refused posts were last recorded as `ChatMessageRejected`, newest last.
    public var recordedRejections: [Date] = []

    public static let keep: TimeInterval = 60
    /// Refused posts recorded per user and `keep` seconds; the rest are counted only, so a banned
    /// user posting as fast as a socket allows cannot grow the log.
    public static let recordedRejectionsPerMinute = 5
    /// Enough for the rate limit and duplicate checks, bounded for users who post a lot (the
    /// admin token is not rate-limited).
    public static let keepCount = 32

    public init() {}

    public mutating func record(_ text: String, at date: Date) {
        if posts.count >= Self.keepCount { posts.removeFirst(posts.count - Self.keepCount + 1) }
        if let first = posts.first, date.timeIntervalSince(first.at) > Self.keep {
            posts.removeAll { date.timeIntervalSince($0.at) > Self.keep }
        }
        posts.append(Post(at: date, text: text))
    }

    /// Whether a refusal at `date` is recorded; notes it when it is.
    public mutating func recordRejection(at date: Date) -> Bool {
        recordedRejections.removeAll { date.timeIntervalSince($0) >= Self.keep }
        guard recordedRejections.count < Self.recordedRejectionsPerMinute else { return false }
        recordedRejections.append(date)
        return true
    }
}

/// Everything a rule may look at besides the post.
public struct ModerationContext: Sendable {
    public var settings: ChatSettings
    public var bannedAt: Date?
    public var timedOutUntil: Date?
    public var activity: UserActivity

    public init(
        settings: ChatSettings = ChatSettings(), bannedAt: Date? = nil, timedOutUntil: Date? = nil, activity: UserActivity = UserActivity()
    ) {
        self.settings = settings
        self.bannedAt = bannedAt
        self.timedOutUntil = timedOutUntil
        self.activity = activity
    }
}

/// Why a post was refused; the sender sees `message`, and when they may post again.
public struct Refusal: Error, Sendable, Hashable {
    public enum Rule: String, Sendable, Hashable, Codable {
        case maxLength = "max_length", banned, timedOut = "timed_out", rateLimit = "rate_limited", slowMode = "slow_mode"
        case duplicate, bannedWord = "banned_word", link
    }

    public var rule: Rule
    public var message: String
    public var retryAfter: Date?

    public init(_ rule: Rule, _ message: String, retryAfter: Date? = nil) {
        self.rule = rule
        self.message = message
        self.retryAfter = retryAfter
    }

    /// Plain rate limiting is only counted; every other refusal becomes `ChatMessageRejected`.
    public var isLogged: Bool { rule != .rateLimit }
}

/// One step of the moderation pipeline: a pure check of a post against the room's state.
public protocol ModerationRule: Sendable {
    func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal?
}

extension Date {
    /// Whole seconds from `now` until `self`, at least 1.
    func secondsAfter(_ now: Date) -> Int { Swift.max(1, Int(timeIntervalSince(now).rounded(.up))) }
}
