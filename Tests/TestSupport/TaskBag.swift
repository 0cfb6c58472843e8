import EventStore
import Synchronization

/// Background tasks of a test, cancelled and awaited before its store shuts down (a read still in
/// flight when the store closes would outlive it).
public final class TaskBag: Sendable {
    public init() {}

    private let tasks = Mutex<[Task<Void, Never>]>([])

    public func add(_ task: Task<Void, Never>) { tasks.withLock { $0.append(task) } }

    public func stop(_ task: Task<Void, Never>) async {
        task.cancel()
        await task.value
    }

    public func shutdown(_ store: EventStore) async {
        let all = tasks.withLock { $0 }
        for task in all { task.cancel() }
        for task in all { await task.value }
        await store.shutdown()
    }
}
