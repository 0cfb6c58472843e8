import Gateway
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The bytes our own code reads before NIO's HTTP decoder does, against that decoder.
enum HTTPTargets {
    /// `LiveMediaRawPath`'s framing against `HTTPRequestDecoder`'s, on the same bytes. The raw
    /// path takes requests one head at a time while each is a whole GET/HEAD without a body, and
    /// hands everything from the first one it does not take to the decoder untouched (so the
    /// decoder alone judges that). Every request it takes, it either answers itself or forwards
    /// as one read, and the next one starts where it says this one ends: so the decoder, given
    /// exactly that head after everything before it, must see exactly one whole request, with
    /// the same method and target and no body.
    @Sendable static func rawPath(_ data: [UInt8]) {
        var buffer = ByteBuffer(bytes: data)
        let decoder = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
        defer { _ = try? decoder.finish(acceptAlreadyClosed: true) }
        while buffer.readableBytes > 0 {
            guard let length = RawRequest.headLength(buffer), let head = buffer.readSlice(length: length),
                let request = RawRequest(head), !request.hasBody
            else { return }
            do {
                try decoder.writeInbound(head)
            } catch {
                fatalError("the raw path takes a request the HTTP decoder refuses (\(error)): \(String(reflecting: printable(head)))")
            }
            var parts: [HTTPServerRequestPart] = []
            while let part = try? decoder.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
            guard parts.count == 2, case .head(let decoded) = parts[0], case .end(nil) = parts[1] else {
                fatalError(
                    "the raw path frames one request the HTTP decoder reads as \(parts.map(describe)): \(String(reflecting: printable(head)))"
                )
            }
            let method = request.isHead ? HTTPMethod.HEAD : .GET
            guard decoded.method == method, decoded.uri == String(request.path), decoded.version == .http1_1 else {
                fatalError(
                    "the raw path reads \(method) \(request.path), the HTTP decoder \(decoded.method) \(decoded.uri) \(decoded.version): \(String(reflecting: printable(head)))"
                )
            }
            // After a request that may switch protocols or closes the connection, the raw path
            // hands on every byte.
            if request.upgrade || request.close { return }
        }
    }

    /// `ConnectionGuardHandler`'s head scan, with the input cut into up to four reads (the first
    /// byte, when below 0x20, says how many cuts; then one byte per cut). With no chat socket
    /// allowed, the guard must answer 503 exactly when the read that completes the head (the first
    /// `\r\n\r\n`, wherever the reads cut it) holds "websocket" in any case (a loose check, by
    /// design: the upgrade handler checks again); and when no read completes a head, the header
    /// timeout must close the connection. Against the HTTP decoder: a head it reads whole, in one
    /// read, asking to upgrade to websocket, is refused.
    @Sendable static func connectionGuard(_ data: [UInt8]) {
        var input = data[...]
        var cuts: [Int] = []
        if let first = input.first, first < 0x20 {
            input = input.dropFirst()
            for _ in 0..<min(Int(first % 4), input.count) {
                cuts.append(Int(input.removeFirst()))
            }
        }
        var reads: [ArraySlice<UInt8>] = []
        var rest = input
        for cut in cuts where !rest.isEmpty {
            let size = min(rest.count, cut)
            reads.append(rest.prefix(size))
            rest = rest.dropFirst(size)
        }
        reads.append(rest)
        reads.removeAll { $0.isEmpty }

        let limits = HTTPLimits(maxWebSockets: 0, headerTimeout: .seconds(10), idleTimeout: .seconds(3600))
        let channel = EmbeddedChannel(handler: ConnectionGuard(limits: limits, logger: quiet).headScanningHandler())
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        guard (try? channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 4000)).wait()) != nil else {
            fatalError("the embedded channel did not connect")
        }

        // The reference: the first read whose bytes, with all before, hold \r\n\r\n.
        var seen: [UInt8] = []
        var completing: ArraySlice<UInt8>?
        for read in reads where completing == nil {
            seen += read
            if containsHeadEnd(seen) { completing = read }
        }
        for read in reads where channel.isActive {
            _ = try? channel.writeInbound(ByteBuffer(bytes: read))
        }
        var answer = ByteBuffer()
        while let part = try? channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(var bytes) = part { answer.writeBuffer(&bytes) }
        }
        let refused = answer.readableBytesView.starts(with: Array("HTTP/1.1 503".utf8))
        let shouldRefuse = completing.map { containsWebSocket($0) } ?? false
        guard refused == shouldRefuse else {
            fatalError("the guard \(refused ? "refused" : "passed") reads \(reads.map { printable(ByteBuffer(bytes: $0)) })")
        }
        if completing == nil {
            channel.embeddedEventLoop.advanceTime(by: .seconds(11))
            guard !channel.isActive else { fatalError("no head ended, yet the header timeout kept the connection: \(reads)") }
        }
        // The decoder's view: a whole head in the read that completed it, asking for websocket.
        if let completing, !refused {
            let decoder = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
            defer { _ = try? decoder.finish(acceptAlreadyClosed: true) }
            if completing.startIndex == input.startIndex, (try? decoder.writeInbound(ByteBuffer(bytes: completing))) != nil,
                case .head(let head)? = try? decoder.readInbound(as: HTTPServerRequestPart.self),
                head.headers["upgrade"].contains(where: { $0.lowercased().contains("websocket") })
            {
                fatalError("a websocket upgrade in one read passed the guard: \(printable(ByteBuffer(bytes: completing)))")
            }
        }
    }

    static let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    static func containsHeadEnd(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4
            && (0...(bytes.count - 4)).contains { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 }
    }

    static func containsWebSocket(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }.windows(of: 9).contains { $0.elementsEqual("websocket".utf8) }
    }

    static func printable(_ buffer: ByteBuffer) -> String {
        String(decoding: buffer.readableBytesView, as: UTF8.self)
    }

    static func describe(_ part: HTTPServerRequestPart) -> String {
        switch part {
        case .head(let head): "head(\(head.method) \(head.uri))"
        case .body(let body): "body(\(body.readableBytes) bytes)"
        case .end: "end"
        }
    }
}

extension Array {
    fileprivate func windows(of size: Int) -> [ArraySlice<Element>] {
        count < size ? [] : (0...(count - size)).map { self[$0..<($0 + size)] }
    }
}
