import Chat
import NIOCore
import Synchronization
import Testing

/// The per-socket queue on its own: bounded, woken once per burst, evicts instead of growing; and
/// a room's feed read through it.
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

    static func texts(_ frames: [ByteBuffer]) -> [String] {
        frames.map { String(decoding: $0.readableBytesView.dropFirst(2), as: UTF8.self) }
    }

    @Test func readsTheFeedFromWhereItJoinedInOrderWithItsOwnFrames() {
        let feed = ChatFeed()
        feed.append(ChatSubscriber.frame("before"))
        let wakes = Mutex(0)
        let subscriber = ChatSubscriber(capacity: 16) { _ in wakes.withLock { $0 += 1 } }
        subscriber.send("hello")
        subscriber.attach(to: feed)
        subscriber.send("backlog")
        feed.append(ChatSubscriber.frame("m1"))
        subscriber.send("ack")
        feed.append(ChatSubscriber.frame("m2"))
        #expect(wakes.withLock { $0 } == 1, "one run for everything due before it takes")
        #expect(subscriber.backlog == 5)
        #expect(
            Self.texts(subscriber.take()) == ["hello", "backlog", "m1", "ack", "m2"],
            "the feed's frames from the join on, in order with its own")
        #expect(subscriber.backlog == 5, "taken, not yet written")
        subscriber.written(5)
        feed.append(ChatSubscriber.frame("m3"))
        #expect(wakes.withLock { $0 } == 2)
        #expect(Self.texts(subscriber.take()) == ["m3"])
        #expect(subscriber.take().isEmpty)
    }

    @Test func aReaderTooFarBehindTheFeedIsEvictedAndCounted() {
        let feed = ChatFeed(retention: 1)
        let fast = ChatSubscriber(capacity: 3)
        let slow = ChatSubscriber(capacity: 3)
        fast.attach(to: feed)
        slow.attach(to: feed)
        for index in 0..<3 {
            feed.append(ChatSubscriber.frame("m\(index)"))
            #expect(Self.texts(fast.take()) == ["m\(index)"])
            fast.written(1)
        }
        #expect(slow.backlog == 3, "the feed keeps as many frames as its readers' queues hold")
        #expect(!slow.isEvicted)
        feed.append(ChatSubscriber.frame("m3"))
        #expect(slow.take().isEmpty, "4 due, capacity 3")
        #expect(slow.isEvicted)
        #expect(feed.evictions == 1)
        #expect(Self.texts(fast.take()) == ["m3"])
        fast.finish()
        #expect(feed.evictions == 1, "a finished reader is not an eviction")
    }

    @Test func anEndedReaderStopsListeningAndAnUnreadFeedKeepsNothing() {
        let feed = ChatFeed()
        let wakes = Mutex(0)
        let subscriber = ChatSubscriber { _ in wakes.withLock { $0 += 1 } }
        subscriber.attach(to: feed)
        feed.append(ChatSubscriber.frame("read"))
        #expect(Self.texts(subscriber.take()) == ["read"])
        #expect(feed.retained == 1)
        subscriber.finish()
        #expect(feed.retained == 0, "no reader left: nothing kept")
        #expect(feed.head == 1)
        feed.append(ChatSubscriber.frame("late"))
        #expect(wakes.withLock { $0 } == 1, "no wake after the end")
        #expect(subscriber.take().isEmpty)
        let late = ChatSubscriber { _ in wakes.withLock { $0 += 1 } }
        late.finish()
        late.attach(to: feed)
        feed.append(ChatSubscriber.frame("later"))
        #expect(wakes.withLock { $0 } == 1, "attaching after the end does nothing")
    }
}
