import Gateway
import Testing

@Suite struct QoETests {
    let start = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    func cmcd(_ text: String) -> CMCDReport {
        (try? CMCDParser.parse(text).get()) ?? CMCDReport()
    }

    @Test func startupRunsFromTheFirstRequestToTheFirstWithoutSu() {
        var player = PlayerQoE(firstSeen: at(0))
        player.fold(cmcd("su,ot=m"), at: at(0))
        player.fold(cmcd("su,ot=v,bl=0"), at: at(0.4))
        #expect(player.startupTime == nil)
        player.fold(cmcd("ot=v,bl=1200"), at: at(1.5))
        #expect(player.startupTime == .milliseconds(1500))
        player.fold(cmcd("su,ot=v"), at: at(2))
        player.fold(cmcd("ot=v"), at: at(9))
        #expect(player.startupTime == .milliseconds(1500), "a seek's su does not start it again")
        #expect(player.watchedTime == .milliseconds(7500))
    }

    @Test func noSuOnTheFirstRequestMeansStartupIsUnknown() {
        var player = PlayerQoE(firstSeen: at(0))
        player.fold(cmcd("ot=v"), at: at(0))
        player.fold(cmcd("ot=v"), at: at(1))
        #expect(player.startupTime == nil)
        #expect(player.watchedTime == .seconds(1))
    }

    @Test func versionTwoEventsGiveStartupBeforeRequests() {
        var player = PlayerQoE(firstSeen: at(0))
        player.fold(cmcd("su"), at: at(0))
        player.fold(cmcd("e=ps,sta=s,ts=1000"), at: at(0.1))
        player.fold(cmcd("e=ps,sta=p,ts=1800"), at: at(0.9))
        player.fold(cmcd("bl=100"), at: at(2))
        #expect(player.startupTime == .milliseconds(800), "sta s → p by the player's clock")
        var told = PlayerQoE(firstSeen: at(0))
        told.fold(cmcd("su,msd=640"), at: at(0))
        #expect(told.startupTime == .milliseconds(640))
    }

    @Test func aStarvationFlagCountsARebufferWithAnEstimatedDuration() {
        var player = PlayerQoE(firstSeen: at(0))
        player.fold(cmcd("su"), at: at(0))
        player.fold(cmcd("bl=2000"), at: at(1))
        player.fold(cmcd("bl=1500"), at: at(1.5))
        player.fold(cmcd("bs,su"), at: at(2.3))
        player.fold(cmcd("bl=1000"), at: at(11))
        #expect(player.rebuffers == 1)
        #expect(player.rebufferTime == .milliseconds(800), "the gap since the previous request")
        #expect(player.watchedTime == .seconds(10))
        #expect(abs((player.rebufferRatio ?? 0) - 0.08) < 1e-9)
        player.fold(cmcd("bs"), at: at(31))
        #expect(player.rebufferTime == .milliseconds(5800), "a gap counts 5 s at most")
        #expect(player.rebuffers == 2)
    }

    @Test func reportedStallDurationsWinOverEstimatesAndStates() {
        var player = PlayerQoE(firstSeen: at(0))
        player.fold(cmcd("su"), at: at(0))
        player.fold(cmcd("ot=v"), at: at(1))
        player.fold(cmcd("e=ps,sta=r,ts=5000"), at: at(5))
        player.fold(cmcd("e=ps,sta=p,ts=7000"), at: at(7))
        #expect(player.rebuffers == 1)
        #expect(player.rebufferTime == .seconds(2), "time in sta=r")
        player.fold(cmcd("bs,bsd=(1500;v)"), at: at(7.1))
        #expect(player.rebuffers == 1, "one stall, told three ways")
        #expect(player.rebufferTime == .milliseconds(1500), "bsd is what the player measured")
        player.fold(cmcd("bsd=900000"), at: at(8))
        #expect(player.rebufferTime == .milliseconds(1500), "15 minutes is not believed")
    }

