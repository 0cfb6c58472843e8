import Foundation

/// Links: allowed, blocked, or only to the room's allowed domains (moderators are exempt).
public struct LinkPolicyRule: ModerationRule {
    public init() {}

    public func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        let settings = context.settings
        guard settings.linkPolicy != .allowed, !attempt.isModerator else { return nil }
        let hosts = TextNormalizer.linkHosts(attempt.text)
        guard !hosts.isEmpty else { return nil }
        switch settings.linkPolicy {
        case .allowed:
            return nil
        case .blocked:
            return Refusal(.link, "links are not allowed in this chat; remove \(hosts[0])")
        case .domains:
            for host in hosts where !settings.allowedDomains.contains(where: { TextNormalizer.host(host, isWithin: $0) }) {
                let allowed = settings.allowedDomains.isEmpty ? "none" : settings.allowedDomains.joined(separator: ", ")
                return Refusal(.link, "links to \(host) are not allowed here (allowed: \(allowed)); remove it")
            }
            return nil
        }
    }
}
