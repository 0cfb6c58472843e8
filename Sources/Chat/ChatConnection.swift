import Foundation

/// One socket's protocol state (sans-I/O): turns frames into actions, answers bad input with an
/// `error`, and closes a client that keeps misbehaving (1008).
public struct ChatConnection: Sendable {
    public enum Input: Sendable, Hashable {
        case text(String)
        case binary
        /// A message over `maxMessageBytes`; its size so far.
        case oversized(Int)
    }

    public enum Action: Sendable, Hashable {
        case send(ServerMessage)
        case post(text: String, nonce: String?)
        case authenticate(token: String)
        case close(code: UInt16, reason: String)
    }

    public static let maxMessageBytes = 4_096
    /// Strikes (bad frames, refused posts) tolerated within `strikeWindow` before closing.
    public var maxStrikes = 20
    public var strikeWindow: TimeInterval = 10
    private var strikes: [Date] = []
    public private(set) var closed = false

    public init() {}

    public mutating func receive(_ input: Input, now: Date) -> [Action] {
        guard !closed else { return [] }
        switch input {
        case .binary:
            return refuse(.error(code: "binary_frame", message: "send JSON text frames, not binary", nonce: nil), now: now)
        case .oversized(let size):
            return refuse(
                .error(
                    code: "frame_too_large",
                    message: "frames are limited to \(Self.maxMessageBytes) bytes (this one had at least \(size)); send shorter messages",
                    nonce: nil), now: now)
        case .text(let text):
            switch ClientMessage.parse(text) {
            case .invalid(let error): return refuse(error, now: now)
            case .message(.ping): return [.send(.pong)]
            case .message(.auth(let token)): return [.authenticate(token: token)]
            case .message(.send(let body, let nonce)): return [.post(text: body, nonce: nonce)]
            }
        }
    }

    /// Counts a refusal the service made (a refused post, a failed auth): flooding closes too.
    public mutating func strike(now: Date) -> Action? {
        guard !closed else { return nil }
        strikes.removeAll { now.timeIntervalSince($0) >= strikeWindow }
        strikes.append(now)
        guard strikes.count > maxStrikes else { return nil }
        closed = true
        return .close(code: 1008, reason: "too many invalid or refused messages; reconnect later and slow down")
    }

    private mutating func refuse(_ error: ServerMessage, now: Date) -> [Action] {
        var actions: [Action] = [.send(error)]
        if let close = strike(now: now) { actions.append(close) }
        return actions
    }
}
