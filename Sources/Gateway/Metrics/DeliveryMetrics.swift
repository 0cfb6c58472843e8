import CoreMetrics
import Hummingbird
import Packager

/// HTTP delivery's figures for `/metrics`, through swift-metrics (no-ops until a backend is
/// bootstrapped): requests and bytes by kind, from the router (`DeliveryMetricsMiddleware`) and the
/// live fast paths alike.
public enum DeliveryMetrics {
    public static let requests = "streamd_http_requests_total"
    public static let responseBytes = "streamd_http_response_bytes_total"

    public static let help: [String: String] = [
        requests:
            "HTTP requests answered, by kind (playlist, part, segment, init, vod, api, chat, page, metrics, health, other) and status code.",
        responseBytes: "Response body bytes sent, by kind (when the length is known up front).",
    ]

    /// What a request asked for, from its path alone (a bounded set of label values).
    static func kind(of path: String) -> String {
        let pieces = path.split(separator: "/", omittingEmptySubsequences: true)
        guard let first = pieces.first else { return "page" }
        switch first {
        case "live":
            guard let last = pieces.last, pieces.count >= 3 else { return "other" }
            if last.hasSuffix(".jpg") || last.hasSuffix(".webp") { return "thumbnail" }
            if last == "index.m3u8" { return "playlist" }
            return HLSResource(name: String(last)).map(kind(of:)) ?? "other"
        case "vod": return "vod"
        case "v1": return pieces.count > 1 && pieces[1] == "chat" ? "chat" : "api"
        case "healthz": return "health"
        case "metrics": return "metrics"
        case "admin", "watch": return "page"
        default: return "other"
        }
    }

    static func kind(of resource: HLSResource) -> String {
        switch resource {
        case .playlist: "playlist"
        case .initialization: "init"
        case .segment: "segment"
        case .part: "part"
        }
    }

    /// The fast paths' answers (always 200, three kinds), without a registry lookup per request.
    private static let servedFromMemory: [String: (requests: Counter, bytes: Counter)] = Dictionary(
        uniqueKeysWithValues: ["init", "segment", "part"].map { kind in
            (
                kind,
                (
                    Counter(label: requests, dimensions: [("kind", kind), ("code", "200")]),
                    Counter(label: responseBytes, dimensions: [("kind", kind)])
                )
            )
        })

    static func answered(kind: String, status: Int, bytes: Int?) {
        if status == 200, let counters = servedFromMemory[kind] {
            counters.requests.increment()
            if let bytes, bytes > 0 { counters.bytes.increment(by: Int64(bytes)) }
            return
        }
        Counter(label: requests, dimensions: [("kind", kind), ("code", String(status))]).increment()
        if let bytes, bytes > 0 { Counter(label: responseBytes, dimensions: [("kind", kind)]).increment(by: Int64(bytes)) }
    }
}

/// Counts every routed request by kind and status (errors thrown by handlers included).
struct DeliveryMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let kind = DeliveryMetrics.kind(of: request.uri.path)
        do {
            let response = try await next(request, context)
            DeliveryMetrics.answered(
                kind: kind, status: response.status.code, bytes: request.method == .head ? nil : response.body.contentLength)
            return response
        } catch let error as any HTTPResponseError {
            DeliveryMetrics.answered(kind: kind, status: error.status.code, bytes: nil)
            throw error
        } catch {
            DeliveryMetrics.answered(kind: kind, status: 500, bytes: nil)
            throw error
        }
    }
}
