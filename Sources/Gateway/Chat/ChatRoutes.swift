import Chat
import EventStore
import Foundation
import Hummingbird

/// `POST /v1/viewers`, `GET /v1/chat/NAME/history` (public; the full record, removed messages
/// marked, for the admin and the room's moderators) and `/v1/moderation/NAME/…` (the
/// admin token, or a moderator's viewer token; granting moderators is the admin's alone).
struct ChatRoutes: Sendable {
    let chat: ChatEndpoint
    let rateLimits: RequestRateLimits
    /// Wrong tokens count as on the admin routes: the admin token is accepted here too.
    var failures: AdminAuthFailures?
    /// Messages per history page at most.
    static let historyPageLimit = 500

    struct ViewerRequest: Decodable { var name: String }
    /// A page of history; `next` is the `after` of the next page, absent on the last one.
    struct HistoryPage: Encodable {
        var messages: [ChatMessageView]
        var next: Int64?
    }
    struct ViewerResponse: Encodable { var userId: String; var name: String; var token: String; var expiresAt: Date }
    struct ModeratorRequest: Decodable { var userId: String }
    struct ActionRequest: Decodable {
        var action: String
        var userId: String?
        var messageId: UUID?
        var seconds: Int?
        var reason: String?
    }
    struct SettingsRequest: Decodable {
        var slowModeSeconds: Int?
        var bannedWords: [String]?
        var linkPolicy: ChatSettings.LinkPolicy?
        var allowedDomains: [String]?
    }

