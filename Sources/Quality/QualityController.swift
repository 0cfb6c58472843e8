import EventStore
import Foundation
import Logging
import Transcode

/// Applies the ladder policy to live sessions' transcoders: follows `QualityChanged` in the log and
/// turns renditions on and off through `QualityControl` (a `Transcoder`), naming the event as the
/// cause of what it changes. RECOVERY changes
/// nothing: the level it probes from keeps its renditions until the probe confirms.
///
/// Whoever starts a session's transcoder calls `attach` (it applies the session's current level at
/// once, from the read model) and `detach` when the session ends. Transitions come from the log, so
/// a session whose machine ran on another node is steered all the same.
public actor QualityController {
    struct Attached {
        var control: any QualityControl
        var policy: QualityLadderPolicy
        var level: QualityState?
        var onError: (@Sendable () -> Void)?
    }

    let store: EventStore
    let readModel: QualityReadModel
    private var attached: [String: Attached] = [:]

    public init(store: EventStore) {
        self.store = store
        self.readModel = QualityReadModel(store: store)
    }

    /// Follows the log from `position` (default: its head) until cancelled.
    public func run(after position: Int64? = nil) async {
        var head: Int64 = 0
        if let position {
            head = position
        } else {
            do {
                head = try await store.headPosition()
            } catch {
                store.logger.warning("quality controller cannot read the log's head, following from the start: \(error)")
            }
        }
        for await event in store.subscribe(after: head, filter: EventFilter(types: [QualityChanged.eventType])) {
            do {
                let changed = try store.registry.decode(event, as: QualityChanged.self)
                apply(changed.to, sessionID: changed.sessionID, cause: EventCause(event))
            } catch {
                DecodeFailures.report(
                    event, error, consumer: "quality controller", consequence: "its session's ladder is not changed", logger: store.logger)
            }
        }
    }

    /// Steers `control` by the session's quality from now on (`sessionID`: the lowercased UUID).
    /// `policy` names the transcoder's video renditions and their heights. `onError` runs when the
    /// session's machine enters ERROR (the session's backup input may take over).
    public func attach(
        sessionID: String, control: any QualityControl, policy: QualityLadderPolicy, onError: (@Sendable () -> Void)? = nil
    ) async {
        attached[sessionID] = Attached(control: control, policy: policy, level: nil, onError: onError)
        do {
            if let row = try await readModel.session(sessionID), attached[sessionID]?.level == nil {
                apply(row.level, sessionID: sessionID)
            }
        } catch {
            store.logger.warning("quality of session \(sessionID) unknown until its next change: \(error)")
        }
    }

    public func detach(sessionID: String) {
        attached[sessionID] = nil
    }

    /// The level last applied to an attached session.
    public func appliedLevel(sessionID: String) -> QualityState? {
        attached[sessionID]?.level
    }

    func apply(_ state: QualityState, sessionID: String, cause: EventCause? = nil) {
        guard state != .recovery, var entry = attached[sessionID] else { return }
        entry.control.attributeChanges(to: cause)
        entry.policy.apply(state, to: entry.control)
        entry.level = state
        attached[sessionID] = entry
        if state == .error, cause != nil { entry.onError?() }
    }
}
