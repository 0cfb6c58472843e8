import NIOCore
import PostgresNIO

/// How the log tells a lost connection (retried) from a refusal (reported), and says either in words.
extension AppendBatcher {
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if let error = error as? PSQLError {
            switch error.code {
            case .serverClosedConnection, .connectionError, .clientClosedConnection, .uncleanShutdown, .poolClosed:
                return true
            case .server:
                // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("57P") || state.hasPrefix("08")
            default:
                return false
            }
        }
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].contains { $0.map(isConnectionFailure) ?? false }
        }
        // The pool fails leases fast while it backs off from failed connection attempts; its
        // error type lives in an underscored module, hence the name check.
        return error is ChannelError || error is IOError || error is DeadlineExceeded
            || String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            return "\(error.code)\(error.underlying.map { ": \($0)" } ?? "")"
        }
        return String(describing: error)
    }
}
