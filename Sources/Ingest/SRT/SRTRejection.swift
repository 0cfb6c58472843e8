import CSRT

/// The SRT reject reason (`SRT_REJX_*`, the HTTP status + 1000 of the SRT Access Control spec)
/// that tells the caller's log why its connection was refused.
enum SRTRejection {
    static func code(for reason: PublishRefusalReason) -> Int32 {
        switch reason {
        case .unknownKey: SRT_REJX_NOTFOUND
        case .revokedKey, .admissionRefused: SRT_REJX_FORBIDDEN
        case .channelAlreadyLive, .backupAlreadyLive, .liveOnAnotherNode: SRT_REJX_CONFLICT
        case .malformedRequest: SRT_REJX_BAD_REQUEST
        case .tooManyFailedAttempts, .serverFull: SRT_REJX_OVERLOAD
        case .unavailable: SRT_REJX_DOWN
        }
    }

    static func code(for error: SRTStreamID.ParseError) -> Int32 {
        switch error {
        case .unknownMode: SRT_REJX_BAD_MODE
        case .unsupportedType: SRT_REJX_NOTSUP_MEDIA
        default: SRT_REJX_BAD_REQUEST
        }
    }
}
