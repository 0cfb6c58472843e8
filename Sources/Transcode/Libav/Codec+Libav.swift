import CFFmpeg
import Media

extension Codec {
    package var avCodecID: AVCodecID? {
        switch self {
        case .h264: AV_CODEC_ID_H264
        case .hevc: AV_CODEC_ID_HEVC
        case .av1: AV_CODEC_ID_AV1
        case .vp9: AV_CODEC_ID_VP9
        case .aac: AV_CODEC_ID_AAC
        case .mp3: AV_CODEC_ID_MP3
        case .opus: AV_CODEC_ID_OPUS
        case .other(let name): avcodec_descriptor_get_by_name(name)?.pointee.id
        }
    }

    package init(avCodecID: AVCodecID) {
        switch avCodecID {
        case AV_CODEC_ID_H264: self = .h264
        case AV_CODEC_ID_HEVC: self = .hevc
        case AV_CODEC_ID_AV1: self = .av1
        case AV_CODEC_ID_VP9: self = .vp9
        case AV_CODEC_ID_AAC: self = .aac
        case AV_CODEC_ID_MP3: self = .mp3
        case AV_CODEC_ID_OPUS: self = .opus
        default:
            if let name = avcodec_get_name(avCodecID) { self = .other(String(cString: name)) } else { self = .other("unknown") }
        }
    }
}

extension CodecConfiguration {
    /// The bytes libav expects in `extradata`.
    package var extradata: [UInt8] {
        switch self {
        case .avc(let record): record.serialized()
        case .aac(let config): config.bytes
        case .opaque(let bytes): bytes
        }
    }
}

extension Timebase {
    package var rational: AVRational {
        AVRational(num: Int32(clamping: numerator), den: Int32(clamping: denominator))
    }

    package init?(_ rational: AVRational) {
        guard rational.num > 0, rational.den > 0 else { return nil }
        self.init(Int64(rational.num), Int64(rational.den))
    }
}

/// Copies `bytes` into a padded `av_malloc` buffer, as `extradata` must be.
package func allocateExtradata(_ bytes: [UInt8]) throws(LibavError) -> (UnsafeMutablePointer<UInt8>, Int32)? {
    guard !bytes.isEmpty else { return nil }
    guard let size = Int32(exactly: bytes.count) else {
        throw LibavError("extradata of \(bytes.count) bytes", code: LibavError.outOfMemory)
    }
    let padding = Int(AV_INPUT_BUFFER_PADDING_SIZE)
    guard let raw = av_mallocz(bytes.count + padding) else {
        throw LibavError("av_mallocz(extradata)", code: LibavError.outOfMemory)
    }
    let buffer = raw.assumingMemoryBound(to: UInt8.self)
    bytes.withUnsafeBufferPointer { source in
        if let base = source.baseAddress { buffer.update(from: base, count: source.count) }
    }
    return (buffer, size)
}
