import Chat
import Foundation
import Testing

@Suite struct ModerationRuleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func attempt(_ text: String, moderator: Bool = false, admin: Bool = false) -> PostAttempt {
        PostAttempt(userId: "u1", name: "ann", text: TextNormalizer.nfkc(text), isModerator: moderator, isAdmin: admin, now: now)
    }

    func activity(_ posts: [(TimeInterval, String)]) -> UserActivity {
        var activity = UserActivity()
        for (ago, text) in posts { activity.record(text, at: now.addingTimeInterval(-ago)) }
        return activity
    }

    @Test func maxLengthCountsAfterNormalisation() {
        let rule = MaxLengthRule()
        #expect(rule.check(attempt(String(repeating: "a", count: 500)), ModerationContext()) == nil)
        #expect(rule.check(attempt(String(repeating: "a", count: 501)), ModerationContext())?.rule == .maxLength)
        #expect(rule.check(attempt("   "), ModerationContext())?.rule == .maxLength)
        // "ﬁ" (one ligature character) becomes "fi" under NFKC: 300 ligatures are 600 characters.
        #expect(rule.check(attempt(String(repeating: "ﬁ", count: 300)), ModerationContext())?.rule == .maxLength)
    }

    @Test func bannedAndTimedOutUsersAreRefused() {
        let rule = RestrictionRule()
        #expect(rule.check(attempt("hi"), ModerationContext(bannedAt: now))?.rule == .banned)
        let refusal = rule.check(attempt("hi"), ModerationContext(timedOutUntil: now.addingTimeInterval(30)))
        #expect(refusal?.rule == .timedOut)
        #expect(refusal?.retryAfter == now.addingTimeInterval(30))
        #expect(rule.check(attempt("hi"), ModerationContext(timedOutUntil: now.addingTimeInterval(-1))) == nil)
    }

    @Test func refusedPostsAreRecordedFivePerMinutePerUser() {
        var activity = UserActivity()
        let recorded = (0..<10_000).filter { activity.recordRejection(at: now.addingTimeInterval(Double($0) * 0.005)) }.count
        #expect(recorded == UserActivity.recordedRejectionsPerMinute)
        #expect(activity.recordedRejections.count == UserActivity.recordedRejectionsPerMinute)
        let afterAMinute = activity.recordRejection(at: now.addingTimeInterval(61))
        #expect(afterAMinute)
    }

    @Test func rateLimitAllowsThreePerTwoSecondsThenCoolsDown() {
        let rule = RateLimitRule()
        #expect(rule.check(attempt("x"), ModerationContext(activity: activity([(1.5, "a"), (1, "b")]))) == nil)
        let refusal = rule.check(attempt("x"), ModerationContext(activity: activity([(1.5, "a"), (1, "b"), (0.5, "c")])))
        #expect(refusal?.rule == .rateLimit)
        #expect(refusal?.isLogged == false)
        var cooling = activity([])
        cooling.coolDownUntil = now.addingTimeInterval(3)
        #expect(rule.check(attempt("x"), ModerationContext(activity: cooling))?.retryAfter == now.addingTimeInterval(3))
        #expect(rule.check(attempt("x"), ModerationContext(activity: activity([(3, "a"), (2.5, "b"), (2.1, "c")]))) == nil)
        #expect(rule.check(attempt("x", admin: true), ModerationContext(activity: activity([(1, "a"), (1, "b"), (1, "c")]))) == nil)
    }

    @Test func slowModeSpacesAUsersMessages() {
        let rule = SlowModeRule()
        let settings = ChatSettings(slowModeSeconds: 10)
        let refusal = rule.check(attempt("x"), ModerationContext(settings: settings, activity: activity([(4, "a")])))
        #expect(refusal?.rule == .slowMode)
        #expect(refusal?.retryAfter == now.addingTimeInterval(6))
        #expect(rule.check(attempt("x"), ModerationContext(settings: settings, activity: activity([(11, "a")]))) == nil)
        #expect(rule.check(attempt("x", moderator: true), ModerationContext(settings: settings, activity: activity([(1, "a")]))) == nil)
        #expect(rule.check(attempt("x"), ModerationContext(activity: activity([(1, "a")]))) == nil)
    }

    @Test func duplicatesWithinThirtySecondsAreRefused() {
        let rule = DuplicateRule()
        #expect(rule.check(attempt("Hello  there"), ModerationContext(activity: activity([(10, "hello there")])))?.rule == .duplicate)
        #expect(rule.check(attempt("hello there"), ModerationContext(activity: activity([(31, "hello there")]))) == nil)
        #expect(rule.check(attempt("hello again"), ModerationContext(activity: activity([(10, "hello there")]))) == nil)
    }

    @Test func bannedWordsMatchWordsAfterFoldingLookalikes() {
        let rule = BannedWordsRule()
        let context = ModerationContext(settings: ChatSettings(bannedWords: ["badword", "very rude"]))
        #expect(rule.check(attempt("this is a BADWORD!"), context)?.rule == .bannedWord)
        #expect(rule.check(attempt("b4dw0rd"), context)?.rule == .bannedWord)
        #expect(rule.check(attempt("bаdword"), context)?.rule == .bannedWord, "Cyrillic а")
        #expect(rule.check(attempt("ＢＡＤＷＯＲＤ"), context)?.rule == .bannedWord, "full-width letters, NFKC")
        #expect(rule.check(attempt("that was very, rude"), context)?.rule == .bannedWord)
        #expect(rule.check(attempt("badwords are fine"), context) == nil, "word boundaries")
        #expect(rule.check(attempt("notbadword"), context) == nil)
    }

    @Test func linkPolicies() {
        let rule = LinkPolicyRule()
        let blocked = ModerationContext(settings: ChatSettings(linkPolicy: .blocked))
        #expect(rule.check(attempt("see https://evil.example/x"), blocked)?.rule == .link)
        #expect(rule.check(attempt("go to www.example.com"), blocked)?.rule == .link)
        #expect(rule.check(attempt("visit example.com now"), blocked)?.rule == .link)
        #expect(rule.check(attempt("version 1.2 is out. ok"), blocked) == nil)
        #expect(rule.check(attempt("https://x.example"), ModerationContext()) == nil)
        let domains = ModerationContext(settings: ChatSettings(linkPolicy: .domains, allowedDomains: ["example.com"]))
        #expect(rule.check(attempt("https://clips.example.com/abc"), domains) == nil)
        #expect(rule.check(attempt("https://example.com.evil.net"), domains)?.rule == .link)
        #expect(rule.check(attempt("https://evil.example"), ModerationContext(settings: ChatSettings(linkPolicy: .blocked)), ) != nil)
        #expect(rule.check(attempt("https://evil.example", moderator: true), blocked) == nil)
    }

    @Test func pipelineOrderFirstRefusalWins() {
        let context = ModerationContext(settings: ChatSettings(bannedWords: ["bad"]), bannedAt: now)
        #expect(ModerationPipeline.standard.evaluate(attempt("bad"), context)?.rule == .banned)
        #expect(ModerationPipeline.standard.evaluate(attempt("fine"), ModerationContext()) == nil)
    }

    @Test func viewerNames() throws {
        #expect(try ViewerName.validate("  Ann ") == "Ann")
        #expect(throws: ChatError.self) { try ViewerName.validate("a") }
        #expect(throws: ChatError.self) { try ViewerName.validate("bad\u{7}name") }
        #expect(throws: ChatError.self) { try ViewerName.validate("Admin") }
        #expect(throws: ChatError.self) { try ViewerName.validate("m0d") }
        #expect(throws: ChatError.self) { try ViewerName.validate("jerk", banned: ["jerk"]) }
        #expect(throws: ChatError.self) { try ViewerName.validate(String(repeating: "x", count: 33)) }
    }

    @Test func connectionAnswersBadInputAndClosesFlooders() {
        var connection = ChatConnection()
        #expect(connection.receive(.text(#"{"type":"ping"}"#), now: now) == [.send(.pong)])
        #expect(connection.receive(.text(#"{"type":"send","text":"hi","nonce":"n1"}"#), now: now) == [.post(text: "hi", nonce: "n1")])
        #expect(connection.receive(.text(#"{"type":"auth","token":"t"}"#), now: now) == [.authenticate(token: "t")])
        guard case .send(.error(let code, _, _, _)) = connection.receive(.text("not json"), now: now).first else {
            Issue.record("no error"); return
        }
        #expect(code == "invalid_json")
        guard case .send(.error("unknown_type", _, _, _)) = connection.receive(.text(#"{"type":"dance"}"#), now: now).first else {
            Issue.record("no error"); return
        }
        guard case .send(.error("binary_frame", _, _, _)) = connection.receive(.binary, now: now).first else {
            Issue.record("no error"); return
        }
        guard case .send(.error("frame_too_large", _, _, _)) = connection.receive(.oversized(5_000), now: now).first else {
            Issue.record("no error"); return
        }
        var last: [ChatConnection.Action] = []
        for _ in 0..<30 where !connection.closed { last = connection.receive(.binary, now: now) }
        #expect(last.last == .close(code: 1008, reason: "too many invalid or refused messages; reconnect later and slow down"))
        // Strikes expire.
        var calm = ChatConnection()
        for second in 0..<60 { _ = calm.receive(.binary, now: now.addingTimeInterval(TimeInterval(second))) }
        #expect(!calm.closed)
    }
}
