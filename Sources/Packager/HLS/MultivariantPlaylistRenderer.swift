/// Renders `/live/CHANNEL/index.m3u8`: one `EXT-X-STREAM-INF` per live video rendition, ordered by
/// bandwidth (ascending, so a player that starts with the first variant starts low), each playing
/// the separate audio rendition group; with no video rendition live, one audio-only variant.
public enum MultivariantPlaylistRenderer {
    /// Inputs are validated by `VariantInfo` and `AudioRenditionInfo`. With neither video nor
    /// audio there is nothing to play: the result lists no variant and the gateway should answer
    /// 404 instead of serving it.
    public static func render(variants: [VariantInfo], audio: AudioRenditionInfo?) -> String {
        var out = PlaylistText()
        out.line("#EXTM3U")
        // Every segment starts with a keyframe (segments end on keyframes, DESIGN.md §6).
        out.line("#EXT-X-INDEPENDENT-SEGMENTS")
        guard !variants.isEmpty else {
            if let audio {
                // Audio only: the audio playlist is the variant; no group to refer to.
                var tag = "#EXT-X-STREAM-INF:BANDWIDTH=\(audio.bandwidth)"
                if let average = audio.averageBandwidth { tag += ",AVERAGE-BANDWIDTH=\(average)" }
                tag += ",CODECS=\"\(audio.codecs)\""
                out.line(tag)
                out.line("\(audio.rendition)/\(HLSResource.playlist.name)")
            }
            return out.text
        }
        if let audio {
            var media = "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"\(AudioRenditionInfo.groupID)\",NAME=\"\(audio.name)\""
            if let language = audio.language { media += ",LANGUAGE=\"\(language)\"" }
            media += ",DEFAULT=YES,AUTOSELECT=YES,URI=\"\(audio.rendition)/\(HLSResource.playlist.name)\""
            out.line(media)
        }
        let ordered = variants.sorted {
            ($0.bandwidth, $0.averageBandwidth ?? 0, $0.rendition) < ($1.bandwidth, $1.averageBandwidth ?? 0, $1.rendition)
        }
        for variant in ordered {
            var tag = "#EXT-X-STREAM-INF:BANDWIDTH=\(variant.bandwidth + (audio?.bandwidth ?? 0))"
            if let average = variant.averageBandwidth {
                tag += ",AVERAGE-BANDWIDTH=\(average + (audio?.averageBandwidth ?? audio?.bandwidth ?? 0))"
            }
            tag += ",CODECS=\"\(variant.codecs)\""
            if let resolution = variant.resolution { tag += ",RESOLUTION=\(resolution.width)x\(resolution.height)" }
            if let frameRate = variant.frameRate { tag += ",FRAME-RATE=\(HLSFormat.fixed(frameRate, decimals: 3))" }
            if audio != nil { tag += ",AUDIO=\"\(AudioRenditionInfo.groupID)\"" }
            out.line(tag)
            out.line("\(variant.rendition)/\(HLSResource.playlist.name)")
        }
        return out.text
    }
}
