import Chat
import EventStore
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle

/// `WS /v1/chat/NAME[?token=…]`: the I/O around `ChatConnection` and a `ChatSubscriber` queue.
struct ChatSocket: Sendable {
    let chat: ChatEndpoint
    let connectionGuard: ConnectionGuard
    /// The plain port of a node run with `--require-tls`: the admin token is refused in `auth`.
    var refusesAdminToken = false
    /// Wrong tokens in `auth` frames count against the address as on the admin routes.
    var failures: AdminAuthFailures?

    func register(on router: Router<SocketRequestContext>) {
        router.ws(
            "v1/chat/:name",
            shouldUpgrade: { request, context in
                let name = try context.parameters.require("name")
                if let refusal = connectionGuard.webSocketRefusal(from: ConnectionGuard.addressKey(context.channel.remoteAddress)) {
                    throw APIError(
                        .serviceUnavailable, code: "too_many_sockets", refusal,
                        retryAfterSeconds: connectionGuard.limits.retryAfterSeconds)
                }
                // From memory: an upgrade, even to a room that does not exist, costs no query.
                guard try await chat.channelNames.contains(name) else {
                    throw APIError(.notFound, code: "not_found", ChatError.roomNotFound(name).description)
                }
                return .upgrade([:])
            },
            onUpgrade: { inbound, outbound, context in
                guard let name = context.requestContext.parameters.get("name") else { return }
                // Everything the socket does is correlated with the request that opened it.
                let id = ClientRequestID(sanitizing: context.request.headers[ClientRequestID.header]) ?? ClientRequestID()
                try await RequestCorrelation.$current.withValue(.init(correlationId: id.correlationId, requestId: id.value)) {
                    try await run(
                        channel: name, token: context.request.uri.queryParameters["token"].map(String.init), inbound: inbound,
                        outbound: outbound,
                        connection: context.requestContext.channel)
                }
            })
    }

