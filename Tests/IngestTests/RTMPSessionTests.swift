import Media
import Testing

@testable import Ingest

@Suite struct RTMPSessionTests {
    static func command(_ values: [AMF0Value], stream: UInt32 = 0) -> RTMPMessage {
        RTMPMessage(typeID: 20, messageStreamID: stream, chunkStreamID: 3, payload: AMF0Encoder.encode(values))
    }

    static func sent(_ actions: [RTMPSession.Action]) -> [[AMF0Value]] {
        actions.compactMap {
            guard case .send(let message) = $0, message.typeID == 20 else { return nil }
            return try? AMF0Decoder.decodeAll(message.payload)
        }
    }

    static func connected() -> RTMPSession {
        var session = RTMPSession()
        _ = session.receive(command([.string("connect"), .number(1), .object(["app": .string("live")])]))
        return session
    }

    @Test func connectAnswersWithWindowBandwidthChunkSizeAndResult() {
        var session = RTMPSession()
        let actions = session.receive(Self.command([.string("connect"), .number(1), .object(["app": .string("live/")])]))
        let types = actions.compactMap { if case .send(let message) = $0 { message.typeID } else { nil } }
        #expect(types == [5, 6, 1, 20])
        let result = Self.sent(actions).first
        #expect(result?.first == .string("_result"))
        #expect(result?[3].object?["code"] == .string("NetConnection.Connect.Success"))
        #expect(session.state == .connected(application: "live"))
    }

    @Test func anUnknownApplicationIsRejectedWithWhatToDo() {
        var session = RTMPSession()
        let actions = session.receive(Self.command([.string("connect"), .number(1), .object(["app": .string("stream")])]))
        let error = Self.sent(actions).first
        #expect(error?.first == .string("_error"))
        #expect(error?[3].object?["code"] == .string("NetConnection.Connect.Rejected"))
        #expect(error?[3].object?["description"]?.string?.contains("rtmp://HOST:1935/live/STREAMKEY") == true)
        #expect(actions.contains { if case .close(.refused) = $0 { true } else { false } })
    }

    /// An encoder given `rtmp://HOST/live/KEY` as its server URL sends the key inside the
    /// application: the refusal says what to change and carries no part of the key.
    @Test func aKeyInTheServerURLIsWithheldFromTheRefusal() {
        let key = "sk_" + String(repeating: "Q", count: 43)
        for app in ["live/\(key)", "live/\(key)?x=1", key] {
            var session = RTMPSession()
            let actions = session.receive(Self.command([.string("connect"), .number(1), .object(["app": .string(app)])]))
            let description = Self.sent(actions).first?[3].object?["description"]?.string ?? ""
            #expect(!description.contains("QQQQ"), "\(description)")
            for case .refused(let refusal) in actions {
                #expect(!refusal.detail.contains("QQQQ") && refusal.application?.contains("QQQQ") != true && refusal.streamKey == nil)
            }
            if app.hasPrefix("live/") { #expect(description.contains("the stream key is in the server URL"), "\(description)") }
        }
    }

    @Test func publishAsksForTheKeyCheckThenStarts() {
        var session = Self.connected()
        _ = session.receive(Self.command([.string("releaseStream"), .number(2), .null, .string("KEY")]))
        let create = session.receive(Self.command([.string("createStream"), .number(4), .null]))
        #expect(Self.sent(create).first == [.string("_result"), .number(4), .null, .number(1)])
        let publish = session.receive(
            Self.command([.string("publish"), .number(5), .null, .string("KEY?foo=1"), .string("live")], stream: 1))
        guard case .authorize(let request) = publish.first else {
            Issue.record("no authorize")
            return
        }
        #expect(request.streamKey == "KEY")
        #expect(request.messageStreamID == 1)
        let start = session.publishAccepted()
        #expect(Self.sent(start).first?[3].object?["code"] == .string("NetStream.Publish.Start"))
        guard case .publishing = session.state else {
            Issue.record("not publishing")
            return
        }
        #expect(
            session.receive(Self.command([.string("deleteStream"), .number(6), .null, .number(1)])).contains {
                if case .close(.encoderClosed) = $0 { true } else { false }
            })
    }

    @Test func aBackupPublishesWithRoleBackupAndAnUnknownRoleIsRefused() {
        var session = Self.connected()
        _ = session.receive(Self.command([.string("createStream"), .number(4), .null]))
        let publish = session.receive(
            Self.command([.string("publish"), .number(5), .null, .string("KEY?role=backup"), .string("live")], stream: 1))
        guard case .authorize(let request) = publish.first else {
            Issue.record("no authorize")
            return
        }
        #expect(request.streamKey == "KEY" && request.role == .backup)

        var other = Self.connected()
        _ = other.receive(Self.command([.string("createStream"), .number(4), .null]))
        let refused = other.receive(
            Self.command([.string("publish"), .number(5), .null, .string("KEY?role=spare"), .string("live")], stream: 1))
        #expect(refused.contains { if case .close(.refused) = $0 { true } else { false } })
        #expect(Self.sent(refused).first?[3].object?["description"]?.string?.contains("?role=backup") == true)
    }

