import Foundation

/// The ordered moderation rules (sans-I/O): the first refusal wins. Cheap, state-only checks run
/// before text analysis.
public struct ModerationPipeline: Sendable {
    public var rules: [any ModerationRule]

    public init(rules: [any ModerationRule]) { self.rules = rules }

    public static let standard = ModerationPipeline(rules: [
        MaxLengthRule(), RestrictionRule(), RateLimitRule(), SlowModeRule(), DuplicateRule(), BannedWordsRule(), LinkPolicyRule(),
    ])

    public func evaluate(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        for rule in rules {
            if let refusal = rule.check(attempt, context) { return refusal }
        }
        return nil
    }
}
