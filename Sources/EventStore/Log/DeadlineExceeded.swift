/// `withDeadline`'s work did not finish in time.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "the database did not answer within \(limit)" }
}
