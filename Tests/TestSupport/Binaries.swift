import Foundation

public enum Binaries {
    /// The `streamd` executable built beside the test bundle (`swift build --build-tests` builds it).
    public static func streamd() throws -> String { try built("streamd") }

    /// The event store's bench tool, whose `append-writer` is a second writer process.
    public static func eventStoreBench() throws -> String { try built("EventStoreBench") }

    static func built(_ name: String) throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSupportError(
            "\(name) is not built next to the tests (\(bundle.path)); run `swift build --build-tests` first (ops/test does)")
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work (pg_ctl, waitpid) on a thread of its own, keeping the task executor free.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

public func onThread(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { continuation in
        Thread {
            body()
            continuation.resume()
        }.start()
    }
}
