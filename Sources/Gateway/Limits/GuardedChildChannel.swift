import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// A Hummingbird child channel with a `ConnectionGuardHandler` in front of everything else, so the
/// caps and the head timeout apply from the first byte, before the HTTP decoder and the WebSocket
/// upgrade handler (which only add their own idle handling once a first request arrived); then the
/// handlers of `front` (the raw live-media path, which must see every byte too).
struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let connectionGuard: ConnectionGuard
    let scansHeads: Bool
    var front: @Sendable () -> [any ChannelHandler] = { [] }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuardHandler(connectionGuard: connectionGuard, scansHeads: scansHeads))
            try channel.pipeline.syncOperations.addHandlers(front())
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
