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
        #expect(subscriber.take().map { Array($0.readableBytesView) } == [[0x81, 1, UInt8(ascii: "a")], [0x81, 1, UInt8(ascii: "b")]])
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

    @Test func framesAreUnmaskedTextFrames() {
        #expect(Array(ChatSubscriber.frame(String(repeating: "x", count: 125)).readableBytesView.prefix(2)) == [0x81, 125])
        #expect(Array(ChatSubscriber.frame(String(repeating: "x", count: 300)).readableBytesView.prefix(4)) == [0x81, 126, 0x01, 0x2C])
        let big = ChatSubscriber.frame(String(repeating: "x", count: 70_000))
        #expect(Array(big.readableBytesView.prefix(10)) == [0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70])
        #expect(big.readableBytes == 70_010)
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
