import Foundation

/// The same text (compared case-insensitively, ignoring spacing) from the same user within
/// `window` seconds is refused.
public struct DuplicateRule: ModerationRule {
    public var window: TimeInterval

    public init(window: TimeInterval = 30) { self.window = window }

    public func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        let key = Self.key(attempt.text)
        guard
            let previous = context.activity.posts.last(where: {
                attempt.now.timeIntervalSince($0.at) < window && $0.duplicateKey == key
            })
        else { return nil }
        let next = previous.at.addingTimeInterval(window)
        return Refusal(
            .duplicate,
            "you sent the same message \(Int(attempt.now.timeIntervalSince(previous.at))) s ago; write something new or wait \(next.secondsAfter(attempt.now)) seconds",
            retryAfter: next)
    }

    static func key(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}
