import Media
import Testing

@testable import Packager

@Suite("Multivariant playlist")
struct MultivariantPlaylistTests {
    @Test("variants ascending by bandwidth, audio group added to each, every attribute")
    func ladder() throws {
        let audio = try AudioRenditionInfo(name: "English", language: "en", bandwidth: 132_000, averageBandwidth: 128_000)
        let variants = [
            try VariantInfo(
                rendition: "1080p", bandwidth: 4_800_000, averageBandwidth: 4_500_000, codecs: "avc1.640028,mp4a.40.2",
                resolution: .init(width: 1920, height: 1080), frameRate: 30),
            try VariantInfo(
                rendition: "360p", bandwidth: 650_000, averageBandwidth: 600_000, codecs: "avc1.42c01e,mp4a.40.2",
                resolution: .init(width: 640, height: 360), frameRate: 24),
            try VariantInfo(
                rendition: "720p", bandwidth: 2_700_000, averageBandwidth: 2_500_000, codecs: "avc1.64001f,mp4a.40.2",
                resolution: .init(width: 1280, height: 720), frameRate: 29.97),
        ]
        let expected = """
            #EXTM3U
            #EXT-X-INDEPENDENT-SEGMENTS
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,URI="audio/index.m3u8"
            #EXT-X-STREAM-INF:BANDWIDTH=782000,AVERAGE-BANDWIDTH=728000,CODECS="avc1.42c01e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=24.000,AUDIO="audio"
            360p/index.m3u8
            #EXT-X-STREAM-INF:BANDWIDTH=2832000,AVERAGE-BANDWIDTH=2628000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO="audio"
            720p/index.m3u8
            #EXT-X-STREAM-INF:BANDWIDTH=4932000,AVERAGE-BANDWIDTH=4628000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=30.000,AUDIO="audio"
            1080p/index.m3u8

            """
        #expect(MultivariantPlaylistRenderer.render(variants: variants, audio: audio) == expected)
    }

    @Test("audio only (no video rendition live): one audio variant pointing at the audio playlist")
    func audioOnly() throws {
        let audio = try AudioRenditionInfo(bandwidth: 132_000, averageBandwidth: 128_000)
        let expected = """
            #EXTM3U
            #EXT-X-INDEPENDENT-SEGMENTS
            #EXT-X-STREAM-INF:BANDWIDTH=132000,AVERAGE-BANDWIDTH=128000,CODECS="mp4a.40.2"
            audio/index.m3u8

            """
        #expect(MultivariantPlaylistRenderer.render(variants: [], audio: audio) == expected)
    }

