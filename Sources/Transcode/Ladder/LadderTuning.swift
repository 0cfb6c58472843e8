/// What a channel's encoded rungs trade: latency or picture quality at the same bitrate.
///
/// `lowLatency` (the default): libx264 without look-ahead (`rc-lookahead=0`, so no macroblock
/// tree), rate control on the rung's frame rate (`force-cfr`: otherwise x264 holds each frame
/// until the next one's timestamp gives its duration) and sliced rather than frame threads, so a
/// packet leaves the encoder with the frame that made it and a rung's parts are listed as soon as
/// the passthrough's. `quality`: the preset's look-ahead (10 frames at `veryfast`, 11 frames
/// held in all) and frame threads, a little sharper at the same bitrate and that much later.
/// docs/benchmarks.md has both measured.
public enum LadderTuning: String, Sendable, Hashable, Codable, CaseIterable {
    case lowLatency = "low-latency"
    case quality
}
