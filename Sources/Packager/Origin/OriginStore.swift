import Foundation
import NIOCore

/// The origin's files on disk: `ROOT/SESSION/RENDITION/init.mp4` and `sMSN.m4s`. Files are written
/// once, in order, and never rewritten: a segment file grows part by part while its parts are
/// served from memory, and its URL is published only when it is complete.
public struct OriginStore: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    public static func segmentName(_ mediaSequence: Int) -> String { "s\(mediaSequence).m4s" }
    public static let initName = "init.mp4"

    /// Relative path of a rendition's folder: `SESSION/RENDITION`.
    public static func folder(session: String, rendition: String) -> String { "\(session)/\(rendition)" }

    public func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

    public func createFolder(session: String, rendition: String) throws {
        try FileManager.default.createDirectory(
            at: url(Self.folder(session: session, rendition: rendition)), withIntermediateDirectories: true)
    }

    /// Writes a whole small file (an init segment) at once.
    public func write(_ bytes: ByteBuffer, to relativePath: String) throws {
        let writer = try AppendingFile(url(relativePath))
        defer { writer.close() }
        try writer.append(bytes)
    }

    /// Reads a file or a byte range of it; `nil` when it does not exist.
    public func read(_ relativePath: String, range: ClosedRange<Int>? = nil) throws -> ByteBuffer? {
        guard relativePath.split(separator: "/").allSatisfy({ $0 != ".." && $0 != "." }) else { return nil }
        guard let handle = FileHandle(forReadingAtPath: url(relativePath).path) else { return nil }
        defer { try? handle.close() }
        let data: Data?
        if let range {
            try handle.seek(toOffset: UInt64(range.lowerBound))
            data = try handle.read(upToCount: range.count)
        } else {
            data = try handle.readToEnd()
        }
        return ByteBuffer(data: data ?? Data())
    }

    /// The absolute path and size of a file, for serving it from disk; `nil` when it does not exist.
    public func located(_ relativePath: String) -> (path: String, size: Int)? {
        guard relativePath.split(separator: "/").allSatisfy({ $0 != ".." && $0 != "." }) else { return nil }
        let path = url(relativePath).path
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        return (path, Int(status.st_size))
    }

    public func size(_ relativePath: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url(relativePath).path) else { return nil }
        return (attributes[.size] as? NSNumber)?.intValue
    }

    public func removeSession(_ session: String) throws -> Int {
        let folder = url(session)
        let bytes = Self.bytes(under: folder)
        if FileManager.default.fileExists(atPath: folder.path) { try FileManager.default.removeItem(at: folder) }
        return bytes
    }

    public func remove(_ relativePath: String) {
        try? FileManager.default.removeItem(at: url(relativePath))
    }

    static func bytes(under folder: URL) -> Int {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey]) else { return 0 }
        var total = 0
        for case let file as URL in walker {
            total &+= (try? file.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
        }
        return total
    }
}

/// A file opened for appending with plain POSIX writes (no buffering: a part is on disk, in the
/// page cache, as soon as it is published).
public final class AppendingFile {
    private var fd: Int32
    public private(set) var size = 0

    public init(_ url: URL) throws {
        fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OriginError.cannotWrite(url.path, errno: errno) }
    }

    public func append(_ bytes: ByteBuffer) throws {
        try bytes.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw OriginError.cannotWrite("fd \(fd)", errno: errno)
                }
                offset += written
            }
        }
        size += bytes.readableBytes
    }

    public func close() {
        if fd >= 0 { _ = Foundation.close(fd) }
        fd = -1
    }

    deinit { close() }
}

public enum OriginError: Error, CustomStringConvertible {
    case cannotWrite(String, errno: Int32)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let code):
            "cannot write \(path): \(String(cString: strerror(code))); check that the data folder is writable and the disk has space"
        }
    }
}
