import Dispatch
import Foundation
import Logging
import Media
import Synchronization

/// `/live/CHANNEL/thumbnail.jpg`: per live channel, a JPEG of its latest source keyframe.
///
/// The media path only keeps keyframes (`ThumbnailTap`). A picture is rendered when asked for, at
/// most once per `refreshInterval` per channel and only from a keyframe newer than the last one
/// tried, on one serial queue (never an event loop or the media path); requests meanwhile share the
/// picture in memory, or the render in flight. Each new picture is also written to
/// `directory/CHANNEL.jpg`, and the session's last keyframe when it ends, so that the channel keeps
/// a picture while it is offline. Memory: per live channel one keyframe and one JPEG, dropped when
/// its session ends.
public final class LiveThumbnails: Sendable {
    public struct Options: Sendable {
        /// Where each channel's last picture is kept as `CHANNEL.jpg`; nil: nowhere.
        public var directory: URL?
        public var maxWidth: Int
        /// The JPEG quantizer, as ffmpeg's `-q:v`.
        public var quality: Int
        public var refreshInterval: Duration

        public init(directory: URL?, maxWidth: Int = 640, quality: Int = 5, refreshInterval: Duration = .seconds(10)) {
            self.directory = directory
            self.maxWidth = maxWidth
            self.quality = quality
            self.refreshInterval = refreshInterval
        }
    }

    public let options: Options
    let logger: Logger
    let queue = DispatchQueue(label: "streamd.thumbnails", qos: .utility)
    private let channels = Mutex<[String: ChannelThumbnail]>([:])

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Starts keeping `channel`'s keyframes for a new live session (replacing an earlier session's).
    public func tap(channel: String) -> ThumbnailTap {
        let tap = ThumbnailTap(channel: channel)
        let file = options.directory.map { $0.appendingPathComponent("\(channel).jpg") }
        let entry = ChannelThumbnail(tap: tap, file: file, service: self)
        channels.withLock { $0[channel] = entry }
        return tap
    }

    /// The session of `tap` has ended: its last keyframe is saved unless already, then its memory
    /// is dropped (the file stays).
    public func end(_ tap: ThumbnailTap) async {
        guard let entry = channels.withLock({ $0[tap.channel] }), entry.tap === tap else { return }
        await entry.finish()
        channels.withLock { if $0[tap.channel]?.tap === tap { $0[tap.channel] = nil } }
    }

    /// The picture for `/live/CHANNEL/thumbnail.jpg`.
    public func thumbnail(channel: String) async -> ThumbnailAnswer {
        guard Self.isFileName(channel) else { return .none }
        if let entry = channels.withLock({ $0[channel] }) {
            switch await entry.current() {
            case .picture(let picture, let maxAge): return .live(picture, maxAge: maxAge)
            case .undecodable(let message, let retryAfter): return .undecodable(message, retryAfter: retryAfter)
            case .waiting: return await saved(channel).map { .saved($0) } ?? .waitingForKeyframe
            }
        }
        return await saved(channel).map { .saved($0) } ?? .none
    }

    /// The channel's file, read on the thumbnail queue. It is replaced by a rename, so a read gets
    /// the old picture or the new one, whole.
    func saved(_ channel: String) async -> SavedThumbnail? {
        guard let url = options.directory?.appendingPathComponent("\(channel).jpg") else { return nil }
        return await onQueue {
            guard let data = FileManager.default.contents(atPath: url.path), !data.isEmpty else { return nil }
            let modified = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date ?? Date()
            let jpeg = [UInt8](data)
            return SavedThumbnail(jpeg: jpeg, modified: modified, etag: ChannelThumbnail.hash(jpeg))
        }
    }

    /// Channel names are file names here: nothing that could leave the folder.
    static func isFileName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 255 && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\0")
    }

    /// Runs `work` on the thumbnail queue.
    func onQueue<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}

/// What `/live/CHANNEL/thumbnail.jpg` answers.
public enum ThumbnailAnswer: Sendable {
    /// From the live stream; a newer one may exist after `maxAge` seconds.
    case live(Thumbnail, maxAge: Int)
    /// The last picture kept on disk: the channel is not live, or has sent no keyframe yet.
    case saved(SavedThumbnail)
    /// Live, but no keyframe yet and no saved picture.
    case waitingForKeyframe
    /// The latest keyframe could not be rendered and there is no picture of this session yet.
    case undecodable(String, retryAfter: Int)
    /// Not live, and no picture was kept.
    case none
}

