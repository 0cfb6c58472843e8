import NIOCore
import Synchronization
import Testing

@testable import Ingest

@Suite struct ConnectionRosterTests {
    /// Records which connections the roster closed.
    final class Closed: Sendable {
        let names = Mutex<[String]>([])
        func closer(_ name: String) -> @Sendable () -> Void { { self.names.withLock { $0.append(name) } } }
        var all: [String] { names.withLock { $0 } }
    }

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    static func admitted(_ admission: ConnectionRoster.Admission) -> ConnectionRoster.Entry? {
        if case .admitted(let entry) = admission { return entry }
        return nil
    }

    static func refusal(_ admission: ConnectionRoster.Admission) -> (ConnectionRoster.Refusal, Int)? {
        if case .refused(let refusal, let inARow) = admission { return (refusal, inARow) }
        return nil
    }

    @Test func aFullAddressReusesItsQuietestClosableConnection() throws {
        let roster = ConnectionRoster(limits: .init(total: 100, perAddress: 2, quiet: .seconds(2)))
        let closed = Closed()
        let a = try #require(Self.admitted(roster.admit(host: "h", now: Self.start, close: closed.closer("a"))))
        let b = try #require(Self.admitted(roster.admit(host: "h", now: Self.start + .seconds(1), close: closed.closer("b"))))
        a.setClosable(true)
        b.setClosable(true)

        // Neither has been quiet for 2 s yet: refused, nothing closed.
        let early = try #require(Self.refusal(roster.admit(host: "h", now: Self.start + .milliseconds(1_500), close: closed.closer("c"))))
        #expect(early == (.addressFull, 1))
        #expect(closed.all.isEmpty)

        // Later both are quiet: the one quiet longest goes.
        let c = try #require(Self.admitted(roster.admit(host: "h", now: Self.start + .seconds(5), close: closed.closer("c"))))
        #expect(closed.all == ["a"])
        #expect(roster.count(from: "h") == 2)
        #expect(roster.evictionCount == 1)

        // The closed one's own removal does not count twice.
        roster.remove(a)
        #expect(roster.count(from: "h") == 2)
        roster.remove(c)
        #expect(roster.count(from: "h") == 1)
    }

    @Test func busyOrRecentlyActiveConnectionsAreNeverTaken() throws {
        let roster = ConnectionRoster(limits: .init(total: 100, perAddress: 2, quiet: .seconds(2)))
        let closed = Closed()
        let publishing = try #require(Self.admitted(roster.admit(host: "h", now: Self.start, close: closed.closer("publishing"))))
        let active = try #require(Self.admitted(roster.admit(host: "h", now: Self.start, close: closed.closer("active"))))
        publishing.setClosable(false)
        active.setClosable(true)
        active.touch(at: Self.start + .seconds(9))

        let refused = try #require(Self.refusal(roster.admit(host: "h", now: Self.start + .seconds(10), close: closed.closer("x"))))
        #expect(refused.0 == .addressFull)
        #expect(closed.all.isEmpty)
        // Another address is not affected by this one being full.
        #expect(Self.admitted(roster.admit(host: "other", now: Self.start + .seconds(10), close: closed.closer("o"))) != nil)
    }

    @Test func aFullServerTakesTheQuietestConnectionOfAnyAddress() throws {
        let roster = ConnectionRoster(limits: .init(total: 3, perAddress: 3, quiet: .seconds(2)))
        let closed = Closed()
        for (name, offset) in [("x1", 0), ("y1", 1), ("y2", 2)] {
            let entry = try #require(
                Self.admitted(
                    roster.admit(host: String(name.prefix(1)), now: Self.start + .seconds(Int64(offset)), close: closed.closer(name))))
            entry.setClosable(name != "x1")
        }
        // x1 is quiet longest but busy; y1 is the quietest closable one.
        #expect(Self.admitted(roster.admit(host: "z", now: Self.start + .seconds(10), close: closed.closer("z1"))) != nil)
        #expect(closed.all == ["y1"])
        #expect(roster.count == 3)
    }

    @Test func refusalsAreCountedForSampledLoggingAndResetByAnAdmission() throws {
        let roster = ConnectionRoster(limits: .init(total: 1, perAddress: 1, quiet: .seconds(2)))
        let held = try #require(Self.admitted(roster.admit(host: "h", now: Self.start, close: {})))
        held.setClosable(false)
        for n in 1...3 {
            #expect(try #require(Self.refusal(roster.admit(host: "h", now: Self.start, close: {}))) == (.addressFull, n))
        }
        for n in 1...2 {
            #expect(try #require(Self.refusal(roster.admit(host: "other", now: Self.start, close: {}))) == (.full, n))
        }
        roster.remove(held)
        #expect(roster.count == 0)
        #expect(Self.admitted(roster.admit(host: "h", now: Self.start, close: {})) != nil)
        #expect(try #require(Self.refusal(roster.admit(host: "other", now: Self.start, close: {}))) == (.full, 1))
    }
}
