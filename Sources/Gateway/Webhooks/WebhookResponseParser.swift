import NIOCore

/// Reads a webhook receiver's HTTP/1.1 answers from the bytes of its connection (sans I/O): the
/// status of each final answer and whether the connection stays open. Bodies (by length, chunked,
/// or up to the close) are skipped as they arrive and never kept; interim (1xx) answers are passed
/// over. What it keeps is bounded: a head or a line of at most `maxHead` bytes.
///
/// A receiver can be anyone an admin subscribed, so every malformed or oversized answer is an
/// error that names the fault, and the connection is closed rather than read on.
public struct WebhookResponseParser: Sendable {
    public struct Answer: Equatable, Sendable {
        public var status: UInt
        public var keepAlive: Bool

        public init(status: UInt, keepAlive: Bool) {
            self.status = status
            self.keepAlive = keepAlive
        }
    }

    public struct Malformed: Error, CustomStringConvertible, Equatable {
        public var why: String
        public var description: String { "the receiver's answer is not HTTP/1.1: \(why)" }
    }

    public static let maxHead = 16 << 10

    public init() {}

    private enum State {
        case statusLine
        case headers
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers
        case untilClose
    }

    private var state = State.statusLine
    /// Set once the bytes were malformed: nothing after is read.
    private var failure: Malformed?
    /// The start of a line not yet ended.
    private var partial: [UInt8] = []
    /// Bytes of the current head (or trailer section) read so far.
    private var headBytes = 0
    private var status: UInt = 0
    private var minorVersion = 1
    private var contentLength: Int?
    private var chunked = false
    private var otherCoding = false
    private var close = false
    private var keepAliveAsked = false

    /// Whether an answer has begun and not ended.
    public var isMidAnswer: Bool {
        if case .statusLine = state { return !partial.isEmpty }
        return true
    }

    /// What one read gave: the answers it completed, in order, and what was wrong with the bytes
    /// after them, if something was (then nothing more is read: the connection must close).
    public struct Reading: Sendable {
        public var answers: [Answer] = []
        public var malformed: Malformed?
    }

    /// Reads `input` whole.
    public mutating func feed(_ input: inout ByteBuffer) -> Reading {
        var reading = Reading(malformed: failure)
        guard failure == nil else {
            input.moveReaderIndex(to: input.writerIndex)
            return reading
        }
        do {
            while input.readableBytes > 0 {
                switch state {
                case .fixedBody(let remaining):
                    let taken = min(remaining, input.readableBytes)
                    input.moveReaderIndex(forwardBy: taken)
                    if taken == remaining { reading.answers.append(finish()) } else { state = .fixedBody(remaining: remaining - taken) }
                case .chunkData(let remaining):
                    let taken = min(remaining, input.readableBytes)
                    input.moveReaderIndex(forwardBy: taken)
                    state = taken == remaining ? .chunkEnd : .chunkData(remaining: remaining - taken)
                case .untilClose:
                    input.moveReaderIndex(to: input.writerIndex)
                case .statusLine, .headers, .chunkSize, .chunkEnd, .trailers:
                    if let answer = try readLine(&input) { reading.answers.append(answer) }
                }
            }
        } catch {
            failure = error
            reading.malformed = error
            input.moveReaderIndex(to: input.writerIndex)
        }
        return reading
    }

    /// The connection ended: the answer that ran until the close, if one did.
    public mutating func connectionClosed() -> Answer? {
        guard failure == nil, case .untilClose = state else { return nil }
        return finish()
    }

    /// Takes the next line from `input` when it ends there (without its CRLF; a bare LF is taken
    /// too), else keeps its start in `partial` and uses `input` up; the answer the line
    /// completed, if it did.
    private mutating func readLine(_ input: inout ByteBuffer) throws(Malformed) -> Answer? {
        let found = input.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")) }
        guard let newline = found else {
            try count(input.readableBytes)
            partial += input.readableBytesView
            input.moveReaderIndex(to: input.writerIndex)
            return nil
        }
        try count(newline + 1)
        defer { input.moveReaderIndex(forwardBy: newline + 1) }
        if partial.isEmpty {
            // The usual case, a line within one read: read in place.
            return try input.withUnsafeReadableBytes { bytes throws(Malformed) in try take(Self.trimmed(bytes[..<newline])) }
        }
        var line = partial
        partial = []
        line += input.readableBytesView.prefix(newline)
        return try take(Self.trimmed(line[...]))
    }

    private static func trimmed<Line: RandomAccessCollection<UInt8>>(_ line: Line) -> Line.SubSequence {
        line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
    }

    private mutating func count(_ bytes: Int) throws(Malformed) {
        headBytes += bytes
        if headBytes > Self.maxHead { throw Malformed(why: "a head or line over \(Self.maxHead) bytes") }
    }

