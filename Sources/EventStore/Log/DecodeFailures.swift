import Logging
import Synchronization

/// Events a consumer could not decode (a schema or upcast bug): each one is logged with its
/// position and counted, never skipped in silence. `count` is the process's total, for metrics.
public enum DecodeFailures {
    private static let total = Atomic<Int>(0)

    public static var count: Int { total.load(ordering: .relaxed) }

    /// Logs that `consumer` could not decode `event` and what it did instead.
    public static func report(_ event: RecordedEvent, _ error: any Error, consumer: String, consequence: String, logger: Logger) {
        total.add(1, ordering: .relaxed)
        logger.error(
            "cannot decode \(event.eventType) v\(event.schemaVersion) at #\(event.position) for \(consumer); \(consequence): \(error)",
            metadata: ["position": "\(event.position)", "type": "\(event.eventType)", "consumer": "\(consumer)"])
    }
}