    /// `DELETE /v1/viewers/ID?reason=…` on the admin group: erases a viewer (destroys their data
    /// key); answers once this node's read model and sockets show them erased.
    func registerAdmin(on admin: RouterGroup<GatewayRequestContext>) {
        admin.delete("viewers/:id") { request, context in
            let id = try context.parameters.require("id")
            let reason = request.uri.queryParameters["reason"].map(String.init)
            let erasure = try await ChatEndpoint.mapping {
                try await chat.service.eraseViewer(id, metadata: metadata(request, context, reason: reason))
            }
            _ = await chat.service.settle(erasure.position)
            return JSONBody.response(erasure)
        }
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.post("viewers") { request, context in
            // Each registration is an event: strangers get a few, not a flood.
            try await rateLimits.checkViewerRegistration(from: context.remoteHost)
            let body = try await JSONBody.decode(ViewerRequest.self, from: request, limit: 4_096)
            return try await ChatEndpoint.mapping {
                let name = try ViewerName.validate(body.name, banned: chat.configuration.bannedNames)
                let userId = "u_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
                let (token, claims) = try await chat.tokens.issue(userId: userId, name: name)
                let expires = Date(timeIntervalSince1970: TimeInterval(claims.exp))
                try await chat.service.registerViewer(userId: userId, name: name, expiresAt: expires)
                return JSONBody.response(ViewerResponse(userId: userId, name: name, token: token, expiresAt: expires), status: .created)
            }
        }
        group.get("chat/:name/history") { request, context in
            try await rateLimits.checkHistory(from: context.remoteHost)
            let name = try context.parameters.require("name")
            let query = request.uri.queryParameters
            func date(_ key: String) throws -> Date? {
                guard let text = query[key[...]] else { return nil }
                guard let date = EventCoding.parseDate(String(text)) else {
                    throw APIError(.badRequest, code: "invalid_date", "\(key) must be an ISO 8601 time such as 2026-11-22T04:00:00Z")
                }
                return date
            }
            let from = try date("from") ?? Date(timeIntervalSince1970: 0)
            let to = try date("to") ?? Date().addingTimeInterval(1)
            var asOf: Int64?
            if let text = query["asOf"] {
                guard let position = Int64(String(text)), position >= 0 else {
                    throw APIError(
                        .badRequest, code: "invalid_position",
                        "asOf must be a log position (a whole number, as in a message's \"position\")")
                }
                asOf = position
            }
            func number(_ key: String, in range: ClosedRange<Int64>, _ advice: String) throws -> Int64? {
                guard let text = query[key[...]] else { return nil }
                guard let value = Int64(String(text)), range.contains(value) else {
                    throw APIError(.badRequest, code: "invalid_\(key)", advice)
                }
                return value
            }
            let limit =
                try number(
                    "limit", in: 1...Int64(Self.historyPageLimit), "limit must be a whole number from 1 to \(Self.historyPageLimit)"
                )
                .map(Int.init) ?? Self.historyPageLimit
            let after = try number(
                "after", in: 0...Int64.max, "after must be a log position (the \"next\" of the previous page, or a message's \"position\")")
            let fullRecord = try await chat.readsFullRecord(name, request, from: context.remoteHost, failures: failures)
            let messages = try await ChatEndpoint.mapping {
                try await chat.service.history(
                    name, from: from, to: to, asOf: asOf, after: after ?? 0, limit: limit, includingRemoved: fullRecord)
            }
            return JSONBody.response(HistoryPage(messages: messages, next: messages.count == limit ? messages.last?.position : nil))
        }
        group.post("moderation/:name/moderators") { request, context in
            let name = try context.parameters.require("name")
            let admin = try await chat.identity(request, from: context.remoteHost, failures: failures)
            guard admin.isAdmin else {
                throw APIError(.forbidden, code: "forbidden", "only an admin's token grants moderators")
            }
            let body = try await JSONBody.decode(ModeratorRequest.self, from: request, limit: 4_096)
            let position = try await ChatEndpoint.mapping {
                try await chat.service.setModerator(
                    name, userId: body.userId, granted: true, reason: request.uri.queryParameters["reason"].map(String.init), by: admin)
            }
            return JSONBody.response(["userId": "\(body.userId)", "position": "\(position)"], status: .created)
        }
        group.delete("moderation/:name/moderators/:user") { request, context in
            let name = try context.parameters.require("name")
            let user = try context.parameters.require("user")
            let admin = try await chat.identity(request, from: context.remoteHost, failures: failures)
            guard admin.isAdmin else {
                throw APIError(.forbidden, code: "forbidden", "only an admin's token removes moderators")
            }
            _ = try await ChatEndpoint.mapping {
                try await chat.service.setModerator(
                    name, userId: user, granted: false, reason: request.uri.queryParameters["reason"].map(String.init), by: admin)
            }
            return Response(status: .noContent)
        }
        group.post("moderation/:name/actions") { request, context in
            let name = try context.parameters.require("name")
            let moderator = try await chat.identity(request, from: context.remoteHost, failures: failures)
            let body = try await JSONBody.decode(ActionRequest.self, from: request, limit: 16_384)
            guard let action = ChatService.ModeratorAction(rawValue: body.action) else {
                throw APIError(.badRequest, code: "invalid_action", "action must be delete, timeout, ban or unban")
            }
            let position = try await ChatEndpoint.mapping {
                try await chat.service.moderate(
                    name, action: action, userId: body.userId, messageId: body.messageId, seconds: body.seconds,
                    reason: body.reason.map { String($0.prefix(500)) }, by: moderator)
            }
            return JSONBody.response(["action": body.action, "position": "\(position)"])
        }
        group.get("moderation/:name/settings") { request, context in
            let name = try context.parameters.require("name")
            let moderator = try await chat.identity(request, from: context.remoteHost, failures: failures)
            return JSONBody.response(try await ChatEndpoint.mapping { try await chat.service.settings(name, for: moderator) })
        }
        group.put("moderation/:name/settings") { request, context in
            let name = try context.parameters.require("name")
            let moderator = try await chat.identity(request, from: context.remoteHost, failures: failures)
            let body = try await JSONBody.decode(SettingsRequest.self, from: request)
            let settings = try await ChatEndpoint.mapping {
                try await chat.service.updateSettings(name, by: moderator) { settings in
                    if let value = body.slowModeSeconds { settings.slowModeSeconds = value }
                    if let value = body.bannedWords { settings.bannedWords = value }
                    if let value = body.linkPolicy { settings.linkPolicy = value }
                    if let value = body.allowedDomains { settings.allowedDomains = value }
                }
            }
            return JSONBody.response(settings)
        }
    }
}
