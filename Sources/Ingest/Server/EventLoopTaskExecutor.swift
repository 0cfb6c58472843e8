import NIOCore

/// Runs a task's jobs on one NIO event loop. A consumer that iterates a session's `media` with the
/// feeding connection's loop preferred is resumed on that loop's own thread: a hand-off is a queued
/// closure instead of waking a thread of the cooperative pool.
///
/// The consumer's work then shares the loop with socket reads, so keep it short (move items into a
/// queue, as the transcoder does); anything heavy belongs on a thread of its own. The loop must
/// outlive the tasks that prefer it (`RTMPServer.defaultGroup` is never shut down): a job enqueued
/// on a loop that has shut down is dropped.
public final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    public init(_ loop: any EventLoop) {
        self.loop = loop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
