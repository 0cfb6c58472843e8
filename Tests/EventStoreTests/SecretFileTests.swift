import EventStore
import Foundation
import Testing

/// Secrets in the data folder: 0600 from the first byte, and refused when others may read them.
@Suite struct SecretFileTests {
    @Test func aSecretIsBornPrivateWhateverTheUmask() throws {
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("streamd-secret-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("admin-token")
        let previous = umask(0)
        defer { umask(previous) }
        try SecretFile.create(file, text: "a-secret")
        var info = stat()
        #expect(stat(file.path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try SecretFile.read(file) == "a-secret")
        #expect(throws: SecretFile.Problem.self, "an existing secret is never overwritten") {
            try SecretFile.create(file, text: "another")
        }
        #expect(try SecretFile.read(folder.appendingPathComponent("missing")) == nil)
    }

    @Test func aSecretOthersMayReadIsRefusedWithWhatToDo() throws {
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("streamd-secret-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("chat-secret")
        try "shared\n".write(to: file, atomically: false, encoding: .utf8)
        for mode in [0o644, 0o640, 0o604] as [mode_t] {
            chmod(file.path, mode)
            do {
                _ = try SecretFile.read(file)
                Issue.record("mode \(String(mode, radix: 8)) should be refused")
            } catch {
                #expect("\(error)".contains("chmod 600 \(file.path)"), "\(error)")
            }
        }
        chmod(file.path, 0o600)
        #expect(try SecretFile.read(file) == "shared")
    }
}
