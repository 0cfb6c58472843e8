import Media
import NIOCore

/// Sans-I/O RTMP chunk stream reader (RTMP 1.0 §5.3): append bytes as they arrive, then pull whole
/// messages. A chunk is consumed only once it is complete, so any split of the input across reads
/// yields the same messages. Set Chunk Size and Abort are applied here (they change the framing)
/// and are also returned so the caller can see them.
public struct RTMPChunkDecoder: Sendable {
    /// The peer may raise its chunk size up to this (16 MiB); more is refused.
    public static let maximumChunkSize = 16 * 1024 * 1024

    struct ChunkStream: Sendable {
        var timestamp: UInt32 = 0
        /// The timestamp field of the last full header (the absolute value for type 0), reused by type 3.
        var timestampField: UInt32 = 0
        var hasExtendedTimestamp = false
        var length = 0
        var typeID: UInt8 = 0
        var messageStreamID: UInt32 = 0
        var payload: [UInt8] = []
        /// Bytes still missing from the message in progress; 0 when none is in progress.
        var remaining = 0
    }

    public private(set) var chunkSize = 128
    /// Bytes consumed from the peer since the handshake, for acknowledgements.
    public private(set) var bytesReceived: UInt64 = 0
    public private(set) var maxMessageSize: Int
    public let maxChunkStreams: Int
    /// Bytes held in unfinished messages across all chunk streams, and their limit.
    public private(set) var pendingPayloadBytes = 0
    public private(set) var maxPendingPayloadBytes: Int
    /// Where chunks are parsed from: contiguous bytes, starting at a chunk boundary.
    private var buffer = ByteBuffer()
    /// Reads that arrived while `buffer` held an incomplete chunk. Only the bytes that chunk needs
    /// are copied over; the rest of each read is adopted as `buffer` once that chunk is done.
    private var queued = CircularBuffer<ByteBuffer>()
    private var queuedByteCount = 0
    private var streams: [UInt32: ChunkStream] = [:]
    /// Basic header (3) + message header (11) + extended timestamp (4).
    static let maximumChunkHeaderSize = 18
    /// Room for the longest chunk header: the first bytes of `buffer` are copied here for a
    /// `ByteReader`, chunk after chunk, into the same storage.
    private var headerBytes = [UInt8](repeating: 0, count: maximumChunkHeaderSize)

    public init(maxMessageSize: Int = 8 * 1024 * 1024, maxChunkStreams: Int = 64, maxPendingPayloadBytes: Int? = nil) {
        self.maxMessageSize = maxMessageSize
        self.maxChunkStreams = maxChunkStreams
        self.maxPendingPayloadBytes = maxPendingPayloadBytes ?? 2 * maxMessageSize
    }

    /// Changes the message limits, e.g. from a stranger's budget to a publisher's once its key is
    /// accepted; messages already in progress are held to the new limit from their next chunk on.
    public mutating func setLimits(maxMessageSize: Int, maxPendingPayloadBytes: Int? = nil) {
        self.maxMessageSize = maxMessageSize
        self.maxPendingPayloadBytes = maxPendingPayloadBytes ?? 2 * maxMessageSize
    }

    /// Bytes held waiting for the rest of a chunk.
    public var bufferedByteCount: Int { buffer.readableBytes + queuedByteCount }

