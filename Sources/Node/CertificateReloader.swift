import Ingest
import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads the TLS certificate and key on SIGHUP (what certbot's deploy hook sends): new HTTPS and
/// RTMPS connections get the new one, open ones (live publishes, chat sockets) keep theirs. A file
/// that does not load leaves the certificate in use and says why in the log.
public struct CertificateReloader: Service, CustomStringConvertible {
    let certificates: TLSCertificates
    let logger: Logger

    public var description: String { "TLS certificate reloader" }

    public init(certificates: TLSCertificates, logger: Logger) {
        self.certificates = certificates
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            do {
                let summary = try certificates.reload()
                logger.notice("reloaded the TLS certificate for new connections", metadata: ["certificate": "\(summary)"])
            } catch {
                logger.error("kept the TLS certificate in use: \(error)")
            }
        }
    }
}