    @Test func refusalsReachTheEncoderAsOnStatusErrors() {
        var session = Self.connected()
        _ = session.receive(Self.command([.string("publish"), .number(5), .null, .string("BAD"), .string("live")], stream: 1))
        let actions = session.publishRefused(code: "NetStream.Publish.BadName", description: PublishRefusalReason.unknownKey.message)
        let status = Self.sent(actions).first
        #expect(status?.first == .string("onStatus"))
        #expect(status?[3].object?["level"] == .string("error"))
        #expect(status?[3].object?["description"]?.string?.contains("dashboard") == true)
        #expect(session.state == .closed)
    }

    @Test func playGetsOneRefusalAndTheConnectionCloses() {
        var session = Self.connected()
        let actions = session.receive(Self.command([.string("play"), .number(3), .null, .string("x")]))
        let play = Self.sent(actions)
        #expect(play.count == 1)
        #expect(play.first?[3].object?["description"]?.string?.contains("HLS") == true)
        guard case .close(.protocolError(let detail)) = actions.last else {
            Issue.record("play must close the connection, got \(actions)")
            return
        }
        #expect(detail.contains("play"))
        #expect(session.state == .closed)
        // Whatever the peer sends after that is not answered.
        #expect(session.receive(Self.command([.string("play"), .number(4), .null, .string("x")])).isEmpty)
    }

    @Test func unknownCommandsGetPoliteErrorsUntilTheLimitBeforePublishing() {
        var session = Self.connected()
        let other = Self.sent(session.receive(Self.command([.string("getStats"), .number(7), .null])))
        #expect(other.first?.first == .string("_error"))
        #expect(other.first?[3].object?["description"]?.string?.contains("getStats") == true)
        // AMF3 command messages carry AMF0 after a zero byte.
        let amf3 = RTMPMessage(
            typeID: 17, chunkStreamID: 3, payload: [0] + AMF0Encoder.encode([.string("createStream"), .number(9), .null]))
        #expect(Self.sent(session.receive(amf3)).first?[1] == .number(9))
        for call in 2...RTMPSession.maximumUnsupportedCommands {
            let actions = session.receive(Self.command([.string("getStats"), .number(Double(call)), .null]))
            #expect(Self.sent(actions).count == 1)
            #expect(!actions.contains { if case .close = $0 { true } else { false } })
        }
        let last = session.receive(Self.command([.string("getStats"), .number(99), .null]))
        guard case .close(.protocolError(let detail)) = last.last else {
            Issue.record("the command past the limit must close the connection, got \(last)")
            return
        }
        #expect(detail.contains("unsupported commands"))
        #expect(session.state == .closed)
    }

    @Test func aConnectionThatKeepsCallingWithoutPublishingIsClosed() {
        var session = Self.connected()
        var replies = 0
        var closed = false
        for call in 0..<100 where !closed {
            let actions = session.receive(Self.command([.string("createStream"), .number(Double(call + 2)), .null]))
            replies += Self.sent(actions).count
            closed = actions.contains { if case .close = $0 { true } else { false } }
        }
        #expect(closed)
        #expect(replies < RTMPSession.maximumCommandsBeforePublishing)
        #expect(session.state == .closed)
    }

    @Test func pingsAreAnsweredAndAcknowledgementsFollowThePeersWindow() {
        var session = Self.connected()
        let ping = session.receive(.userControl(.pingRequest, 1234))
        guard case .send(let pong) = ping.first else {
            Issue.record("no pong")
            return
        }
        #expect(pong.payload == [0, 7, 0, 0, 0x04, 0xD2])
        #expect(session.bytesReceived(total: 10_000) == nil)
        _ = session.receive(.windowAcknowledgementSize(5000))
        #expect(session.bytesReceived(total: 4999) == nil)
        #expect(session.bytesReceived(total: 5000)?.payload == [0, 0, 0x13, 0x88])
        #expect(session.bytesReceived(total: 9000) == nil)
        #expect(session.bytesReceived(total: 10_001) != nil)
    }

    @Test func metadataWithAnUnsupportedCodecEndsThePublish() {
        var session = Self.connected()
        _ = session.receive(Self.command([.string("publish"), .number(5), .null, .string("K"), .string("live")], stream: 1))
        _ = session.publishAccepted()
        let data = RTMPMessage(
            typeID: 18, messageStreamID: 1, chunkStreamID: 4,
            payload: AMF0Encoder.encode([
                .string("@setDataFrame"), .string("onMetaData"),
                .ecmaArray(["videocodecid": .number(0x7676_6331), "width": .number(1920)]),  // 'vvc1' (H.266)
            ]))
        let actions = session.receive(data)
        let status = Self.sent(actions).first
        #expect(status?[3].object?["code"] == .string("NetStream.Publish.Failed"))
        #expect(status?[3].object?["description"]?.string?.contains("vvc1") == true)
        #expect(actions.contains { if case .close(.protocolError) = $0 { true } else { false } })
    }
}
