import EventStore
import Foundation
import Testing

/// A network namespace joined to the host by a veth pair, for running a publisher behind a link
/// that a test can impair. Needs root (CAP_NET_ADMIN) and iproute2; random loss needs nftables.
///
/// The kernels these tests run on are built without the netem qdisc and without tc classifiers or
/// actions ("Specified qdisc kind is unknown"), so the two impairments netem would give are made
/// otherwise: a bandwidth cut is a `tbf` token bucket (at 1 Mbit/s under a 3.5 Mbit/s stream its
/// queue overflows, which is real loss plus the queueing delay its latency bound allows), and
/// random loss is an nftables rule in the namespace's output hook that drops that share of
/// packets (`numgen random`), as netem's `loss` does.
struct ImpairedLink: Sendable {
    static let ip = "/usr/sbin/ip"
    static let nft = "/usr/sbin/nft"
    let namespace: String
    let hostInterface: String
    let namespaceInterface: String
    /// The host's address on the link: what the publisher in the namespace connects to.
    let hostAddress: String
    let namespaceAddress: String

    /// Why a link cannot be built here (not root, no iproute2), or nil.
    static var unavailableReason: String? {
        if getuid() != 0 { return "needs root (CAP_NET_ADMIN) to create a network namespace and a veth pair" }
        if !FileManager.default.isExecutableFile(atPath: ip) { return "needs iproute2 (\(ip)); install the iproute2 package" }
        return nil
    }

    /// Creates the namespace and the veth pair with unique names and a random /30 in 10.213.0.0/16.
    /// Throws `LinkUnavailable` when the kernel or the sandbox refuses (the test should skip).
    static func create() throws -> ImpairedLink {
        let suffix = String(UInt32.random(in: 0...0xFFFFF), radix: 16)
        let subnet = Int.random(in: 1...254)
        let link = ImpairedLink(
            namespace: "streamd-srt-\(suffix)", hostInterface: "sdh\(suffix)", namespaceInterface: "sdp\(suffix)",
            hostAddress: "10.213.\(subnet).1", namespaceAddress: "10.213.\(subnet).2")
        let created = try Subprocess.run(ip, ["netns", "add", link.namespace])
        guard created.status == 0 else { throw LinkUnavailable(detail: "ip netns add: \(created.output)") }
        do {
            try link.run(["link", "add", link.hostInterface, "type", "veth", "peer", "name", link.namespaceInterface])
            try link.run(["link", "set", link.namespaceInterface, "netns", link.namespace])
            try link.run(["addr", "add", "\(link.hostAddress)/30", "dev", link.hostInterface])
            try link.run(["link", "set", link.hostInterface, "up"])
            try link.run([
                "netns", "exec", link.namespace, ip, "addr", "add", "\(link.namespaceAddress)/30", "dev", link.namespaceInterface,
            ])
            try link.run(["netns", "exec", link.namespace, ip, "link", "set", link.namespaceInterface, "up"])
            try link.run(["netns", "exec", link.namespace, ip, "link", "set", "lo", "up"])
        } catch {
            link.remove()
            throw error
        }
        return link
    }

    struct LinkUnavailable: Error, CustomStringConvertible {
        var detail: String
        var description: String { "cannot build the impaired link: \(detail)" }
    }

    private func run(_ arguments: [String]) throws {
        let result = try Subprocess.run(Self.ip, arguments)
        guard result.status == 0 else { throw LinkUnavailable(detail: "ip \(arguments.joined(separator: " ")): \(result.output)") }
    }

    /// Cuts the namespace's egress (the publisher's direction) to `rate` with a token bucket.
    func impair(rate: String = "1mbit", burst: String = "16kbit", latency: String = "50ms") throws {
        try run([
            "netns", "exec", namespace, "/usr/sbin/tc", "qdisc", "replace", "dev", namespaceInterface, "root", "tbf",
            "rate", rate, "burst", burst, "latency", latency,
        ])
    }

    /// Removes the cut (back to the veth's default qdisc).
    func heal() throws {
        try run(["netns", "exec", namespace, "/usr/sbin/tc", "qdisc", "del", "dev", namespaceInterface, "root"])
    }

    /// Drops `percent` % of the packets leaving the namespace, at random.
    func addLoss(percent: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.nft) else {
            throw LinkUnavailable(detail: "random loss needs nftables (\(Self.nft)); install the nftables package")
        }
        for command in [
            ["add", "table", "inet", "streamd_impair"],
            ["add", "chain", "inet", "streamd_impair", "out", "{ type filter hook output priority 0; policy accept; }"],
            ["add", "rule", "inet", "streamd_impair", "out", "numgen", "random", "mod", "100", "<", "\(percent)", "counter", "drop"],
        ] {
            let result = try Subprocess.run(Self.ip, ["netns", "exec", namespace, Self.nft] + command)
            guard result.status == 0 else { throw LinkUnavailable(detail: "nft \(command.joined(separator: " ")): \(result.output)") }
        }
    }

    /// Stops the random loss.
    func removeLoss() throws {
        try run(["netns", "exec", namespace, Self.nft, "delete", "table", "inet", "streamd_impair"])
    }

    /// The loss rule's counter (packets and bytes dropped), for failure messages.
    func lossStatistics() -> String {
        (try? Subprocess.run(Self.ip, ["netns", "exec", namespace, Self.nft, "list", "table", "inet", "streamd_impair"]).output) ?? ""
    }

    /// `tc -s qdisc` of the namespace's interface (sent, dropped, overlimits), for failure messages.
    func queueStatistics() -> String {
        (try? Subprocess.run(Self.ip, ["netns", "exec", namespace, "/usr/sbin/tc", "-s", "qdisc", "show", "dev", namespaceInterface]).output)
            ?? ""
    }

    /// Starts `path` inside the namespace.
    func start(_ path: String, _ arguments: [String]) throws -> Subprocess.Running {
        try Subprocess.start(Self.ip, ["netns", "exec", namespace, path] + arguments)
    }

    /// Deletes the namespace (which deletes its end of the veth pair, and so the pair) and, in case
    /// it outlived that, the host end. Safe to call twice.
    func remove() {
        _ = try? Subprocess.run(Self.ip, ["netns", "delete", namespace])
        _ = try? Subprocess.run(Self.ip, ["link", "delete", hostInterface])
    }
}
