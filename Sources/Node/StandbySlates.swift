import Foundation
import Ingest
import Logging
import Media
import Synchronization
import Transcode

/// The node's standby slates: each shape (picture size, frame rate, audio rate and channels) is
/// encoded once, on a thread of its own, and reused by every session of that shape.
public final class StandbySlates: SlateProvider {
    struct Shape: Hashable {
        var width: Int?
        var height: Int?
        var frameRate: Int?
        var sampleRate: Int?
        var channels: Int?
    }

    let image: URL?
    let keyframeInterval: Double
    let logger: Logger
    private let cache = Mutex<[Shape: SlateClip]>([:])

    /// `image`: a PNG or JPEG to show (nil: a drawn "STANDBY" card). `keyframeInterval`: the
    /// ladder's, the length of one loop.
    public init(image: URL?, keyframeInterval: Double, logger: Logger) {
        self.image = image
        self.keyframeInterval = keyframeInterval
        self.logger = logger
    }

    /// Checks that the configured picture can be made into a slate, at start-up.
    public func validate() throws {
        _ = try StandbySlate.encode(video: nil, audio: nil, keyframeInterval: 0.5, image: image)
    }

    public func slate(matching tracks: [TrackInfo]) async -> SlateClip? {
        let video = tracks.first { $0.kind == .video }
        let audio = tracks.first { $0.kind == .audio }
        let shape = Shape(
            width: video?.width, height: video?.height, frameRate: video?.frameRate.map { Int($0.rounded()) },
            sampleRate: audio?.sampleRate, channels: audio?.channels)
        if let clip = cache.withLock({ $0[shape] }) { return clip }
        let image = self.image
        let interval = keyframeInterval
        let made: Result<StandbySlate.Clip, TranscodeError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    returning: Result { () throws(TranscodeError) in
                        try StandbySlate.encode(video: video, audio: audio, keyframeInterval: interval, image: image)
                    })
            }
            thread.name = "slate"
            thread.start()
        }
        switch made {
        case .success(let encoded):
            let clip = SlateClip(tracks: encoded.tracks, packets: encoded.packets, duration: encoded.duration)
            cache.withLock { cache in
                // Publishers choose the shapes: at most 32 clips are kept (each is a few tens of kB).
                if cache.count >= 32 { cache.removeAll() }
                cache[shape] = clip
            }
            return clip
        case .failure(let error):
            logger.error("cannot make the standby slate for \(shape): \(error); sessions of that shape wait without one")
            return nil
        }
    }
}
