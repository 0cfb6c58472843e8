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
        let videoReady = R(kind: .video, info: video, audio: nil, active: true)
        let audioPending = R(kind: .audio, info: nil, audio: nil, active: true)
        let audioReady = R(kind: .audio, info: nil, audio: audio, active: true)

        #expect(MultivariantListing(renditions: [videoReady, audioPending], audioWaitOver: false).playlist() == nil)
        let complete = try #require(MultivariantListing(renditions: [videoReady, audioReady], audioWaitOver: false).playlist())
        #expect(complete.contains("AUDIO=\"audio\"") && complete.contains("avc1.42c015,mp4a.40.2"))
        let silent = try #require(MultivariantListing(renditions: [videoReady, audioPending], audioWaitOver: true).playlist())
        #expect(!silent.contains("AUDIO=") && silent.contains("240p/index.m3u8"))
        // No audio track at all: nothing to wait for.
        #expect(MultivariantListing(renditions: [videoReady], audioWaitOver: false).playlist() != nil)
        // Audio only (every video rung off): the audio playlist is the one variant.
        let audioOnly = MultivariantListing(
            renditions: [R(kind: .video, info: video, audio: nil, active: false), audioReady], audioWaitOver: false)
        #expect(audioOnly.playlist()?.contains("audio/index.m3u8") == true && audioOnly.playlist()?.contains("240p") == false)
        // Video expected but not ready: nothing yet, audio or not.
        #expect(
            MultivariantListing(renditions: [R(kind: .video, info: nil, audio: nil, active: true), audioReady], audioWaitOver: true)
                .playlist() == nil)
        #expect(MultivariantListing.audioWait(targetDuration: 2) == 8 && MultivariantListing.audioWait(targetDuration: 4) == 16)
    }
}