public struct Thumbnail: Sendable {
    public var jpeg: [UInt8]
    public var width: Int
    public var height: Int
    /// A hash of the bytes.
    public var etag: String
    public var rendered: Date
}

public struct SavedThumbnail: Sendable {
    public var jpeg: [UInt8]
    public var modified: Date
    /// A hash of the bytes, as for `Thumbnail`.
    public var etag: String
}

/// One live session's picture: at most one render at a time, at most one per refresh interval.
actor ChannelThumbnail {
    nonisolated let tap: ThumbnailTap
    let file: URL?
    let service: LiveThumbnails
    private var picture: (thumbnail: Thumbnail, sequence: UInt64)?
    /// The last render begun, and why it failed if it did.
    private var attempt: (at: ContinuousClock.Instant, sequence: UInt64, failure: String?)?
    private var savedSequence: UInt64?
    private var rendering: Task<Void, Never>?
    private var reportedRender = false
    private var reportedSave = false

    enum Current: Sendable {
        case picture(Thumbnail, maxAge: Int)
        case undecodable(String, retryAfter: Int)
        case waiting
    }

    init(tap: ThumbnailTap, file: URL?, service: LiveThumbnails) {
        self.tap = tap
        self.file = file
        self.service = service
    }

    private var interval: Duration { service.options.refreshInterval }

    func current() async -> Current {
        let now = ContinuousClock.now
        if rendering == nil, let keyframe = tap.latest, keyframe.sequence != attempt?.sequence,
            attempt.map({ now - $0.at >= interval }) ?? true
        {
            rendering = Task { await self.render(keyframe) }
        }
        if let rendering { await rendering.value }
        let left = attempt.map { interval - (ContinuousClock.now - $0.at) } ?? interval
        let seconds = max(1, Int((Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18).rounded(.up)))
        if let picture { return .picture(picture.thumbnail, maxAge: seconds) }
        if let failure = attempt?.failure { return .undecodable(failure, retryAfter: seconds) }
        return .waiting
    }

    /// Saves the session's last keyframe (rendering it if it has not been) unless it is saved already.
    func finish() async {
        if let rendering { await rendering.value }
        guard file != nil else { return }
        if let keyframe = tap.latest, keyframe.sequence != attempt?.sequence {
            let task = Task { await self.render(keyframe) }
            rendering = task
            await task.value
        } else if let picture, picture.sequence != savedSequence {
            await save(picture.thumbnail.jpeg, sequence: picture.sequence)
        }
    }

    private func render(_ keyframe: ThumbnailTap.Keyframe) async {
        attempt = (ContinuousClock.now, keyframe.sequence, nil)
        let thumbnailer = Thumbnailer(maxWidth: service.options.maxWidth, quality: service.options.quality)
        let result = await service.onQueue { () -> Result<Thumbnail, ThumbnailError> in
            do throws(ThumbnailError) {
                let jpeg = try thumbnailer.jpeg(keyframe: keyframe.packet, track: keyframe.track)
                return .success(
                    Thumbnail(jpeg: jpeg.bytes, width: jpeg.width, height: jpeg.height, etag: Self.hash(jpeg.bytes), rendered: Date()))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let thumbnail):
            picture = (thumbnail, keyframe.sequence)
            await save(thumbnail.jpeg, sequence: keyframe.sequence)
        case .failure(let error):
            attempt?.failure = "the latest keyframe of channel \(tap.channel) gave no picture (\(error))"
            if !reportedRender {
                reportedRender = true
                service.logger.warning("no thumbnail for \(tap.channel): \(error)")
            } else {
                service.logger.debug("no thumbnail for \(tap.channel): \(error)")
            }
        }
        rendering = nil
    }

    /// Writes `bytes` to the channel's file (atomically: a reader sees the old picture or the new).
    private func save(_ bytes: [UInt8], sequence: UInt64) async {
        guard let file else { return }
        let failure = await service.onQueue { () -> String? in
            do {
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(bytes).write(to: file, options: .atomic)
                return nil
            } catch {
                return "\(error)"
            }
        }
        if let failure {
            if !reportedSave {
                reportedSave = true
                service.logger.error("cannot keep the thumbnail of \(tap.channel) in \(file.path): \(failure)")
            }
        } else {
            savedSequence = sequence
        }
    }

    /// FNV-1a, 64 bits, as hex: an ETag for the bytes.
    static func hash(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