    @Test func bufferBitrateAndLiveEdge() {
        var player = PlayerQoE(firstSeen: at(0))
        player.fold(cmcd("ot=v,br=3000,bl=2000"), at: at(0))
        player.fold(cmcd("ot=a,br=128,bl=9000"), at: at(0.1))
        player.fold(cmcd("ot=m,bl=0"), at: at(0.2))
        player.fold(cmcd("ot=v,br=1000,bl=1000"), at: at(1))
        #expect(player.averageBitrate == 2000, "audio and playlists are not the picture's bitrate")
        #expect(player.averageBufferLength == 1500)
        #expect(player.liveEdgeDistance == 1000, "the last bl without ltc")
        player.fold(cmcd("e=t,ltc=3200"), at: at(2))
        #expect(player.liveEdgeDistance == 3200)
    }

    @Test func aSessionSummarisesItsPlayers() {
        var session = SessionQoE(channel: "demo", now: at(0))
        for (index, startup) in [0.5, 1.0, 1.5, 2.0, 4.0].enumerated() {
            let sid = "p\(index)"
            session.record(cmcd("su,sid=\"\(sid)\""), player: sid, now: at(0))
            session.record(cmcd("sid=\"\(sid)\",ot=v,br=\(1000 * (index + 1)),bl=3000"), player: sid, now: at(startup))
            session.record(cmcd("sid=\"\(sid)\",ot=v,bl=2000"), player: sid, now: at(20))
        }
        session.record(cmcd("sid=\"p0\",bs"), player: "p0", now: at(21))
        let summary = session.summary()
        #expect(summary.players == 5 && summary.activePlayers == 5)
        #expect(summary.startupMedianMs == 1500)
        #expect(summary.startupP90Ms == 4000)
        #expect(summary.rebuffers == 1)
        #expect(summary.averageBitrateKbps == 3000)
        #expect(summary.averageBufferMs == 2500)
        #expect(summary.liveEdgeMs == 2000)
        // Watched: 20.5 + 19 + 18.5 + 18 + 16 = 92 s; rebuffered: 1 s (the gap from 20 s to 21 s).
        #expect(abs((summary.rebufferRatio ?? 0) - 1.0 / 92) < 1e-9)
    }

    @Test func idlePlayersFoldIntoTheTotalsAndCapsHold() {
        var session = SessionQoE(channel: "demo", limits: .init(maxPlayers: 2, idleAfter: .seconds(60)), now: at(0))
        let tracked = [
            session.record(cmcd("su"), player: "a", now: at(0)), session.record(cmcd(""), player: "a", now: at(2)),
            session.record(cmcd("su"), player: "b", now: at(1)), session.record(cmcd("su"), player: "c", now: at(1)),
        ]
        #expect(tracked == [true, true, true, false], "c finds the session full")
        #expect(session.dropped == 1)
        let later = session.record(cmcd("su"), player: "c", now: at(70))
        #expect(later, "a and b went idle and were folded away")
        let summary = session.summary()
        #expect(summary.players == 3 && summary.activePlayers == 1)
        #expect(summary.startupMedianMs == 2000, "a's startup survives the fold")
    }

    @Test func theTrackerFindsAPlayersSessionAndAChannelsLatest() {
        let tracker = QoETracker(configuration: .init(maxSessions: 2))
        #expect(!tracker.record(cmcd("su"), session: "s1", channel: "demo", now: at(0)), "no sid: no player")
        #expect(tracker.record(cmcd("su,sid=\"x\""), session: "s1", channel: "demo", now: at(0)))
        #expect(tracker.record(cmcd("sid=\"x\""), session: "s1", channel: "demo", now: at(1)))
        #expect(tracker.session(ofPlayer: "x")?.session == "s1")
        #expect(tracker.session(ofPlayer: "y") == nil)
        #expect(tracker.summary(channel: "demo")?.startupMedianMs == 1000)
        tracker.record(cmcd("sid=\"y\""), session: "s2", channel: "demo", now: at(2))
        #expect(tracker.summary(channel: "demo")?.players == 1, "the channel's new session")
        #expect(tracker.summary(session: "s1")?.players == 1)
        tracker.record(cmcd("sid=\"z\""), session: "s3", channel: "other", now: at(3))
        #expect(tracker.summary(session: "s1") == nil, "the session updated longest ago made room")
        #expect(tracker.summary(channel: "other")?.players == 1)
    }
}
