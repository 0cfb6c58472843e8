import Foundation

/// At most `limit` characters after NFKC normalisation, and not empty.
public struct MaxLengthRule: ModerationRule {
    public var limit: Int

    public init(limit: Int = 500) { self.limit = limit }

    public func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        if attempt.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return Refusal(.maxLength, "the message is empty; type something first")
        }
        guard attempt.text.count > limit else { return nil }
        return Refusal(.maxLength, "the message has \(attempt.text.count) characters; the limit is \(limit), shorten it")
    }
}
