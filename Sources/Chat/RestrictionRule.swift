import Foundation

/// Banned users cannot post; timed-out users cannot post until their time-out ends.
public struct RestrictionRule: ModerationRule {
    public init() {}

    public func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        if context.bannedAt != nil {
            return Refusal(.banned, "you are banned from this chat; a moderator can unban you")
        }
        if let until = context.timedOutUntil, until > attempt.now {
            return Refusal(.timedOut, "you are timed out for \(until.secondsAfter(attempt.now)) more seconds", retryAfter: until)
        }
        return nil
    }
}
