import Foundation

/// With slow mode on, a user waits `slowModeSeconds` between messages (moderators do not).
public struct SlowModeRule: ModerationRule {
    public init() {}

    public func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        let seconds = context.settings.slowModeSeconds
        guard seconds > 0, !attempt.isModerator, let last = context.activity.posts.last else { return nil }
        let next = last.at.addingTimeInterval(TimeInterval(seconds))
        guard next > attempt.now else { return nil }
        return Refusal(
            .slowMode, "slow mode is on (one message every \(seconds) s); wait \(next.secondsAfter(attempt.now)) seconds", retryAfter: next)
    }
}