    public mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if buffer.readableBytes == 0, queued.isEmpty {
            buffer = bytes
        } else {
            queued.append(bytes)
            queuedByteCount += bytes.readableBytes
        }
    }

    public mutating func append(_ bytes: [UInt8]) {
        append(ByteBuffer(bytes: bytes))
    }

    /// The next complete message, or nil when more bytes are needed.
    public mutating func nextMessage() throws(RTMPProtocolError) -> RTMPMessage? {
        while true {
            if let chunk = try parseChunk() {
                if let message = chunk { return try apply(message) }
            } else if !refill() {
                if buffer.readerIndex > 65536 { buffer.discardReadBytes() }
                return nil
            }
        }
    }

    /// Gives an incomplete chunk in `buffer` more bytes from the queued reads (or adopts the next
    /// read when `buffer` is used up); false when nothing is queued. A chunk never spans more
    /// than a full header and one chunk of payload, so that is all that is copied.
    private mutating func refill() -> Bool {
        guard var next = queued.popFirst() else { return false }
        if buffer.readableBytes == 0 {
            queuedByteCount -= next.readableBytes
            buffer = next
            return true
        }
        let wanted = max(Self.maximumChunkHeaderSize + chunkSize - buffer.readableBytes, 1)
        let count = min(wanted, next.readableBytes)
        buffer.writeImmutableBuffer(next.getSlice(at: next.readerIndex, length: count) ?? ByteBuffer())
        next.moveReaderIndex(forwardBy: count)
        queuedByteCount -= count
        if next.readableBytes > 0 { queued.prepend(next) }
        return true
    }

    /// Parses one chunk if all of it is buffered: `.some(nil)` when it did not finish a message.
    ///
    /// The header is read from a copy of the buffer's first bytes, which may hold less than a
    /// whole header: a read that runs out means more bytes are needed (`nil`), never a malformed
    /// chunk. Nothing is committed until the whole chunk is there.
    private mutating func parseChunk() throws(RTMPProtocolError) -> RTMPMessage?? {
        var scratch = headerBytes
        headerBytes = []  // `scratch` is now the only reference: writing to it does not copy it
        defer { headerBytes = scratch }
        let headerCount = min(buffer.readableBytes, Self.maximumChunkHeaderSize)
        buffer.withUnsafeReadableBytes { raw in
            scratch.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<headerCount])) }
        }
        var reader = ByteReader(scratch[0..<headerCount], structure: "RTMP chunk header")

        guard let first = try? reader.u8() else { return nil }
        let format = first >> 6
        var chunkStreamID = UInt32(first & 0x3F)
        if chunkStreamID == 0 {
            guard let b = try? reader.u8() else { return nil }
            chunkStreamID = 64 + UInt32(b)
        } else if chunkStreamID == 1 {
            // Little-endian: the low byte first.
            guard let b0 = try? reader.u8(), let b1 = try? reader.u8() else { return nil }
            chunkStreamID = 64 + UInt32(b0) + UInt32(b1) * 256
        }

        let known = streams[chunkStreamID]
        if known == nil {
            guard format == 0 else {
                throw RTMPProtocolError(.chunk, "chunk type \(format) on chunk stream \(chunkStreamID), which has no previous header")
            }
            guard streams.count < maxChunkStreams else {
                throw RTMPProtocolError(.chunk, "more than \(maxChunkStreams) chunk streams in use")
            }
        }
        var stream = known ?? ChunkStream()
        var startsMessage = stream.remaining == 0

        switch format {
        case 0, 1, 2:
            guard let field = try? reader.u24() else { return nil }
            if format <= 1 {
                guard let length = try? reader.u24(), let type = try? reader.u8() else { return nil }
                stream.length = Int(length)
                stream.typeID = type
                if format == 0 {
                    // The message stream ID is little-endian.
                    guard let streamID = try? reader.u32() else { return nil }
                    stream.messageStreamID = streamID.byteSwapped
                }
            }
            stream.hasExtendedTimestamp = field == 0xFF_FFFF
            var value = field
            if stream.hasExtendedTimestamp {
                guard let extended = try? reader.u32() else { return nil }
                value = extended
            }
            stream.timestampField = value
            stream.timestamp = format == 0 ? value : stream.timestamp &+ value
            // A full header starts a new message; a partial one on this chunk stream is abandoned.
            startsMessage = true
        default:
            if stream.hasExtendedTimestamp {
                if startsMessage {
                    guard let extended = try? reader.u32() else { return nil }
                    stream.timestampField = extended
                } else {
                    // Continuation chunks repeat the extended timestamp per the spec, but some
                    // encoders leave it out: take the 4 bytes only when they repeat the value.
                    var lookahead = reader
                    guard let extended = try? lookahead.u32() else { return nil }
                    if extended == stream.timestampField { reader = lookahead }
                }
            }
            if startsMessage { stream.timestamp = stream.timestamp &+ stream.timestampField }
        }

        if startsMessage {
            guard stream.length <= maxMessageSize else {
                throw RTMPProtocolError(
                    .chunk,
                    "message of \(stream.length) bytes on chunk stream \(chunkStreamID) exceeds the \(maxMessageSize)-byte limit; lower the encoder's bitrate or keyframe interval"
                )
            }
            stream.remaining = stream.length
        }
        let take = min(chunkSize, stream.remaining)
        let headerSize = reader.offset
        guard buffer.readableBytes - headerSize >= take else { return nil }

        let abandoned = startsMessage ? (known.map { $0.length - $0.remaining } ?? 0) : 0
        let pending = pendingPayloadBytes - (known?.remaining == 0 ? 0 : abandoned) + take
        guard pending <= maxPendingPayloadBytes else {
            throw RTMPProtocolError(.chunk, "more than \(maxPendingPayloadBytes) bytes in unfinished messages")
        }

        // Committed: move the payload out of both copies so appending does not copy it.
        var payload: [UInt8]
        if startsMessage {
            payload = []
            payload.reserveCapacity(min(stream.length, 64 * 1024))
        } else {
            payload = stream.payload
        }
        stream.payload = []
        streams[chunkStreamID]?.payload = []
        if take > 0 {
            buffer.withUnsafeReadableBytes { raw in
                payload.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[headerSize..<(headerSize + take)]))
            }
        }
        stream.payload = payload
        stream.remaining -= take
        pendingPayloadBytes = stream.remaining == 0 ? pending - stream.length : pending
        let consumed = headerSize + take
        buffer.moveReaderIndex(forwardBy: consumed)
        bytesReceived &+= UInt64(consumed)

        guard stream.remaining == 0 else {
            streams[chunkStreamID] = stream
            return .some(nil)
        }
        let message = RTMPMessage(
            typeID: stream.typeID, timestamp: stream.timestamp, messageStreamID: stream.messageStreamID,
            chunkStreamID: chunkStreamID, payload: stream.payload)
        stream.payload = []
        streams[chunkStreamID] = stream
        return .some(message)
    }

    private mutating func apply(_ message: RTMPMessage) throws(RTMPProtocolError) -> RTMPMessage {
        switch message.type {
        case .setChunkSize:
            guard let size = Self.bigEndianU32(message.payload) else {
                throw RTMPProtocolError(.chunk, "Set Chunk Size message of \(message.payload.count) bytes, expected 4")
            }
            let value = Int(size & 0x7FFF_FFFF)
            guard value >= 1, value <= Self.maximumChunkSize else {
                throw RTMPProtocolError(.chunk, "Set Chunk Size \(value) is outside 1...\(Self.maximumChunkSize)")
            }
            chunkSize = value
        case .abort:
            guard let abortedStream = Self.bigEndianU32(message.payload) else {
                throw RTMPProtocolError(.chunk, "Abort message of \(message.payload.count) bytes, expected 4")
            }
            if var stream = streams[abortedStream], stream.remaining > 0 {
                pendingPayloadBytes -= stream.length - stream.remaining
                stream.remaining = 0
                stream.payload = []
                streams[abortedStream] = stream
            }
        default:
            break
        }
        return message
    }

    /// The first 4 bytes as a big-endian value (Set Chunk Size, Abort, Window Acknowledgement Size
    /// and User Control bodies); nil when there are fewer.
    static func bigEndianU32(_ bytes: [UInt8]) -> UInt32? {
        var reader = ByteReader(bytes, structure: "RTMP control message")
        return try? reader.u32()
    }
}
