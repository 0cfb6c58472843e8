extension RTMPSession {
    static let commandChunkStream: UInt32 = 3
    /// Commands streamd does not know that a connection may send before it publishes.
    static let maximumUnsupportedCommands = 8
    /// Commands of any kind before a publish is accepted; a publisher needs five or six
    /// (connect, releaseStream, FCPublish, createStream, publish).
    static let maximumCommandsBeforePublishing = 32

    mutating func command(_ values: [AMF0Value], message: RTMPMessage) throws(RTMPProtocolError) -> [Action] {
        guard let name = values.first?.string else {
            throw RTMPProtocolError(.command, "command message does not start with a command name")
        }
        let transactionID = values.count > 1 ? values[1].number ?? 0 : 0
        let commandObject = values.count > 2 ? values[2] : .null
        let arguments = values.count > 3 ? Array(values[3...]) : []
        if !state.isPublishing {
            commandsBeforePublishing += 1
            guard commandsBeforePublishing <= Self.maximumCommandsBeforePublishing else {
                state = .closed
                return [.close(.protocolError("\(commandsBeforePublishing) commands without publishing (last '\(name)')"))]
            }
        }

        switch name {
        case "connect":
            return connect(transactionID: transactionID, object: commandObject.object ?? AMF0Object())
        case "releaseStream", "FCPublish", "FCUnpublish":
            return transactionID == 0 ? [] : [.send(Self.result(transactionID, .null, .undefined))]
        case "createStream":
            guard case .connected = state else { return outOfOrder(name, transactionID) }
            let streamID = nextStreamID
            nextStreamID &+= 1
            return [.send(Self.result(transactionID, .null, .number(Double(streamID))))]
        case "publish":
            return publish(arguments: arguments, messageStreamID: message.messageStreamID, transactionID: transactionID)
        case "deleteStream", "closeStream":
            guard case .publishing = state else { return [] }
            state = .closed
            return [.close(.encoderClosed)]
        case "play", "play2":
            // One refusal, then the connection ends: a player has nothing to wait for here, and a
            // peer that keeps asking without reading must not be answered forever.
            state = .closed
            return [
                .send(
                    Self.error(
                        transactionID, code: "NetStream.Play.Failed",
                        description: "streamd does not play streams over RTMP; watch over HLS at http://HOST/live/CHANNEL/index.m3u8")),
                .close(.protocolError("'\(name)' refused: streamd does not play streams over RTMP")),
            ]
        case "_result", "_error", "onStatus", "onBWDone", "_checkbw", "getStreamLength", "receiveAudio", "receiveVideo":
            return []
        default:
            // Answered politely (some encoders probe with calls of their own), but before a publish
            // is accepted only so many times: a peer that is not publishing gets nothing for free.
            var actions: [Action] = []
            if transactionID != 0 {
                actions.append(
                    .send(
                        Self.error(
                            transactionID, code: "NetConnection.Call.Failed",
                            description: "streamd does not support the command '\(name)'; it accepts publishing only")))
            }
            if case .publishing = state { return actions }
            unsupportedCommands += 1
            guard unsupportedCommands > Self.maximumUnsupportedCommands else { return actions }
            state = .closed
            return actions + [
                .close(.protocolError("\(unsupportedCommands) unsupported commands before publishing (last '\(name)')"))
            ]
        }
    }

    private mutating func connect(transactionID: Double, object: AMF0Object) -> [Action] {
        guard state == .awaitingConnect else { return outOfOrder("connect", transactionID) }
        let rawApp = object["app"]?.string ?? ""
        if let refusal = connectRefusal {
            state = .closed
            return [
                .send(Self.error(transactionID, code: "NetConnection.Connect.Rejected", description: refusal)),
                .close(.refused),
            ]
        }
        let application = Self.normalizedApplication(rawApp)
        guard application == configuration.application else {
            state = .closed
            // An encoder given rtmp://HOST/live/KEY as its server URL and no stream name sends the
            // key inside the application: it is withheld from the answer, the log and the logs.
            let shown = SRTStreamID.ParseError.short(rawApp.split(separator: "/", maxSplits: 1).first.map(String.init) ?? "")
            let description =
                rawApp.isEmpty
                ? "no application in the URL: publish to rtmp://HOST:1935/\(configuration.application)/STREAMKEY"
                : shown == configuration.application
                    ? "the stream key is in the server URL: set the server to rtmp://HOST:1935/\(configuration.application) and the key as the stream name"
                    : "unknown application '\(shown)': publish to rtmp://HOST:1935/\(configuration.application)/STREAMKEY"
            return [
                .send(Self.error(transactionID, code: "NetConnection.Connect.Rejected", description: description)),
                .refused(Refusal(detail: description, application: shown, streamKey: nil)),
                .close(.refused),
            ]
        }
        state = .connected(application: application)
        var info: AMF0Object = [
            "level": .string("status"), "code": .string("NetConnection.Connect.Success"),
            "description": .string("Connection succeeded."),
        ]
        info.properties.append(.init("objectEncoding", object["objectEncoding"] ?? .number(0)))
        var properties: AMF0Object = ["fmsVer": .string("FMS/3,5,7,7009"), "capabilities": .number(31), "mode": .number(1)]
        if let accepted = Self.acceptedFourCCs(object["fourCcList"]) {
            properties.properties.append(.init("fourCcList", .strictArray(accepted.map { .string($0) })))
        }
        return [
            .send(.windowAcknowledgementSize(configuration.windowAcknowledgementSize)),
            .send(.setPeerBandwidth(configuration.windowAcknowledgementSize)),
            .send(.setChunkSize(configuration.outgoingChunkSize)),
            .send(
                Self.result(transactionID, .object(properties), .object(info))),
        ]
    }

    /// Enhanced RTMP: an encoder lists the FourCCs it can send in `connect`'s `fourCcList` (a strict
    /// array of strings; `*` for any). The answer's properties name those streamd takes; an encoder
    /// that sent no list (or something else in its place) gets the plain answer.
    static func acceptedFourCCs(_ value: AMF0Value?) -> [String]? {
        guard case .strictArray(let values)? = value else { return nil }
        let offered = values.compactMap(\.string)
        if offered.contains("*") { return FLVMediaPayload.enhancedFourCCs }
        return FLVMediaPayload.enhancedFourCCs.filter(offered.contains)
    }

    private mutating func publish(arguments: [AMF0Value], messageStreamID: UInt32, transactionID: Double) -> [Action] {
        guard case .connected(let application) = state else { return outOfOrder("publish", transactionID) }
        var key = arguments.first?.string ?? ""
        var role = IngestInputRole.primary
        if let query = key.firstIndex(of: "?") {
            let parameters = key[key.index(after: query)...]
            key = String(key[..<query])
            for pair in parameters.split(separator: "&") where pair.hasPrefix("role=") {
                guard let parsed = IngestInputRole(rawValue: String(pair.dropFirst(5))) else {
                    state = .closed
                    let description =
                        "unknown role in the stream name; publish to \(application)/STREAMKEY (primary) or \(application)/STREAMKEY?role=backup"
                    return [
                        .send(
                            Self.onStatus(
                                level: "error", code: "NetStream.Publish.BadName", description: description,
                                messageStreamID: messageStreamID)),
                        .refused(Refusal(detail: description, application: application, streamKey: key)),
                        .close(.refused),
                    ]
                }
                role = parsed
            }
        }
        guard !key.isEmpty, key.utf8.count <= 512 else {
            state = .closed
            let description =
                key.isEmpty
                ? "no stream key: publish to rtmp://HOST:1935/\(application)/STREAMKEY with the key from your dashboard"
                : "stream key longer than 512 bytes; copy the key from your dashboard again"
            return [
                .send(
                    Self.onStatus(
                        level: "error", code: "NetStream.Publish.BadName", description: description, messageStreamID: messageStreamID)),
                .refused(Refusal(detail: description, application: application, streamKey: key)),
                .close(.refused),
            ]
        }
        let request = PublishRequest(
            application: application, streamKey: key, tcURL: nil, messageStreamID: messageStreamID, role: role)
        state = .authorizing(request)
        return [.authorize(request)]
    }

    /// Makes the coming `connect` fail with this description (a server-wide limit was hit).
    public mutating func refuseConnect(_ description: String) {
        connectRefusal = description
    }

    /// The key check accepted the publish: media may flow.
    public mutating func publishAccepted() -> [Action] {
        guard case .authorizing(let request) = state else { return [] }
        state = .publishing(request)
        return [
            .send(.userControl(.streamBegin, request.messageStreamID)),
            .send(
                Self.onStatus(
                    level: "status", code: "NetStream.Publish.Start",
                    description: "Publishing to \(request.application); the stream is live.", messageStreamID: request.messageStreamID)),
        ]
    }

    /// The key check (or a limit) refused the publish: tell the encoder why, then close.
    public mutating func publishRefused(code: String, description: String) -> [Action] {
        guard case .authorizing(let request) = state else { return [] }
        state = .closed
        return [
            .send(Self.onStatus(level: "error", code: code, description: description, messageStreamID: request.messageStreamID)),
            .close(.refused),
        ]
    }

    /// Ends a publishing session from our side (kick, timeout), telling the encoder why.
    public mutating func stop(code: String, description: String) -> [Action] {
        var actions: [Action] = []
        switch state {
        case .publishing(let request), .authorizing(let request):
            actions.append(
                .send(Self.onStatus(level: "error", code: code, description: description, messageStreamID: request.messageStreamID)))
        default:
            break
        }
        state = .closed
        return actions
    }

    private func outOfOrder(_ name: String, _ transactionID: Double) -> [Action] {
        guard transactionID != 0 else { return [] }
        return [
            .send(
                Self.error(
                    transactionID, code: "NetConnection.Call.Failed",
                    description: "'\(name)' is not allowed at this point of the connection (connect, createStream, then publish)"))
        ]
    }

    static func normalizedApplication(_ raw: String) -> String {
        var app = raw
        if let query = app.firstIndex(of: "?") { app = String(app[..<query]) }
        while app.hasSuffix("/") { app.removeLast() }
        return app
    }

    static func result(_ transactionID: Double, _ object: AMF0Value, _ info: AMF0Value) -> RTMPMessage {
        RTMPMessage(
            typeID: RTMPMessageType.amf0Command.rawValue, chunkStreamID: commandChunkStream,
            payload: AMF0Encoder.encode([.string("_result"), .number(transactionID), object, info]))
    }

    static func error(_ transactionID: Double, code: String, description: String) -> RTMPMessage {
        RTMPMessage(
            typeID: RTMPMessageType.amf0Command.rawValue, chunkStreamID: commandChunkStream,
            payload: AMF0Encoder.encode([
                .string("_error"), .number(transactionID), .null,
                .object(["level": .string("error"), "code": .string(code), "description": .string(description)]),
            ]))
    }

    static func onStatus(level: String, code: String, description: String, messageStreamID: UInt32) -> RTMPMessage {
        RTMPMessage(
            typeID: RTMPMessageType.amf0Command.rawValue, messageStreamID: messageStreamID, chunkStreamID: 5,
            payload: AMF0Encoder.encode([
                .string("onStatus"), .number(0), .null,
                .object(["level": .string(level), "code": .string(code), "description": .string(description)]),
            ]))
    }
}
