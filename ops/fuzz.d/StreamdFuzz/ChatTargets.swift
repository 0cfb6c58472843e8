import Chat
import Dispatch
import Foundation
import Gateway

/// What chat clients send: viewer tokens and text frames.
enum ChatTargets {
    /// The secret the committed token seeds were signed with.
    static let tokens = ViewerTokens(secret: Array("streamd fuzz secret, 32 bytes or more".utf8), lifetime: 86_400)
    /// Before the seeds' expiry, so signed ones verify.
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Sendable static func viewerToken(_ data: [UInt8]) {
        let token = String(decoding: data, as: UTF8.self)
        let done = DispatchSemaphore(value: 0)
        Task {
            if let claims = try? await tokens.verify(token, now: now), claims.exp <= Int64(now.timeIntervalSince1970) {
                fatalError("an expired token verified: \(claims)")
            }
            done.signal()
        }
        done.wait()
    }

    @Sendable static func clientFrame(_ data: [UInt8]) {
        switch ClientMessage.parse(String(decoding: data, as: UTF8.self)) {
        case .message(.send(_, let nonce?)) where nonce.count > 64:
            fatalError("a nonce of \(nonce.count) characters passed")
        default:
            break
        }
    }
}