    private func run(
        channel: String, token: String?, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, connection: any Channel
    ) async throws {
        if let size = chat.configuration.socketSendBuffer {
            try? await connection.setOption(ChannelOptions.socketOption(.so_sndbuf), value: SocketOptionValue(size)).get()
        }
        // Everything for this socket goes through its bounded queue, written by `chat.writer`.
        let subscriber: ChatSubscriber
        do {
            subscriber = try await chat.writer.subscriber(for: connection, capacity: chat.configuration.socketQueue)
            try await chat.service.join(channel, subscriber)
        } catch {
            try await outbound.write(.text(ServerMessage.error(code: "unavailable", message: "\(error)", nonce: nil).json))
            return
        }
        let session = Session(
            chat: chat, channel: channel, subscriber: subscriber, refusesAdminToken: refusesAdminToken,
            host: ConnectionGuard.addressKey(connection.remoteAddress), failures: failures)
        if let token {
            if chat.isAdminToken(token) {
                // A URL ends up in access logs and proxies; the admin token must not.
                subscriber.send(
                    ServerMessage.error(
                        code: "admin_token_in_url",
                        message:
                            "the admin token is not taken from the URL (URLs end up in logs); connect without it and send {\"type\":\"auth\",\"token\":\"...\"}",
                        nonce: nil
                    ).json)
            } else {
                await session.authenticate(token)
            }
        }
        let grace = chat.configuration.evictionGrace
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                guard await subscriber.waitForEnd() else { return }
                // Evicted: the close frame goes out behind what is already queued if the peer
                // reads within `grace`; otherwise the connection is cut (a peer that reads
                // nothing would hold it open).
                await withTaskGroup(of: Void.self) { closing in
                    closing.addTask {
                        try? await Task.sleep(for: grace)
                        connection.close(promise: nil)
                    }
                    closing.addTask {
                        try? await outbound.close(.unknown(1013), reason: ChatSocket.evictionReason)
                        _ = try? await connection.closeFuture.get()
                    }
                    await closing.next()
                    closing.cancelAll()
                }
            }
            group.addTask {
                // On a graceful shutdown the WebSocket library sends close 1000, then waits for the
                // peer's answer; a peer that never answers must not hold the server's shutdown.
                await withTaskGroup(of: Void.self) { waiting in
                    waiting.addTask {
                        guard (try? await gracefulShutdown()) != nil else { return }
                        try? await Task.sleep(for: grace)
                        connection.close(promise: nil)
                    }
                    waiting.addTask { _ = await subscriber.waitForEnd() }
                    await waiting.next()
                    waiting.cancelAll()
                }
            }
            group.addTask {
                if let (code, reason) = await session.read(inbound) {
                    subscriber.finish()
                    try? await outbound.close(code == 1008 ? .policyViolation : .unknown(code), reason: reason)
                }
                subscriber.finish()
            }
            // Whichever ends first (the peer left, flooded, was evicted, or shutdown cut it) ends the others.
            await group.next()
            if !subscriber.isEvicted { subscriber.finish() }
        }
        await chat.service.leave(channel, subscriber)
    }

    static let evictionReason = "too slow: the chat is faster than this connection; reconnect"

    /// The socket's protocol state and identity.
    actor Session {
        let chat: ChatEndpoint
        let refusesAdminToken: Bool
        let host: String
        let failures: AdminAuthFailures?
        let channel: String
        let subscriber: ChatSubscriber
        var connection = ChatConnection()
        var identity: ChatIdentity?

        init(
            chat: ChatEndpoint, channel: String, subscriber: ChatSubscriber, refusesAdminToken: Bool, host: String,
            failures: AdminAuthFailures?
        ) {
            self.refusesAdminToken = refusesAdminToken
            self.host = host
            self.failures = failures
            self.chat = chat
            self.channel = channel
            self.subscriber = subscriber
        }

        /// Reads until the peer leaves, or returns the close code and reason for a flooding peer.
        func read(_ inbound: WebSocketInboundStream) async -> (UInt16, String)? {
            var text = ByteBuffer()
            var collecting = false
            var oversized = false
            var binary = false
            do {
                for try await frame in inbound {
                    switch frame.opcode {
                    case .text, .binary:
                        text.clear()
                        collecting = true
                        oversized = false
                        binary = frame.opcode == .binary
                    case .continuation:
                        guard collecting else { continue }
                    }
                    if !oversized && !binary {
                        if text.readableBytes + frame.data.readableBytes > ChatConnection.maxMessageBytes {
                            oversized = true
                        } else {
                            var data = frame.data
                            text.writeBuffer(&data)
                        }
                    }
                    guard frame.fin else { continue }
                    collecting = false
                    let input: ChatConnection.Input =
                        binary ? .binary : oversized ? .oversized(ChatConnection.maxMessageBytes) : .text(String(buffer: text))
                    if let close = await handle(connection.receive(input, now: Date())) { return close }
                }
            } catch {}
            return nil
        }

        private func handle(_ actions: [ChatConnection.Action]) async -> (UInt16, String)? {
            for action in actions {
                switch action {
                case .send(let message): subscriber.send(message.json)
                case .close(let code, let reason): return (code, reason)
                case .authenticate(let token):
                    if !(await authenticate(token)), let close = strike() { return close }
                case .post(let text, let nonce):
                    if !(await post(text, nonce: nonce)), let close = strike() { return close }
                }
            }
            return nil
        }

        private func strike() -> (UInt16, String)? {
            guard case .close(let code, let reason) = connection.strike(now: Date()) else { return nil }
            return (code, reason)
        }

        @discardableResult
        func authenticate(_ token: String) async -> Bool {
            if refusesAdminToken, chat.isAdminToken(token) {
                let refusal = TLSRequiredMiddleware.refusal(httpsPort: nil)
                subscriber.send(ServerMessage.error(code: refusal.code, message: refusal.message, nonce: nil).json)
                return false
            }
            do {
                let identity = try await chat.identity(bearer: token, from: host, failures: failures)
                let moderator = try await chat.service.authenticate(channel, subscriber, as: identity)
                self.identity = identity
                subscriber.send(ServerMessage.authenticated(userId: identity.userId, name: identity.name, moderator: moderator).json)
                return true
            } catch {
                if let error = (error as? APIError) ?? (ChatEndpoint.apiError(error) as? APIError) {
                    subscriber.send(ServerMessage.error(code: error.code, message: error.message, nonce: nil).json)
                    return false
                }
                subscriber.send(ServerMessage.error(code: "auth_failed", message: "\(error)", nonce: nil).json)
            }
            return false
        }

        private func post(_ text: String, nonce: String?) async -> Bool {
            guard let identity else {
                subscriber.send(
                    ServerMessage.error(code: "unauthenticated", message: ChatError.unauthenticated.description, nonce: nonce).json)
                return false
            }
            do {
                switch try await chat.service.post(channel, as: identity, text: text, nonce: nonce) {
                case .accepted(let id, _):
                    subscriber.send(ServerMessage.ack(nonce: nonce, id: id).json)
                    return true
                case .refused(let refusal):
                    subscriber.send(
                        ServerMessage.error(
                            code: refusal.rule.rawValue, message: refusal.message, nonce: nonce, retryAfter: refusal.retryAfter
                        ).json)
                    return false
                }
            } catch {
                subscriber.send(
                    ServerMessage.error(
                        code: "not_sent", message: "the message was not sent (\(error)); send it again", nonce: nonce
                    ).json)
                return true
            }
        }
    }
}
