import Chat
import EventStore
import Foundation
import Hummingbird

/// `/v1/sessions/ID/…`: a session's post-stream report and its timeline, read from the log.
struct SessionRoutes: Sendable {
    let history: SessionHistory

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("sessions/:id/report") { _, context in
            let found = try await span(try context.parameters.require("id"))
            return JSONBody.response(try await SessionReport.build(found, history: history))
        }
        group.get("sessions/:id/timeline") { _, context in
            let found = try await span(try context.parameters.require("id"))
            let events = try await history.storyEvents(found)
            let reasons = try await ModerationReasons.open(events, store: history.store)
            return JSONBody.response(SessionTimeline.make(found, events: events, registry: history.store.registry, reasons: reasons))
        }
    }

    func span(_ id: String) async throws -> SessionHistory.Span {
        do {
            guard let span = try await history.span(session: id) else { throw SessionHistory.Failure.noSuchSession(id) }
            return span
        } catch let failure as SessionHistory.Failure {
            if case .notASessionID = failure { throw APIError(.badRequest, code: "invalid_id", failure.description) }
            throw APIError(.notFound, code: "not_found", failure.description)
        }
    }
}
