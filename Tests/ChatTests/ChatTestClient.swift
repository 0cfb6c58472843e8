import Foundation
import HummingbirdWSClient
import Logging
import Synchronization
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real WebSocket client that records every text frame and can send frames.
final class ChatTestClient: Sendable {
    final class State: Sendable {
        let frames = Mutex<[String]>([])
        let closeInfo = Mutex<(code: String, reason: String?)?>(nil)
    }
    private let state = State()
    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>

    /// `reading: false` never reads: a slow reader.
    init(_ url: String, reading: Bool = true) {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        outgoing = continuation
        let state = self.state
        var logger = Logger(label: "test-ws")
        logger.logLevel = .critical
        task = Task {
            do {
                let close = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 20), logger: logger) {
                    inbound, outbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await frame in stream { try await outbound.write(.text(frame)) }
                        }
                        if !reading {
                            while !Task.isCancelled { try await Task.sleep(for: .seconds(1)) }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            if case .text(let text) = message { state.frames.withLock { $0.append(text) } }
                        }
                        group.cancelAll()
                    }
                }
                state.closeInfo.withLock { $0 = close.map { ("\($0.closeCode)", $0.reason) } ?? ("none", nil) }
            } catch {
                state.closeInfo.withLock { $0 = ("error: \(error)", nil) }
            }
        }
    }

    func send(_ json: String) { outgoing.yield(json) }
    func sendRaw(_ object: [String: String]) {
        if let data = try? JSONSerialization.data(withJSONObject: object) { send(String(decoding: data, as: UTF8.self)) }
    }
    func stopReading() { task.cancel() }

    var received: [String] { state.frames.withLock { $0 } }
    var close: (code: String, reason: String?)? { state.closeInfo.withLock { $0 } }

    /// The first frame (after `skip` matching ones) of `type` that satisfies `where`.
    func wait(
        for type: String, timeout: Duration = .seconds(20), where predicate: ([String: Any]) -> Bool = { _ in true }
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for frame in received {
                if let object = try? JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [String: Any],
                    object["type"] as? String == type, predicate(object)
                {
                    return object
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError("no \(type) frame within \(timeout); got \(received.suffix(5))")
    }

    func waitClosed(timeout: Duration = .seconds(30)) async -> (code: String, reason: String?)? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let close { return close }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func shutdown() {
        outgoing.finish()
        task.cancel()
    }
}

enum HTTP {
    static func request(_ method: String, _ url: String, token: String?, body: String? = nil) async throws -> (Int, [String: Any]) {
        guard let target = URL(string: url) else { throw TestSupportError("bad URL \(url)") }
        var request = URLRequest(url: target)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.httpBody = body.map { Data($0.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let object = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, object)
    }

    /// `(userId, token)` of a new viewer.
    static func viewer(_ base: String, _ name: String) async throws -> (String, String) {
        let (status, body) = try await request("POST", base + "/v1/viewers", token: nil, body: #"{"name":"\#(name)"}"#)
        guard status == 201, let user = body["userId"] as? String, let token = body["token"] as? String else {
            throw TestSupportError("POST /v1/viewers answered \(status) \(body)")
        }
        return (user, token)
    }
}
