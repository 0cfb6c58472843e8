import Foundation
import NIOSSL
import Synchronization

/// The node's TLS identity (`--tls-cert`/`--tls-key`), shared by HTTPS and RTMPS. Each new
/// connection takes the contexts current when it arrives, so `reload()` (SIGHUP) swaps the
/// certificate for new connections while open ones, live publishes included, keep theirs.
public final class TLSCertificates: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private let current: Mutex<Loaded>

    struct Loaded: Sendable {
        var https: NIOSSLContext
        var rtmps: NIOSSLContext
        var summary: String
    }

    /// Reads and checks both files; the error says which file is wrong and what to give instead.
    public init(certificatePath: String, keyPath: String) throws(TLSCertificateError) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        current = Mutex(try Self.load(certificatePath: certificatePath, keyPath: keyPath))
    }

    /// HTTP/2 or HTTP/1.1 by ALPN (browsers open `wss://` chat on HTTP/1.1).
    public var httpsContext: NIOSSLContext { current.withLock { $0.https } }
    /// No ALPN: RTMP has no token for it and encoders send none.
    public var rtmpsContext: NIOSSLContext { current.withLock { $0.rtmps } }
    /// The leaf certificate's subject and expiry, for the log.
    public var summary: String { current.withLock { $0.summary } }

    /// Reads both files again; on any error the certificate in use stays and the error says why.
    @discardableResult
    public func reload() throws(TLSCertificateError) -> String {
        let loaded = try Self.load(certificatePath: certificatePath, keyPath: keyPath)
        current.withLock { $0 = loaded }
        return loaded.summary
    }

    /// TLS 1.2 at the least: 1.0 and 1.1 are deprecated (RFC 8996) and every encoder and browser
    /// of the last decade speaks 1.2.
    static func configuration(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, alpn: [String]) -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = alpn
        return tls
    }

    private static func load(certificatePath: String, keyPath: String) throws(TLSCertificateError) -> Loaded {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw TLSCertificateError(
                "cannot read the TLS certificate chain \(certificatePath) (\(error)); give a PEM file with --tls-cert")
        }
        guard let leaf = chain.first else {
            throw TLSCertificateError("\(certificatePath) holds no certificate; give a PEM certificate chain with --tls-cert")
        }
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw TLSCertificateError("cannot read the TLS private key \(keyPath) (\(error)); give an unencrypted PEM key with --tls-key")
        }
        do {
            let https = try NIOSSLContext(configuration: configuration(chain: chain, key: key, alpn: ["h2", "http/1.1"]))
            let rtmps = try NIOSSLContext(configuration: configuration(chain: chain, key: key, alpn: []))
            let expiry = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
            return Loaded(https: https, rtmps: rtmps, summary: "\(leaf.description), valid until \(expiry.formatted(.iso8601))")
        } catch {
            throw TLSCertificateError(
                "the key \(keyPath) does not fit the certificate \(certificatePath) (\(error)); give the key the certificate was issued for"
            )
        }
    }
}

public struct TLSCertificateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
