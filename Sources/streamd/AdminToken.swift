import ArgumentParser
import Foundation
import Logging
import Node
import ServiceLifecycle

/// The admin token: given, or kept in the data folder with mode 0600.
struct AdminToken {
    enum Source { case explicit, file(String), generated(String) }
    var value: String
    var source: Source

    static func resolve(explicit: String?, dataDirectory: URL) throws -> AdminToken {
        if let explicit { return AdminToken(value: explicit, source: .explicit) }
        let file = dataDirectory.appendingPathComponent("admin-token")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !value.isEmpty { return AdminToken(value: value, source: .file(file.path)) }
        }
        let value = "st_" + StreamKey.generate().text.dropFirst(3)
        guard FileManager.default.createFile(atPath: file.path, contents: Data((value + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw ValidationError("cannot write the admin token to \(file.path); check that the data folder is writable")
        }
        return AdminToken(value: value, source: .generated(file.path))
    }
}
