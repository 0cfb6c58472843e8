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
        let value: String
        do {
            if let text = try SecretFile.read(file), !text.isEmpty { return AdminToken(value: text, source: .file(file.path)) }
            value = "st_" + StreamKey.generate().text.dropFirst(3)
            try? FileManager.default.removeItem(at: file)
            try SecretFile.create(file, text: value)
        } catch let problem as SecretFile.Problem {
            throw ValidationError(problem.description)
        }
        return AdminToken(value: value, source: .generated(file.path))
    }
}
