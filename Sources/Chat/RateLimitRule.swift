import Foundation

/// At most `messages` accepted posts per `window` seconds; going over starts a cool-down during
/// which every post is refused. The pipeline records the cool-down from `retryAfter`.
public struct RateLimitRule: ModerationRule {
    public var messages: Int
    public var window: TimeInterval
    public var coolDown: TimeInterval

    public init(messages: Int = 3, window: TimeInterval = 2, coolDown: TimeInterval = 5) {
        self.messages = messages
        self.window = window
        self.coolDown = coolDown
    }

    public func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        guard !attempt.isAdmin else { return nil }
        if let until = context.activity.coolDownUntil, until > attempt.now {
            return Refusal(.rateLimit, "you are sending too fast; wait \(until.secondsAfter(attempt.now)) seconds", retryAfter: until)
        }
        let recent = context.activity.posts.count { attempt.now.timeIntervalSince($0.at) < window }
        guard recent >= messages else { return nil }
        let until = attempt.now.addingTimeInterval(coolDown)
        return Refusal(
            .rateLimit, "you are sending too fast (at most \(messages) messages per \(Int(window)) s); wait \(Int(coolDown)) seconds",
            retryAfter: until)
    }
}
