import Foundation

/// A secret in the data folder (`admin-token`, `chat-secret`, `postgres*.password`): created with
/// `O_CREAT|O_EXCL` and mode 0600 from its first byte, and refused when group or others may read it.
public enum SecretFile {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The file's text, trimmed; nil when there is no such file. Throws when others may read it or
    /// it cannot be read, saying what to do.
    public static func read(_ url: URL) throws -> String? {
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw Problem(description: "cannot read \(url.path): \(String(cString: strerror(errno)))")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw Problem(
                description:
                    "\(url.path) holds a secret but its mode is \(String(mode, radix: 8)), readable by others; run chmod 600 \(url.path) (and rotate the secret if others could read it)"
            )
        }
        do {
            return try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw Problem(description: "cannot read \(url.path) (\(error))")
        }
    }

    /// Writes `text` (and a newline) to a new file with mode 0600, synced; fails when the file exists.
    public static func create(_ url: URL, text: String) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Problem(
                description: "cannot create \(url.path): \(String(cString: strerror(errno))); check that the data folder is writable")
        }
        defer { close(fd) }
        // The mode above is cut by the umask; nothing is written until it is 0600 whatever the umask.
        guard fchmod(fd, 0o600) == 0 else {
            throw Problem(description: "cannot set mode 0600 on \(url.path): \(String(cString: strerror(errno)))")
        }
        let bytes = Array((text + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                unlink(url.path)
                throw Problem(description: "cannot write \(url.path): \(reason)")
            }
            offset += written
        }
        _ = fsync(fd)
    }
}
