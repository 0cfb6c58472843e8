import CFFmpeg
import Media

/// Decodes any audio libavcodec knows, resamples to the ladder's rate and layout, and encodes AAC-LC
/// in encoder-sized frames whose timestamps count samples from the first decoded frame.
final class AudioTranscoder {
    private let decoder: Decoder
    private let resampler: Resampler
    private let fifo: AudioFifo
    private let encoder: AudioEncoder
    private var nextPTS: Int64?
    let track: TrackInfo

    init(source: TrackInfo, profile: AudioProfile) throws(TranscodeError) {
        decoder = try Decoder(track: source)
        resampler = Resampler(outputRate: profile.sampleRate, outputChannels: profile.channels)
        do {
            fifo = try AudioFifo(channels: profile.channels, sampleRate: profile.sampleRate)
            encoder = try AudioEncoder(sampleRate: profile.sampleRate, channels: profile.channels, bitrate: profile.bitrate)
        } catch {
            throw .libav(error)
        }
        track = TrackInfo(
            kind: .audio, codec: .aac, configuration: .aac(encoder.configuration), timebase: encoder.timebase,
            sampleRate: profile.sampleRate, channels: profile.channels, bitrate: profile.bitrate
        )
    }

    /// Decodes `packet` (throws `LibavError` for undecodable input) and returns the AAC packets ready.
    func decode(_ packet: MediaPacket) throws(LibavError) -> [MediaPacket] {
        try decoder.send(packet)
        return try convertDecoded()
    }

    /// Drains decoder, resampler and encoder at the end of the stream or before a discontinuity.
    func flush() throws(LibavError) -> [MediaPacket] {
        try decoder.send(nil)
        var out = try convertDecoded()
        try resampler.convert(nil, into: fifo)
        out += try encodeReady(includingPartial: true)
        try encoder.send(nil)
        while let packet = try encoder.receive() { out.append(packet) }
        return out
    }

    /// After a discontinuity (following `flush`): timestamps start again from the next frame.
    func restart() throws(TranscodeError) -> AudioTranscoder {
        try AudioTranscoder(
            source: decoder.track,
            profile: AudioProfile(
                sampleRate: Int(fifo.sampleRate), channels: Int(fifo.channels), bitrate: track.bitrate ?? 128_000
            ))
    }

    private func convertDecoded() throws(LibavError) -> [MediaPacket] {
        while let frame = try decoder.receive() {
            if nextPTS == nil {
                let pts = frame.pts == streamd_nopts_value() ? 0 : frame.pts
                nextPTS = decoder.track.timebase.convert(pts, to: encoder.timebase)
            }
            try resampler.convert(frame, into: fifo)
        }
        return try encodeReady(includingPartial: false)
    }

    private func encodeReady(includingPartial: Bool) throws(LibavError) -> [MediaPacket] {
        var out: [MediaPacket] = []
        while fifo.count >= encoder.frameSize || (includingPartial && fifo.count > 0) {
            guard let frame = try fifo.read(encoder.frameSize) else { break }
            let pts = nextPTS ?? 0
            frame.pointer.pointee.pts = pts
            nextPTS = pts &+ Int64(frame.sampleCount)
            try encoder.send(frame)
            while let packet = try encoder.receive() { out.append(packet) }
        }
        return out
    }
}
