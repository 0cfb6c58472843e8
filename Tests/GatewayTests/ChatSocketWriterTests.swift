import NIOCore
import NIOPosix
import Testing

@testable import Gateway

@Suite struct ChatSocketWriterTests {
    typealias Writer = ChatSocketWriter.LoopWriter

    func writers(_ count: Int, permits: ChatSocketWriter.TurnPermits) -> [Writer] {
        (0..<count).map { _ in
            Writer(eventLoop: MultiThreadedEventLoopGroup.singleton.next(), coalescing: .milliseconds(1), turns: permits)
        }
    }

    @Test func oneWriterAtATimeInArrivalOrder() {
        let permits = ChatSocketWriter.TurnPermits(1)
        let w = writers(3, permits: permits)
        #expect(permits.acquire(w[0]))
        #expect(!permits.acquire(w[1]))
        #expect(!permits.acquire(w[2]))
        // A writer that asks again while queued keeps its place and is queued once.
        #expect(!permits.acquire(w[1]))
        // w[0] has more: the permit goes to w[1], w[0] queues behind w[2].
        #expect(permits.release(requeueing: w[0]) === w[1])
        #expect(permits.release(requeueing: nil) === w[2])
        #expect(permits.release(requeueing: nil) === w[0])
        // Nobody waits: the permit is free again.
        #expect(permits.release(requeueing: nil) == nil)
        #expect(permits.acquire(w[2]))
    }

    @Test func permitsAreShared() {
        let permits = ChatSocketWriter.TurnPermits(2)
        let w = writers(3, permits: permits)
        #expect(permits.acquire(w[0]))
        #expect(permits.acquire(w[1]))
        #expect(!permits.acquire(w[2]))
        #expect(permits.release(requeueing: nil) === w[2])
        #expect(permits.release(requeueing: nil) == nil)
        #expect(permits.release(requeueing: nil) == nil)
        #expect(permits.acquire(w[0]) && permits.acquire(w[1]))
        #expect(!permits.acquire(w[2]))
    }

    @Test func thereIsAlwaysAPermit() {
        let permits = ChatSocketWriter.TurnPermits(0)
        let w = writers(2, permits: permits)
        #expect(permits.acquire(w[0]))
        #expect(!permits.acquire(w[1]))
    }

    @Test func framesAreJoinedInOrder() {
        let allocator = ByteBufferAllocator()
        let single = ByteBuffer(string: "only")
        #expect(Writer.joined([single], allocator: allocator) == single)
        let joined = Writer.joined([ByteBuffer(string: "ab"), ByteBuffer(string: ""), ByteBuffer(string: "cde")], allocator: allocator)
        #expect(String(buffer: joined) == "abcde")
    }
}
