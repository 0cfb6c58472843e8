import Foundation
import Testing

@testable import EventStore

struct SubprocessTests {
    /// A descriptor streamd holds (here a plain file opened without close-on-exec, like the sockets
    /// NIO accepts) must not reach a child: the child's copy would keep a closed connection open.
    @Test func aChildInheritsOnlyItsStandardDescriptors() throws {
        let descriptor = open("/dev/null", O_RDONLY)
        #expect(descriptor > 2)
        defer { close(descriptor) }
        // The shell lists its own descriptors (`ls` runs as its child).
        let (status, output) = try Subprocess.run("/bin/sh", ["-c", "ls /proc/$$/fd"])
        #expect(status == 0, "\(output)")
        let open = output.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(!open.contains(Int(descriptor)), "the child inherited \(descriptor): \(open)")
        #expect(open.contains(0) && open.contains(1) && open.contains(2))
    }
}