    @Test("optional attributes left out when unknown; no AUDIO without an audio rendition")
    func sparseVariant() throws {
        let variant = try VariantInfo(rendition: "src", bandwidth: 3_000_000, codecs: "avc1.64001f")
        let text = MultivariantPlaylistRenderer.render(variants: [variant], audio: nil)
        #expect(
            text == "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS=\"avc1.64001f\"\nsrc/index.m3u8\n")
    }

    @Test("inputs that would corrupt the playlist are refused")
    func invalidInputs() {
        #expect(throws: HLSPlaylistError.self) { _ = try VariantInfo(rendition: "720p", bandwidth: 1, codecs: "avc1\"") }
        #expect(throws: HLSPlaylistError.self) { _ = try VariantInfo(rendition: "a/b", bandwidth: 1, codecs: "avc1.64001f") }
        #expect(throws: HLSPlaylistError.self) { _ = try VariantInfo(rendition: "720p", bandwidth: 0, codecs: "avc1.64001f") }
        #expect(throws: HLSPlaylistError.self) { _ = try VariantInfo(rendition: "720p", bandwidth: 1, codecs: "") }
        #expect(throws: HLSPlaylistError.self) {
            _ = try VariantInfo(rendition: "720p", bandwidth: 1, codecs: "avc1.64001f", resolution: .init(width: 0, height: 720))
        }
        #expect(throws: HLSPlaylistError.self) {
            _ = try VariantInfo(rendition: "720p", bandwidth: 1, codecs: "avc1.64001f", frameRate: .nan)
        }
        #expect(throws: HLSPlaylistError.self) { _ = try AudioRenditionInfo(name: "A\nB", bandwidth: 1) }
        #expect(throws: HLSPlaylistError.self) { _ = try AudioRenditionInfo(bandwidth: -1) }
    }

    @Test("the live listing waits for audio's first segment, then lists it with every rung; a silent source stops waiting")
    func liveListingWaitsForAudio() throws {
        let video = try VariantInfo(rendition: "240p", bandwidth: 400_000, codecs: "avc1.42c015")
        let audio = try AudioRenditionInfo(bandwidth: 96_000)
        typealias R = MultivariantListing.Rendition
        let videoReady = R(name: "240p", kind: .video, info: video, audio: nil, active: true)
        let audioPending = R(name: "audio", kind: .audio, info: nil, audio: nil, active: true)
        let audioReady = R(name: "audio", kind: .audio, info: nil, audio: audio, active: true)
        func listing(_ renditions: [R], waitOver: Bool) -> MultivariantListing {
            MultivariantListing(renditions: renditions, plannedVideo: ["240p"], waitOver: waitOver)
        }

        #expect(listing([videoReady, audioPending], waitOver: false).playlist() == nil)
        #expect(listing([videoReady, audioPending], waitOver: false).pending?.contains("audio") == true)
        let complete = try #require(listing([videoReady, audioReady], waitOver: false).playlist())
        #expect(complete.contains("AUDIO=\"audio\"") && complete.contains("avc1.42c015,mp4a.40.2"))
        let silent = try #require(listing([videoReady, audioPending], waitOver: true).playlist())
        #expect(!silent.contains("AUDIO=") && silent.contains("240p/index.m3u8"))
        // No audio track at all: nothing to wait for.
        #expect(listing([videoReady], waitOver: false).playlist() != nil)
        // Audio only (every video rung off): the audio playlist is the one variant.
        let audioOnly = listing([R(name: "240p", kind: .video, info: video, audio: nil, active: false), audioReady], waitOver: false)
        #expect(audioOnly.playlist()?.contains("audio/index.m3u8") == true && audioOnly.playlist()?.contains("240p") == false)
        // Video expected but not ready: nothing yet, audio or not.
        #expect(
            listing([R(name: "240p", kind: .video, info: nil, audio: nil, active: true), audioReady], waitOver: true).playlist() == nil)
        #expect(MultivariantListing.wait(targetDuration: 2) == 8 && MultivariantListing.wait(targetDuration: 4) == 16)
    }

    @Test("the live listing is served only once every planned rung has a segment, or once the wait is over")
    func liveListingWaitsForThePlannedLadder() throws {
        typealias R = MultivariantListing.Rendition
        let audio = R(name: "audio", kind: .audio, info: nil, audio: try AudioRenditionInfo(bandwidth: 96_000), active: true)
        func ready(_ name: String, _ bandwidth: Int) throws -> R {
            R(
                name: name, kind: .video, info: try VariantInfo(rendition: name, bandwidth: bandwidth, codecs: "avc1.64001f"), audio: nil,
                active: true)
        }
        func encoding(_ name: String, active: Bool = true) -> R { R(name: name, kind: .video, info: nil, audio: nil, active: active) }
        let ladder: Set<String> = ["1080p", "720p", "480p", "360p"]

        // The passthrough's first segment is ready before the encoded rungs' (their encoders lag a GOP).
        let early = [try ready("1080p", 6_000_000), encoding("720p"), encoding("480p"), encoding("360p"), audio]
        let waiting = MultivariantListing(renditions: early, plannedVideo: ladder, waitOver: false)
        #expect(waiting.playlist() == nil)
        #expect(waiting.pending == "the first segment of 360p, 480p, 720p is not ready yet")
        // The transcoder has not settled its ladder yet (the passthrough is decided by the first GOP).
        let unsettled = MultivariantListing(renditions: early, plannedVideo: nil, waitOver: false)
        #expect(unsettled.playlist() == nil && unsettled.pending?.contains("planned") == true)
        // A planned rung not announced to the packager yet is waited for too.
        #expect(
            MultivariantListing(renditions: [try ready("1080p", 6_000_000), audio], plannedVideo: ladder, waitOver: false).playlist() == nil
        )

        let all = [
            try ready("1080p", 6_000_000), try ready("720p", 3_000_000), try ready("480p", 1_500_000), try ready("360p", 800_000), audio,
        ]
        let full = try #require(MultivariantListing(renditions: all, plannedVideo: ladder, waitOver: false).playlist())
        for name in ladder { #expect(full.contains("\(name)/index.m3u8")) }

        // A rung that stopped (overload, a failed encoder) is not waited for and not listed.
        let stopped = [
            try ready("1080p", 6_000_000), try ready("720p", 3_000_000), encoding("480p", active: false), try ready("360p", 800_000), audio,
        ]
        let withoutStopped = try #require(MultivariantListing(renditions: stopped, plannedVideo: ladder, waitOver: false).playlist())
        #expect(!withoutStopped.contains("480p"))
        // Past the bounded wait, whatever is ready is listed.
        let late = try #require(MultivariantListing(renditions: early, plannedVideo: ladder, waitOver: true).playlist())
        #expect(late.contains("1080p/index.m3u8") && !late.contains("720p"))
        // Audio only: no video planned.
        #expect(
            MultivariantListing(renditions: [audio], plannedVideo: [], waitOver: false).playlist()?.contains("audio/index.m3u8") == true)
    }
}
