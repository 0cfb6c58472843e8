/// What an operator may tune about the SRT listener; the rest (grace window, statistics
/// interval, idle timeout, failed-key limits) is the shared `IngestConfiguration`.
public struct SRTConfiguration: Sendable, Hashable {
    /// The receiver latency (TSBPD delay) offered; the connection uses the larger of this and the caller's.
    public var latencyMilliseconds = 120
    /// AES passphrase (10 to 79 characters); when set, callers without it are refused.
    public var passphrase: String?
    /// AES key length in bytes (16, 24 or 32) used with a passphrase.
    public var keyLength = 16
    /// The application part of the stream id's resource (`live/STREAMKEY`); the RTMP one by default.
    public var application: String?
    /// How long the listen callback may wait for the session registry's answer to "is this
    /// channel live already?" (stream keys are checked from memory, with no wait). libsrt calls
    /// the callback on the thread that receives every SRT packet of this port, so it must stay
    /// short; past it the caller is accepted and the registry's claim refuses it after the handshake.
    public var liveCheckTimeout: Duration = .milliseconds(250)
    /// The longest the listen callback waits for a publish hook's verdict (the hook's own timeout
    /// and default decide first; past this the caller is refused).
    public var admissionTimeout: Duration = .seconds(6)
    /// Pending SRT connections the listener queues.
    public var backlog = 64

    public init(latencyMilliseconds: Int = 120, passphrase: String? = nil) {
        self.latencyMilliseconds = latencyMilliseconds
        self.passphrase = passphrase
    }

    /// Checks what libsrt would refuse, with what to do about it.
    public func validate() throws(SRTServerError) {
        guard (0...60_000).contains(latencyMilliseconds) else {
            throw SRTServerError("SRT latency \(latencyMilliseconds) ms is out of range; choose 0 to 60000 ms (120 is a good default)")
        }
        if let passphrase, !(10...79).contains(passphrase.utf8.count) {
            throw SRTServerError("the SRT passphrase has \(passphrase.utf8.count) characters; it must have 10 to 79")
        }
        guard [16, 24, 32].contains(keyLength) else {
            throw SRTServerError("SRT key length \(keyLength) is not 16, 24 or 32 bytes")
        }
    }
}

public struct SRTServerError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
