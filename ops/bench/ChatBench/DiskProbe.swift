import Foundation
import Synchronization

/// Times a small synchronous write (8 KiB, then `fdatasync`) every 20 ms on its own thread while a
/// rate runs, beside the database's files: every chat message waits for such a flush before any
/// socket sees it, so a round whose disk stalled is told apart from one whose server was slow.
final class DiskProbe: Sendable {
    private final class Samples: Sendable {
        let state = Mutex<(running: Bool, done: Bool, millis: [Double])>((true, false, []))
    }
    private let samples = Samples()

    /// Nil when `path` cannot be written (the bench then runs without the line).
    init?(path: String) {
        let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o644)
        guard fd >= 0 else { return nil }
        let thread = Thread { [samples] in
            defer { close(fd); unlink(path); samples.state.withLock { $0.done = true } }
            var block = [UInt8](repeating: 0x55, count: 8192)
            let slots = 1024
            // Written once first, so the timed writes change data only, as a WAL segment's do.
            for slot in 0..<slots { _ = block.withUnsafeMutableBytes { pwrite(fd, $0.baseAddress, 8192, off_t(slot * 8192)) } }
            fsync(fd)
            var slot = 0
            while samples.state.withLock({ $0.running }) {
                let start = ContinuousClock.now
                _ = block.withUnsafeMutableBytes { pwrite(fd, $0.baseAddress, 8192, off_t(slot * 8192)) }
                fdatasync(fd)
                let elapsed = ContinuousClock.now - start
                let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                samples.state.withLock { $0.millis.append(millis) }
                slot = (slot + 1) % slots
                usleep(20_000)
            }
        }
        thread.start()
    }

    /// Stops the probe and describes what it saw.
    func finish() async -> String {
        samples.state.withLock { $0.running = false }
        // The flush under way is part of the window too.
        while !samples.state.withLock({ $0.done }) { try? await Task.sleep(for: .milliseconds(1)) }
        let millis = samples.state.withLock { $0.millis }.sorted()
        guard !millis.isEmpty else { return "  disk   no flush finished" }
        let stalled = millis.filter { $0 > 50 }
        return String(
            format:
                "  disk   8 KiB write+fdatasync every 20 ms: %d flushes  p50 %.1f  p99 %.1f  max %.0f ms; %d over 50 ms, %.2f s in them",
            millis.count, percentile(millis, 0.5) ?? 0, percentile(millis, 0.99) ?? 0, millis[millis.count - 1], stalled.count,
            stalled.reduce(0, +) / 1000)
    }
}
