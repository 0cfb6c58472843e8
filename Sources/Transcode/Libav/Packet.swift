import CFFmpeg
import Media

/// Owns one `AVPacket`, reused for every packet sent to or received from one codec.
package final class Packet {
    package let pointer: UnsafeMutablePointer<AVPacket>

    package init() throws(LibavError) {
        guard let pointer = av_packet_alloc() else { throw LibavError("av_packet_alloc", code: LibavError.outOfMemory) }
        self.pointer = pointer
    }

    deinit {
        var pointer: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&pointer)
    }

    /// Replaces the contents with a copy of `packet`'s bytes and timestamps.
    package func load(_ packet: MediaPacket) throws(LibavError) {
        av_packet_unref(pointer)
        guard let size = Int32(exactly: packet.data.count) else {
            throw LibavError("av_new_packet(\(packet.data.count) bytes)", code: LibavError.outOfMemory)
        }
        try LibavError.check(av_new_packet(pointer, size), "av_new_packet")
        if let destination = pointer.pointee.data, !packet.data.isEmpty {
            packet.data.withUnsafeBufferPointer { source in
                if let base = source.baseAddress { destination.update(from: base, count: source.count) }
            }
        }
        pointer.pointee.pts = packet.pts
        pointer.pointee.dts = packet.dts
        pointer.pointee.flags = packet.isKeyframe ? AV_PKT_FLAG_KEY : 0
    }

    /// The current contents as a media packet (bytes copied).
    package func mediaPacket(track: TrackKind, timebase: Timebase) -> MediaPacket {
        let p = pointer.pointee
        let count = Int(max(p.size, 0))
        let bytes: [UInt8] =
            if let data = p.data, count > 0 {
                Array(UnsafeBufferPointer(start: data, count: count))
            } else {
                []
            }
        let nopts = streamd_nopts_value()
        let pts = p.pts == nopts ? p.dts : p.pts
        let dts = p.dts == nopts ? pts : p.dts
        return MediaPacket(
            track: track, pts: pts, dts: dts, timebase: timebase,
            isKeyframe: p.flags & AV_PKT_FLAG_KEY != 0, data: bytes
        )
    }

    package func unref() { av_packet_unref(pointer) }
}
