import ArgumentParser
import Foundation
import Logging
import Node
import ServiceLifecycle

/// The first-start admin token (the admin `admin`'s): given, or kept in the data folder with mode
/// 0600. Other admins' tokens live only with them (`streamd admins add`).
struct AdminToken {
    enum Source { case explicit, file(String), generated(String) }
    var value: String
    var source: Source

    /// Shorter ones are refused: the token is the whole of the admin's credential.
    static let minimumLength = 32

    static func resolve(explicit: String?, dataDirectory: URL) throws -> AdminToken {
        if let explicit {
            guard explicit.count >= minimumLength else {
                throw ValidationError(
                    "--admin-token / STREAMD_ADMIN_TOKEN has \(explicit.count) characters; give at least \(minimumLength) (for example: openssl rand -base64 32), or leave it out to have one generated into DATA_DIR/admin-token"
                )
            }
            return AdminToken(value: explicit, source: .explicit)
        }
        let file = dataDirectory.appendingPathComponent("admin-token")
        let value: String
        do {
            if let text = try SecretFile.read(file), !text.isEmpty {
                guard text.count >= minimumLength else {
                    throw ValidationError(
                        "\(file.path) holds a token of \(text.count) characters; put one of at least \(minimumLength) there (openssl rand -base64 32), or delete the file to have one generated"
                    )
                }
                return AdminToken(value: text, source: .file(file.path))
            }
            value = "st_" + StreamKey.generate().text.dropFirst(3)
            try? FileManager.default.removeItem(at: file)
            try SecretFile.create(file, text: value)
        } catch let problem as SecretFile.Problem {
            throw ValidationError(problem.description)
        }
        return AdminToken(value: value, source: .generated(file.path))
    }
}
