import Foundation
import Hummingbird
import NIOCore
import Packager

/// `POST /v1/cmcd` (public): CMCD v2 event-mode reports (`CMCDEventBody`), folded into the QoE of
/// the live session each player is on. A report is attributed by its `sid` when that player's
/// requests were seen, else by the `channel` query parameter, else by its `cid` when that names a
/// live channel; other reports are counted and dropped. 204 when the body is read; 400 when any
/// report in it is not CMCD. Nothing is logged or appended per report.
struct CMCDRoutes: Sendable {
    let audience: Audience
    let directory: PlaybackDirectory?
    let rateLimits: RequestRateLimits

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.on("cmcd", method: .options) { _, _ in
            var headers = Self.cors
            headers[.accessControlAllowMethods] = "POST, OPTIONS"
            headers[.accessControlAllowHeaders] = "Content-Type"
            headers[.accessControlMaxAge] = "86400"
            return Response(status: .noContent, headers: headers)
        }
        group.post("cmcd") { request, context in
            do {
                try await rateLimits.checkCMCDReports(from: context.remoteHost)
                let body: ByteBuffer
                do {
                    body = try await request.body.collect(upTo: CMCDEventBody.maxBytes)
                } catch {
                    throw APIError(.contentTooLarge, code: "too_large", "a CMCD report body is at most \(CMCDEventBody.maxBytes) bytes")
                }
                let format = CMCDEventBody.Format(contentType: request.headers[.contentType])
                switch CMCDEventBody.parse(Array(buffer: body), format: format) {
                case .failure(let failure):
                    audience.refusedReportBody()
                    throw APIError(
                        .badRequest, code: "invalid_cmcd",
                        "\(failure); send CMCD event reports one per line (text/cmcd) or as a JSON array of objects keyed by CMCD key")
                case .success(let reports):
                    let channel = request.uri.queryParameters["channel"].map(String.init)
                    audience.reported(reports.map { ($0, attribute($0, channel: channel)) })
                }
                return Response(status: .noContent, headers: Self.cors)
            } catch let error as APIError {
                // Browsers send these cross-origin: the refusal must be readable there too.
                var response = try error.response(from: request, context: context)
                response.headers[.accessControlAllowOrigin] = "*"
                return response
            }
        }
    }

    private func attribute(_ report: CMCDReport, channel: String?) -> (session: String, channel: String)? {
        if let player = report.sessionID, let known = audience.players.session(ofPlayer: player) { return known }
        for name in [channel, report.contentID].compactMap(\.self) {
            if let stream = directory?.stream(channel: name) { return (stream.identity.sessionID, stream.identity.channelName) }
        }
        return nil
    }

    private static let cors: HTTPFields = [.accessControlAllowOrigin: "*"]
}
