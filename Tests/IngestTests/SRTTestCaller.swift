import CSRT
import Dispatch

@testable import Ingest

/// A minimal libsrt caller for tests: connects with a stream id (and passphrase), reports the
/// reject reason the listener gave, and sends raw bytes in 1316-byte messages.
final class SRTTestCaller: Sendable {
    struct Refused: Error, Sendable {
        var rejectReason: Int32
        var message: String
    }

    let socket: SRTSOCKET

    private init(socket: SRTSOCKET) { self.socket = socket }

    static func connect(port: Int, streamID: String, passphrase: String? = nil) async -> Result<SRTTestCaller, Refused> {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                SRTLibrary.started
                let socket = srt_create_socket()
                SRTLibrary.set(socket, SRTO_TRANSTYPE, Int32(bitPattern: SRTT_LIVE.rawValue))
                _ = SRTLibrary.setString(socket, SRTO_STREAMID, streamID)
                if let passphrase { _ = SRTLibrary.setString(socket, SRTO_PASSPHRASE, passphrase) }
                let status = SRTSocketAddress.withAddress(host: "127.0.0.1", port: port) { srt_connect(socket, $0, $1) } ?? -1
                if status < 0 {
                    let refused = Refused(rejectReason: srt_getrejectreason(socket), message: SRTLibrary.lastError)
                    srt_close(socket)
                    continuation.resume(returning: .failure(refused))
                } else {
                    continuation.resume(returning: .success(SRTTestCaller(socket: socket)))
                }
            }
        }
    }

    /// Sends `bytes` as live messages of at most 1316 bytes, paced a little so the receiver keeps up.
    func send(_ bytes: [UInt8]) async -> Bool {
        var offset = 0
        var sent = 0
        while offset < bytes.count {
            let end = min(offset + 1316, bytes.count)
            let chunk = Array(bytes[offset..<end])
            let result = chunk.withUnsafeBufferPointer { buffer -> Int32 in
                guard let base = buffer.baseAddress else { return -1 }
                return base.withMemoryRebound(to: CChar.self, capacity: chunk.count) { srt_sendmsg(socket, $0, Int32(chunk.count), -1, 1) }
            }
            guard result >= 0 else { return false }
            offset = end
            sent += 1
            if sent % 20 == 0 { try? await Task.sleep(for: .milliseconds(5)) }
        }
        return true
    }

    func close() { srt_close(socket) }
}
