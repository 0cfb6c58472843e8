import CFFmpeg
import Media

/// Turns one video keyframe into a JPEG: decoded with libavcodec, scaled with swscale to at most
/// `maxWidth` (display aspect kept, even sides), encoded with libavcodec's `mjpeg`.
///
/// Synchronous and CPU-bound (tens of milliseconds for a 1080p keyframe): callers run it off the
/// event loops and off the media path (`LiveThumbnails` does, on a queue of its own).
public struct Thumbnailer: Sendable {
    public var maxWidth: Int
    /// The JPEG quantizer, as ffmpeg's `-q:v`: 2 (best, largest) to 31.
    public var quality: Int

    public init(maxWidth: Int = 640, quality: Int = 5) {
        LibavLog.quiet
        self.maxWidth = maxWidth
        self.quality = quality
    }

    public struct JPEG: Sendable {
        public var bytes: [UInt8]
        public var width: Int
        public var height: Int
    }

    /// `keyframe` (an access unit of `track`, in the media path's form) as a JPEG.
    public func jpeg(keyframe: MediaPacket, track: TrackInfo) throws(ThumbnailError) -> JPEG {
        guard track.kind == .video, keyframe.track == .video else { throw .notVideo }
        let frame = try decode(keyframe, track: track)
        let aspect = frame.pointer.pointee.sample_aspect_ratio
        let (width, height) = Self.size(
            width: frame.width, height: frame.height, sampleAspect: (Int(aspect.num), Int(aspect.den)), maxWidth: maxWidth)
        do throws(LibavError) {
            let scaled = try Scaler(width: width, height: height, format: AV_PIX_FMT_YUVJ420P).scale(frame)
            let bytes = try JPEGEncoder(width: width, height: height, qscale: quality).encode(scaled)
            guard !bytes.isEmpty else { throw LibavError("mjpeg gave an empty picture", code: streamd_averror_invaliddata()) }
            return JPEG(bytes: bytes, width: width, height: height)
        } catch {
            throw .encode(error)
        }
    }

    private func decode(_ keyframe: MediaPacket, track: TrackInfo) throws(ThumbnailError) -> Frame {
        let decoder: Decoder
        do {
            decoder = try Decoder(track: track)
        } catch {
            throw .undecodable("\(error)")
        }
        do throws(LibavError) {
            try decoder.send(keyframe)
            if let frame = try decoder.receive() { return frame }
            try decoder.send(nil)
            if let frame = try decoder.receive() { return frame }
        } catch {
            throw .undecodable("\(error)")
        }
        throw .undecodable("the decoder gave no picture for it")
    }

    /// The output size: the source's display width (its pixels stretched by the sample aspect
    /// ratio) capped at `maxWidth` and rounded down to even, the height in proportion, rounded to
    /// even; both at least 2.
    static func size(width: Int, height: Int, sampleAspect: (num: Int, den: Int), maxWidth: Int) -> (width: Int, height: Int) {
        let stretch = sampleAspect.num > 0 && sampleAspect.den > 0 ? Double(sampleAspect.num) / Double(sampleAspect.den) : 1
        let displayWidth = max(Double(width) * stretch, 1)
        let outputWidth = max(2, Int(min(displayWidth, Double(maxWidth))) & ~1)
        let outputHeight = max(2, 2 * Int((Double(height) * Double(outputWidth) / displayWidth / 2).rounded()))
        return (outputWidth, outputHeight)
    }
}

/// Why a keyframe gave no thumbnail.
public enum ThumbnailError: Error, Sendable, CustomStringConvertible {
    case notVideo
    /// The keyframe (or its codec configuration) could not be decoded.
    case undecodable(String)
    case encode(LibavError)

    public var description: String {
        switch self {
        case .notVideo: "a thumbnail needs a video keyframe"
        case .undecodable(let reason): "the keyframe could not be decoded: \(reason)"
        case .encode(let error): "the thumbnail could not be encoded: \(error)"
        }
    }
}
