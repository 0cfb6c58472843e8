import AsyncHTTPClient
import CoreMetrics
import EventStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Sends each signed checkpoint somewhere the database's holder cannot rewrite, so a later
/// rewrite of the log is caught against it (`events verify --checkpoint`, `verify-export`):
///
/// - `.storage(URL)`: `PUT URL/SIZE-MILLISECONDS.checkpoint` (a bucket with object lock or any
///   write-once HTTP store), named as `--checkpoint-dir` names its files.
/// - `.witness(URL)`: C2SP tlog-witness, `POST URL/add-checkpoint` with a consistency proof from
///   the size the witness last cosigned. A witness refuses a checkpoint that does not extend what
///   it cosigned (422), which is a rewrite or a fork caught as it happens.
///
/// Only the newest checkpoint waits: one that could not be sent is replaced by the next, which
/// proves everything before it. Failures are logged and counted, never block the integrator.
public actor CheckpointPusher {
    public enum Target: Sendable, Hashable, CustomStringConvertible {
        case storage(URL)
        case witness(URL)

        public var description: String {
            switch self {
            case .storage(let url): "checkpoint storage \(url.absoluteString)"
            case .witness(let url): "witness \(url.absoluteString)"
            }
        }

        var kind: String {
            switch self {
            case .storage: "storage"
            case .witness: "witness"
            }
        }
    }

    public static let pushes = "streamd_checkpoint_pushes_total"
    public static let pushedSize = "streamd_checkpoint_pushed_size"
    public static let help: [String: String] = [
        pushes: "Checkpoints sent to a storage URL or a witness, by target kind and result (ok, failed, refused).",
        pushedSize: "Tree size of the last checkpoint a storage URL or witness accepted, by target kind.",
    ]

    static let requestTimeout = TimeAmount.seconds(10)
    static let maximumReply = 64 << 10

    public nonisolated let target: Target
    let tree: MerkleTree
    let bearer: String?
    let logger: Logger
    private var waiting: Checkpoint?
    private var sending = false
    private var witnessSize: Int64 = 0

    public init(target: Target, tree: MerkleTree, bearer: String? = nil, logger: Logger) {
        self.target = target
        self.tree = tree
        self.bearer = bearer
        self.logger = logger
    }

    /// Queues `checkpoint` (replacing one not sent yet) and returns at once.
    public func submit(_ checkpoint: Checkpoint) {
        if let waiting, waiting.size > checkpoint.size { return }
        waiting = checkpoint
        guard !sending else { return }
        sending = true
        Task { await self.drain() }
    }

    /// Sends what waits, newest first; backs off while the target fails.
    private func drain() async {
        var delay = Duration.seconds(1)
        while let checkpoint = waiting {
            waiting = nil
            let result = await send(checkpoint)
            record(result, checkpoint)
            switch result {
            case .ok:
                delay = .seconds(1)
            case .failed, .refused:
                // A checkpoint refused for good is not sent again; one that failed is, unless a newer waits.
                if case .failed = result, waiting == nil { waiting = checkpoint }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
        sending = false
    }

    enum Result: Equatable {
        case ok
        case failed(String)
        /// The target answered and refused this checkpoint for good (a witness's 422 or 403).
        case refused(String)
    }

    private func record(_ result: Result, _ checkpoint: Checkpoint) {
        let label: String
        switch result {
        case .ok:
            label = "ok"
            Gauge(label: Self.pushedSize, dimensions: [("target", target.kind)]).record(checkpoint.size)
        case .failed(let why):
            label = "failed"
            logger.warning("could not send checkpoint \(checkpoint.size) to the \(target): \(why); the next checkpoint is retried")
        case .refused(let why):
            label = "refused"
            logger.error("the \(target) refused checkpoint \(checkpoint.size): \(why)")
        }
        Counter(label: Self.pushes, dimensions: [("result", label), ("target", target.kind)]).increment()
    }

    func send(_ checkpoint: Checkpoint) async -> Result {
        switch target {
        case .storage(let base):
            let milliseconds = Int64(checkpoint.time.timeIntervalSince1970 * 1000)
            let url = base.appendingPathComponent("\(checkpoint.size)-\(milliseconds).checkpoint")
            do {
                let (status, body) = try await request(.PUT, url, body: checkpoint.note)
                return (200..<300).contains(status) ? .ok : .failed("HTTP \(status) from PUT \(url.absoluteString): \(body.prefix(200))")
            } catch {
                return .failed("PUT \(url.absoluteString): \(error)")
            }
        case .witness(let base):
            let url = base.lastPathComponent == "add-checkpoint" ? base : base.appendingPathComponent("add-checkpoint")
            // At most two rounds: the witness may answer 409 with the size it really holds.
            for _ in 0..<2 {
                let old = min(witnessSize, checkpoint.size)
                let proof: [Merkle.Hash]
                do {
                    proof = old == 0 ? [] : try await tree.consistencyProof(oldSize: old, newSize: checkpoint.size)
                } catch {
                    return .failed("no consistency proof from \(old) to \(checkpoint.size): \(error)")
                }
                let body = Self.addCheckpointBody(old: old, proof: proof, note: checkpoint.note)
                let status: Int
                let reply: String
                do {
                    (status, reply) = try await request(.POST, url, body: body)
                } catch {
                    return .failed("POST \(url.absoluteString): \(error)")
                }
                switch status {
                case 200:
                    witnessSize = checkpoint.size
                    logger.debug("the \(target) cosigned checkpoint \(checkpoint.size): \(reply)")
                    return .ok
                case 409:
                    guard let size = Int64(reply.trimmingCharacters(in: .whitespacesAndNewlines)), size >= 0 else {
                        return .failed("409 without the witness's size: \(reply.prefix(200))")
                    }
                    if size > checkpoint.size {
                        return .refused(
                            "the witness has cosigned a tree of \(size) events, larger than this log's \(checkpoint.size): the log was truncated or rewound, or the witness holds another log of the same origin"
                        )
                    }
                    witnessSize = size
                case 422:
                    return .refused(
                        "this checkpoint does not extend the tree of \(old) events the witness cosigned (consistency proof refused): the log was rewritten; run `streamd events verify --checkpoint` with the witness's checkpoint"
                    )
                case 403:
                    return .refused(
                        "the witness does not trust this log's key (\(reply.prefix(200))); give the witness the key `streamd events key` prints"
                    )
                case 404:
                    return .refused("the witness does not know the origin \(checkpoint.origin); configure it there")
                default:
                    return .failed("HTTP \(status) from \(url.absoluteString): \(reply.prefix(200))")
                }
            }
            return .failed("the witness kept answering 409")
        }
    }

    /// The tlog-witness request: `old N`, the proof's hashes in base64 one per line, an empty
    /// line, then the signed note.
    static func addCheckpointBody(old: Int64, proof: [Merkle.Hash], note: String) -> String {
        var body = "old \(old)\n"
        for hash in proof { body += Data(hash).base64EncodedString() + "\n" }
        return body + "\n" + note
    }

    private func request(_ method: HTTPMethod, _ url: URL, body: String) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "streamd")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: Self.requestTimeout)
        let reply = try await response.body.collect(upTo: Self.maximumReply)
        return (Int(response.status.code), String(buffer: reply))
    }
}
