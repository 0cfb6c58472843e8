import Gateway
import NIOCore

/// What a webhook receiver answers (`WebhookResponseParser`): anyone an admin subscribed can send it.
enum WebhookTargets {
    /// The input's first byte picks where the rest is cut in two. Read whole or in those two
    /// pieces, the answers, the error and what is left at the close must be the same, and every
    /// byte given must be taken (bodies are skipped, never kept).
    @Sendable static func answer(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let bytes = Array(data.dropFirst())
        let cut = bytes.isEmpty ? 0 : Int(first) % (bytes.count + 1)
        let whole = read([bytes[...]])
        let split = read([bytes[..<cut], bytes[cut...]])
        guard whole == split else {
            fatalError("read whole: \(whole); cut at \(cut): \(split); input \(String(reflecting: String(decoding: bytes, as: UTF8.self)))")
        }
    }

    private struct Outcome: Equatable, CustomStringConvertible {
        var answers: [WebhookResponseParser.Answer] = []
        var error: String?
        var closed: WebhookResponseParser.Answer?
        var description: String { "answers \(answers), error \(error ?? "none"), at the close \(String(describing: closed))" }
    }

    private static func read(_ pieces: [ArraySlice<UInt8>]) -> Outcome {
        var parser = WebhookResponseParser()
        var outcome = Outcome()
        for piece in pieces {
            var buffer = ByteBuffer(bytes: piece)
            let reading = parser.feed(&buffer)
            outcome.answers += reading.answers
            guard buffer.readableBytes == 0 else { fatalError("\(buffer.readableBytes) bytes were given and not taken") }
            if let malformed = reading.malformed {
                // The error ends the connection: nothing after it is read.
                outcome.error = malformed.why
                return outcome
            }
        }
        outcome.closed = parser.connectionClosed()
        return outcome
    }
}
