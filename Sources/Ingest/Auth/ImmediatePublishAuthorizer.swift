/// A stream-key check that answers at once, from memory. SRT decides in libsrt's listen callback,
/// on the thread that receives every packet of its port: that thread must never wait on the
/// database (docs/benchmarks.md#srt-key-check).
public protocol ImmediatePublishAuthorizer: Sendable {
    func authorizeNow(app: String, streamKey: String, remote: String) -> PublishAuthorization
}
