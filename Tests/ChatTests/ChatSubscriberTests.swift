import Chat
import NIOCore
import Synchronization
import Testing

/// The per-socket queue on its own: bounded, woken once per burst, evicts instead of growing.
@Suite struct ChatSubscriberTests {
    @Test func wakesOncePerBurstAndCountsUnwrittenFrames() {
        let wakes = Mutex(0)
        let subscriber = ChatSubscriber(capacity: 4) { _ in wakes.withLock { $0 += 1 } }
        #expect(subscriber.send("a"))
        #expect(subscriber.send("b"))
        #expect(wakes.withLock { $0 } == 1, "one writer run for frames queued before it takes them")
        #expect(subscriber.take().map { String(buffer: $0) } == ["a", "b"])
        #expect(subscriber.backlog == 2, "taken but not yet written")
        #expect(subscriber.send("c"))
        #expect(wakes.withLock { $0 } == 2)
        #expect(subscriber.send("d"))
        #expect(!subscriber.send("e"), "2 unwritten + 2 queued: full")
        #expect(subscriber.isEvicted)
        #expect(!subscriber.send("f"), "gone")
        #expect(subscriber.take().isEmpty, "an evicted queue is dropped")
    }

    @Test func writtenFramesMakeRoom() {
        let subscriber = ChatSubscriber(capacity: 2)
        for round in 0..<100 {
            #expect(subscriber.send("\(round)"))
            #expect(subscriber.send("\(round)'"))
            #expect(subscriber.take().count == 2)
            subscriber.written(2)
        }
        #expect(subscriber.backlog == 0)
        #expect(!subscriber.isEvicted)
    }

    @Test func waitForEndTellsEvictionFromFinish() async {
        let evicted = ChatSubscriber(capacity: 1)
        evicted.send("x")
        evicted.send("y")
        #expect(await evicted.waitForEnd())
        let finished = ChatSubscriber()
        Task { finished.finish() }
        #expect(await !finished.waitForEnd())
        #expect(!finished.send("late"))
    }
}
