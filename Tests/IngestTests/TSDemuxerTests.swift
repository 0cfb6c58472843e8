import Foundation
import Media
import TestSupport
import Testing

@testable import Ingest

@Suite struct TSDemuxerTests {
    typealias W = TSTestWriter

    static func demux(
        _ bytes: [UInt8], chunk: Int = 1316
    ) throws -> (items: [MediaItem], ready: StreamDescription?, extractor: TSMediaExtractor) {
        var extractor = TSMediaExtractor()
        var items: [MediaItem] = []
        var ready: StreamDescription?
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            let output = try extractor.push(bytes[offset..<end])
            items += output.items
            if let description = output.ready { ready = description }
            offset = end
        }
        return (items, ready, extractor)
    }

    @Test func patPmtAndPESAcrossPacketsBecomeTracksAndPackets() throws {
        let (items, ready, extractor) = try Self.demux(W.stream(frames: 61))
        let video = items.packets.filter { $0.track == .video }
        let audio = items.packets.filter { $0.track == .audio }
        // The last video PES is unbounded: it ends only when the next one starts.
        #expect(video.count == 60)
        #expect(audio.count == 62)
        #expect(video.first?.isKeyframe == true)
        #expect(video.filter(\.isKeyframe).count == 2)
        #expect(video.first?.dts == 126_000 && video.first?.pts == 129_000)
        #expect(video.allSatisfy { $0.timebase == .mpeg90kHz })
        // AVCC: one length-prefixed slice, no AUD/SPS/PPS.
        let first = try #require(video.first)
        #expect(first.data.count == 4 + 601)
        #expect(Array(first.data.prefix(5)) == [0, 0, 0x02, 0x59, 0x65])
        let track = try #require(items.trackInfos.first { $0.kind == .video })
        guard case .avc(let record) = track.configuration else {
            Issue.record("no avcC")
            return
        }
        #expect(record.sequenceParameterSets == [W.sps] && record.pictureParameterSets == [W.pps])
        #expect(track.frameRate == 30)
        let audioTrack = try #require(items.trackInfos.first { $0.kind == .audio })
        #expect(audioTrack.sampleRate == 48000 && audioTrack.channels == 2)
        // Two ADTS frames per PES: the second is 1024 samples (1920 ticks) after the first.
        #expect(audio[1].pts - audio[0].pts == 1920)
        #expect(audio[0].data.count == 200)
        #expect(ready?.video?.codec == "h264" && ready?.audio?.sampleRate == 48000 && ready?.video?.frameRate == 30)
        #expect(extractor.demuxer.counters.continuityErrors == 0)
        // Each track's info precedes its first packet.
        let trackIndex = items.firstIndex { if case .track(let t) = $0 { t.kind == .video } else { false } } ?? .max
        let packetIndex = items.firstIndex { if case .packet(let p) = $0 { p.track == .video } else { false } } ?? -1
        #expect(trackIndex < packetIndex)
    }

    @Test func anyChunkingGivesTheSameResult() throws {
        let bytes = W.stream(frames: 20)
        let whole = try Self.demux(bytes, chunk: bytes.count).items.packets.map(\.data)
        for chunk in [1, 7, 187, 188, 189, 1000] {
            #expect(try Self.demux(bytes, chunk: chunk).items.packets.map(\.data) == whole, "chunk \(chunk)")
        }
    }

    @Test func timestampsWrapAroundAt33Bits() throws {
        let start = (Int64(1) << 33) - 90_000  // one second before the wrap
        let (items, _, _) = try Self.demux(W.stream(frames: 90, start: start))
        let video = items.packets.filter { $0.track == .video }
        let audio = items.packets.filter { $0.track == .audio }
        #expect(video.count == 89)
        #expect(zip(video, video.dropFirst()).allSatisfy { $1.dts - $0.dts == 3000 }, "DTS continues across the wrap")
        #expect(video.last?.dts ?? 0 > 1 << 33)
        #expect(zip(audio, audio.dropFirst()).allSatisfy { $1.dts > $0.dts })
        #expect(items.discontinuities == 0)
    }

    @Test func aDiscontinuityIndicatorRestartsTheTimeline() throws {
        var writer = W()
        var bytes = writer.pat() + writer.pmt(streams: [(0x1B, W.videoPID)])
        for frame in 0..<10 {
            bytes += writer.pes(
                pid: W.videoPID, streamID: 0xE0, pts: 900_000 + Int64(frame) * 3000, payload: W.h264AccessUnit(keyframe: frame == 0),
                bounded: false)
        }
        for frame in 0..<10 {
            bytes += writer.pes(
                pid: W.videoPID, streamID: 0xE0, pts: 1000 + Int64(frame) * 3000, payload: W.h264AccessUnit(keyframe: frame == 0),
                bounded: false, discontinuity: frame == 0)
        }
        let (items, _, extractor) = try Self.demux(bytes)
        #expect(items.discontinuities == 1)
        #expect(extractor.demuxer.counters.discontinuities == 1)
        let after = Array(items.drop { if case .discontinuity = $0 { false } else { true } }).packets
        #expect(after.first?.dts == 1000)
        #expect(items.packets.count == 19)
    }

    @Test func continuityErrorsAreCountedAndTheBrokenPESDropped() throws {
        let bytes = W.stream(frames: 30)
        var packets = stride(from: 0, to: bytes.count, by: 188).map { Array(bytes[$0..<($0 + 188)]) }
        // Drop a middle packet of a video PES (a continuation, not a start).
        let victim = try #require(
            packets.indices.dropFirst(10).first { index in
                let p = packets[index]
                return (UInt16(p[1] & 0x1F) << 8 | UInt16(p[2])) == W.videoPID && p[1] & 0x40 == 0
            })
        packets.remove(at: victim)
        // And duplicate another packet: allowed once, ignored.
        packets.insert(packets[20], at: 21)
        let (items, _, extractor) = try Self.demux(packets.flatMap { $0 })
        #expect(extractor.demuxer.counters.continuityErrors == 1)
        #expect(extractor.demuxer.counters.duplicatePackets == 1)
        #expect(items.packets.filter { $0.track == .video }.count == 28)
    }

    @Test func garbageBetweenPacketsIsSkippedAndSyncRecovered() throws {
        let bytes = W.stream(frames: 10)
        var noisy = Array(bytes[0..<(188 * 5)]) + [0x47, 0x00, 0x12, 0x47, 0x99] + Array(bytes[(188 * 5)...])
        noisy.insert(contentsOf: [UInt8](repeating: 0x47, count: 3), at: 0)
        let (items, _, extractor) = try Self.demux(noisy)
        #expect(extractor.demuxer.counters.syncLosses >= 1)
        #expect(items.packets.filter { $0.track == .video }.count == 9)
    }

    @Test func notTransportStreamEndsWithAClearReason() {
        var extractor = TSMediaExtractor()
        let flv = [UInt8]("FLV".utf8) + [UInt8](repeating: 0x11, count: 100_000)
        do {
            _ = try extractor.push(flv)
            Issue.record("FLV accepted as MPEG-TS")
        } catch {
            #expect(error.kind == .notTransportStream)
            #expect(error.detail.contains("not MPEG-TS"))
        }
    }

    @Test func unsupportedCodecsAreRefusedByName() {
        var writer = W()
        let mpeg2 = writer.pat() + writer.pmt(streams: [(0x02, W.videoPID), (0x0F, W.audioPID)])
        var extractor = TSMediaExtractor()
        do {
            _ = try extractor.push(mpeg2)
            Issue.record("MPEG-2 video accepted")
        } catch {
            #expect(error.kind == .unsupportedCodec)
            #expect(error.detail.contains("MPEG-2 video"))
        }
        var ac3Writer = W()
        let ac3 = ac3Writer.pat() + ac3Writer.pmt(streams: [(0x81, W.audioPID)])
        var second = TSMediaExtractor()
        #expect(throws: TSStreamError.self) { _ = try second.push(ac3) }
    }

    /// HEVC and Opus are the transcoder's to decode: HEVC stays Annex B with its parameter sets as
    /// extradata, Opus packets leave their control headers behind and are timed by their TOC.
    @Test func anFFmpegHEVCAndOpusStreamBecomesTracksForTheTranscoder() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-ts-\(UUID()).ts")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await ToolProcess.run(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
                "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=60:log-level=error", "-pix_fmt", "yuv420p",
                "-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-f", "mpegts", file.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let (items, ready, extractor) = try Self.demux(try [UInt8](Data(contentsOf: file)))
        let video = try #require(items.trackInfos.first { $0.kind == .video })
        let audio = try #require(items.trackInfos.first { $0.kind == .audio })
        #expect(video.codec == .hevc && video.frameRate == 30)
        guard case .opaque(let parameterSets) = video.configuration else { Issue.record("no HEVC parameter sets"); return }
        #expect(
            parameterSets.starts(with: [0, 0, 0, 1]) && AnnexB.nalUnits(parameterSets).map { ($0.first ?? 0) >> 1 & 0x3F } == [32, 33, 34])
        #expect(audio.codec == .opus && audio.sampleRate == 48_000 && audio.channels == 2)
        guard case .opaque(let head) = audio.configuration else { Issue.record("no OpusHead"); return }
        #expect(head.count == 19 && head.starts(with: Array("OpusHead".utf8)))
        let videoPackets = items.packets.filter { $0.track == .video }
        let audioPackets = items.packets.filter { $0.track == .audio }
        #expect((88...90).contains(videoPackets.count), "\(videoPackets.count)")
        #expect(videoPackets.first?.isKeyframe == true && videoPackets.filter(\.isKeyframe).count == 2)
        // 20 ms Opus packets: 150 in 3 s, 1,800 ticks of 90 kHz apart.
        #expect((148...152).contains(audioPackets.count), "\(audioPackets.count)")
        #expect(zip(audioPackets, audioPackets.dropFirst()).allSatisfy { $1.pts - $0.pts == 1_800 })
        #expect(audioPackets.allSatisfy { TSMediaExtractor.opusSamples($0.data) == 960 })
        #expect(ready?.video?.codec == "hevc" && ready?.audio?.codec == "opus")
        #expect(extractor.counters.droppedFrames == 0 && extractor.counters.malformedAudio == 0)
    }

    @Test func opusPacketDurationsComeFromTheTOC() {
        #expect(TSMediaExtractor.opusSamples([0xFC]) == 960)  // CELT 20 ms, one frame
        #expect(TSMediaExtractor.opusSamples([0xFD]) == 1_920)  // two frames
        #expect(TSMediaExtractor.opusSamples([0x1B, 0x03]) == 2_880 * 3)  // SILK 60 ms, code 3 with 3 frames
        #expect(TSMediaExtractor.opusSamples([0x03]) == 0)  // code 3 without its count byte
        #expect(TSMediaExtractor.opusSamples([]) == 0)
    }

    @Test func anEndlessPESIsBounded() {
        var writer = W()
        var bytes = writer.pat() + writer.pmt(streams: [(0x0F, W.audioPID)])
        // A PES start, then continuation packets forever.
        bytes += writer.packets(
            pid: W.audioPID,
            payload: [0, 0, 1, 0xC0, 0, 0, 0x80, 0x80, 5] + W.timestamp(0, prefix: 2) + [UInt8](repeating: 0xAB, count: 170),
            unitStart: true)
        var extractor = TSMediaExtractor()
        var thrown: TSStreamError?
        do {
            _ = try extractor.push(bytes)
            for _ in 0..<4000 {
                _ = try extractor.push(writer.packets(pid: W.audioPID, payload: [UInt8](repeating: 0xAB, count: 184), unitStart: false))
            }
        } catch {
            thrown = error
        }
        #expect(thrown?.kind == .oversizedPacket)
    }

    @Test func aCorruptPMTIsIgnoredByItsCRC() throws {
        var writer = W()
        var pmt = writer.pmt(streams: [(0x1B, W.videoPID)])
        pmt[20] ^= 0xFF
        var extractor = TSMediaExtractor()
        _ = try extractor.push(writer.pat() + pmt)
        #expect(extractor.demuxer.counters.crcErrors == 1)
        #expect(!extractor.demuxer.hasProgram)
    }

    // MARK: Elementary streams

    @Test func adtsHeaderGivesTheAudioSpecificConfig() throws {
        let header = try ADTSHeader(parsing: W.adtsFrame()[...])
        #expect(header.objectType == 2 && header.sampleRate == 48000 && header.channelConfiguration == 2)
        #expect(header.headerLength == 7 && header.frameLength == 207)
        #expect(header.audioSpecificConfig.bytes == [0x11, 0x90])
        #expect(header.audioSpecificConfig.codecString == "mp4a.40.2")
        // 44.1 kHz mono AAC-LC.
        let mono: [UInt8] = [0xFF, 0xF1, 0x50, 0x40, 0x01, 0x7F, 0xFC]
        let parsed = try ADTSHeader(parsing: mono[...])
        #expect(parsed.sampleRate == 44100 && parsed.channelConfiguration == 1 && parsed.objectType == 2)
        #expect(throws: MediaFormatError.self) { try ADTSHeader(parsing: [0xFF, 0xF1, 0x4C][...]) }
        #expect(throws: MediaFormatError.self) { try ADTSHeader(parsing: [0x12, 0x34, 0x4C, 0x80, 0, 0, 0][...]) }
        #expect(throws: MediaFormatError.self) { try ADTSHeader(parsing: [0xFF, 0xF1, 0x7C, 0x80, 0x00, 0xFF, 0xFC][...]) }
    }

    @Test func annexBBecomesAVCC() {
        let unit = AnnexB.h264AccessUnit(W.h264AccessUnit(keyframe: true, size: 10))
        #expect(unit.isKeyframe)
        #expect(unit.sequenceParameterSets == [W.sps])
        #expect(unit.pictureParameterSets == [W.pps])
        let slice: [UInt8] = (0..<10).map { UInt8($0 % 200 + 2) }
        let expected: [UInt8] = [0, 0, 0, 11, 0x65] + slice
        #expect(unit.avcc == expected)
        let record = AVCDecoderConfigurationRecord(
            sequenceParameterSets: unit.sequenceParameterSets, pictureParameterSets: unit.pictureParameterSets)
        #expect(record?.codecString == "avc1.42C01E")
        // Trailing zeros and 4-byte start codes; an empty input has no NAL units.
        #expect(
            AnnexB.nalUnits([0, 0, 0, 1, 0x41, 0x9A, 0, 0, 0, 0, 1, 0x41, 0x9B, 0, 0]).map(Array.init) == [[0x41, 0x9A], [0x41, 0x9B]])
        #expect(AnnexB.nalUnits([]).isEmpty)
        #expect(AnnexB.h264AccessUnit([0, 0, 1]).avcc.isEmpty)
    }

    @Test func anFFmpegTransportStreamDemuxesLikeTheRTMPPath() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-ts-\(UUID()).ts")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await ToolProcess.run(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", "-bf", "2",
                "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-f", "mpegts", file.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let bytes = try [UInt8](Data(contentsOf: file))
        let (items, ready, extractor) = try Self.demux(bytes)
        let video = try #require(items.trackInfos.first { $0.kind == .video })
        #expect(video.width == 640 && video.height == 360 && video.frameRate == 30)
        let videoPackets = items.packets.filter { $0.track == .video }
        let audioPackets = items.packets.filter { $0.track == .audio }
        #expect((88...90).contains(videoPackets.count), "\(videoPackets.count)")
        #expect((138...142).contains(audioPackets.count), "\(audioPackets.count)")
        #expect(videoPackets.filter(\.isKeyframe).count == 2)
        #expect(zip(videoPackets, videoPackets.dropFirst()).allSatisfy { $0.dts < $1.dts })
        #expect(videoPackets.allSatisfy { $0.pts >= $0.dts })
        #expect(videoPackets.contains { $0.pts > $0.dts }, "B-frames keep their composition offset")
        #expect(ready?.audio?.channels == 2 && ready?.video?.width == 640)
        #expect(extractor.demuxer.counters.continuityErrors == 0 && extractor.counters.droppedFrames == 0)
        // Every AVCC payload parses as length-prefixed NAL units covering the whole payload.
        for packet in videoPackets {
            var offset = 0
            while offset + 4 <= packet.data.count {
                let length = packet.data[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
                offset += 4 + length
            }
            #expect(offset == packet.data.count)
        }
    }

    // MARK: Fuzz

    @Test func randomAndMutatedInputNeverTraps() throws {
        var generator = SeededGenerator(state: 0x5E7)
        let valid = W.stream(frames: 40)
        for round in 0..<300 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 0...5000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                // Sprinkle sync bytes so the packet parser, not only the scanner, sees garbage.
                for index in stride(from: 0, to: bytes.count, by: 188) { bytes[index] = 0x47 }
            case 1:
                bytes = Array(valid.prefix(Int.random(in: 0...valid.count, using: &generator)))
            default:
                bytes = valid
                for _ in 0..<Int.random(in: 1...40, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[index] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            var extractor = TSMediaExtractor()
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + Int.random(in: 1...2000, using: &generator), bytes.count)
                do {
                    _ = try extractor.push(bytes[offset..<end])
                } catch {
                    break
                }
                offset = end
            }
        }
    }
}
