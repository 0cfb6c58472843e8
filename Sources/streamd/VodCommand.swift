import ArgumentParser
import Foundation
import Node

struct VodCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vod",
        abstract: "Recordings (works without a running server).",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove a recording is what aired: re-hash its files against the SHA-256 its SegmentPublished events recorded.",
            discussion: """
                Exits 0 with the number of files verified, or 1 naming the first file that differs or is missing. \
                With --file, checks one file (a clip or an export cut from the recording) instead: exits 0 naming the \
                logged segment it is byte-identical to, or 1.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The session's id (its UUID, or session-UUID).") var session: String
        @Option(help: "Check this one file against the session's log instead of the recording.") var file: String?
        @Option(help: "The origin store's folder (default: the data folder's media).") var mediaDir: String?
        @Option(
            help: ArgumentHelp("A file of `streamd events archive` holding the session's segment events (repeatable).", valueName: "file"))
        var archive: [String] = []

        var sessionID: String {
            let id = session.hasPrefix("session-") ? String(session.dropFirst("session-".count)) : session
            return id.lowercased()
        }

        func validate() throws {
            guard UUID(uuidString: sessionID) != nil else {
                throw ValidationError("'\(session)' is not a session id; sessions are UUIDs (streamd events list --type StreamStarted)")
            }
        }

        func run() async throws {
            let root = mediaDir.map { URL(fileURLWithPath: $0) } ?? database.dataDirectory.appendingPathComponent("media")
            let id = sessionID
            var archives: ArchiveRows?
            if !archive.isEmpty {
                do { archives = try ArchiveRows(files: archive.map { URL(fileURLWithPath: $0) }) } catch {
                    throw CommandFailure("\(error)")
                }
            }
            if let file {
                let url = URL(fileURLWithPath: file)
                guard FileManager.default.isReadableFile(atPath: url.path) else {
                    throw CommandFailure("cannot read \(file); give the path of the clip or segment to check")
                }
                let found = try await withDatabase(database) { [archives] store in
                    try await RecordingVerifier(store: store, root: root).matches(of: url, sessionID: id, archives: archives)
                }
                guard let first = found.matches.first else {
                    print("\(file) (\(found.bytes) bytes, SHA-256 \(found.digest)) matches no file session \(id) published")
                    throw ExitCode(1)
                }
                print("\(file) is byte-identical to \(first.label), SHA-256 \(found.digest)")
                return
            }
            let (report, archived) = try await withDatabase(database) { [archives] store in
                // Segment events `events archive` moved out are checked only with their file.
                let records = archives == nil ? try await LogArchive(store: store).records() : []
                let hint =
                    records.isEmpty
                    ? ""
                    : "events at or below #\(records.map(\.through).max() ?? 0) were archived (\(records.map(\.file).joined(separator: ", "))); the segments they name are checked only with --archive FILE"
                do {
                    return (try await RecordingVerifier(store: store, root: root).verify(sessionID: id, archives: archives), hint)
                } catch let error as RecordingVerifier.VerifierError where !hint.isEmpty {
                    throw CommandFailure("\(error); \(hint)")
                }
            }
            if !archived.isEmpty { print("note: \(archived)") }
            if let problem = report.problem {
                print("\(problem)")
                print("\(report.verified) of \(report.total) files verified before it")
                throw ExitCode(1)
            }
            let note = report.sizeOnly > 0 ? " (\(report.sizeOnly) logged before hashes were recorded: size only)" : ""
            print("\(report.verified) files verified\(note)")
        }
    }
}
