import Crypto
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where a webhook may be sent (SSRF): never to a link-local address (cloud metadata services
/// live there), and never to this node's own HTTP ports on one of its own addresses (its admin
/// API), unless `serve --webhooks-allow-internal`. Checked when a subscription is added, and by
/// its worker at least once a minute, by resolving the host (the verdict is kept a minute per host).
public final class WebhookTarget: Sendable {
    public let ownPorts: Set<Int>
    public let allowInternal: Bool
    private let verdicts = Mutex<[String: (refusal: String?, at: ContinuousClock.Instant)]>([:])

    public init(ownPorts: Set<Int>, allowInternal: Bool = false) {
        self.ownPorts = ownPorts
        self.allowInternal = allowInternal
    }

    public func check(_ text: String) async throws {
        let (host, port) = try Self.destination(text)
        guard !allowInternal else { return }
        let key = "\(host):\(port)"
        let now = ContinuousClock.now
        if let known = verdicts.withLock({ $0[key] }), now - known.at < .seconds(60) {
            if let refusal = known.refusal { throw WebhookError.invalid(refusal) }
            return
        }
        let refusal = Self.refusal(host: host, port: port, ownPorts: ownPorts)
        verdicts.withLock { verdicts in
            if verdicts.count > 10_000 { verdicts = [:] }
            verdicts[key] = (refusal, now)
        }
        if let refusal { throw WebhookError.invalid(refusal) }
    }

    /// The host and port a webhook URL's requests go to: what `check` judges, and where the
    /// dispatcher connects.
    public static func destination(_ text: String) throws -> (host: String, port: Int) {
        guard text.utf8.count <= 2_048, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty
        else {
            throw WebhookError.invalid("\"url\" must be an http:// or https:// URL with a host, at most 2048 characters")
        }
        return (host, url.port ?? (scheme == "https" ? 443 : 80))
    }

    static func refusal(host: String, port: Int, ownPorts: Set<Int>) -> String? {
        let addresses = resolve(host)
        guard !addresses.isEmpty else { return "\(host) does not resolve; give a host the node can reach" }
        let own = ownPorts.contains(port) ? localAddresses() : []
        for address in addresses {
            if isLinkLocal(address) {
                return
                    "\(host) resolves to the link-local address \(address), where cloud metadata services answer; refused (serve --webhooks-allow-internal allows it)"
            }
            if ownPorts.contains(port),
                address.hasPrefix("127.") || address == "::1" || address == "0.0.0.0" || address == "::"
                    || own.contains(address)
            {
                return
                    "\(host):\(port) is this node's own HTTP port; a webhook may not call its admin API (serve --webhooks-allow-internal allows it)"
            }
        }
        return nil
    }

    static func isLinkLocal(_ address: String) -> Bool {
        address.hasPrefix("169.254.") || address.lowercased().hasPrefix("fe80:")
    }

    /// The numeric addresses `host` resolves to.
    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = numeric(entry.pointee.ai_addr, length: entry.pointee.ai_addrlen) { found.append(address) }
            cursor = entry.pointee.ai_next
        }
        return found
    }

    /// This machine's interface addresses.
    static func localAddresses() -> Set<String> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(first) }
        var found: Set<String> = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if let address = entry.pointee.ifa_addr {
                let length = socklen_t(
                    address.pointee.sa_family == sa_family_t(AF_INET6) ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
                if let text = numeric(address, length: length) { found.insert(text) }
            }
            cursor = entry.pointee.ifa_next
        }
        return found
    }

    static func numeric(_ address: UnsafeMutablePointer<sockaddr>?, length: socklen_t) -> String? {
        guard let address, [sa_family_t(AF_INET), sa_family_t(AF_INET6)].contains(address.pointee.sa_family) else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "%").first.map(String.init)
    }
}

/// Standard Webhooks signatures (standardwebhooks.com): `webhook-signature` is `v1,` and the
/// base64 HMAC-SHA256, under the secret's bytes, of `ID.TIMESTAMP.BODY`.
public enum WebhookSignature {
    public static func sign(id: String, timestamp: Int64, body: [UInt8], secret: String) -> String? {
        WebhookSigningKey(secret: secret).map { sign(id: id, timestamp: timestamp, body: body, key: $0) }
    }

    /// `webhook-signature`'s value: `v1,` and the HMAC-SHA256 of `ID.TIMESTAMP.BODY` in base64.
    public static func sign(id: String, timestamp: Int64, body: [UInt8], key: WebhookSigningKey) -> String {
        var inner = key.inner
        var prefix = Array(id.utf8)
        prefix.append(UInt8(ascii: "."))
        prefix += String(timestamp).utf8
        prefix.append(UInt8(ascii: "."))
        prefix.withUnsafeBytes { inner.update(bufferPointer: $0) }
        body.withUnsafeBytes { inner.update(bufferPointer: $0) }
        var outer = key.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize().withUnsafeBytes { "v1," + Data($0).base64EncodedString() }
    }
}

/// A `whsec_…` secret, decoded and keyed once for the deliveries it signs: HMAC's inner and outer
/// hashes with the key's pads already taken in (RFC 2104), which each signature copies. Built on
/// SHA256 directly: `HMAC.update` takes any `DataProtocol` and cost a generic walk per call.
public struct WebhookSigningKey: Sendable {
    let inner: SHA256
    let outer: SHA256

    public init?(secret: String) {
        guard secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst("whsec_".count))) else {
            return nil
        }
        var key = bytes.count > SHA256.blockByteCount ? Array(SHA256.hash(data: bytes)) : Array(bytes)
        key += [UInt8](repeating: 0, count: SHA256.blockByteCount - key.count)
        var inner = SHA256()
        var outer = SHA256()
        key.map { $0 ^ 0x36 }.withUnsafeBytes { inner.update(bufferPointer: $0) }
        key.map { $0 ^ 0x5C }.withUnsafeBytes { outer.update(bufferPointer: $0) }
        (self.inner, self.outer) = (inner, outer)
    }
}