    /// One line in a line-reading state; the answer it completed, if it did.
    private mutating func take<Line: RandomAccessCollection<UInt8>>(_ line: Line) throws(Malformed) -> Answer?
    where Line.Index == Int {
        switch state {
        case .statusLine:
            // An empty line between answers is tolerated (RFC 9112 §2.2).
            if line.isEmpty {
                headBytes = 0
                return nil
            }
            try statusLine(line)
            state = .headers
        case .headers:
            if line.isEmpty { return try headEnded() }
            try header(line)
        case .chunkSize:
            headBytes = 0
            let digits = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            guard !digits.isEmpty, digits.count <= 15, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16), size >= 0
            else { throw Malformed(why: "a chunk size that is not hexadecimal") }
            state = size == 0 ? .trailers : .chunkData(remaining: size)
        case .chunkEnd:
            guard line.isEmpty else { throw Malformed(why: "a chunk longer than its size") }
            state = .chunkSize
        case .trailers:
            if line.isEmpty { return finish() }
        case .fixedBody, .chunkData, .untilClose:
            break
        }
        return nil
    }

    /// `HTTP/1.x SSS reason`.
    private mutating func statusLine<Line: RandomAccessCollection<UInt8>>(_ line: Line) throws(Malformed)
    where Line.Index == Int {
        let at = line.startIndex
        guard line.count >= 12, line.starts(with: "HTTP/1.".utf8), Self.isDigit(line[at + 7]), line[at + 8] == UInt8(ascii: " "),
            line[(at + 9)..<(at + 12)].allSatisfy(Self.isDigit), line.count == 12 || line[at + 12] == UInt8(ascii: " ")
        else { throw Malformed(why: "a status line that is not \"HTTP/1.1 NNN reason\"") }
        minorVersion = Int(line[at + 7] - UInt8(ascii: "0"))
        status = line[(at + 9)..<(at + 12)].reduce(0) { $0 * 10 + UInt($1 - UInt8(ascii: "0")) }
        (contentLength, chunked, otherCoding, close, keepAliveAsked) = (nil, false, false, false, false)
    }

    /// `Name: value`; only the framing and connection fields are read.
    private mutating func header<Line: RandomAccessCollection<UInt8>>(_ line: Line) throws(Malformed) where Line.Index == Int {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            line[..<colon].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { throw Malformed(why: "a header line without a name and a colon (or a folded line)") }
        let name = line[..<colon]
        let value = { String(decoding: line[(colon + 1)...], as: UTF8.self).lowercased().trimmingSpaces }
        if Self.named(name, "content-length") {
            let digits = value()
            guard digits.utf8.count <= 18, !digits.isEmpty, digits.utf8.allSatisfy(Self.isDigit), let length = Int(digits),
                contentLength == nil || contentLength == length
            else { throw Malformed(why: "a Content-Length that is not one decimal number") }
            contentLength = length
        } else if Self.named(name, "transfer-encoding") {
            if value().split(separator: ",").last.map({ String($0).trimmingSpaces }) == "chunked" {
                chunked = true
            } else {
                otherCoding = true
            }
        } else if Self.named(name, "connection") {
            for token in value().split(separator: ",").map({ String($0).trimmingSpaces }) {
                if token == "close" { close = true }
                if token == "keep-alive" { keepAliveAsked = true }
            }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Whether a header's name is `lowercase`, in any case.
    private static func named(_ name: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        guard name.count == lowercase.utf8CodeUnitCount else { return false }
        return zip(name, UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)).allSatisfy {
            ($0 | 0x20) == $1 || $0 == $1
        }
    }

    private mutating func headEnded() throws(Malformed) -> Answer? {
        headBytes = 0
        if status == 101 { throw Malformed(why: "it switched protocols (101), which a webhook never asks for") }
        if status < 200 {
            state = .statusLine
            return nil
        }
        if status == 204 || status == 304 { return finish() }
        if otherCoding {
            // A coding other than chunked last: the body runs until the close (RFC 9112 §6.3).
            close = true
            state = .untilClose
        } else if chunked {
            // With Transfer-Encoding, Content-Length is ignored, and the connection is not reused.
            if contentLength != nil { close = true }
            state = .chunkSize
        } else if let contentLength {
            if contentLength == 0 { return finish() }
            state = .fixedBody(remaining: contentLength)
        } else {
            close = true
            state = .untilClose
        }
        return nil
    }

    private mutating func finish() -> Answer {
        let keepAlive = !close && (minorVersion >= 1 || keepAliveAsked)
        state = .statusLine
        headBytes = 0
        return Answer(status: status, keepAlive: keepAlive)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        let bytes = utf8.drop { $0 == 0x20 || $0 == 0x09 }
        let end = bytes.lastIndex { $0 != 0x20 && $0 != 0x09 }
        guard let end else { return "" }
        return String(decoding: bytes[...end], as: UTF8.self)
    }
}
