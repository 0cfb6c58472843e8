#if canImport(Glibc)
import Glibc
#endif

/// glibc malloc settings for a long-running media server, applied by `serve` at start.
///
/// streamd's heap stays small (about 27 MB at peak in a soak), but it allocates and frees many
/// large buffers (parts, segments, encoded and decoded frames) on several threads. By default glibc
/// raises its mmap threshold each time such a buffer is freed, after which buffers of that size come
/// from per-thread arenas that are rarely given back, and RSS creeps up by megabytes an hour
/// (docs/benchmarks.md#soak-curves). A fixed threshold keeps large buffers in their own mappings,
/// returned to the kernel on free; fewer arenas fragment less.
public enum MemoryTuning {
    public static let mmapThreshold = 128 * 1024

    /// Applies the settings; false where the C library has no such knobs (not glibc) or refused.
    @discardableResult
    public static func apply(cores: Int) -> Bool {
        #if canImport(Glibc)
        // Swift's Glibc module leaves out <malloc.h>: found at run time, with glibc's constants.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let (trimThreshold, mmapThresholdOption, arenaMax): (Int32, Int32, Int32) = (-1, -3, -8)
        let fixedThreshold = mallopt(mmapThresholdOption, Int32(mmapThreshold)) == 1
        let trim = mallopt(trimThreshold, Int32(mmapThreshold)) == 1
        let arenas = mallopt(arenaMax, Int32(max(2, cores))) == 1
        return fixedThreshold && trim && arenas
        #else
        return false
        #endif
    }

    /// Hands free pages inside the arenas back to the kernel (`malloc_trim(0)`); the trim threshold
    /// only releases the top of the main heap. False where there is no such call.
    @discardableResult
    public static func trim() -> Bool {
        #if canImport(Glibc)
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return false }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        return true
        #else
        return false
        #endif
    }

    /// Trims every `interval` until cancelled: a few milliseconds of one thread each time, on a
    /// heap of streamd's size.
    public static func trimPeriodically(every interval: Duration = .seconds(30)) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            trim()
        }
    }
}
