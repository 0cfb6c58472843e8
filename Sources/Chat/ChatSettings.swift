import Foundation

/// A room's moderation settings (`PUT /v1/moderation/CHANNEL/settings`).
public struct ChatSettings: Codable, Sendable, Hashable {
    public enum LinkPolicy: String, Codable, Sendable, Hashable {
        case allowed, blocked
        /// Only links to `allowedDomains` (and their subdomains).
        case domains
    }

    /// Seconds a user must wait between their messages; 0 is off.
    public var slowModeSeconds: Int
    public var bannedWords: [String]
    public var linkPolicy: LinkPolicy
    public var allowedDomains: [String]

    public init(slowModeSeconds: Int = 0, bannedWords: [String] = [], linkPolicy: LinkPolicy = .allowed, allowedDomains: [String] = []) {
        self.slowModeSeconds = slowModeSeconds
        self.bannedWords = bannedWords
        self.linkPolicy = linkPolicy
        self.allowedDomains = allowedDomains
    }

    public static let limits = (maxSlowModeSeconds: 86_400, maxWords: 1_000, maxWordLength: 64, maxDomains: 200)

    /// Refuses settings that would be unreasonable, with a message saying what to change.
    public func validate() throws(ChatError) {
        guard (0...Self.limits.maxSlowModeSeconds).contains(slowModeSeconds) else {
            throw .invalid("slowModeSeconds must be between 0 and \(Self.limits.maxSlowModeSeconds)")
        }
        guard bannedWords.count <= Self.limits.maxWords, bannedWords.allSatisfy({ !$0.isEmpty && $0.count <= Self.limits.maxWordLength })
        else {
            throw .invalid(
                "bannedWords takes at most \(Self.limits.maxWords) non-empty words of at most \(Self.limits.maxWordLength) characters")
        }
        guard allowedDomains.count <= Self.limits.maxDomains, allowedDomains.allSatisfy({ !$0.isEmpty && $0.count <= 253 }) else {
            throw .invalid("allowedDomains takes at most \(Self.limits.maxDomains) domain names")
        }
    }
}
