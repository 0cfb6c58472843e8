import AsyncHTTPClient
import Foundation
import Ingest
import Logging
import Media
import NIOCore
import NIOHTTP1

/// `serve --publish-hook URL`: before a publish whose key was accepted goes live, streamd POSTs
/// its facts as JSON (`AdmissionRequest`: channelID, channelName, protocol, remoteAddress, app,
/// plus `node`) and goes by the answer: a 2xx whose JSON says `"allowed": true` admits it,
/// `"allowed": false` refuses it with its `"reason"`. No answer within the timeout, another
/// status or an unreadable body gets the configured default (deny unless `--publish-hook-default
/// allow`), logged with why. docs/ingest.md has the contract.
public struct PublishHook: PublishAdmission {
    public enum Default: String, Sendable, CaseIterable {
        case allow, deny
    }

    struct Body: Encodable {
        var action = "publish"
        var channelID: String
        var channelName: String
        var `protocol`: String
        var remoteAddress: String
        var app: String
        var node: String?
    }

    struct Answer: Decodable {
        var allowed: Bool
        var reason: String?
    }

    let url: URL
    let timeout: Duration
    let fallback: Default
    let node: String?
    let logger: Logger

    public init(url: URL, timeout: Duration = .seconds(2), fallback: Default = .deny, node: String? = nil, logger: Logger) {
        self.url = url
        self.timeout = timeout
        self.fallback = fallback
        self.node = node
        self.logger = logger
    }

    public func admit(_ request: AdmissionRequest) async -> AdmissionVerdict {
        let body = Body(
            channelID: request.channelID, channelName: request.channelName, protocol: request.protocol,
            remoteAddress: request.remoteAddress, app: request.app, node: node)
        var outgoing = HTTPClientRequest(url: url.absoluteString)
        outgoing.method = .POST
        outgoing.headers.add(name: "Content-Type", value: "application/json")
        outgoing.headers.add(name: "User-Agent", value: "streamd")
        do {
            outgoing.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
            let response = try await HTTPClient.shared.execute(outgoing, timeout: .milliseconds(Int64(timeout.inSeconds * 1_000)))
            let reply = try await response.body.collect(upTo: 64 << 10)
            guard (200..<300).contains(Int(response.status.code)) else {
                return fallback(because: "the hook answered HTTP \(response.status.code)", request)
            }
            guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(buffer: reply)) else {
                return fallback(because: #"the hook's answer is not {"allowed": true|false, "reason": …}"#, request)
            }
            if answer.allowed { return .allowed }
            return .refused(answer.reason.map { String($0.prefix(300)) } ?? "refused by the publish hook")
        } catch {
            return fallback(because: "the hook could not be asked (\(error))", request)
        }
    }

    private func fallback(because why: String, _ request: AdmissionRequest) -> AdmissionVerdict {
        logger.warning(
            "publish hook \(url.absoluteString) gave no verdict for channel \(request.channelName): \(why); \(fallback == .allow ? "admitting" : "refusing") it (--publish-hook-default)"
        )
        return fallback == .allow ? .allowed : .refused("the publish hook gave no verdict; try again later")
    }
}
