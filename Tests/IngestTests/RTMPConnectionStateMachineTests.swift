import Testing

@testable import Ingest

/// The RTMP connection's gating and closing decisions, without a socket.
@Suite struct RTMPConnectionStateMachineTests {
    func machine(outputLimit: Int = 1_000) -> RTMPConnectionStateMachine {
        RTMPConnectionStateMachine(outputLimit: outputLimit, flushTimeout: .seconds(2))
    }

    func publishing() -> RTMPConnectionStateMachine {
        var machine = machine()
        machine.handshakeCompleted()
        #expect(machine.admissionStarted() == true)
        #expect(machine.admissionFinished(accepted: true) == .publish)
        return machine
    }

    @Test func messagesFlowOnlyAfterTheHandshakeAndNotWhileAPublishIsChecked() {
        var machine = machine()
        #expect(!machine.mayProcessMessages)
        #expect(machine.readRequested() == .read, "the handshake itself must be read")
        machine.handshakeCompleted()
        #expect(machine.mayProcessMessages)
        #expect(machine.admissionStarted() == true)
        #expect(machine.admissionStarted() == false, "one admission at a time")
        #expect(!machine.mayProcessMessages)
        #expect(machine.readRequested() == .wait)
        #expect(machine.admissionFinished(accepted: true) == .publish)
        #expect(machine.isPublishing && machine.mayProcessMessages)
        #expect(machine.resume() == .read, "the read held during admission happens now")
        #expect(machine.resume() == .wait, "and only once")
    }

    @Test func aRefusedPublishLetsTheEncoderTryAgain() {
        var machine = machine()
        machine.handshakeCompleted()
        _ = machine.admissionStarted()
        #expect(machine.admissionFinished(accepted: false) == .refuse)
        #expect(machine.phase == .chunking(.none) && machine.mayProcessMessages)
        #expect(machine.admissionStarted() == true)
    }

    @Test func anAdmissionThatReturnsAfterTheCloseIsAbandoned() {
        var machine = machine()
        machine.handshakeCompleted()
        _ = machine.admissionStarted()
        #expect(machine.close() == .flushThenClose(forceAfter: .seconds(2)))
        #expect(machine.admissionFinished(accepted: true) == .abandon, "the session claimed for it must be ended")
        #expect(machine.admissionFinished(accepted: false) == .ignore)
        #expect(!machine.isPublishing)
    }

    @Test func aFullMediaQueueHoldsReadsUntilTheConsumerResumes() {
        var machine = publishing()
        machine.consumerStopped()
        #expect(!machine.mayProcessMessages)
        #expect(machine.readRequested() == .wait)
        #expect(machine.resume() == .wait, "still blocked")
        machine.consumerResumed()
        #expect(machine.mayProcessMessages)
        #expect(machine.resume() == .read)
    }

    @Test func aPeerThatDoesNotReadIsNotReadFrom() {
        var machine = publishing()
        machine.writabilityChanged(to: false)
        #expect(machine.readRequested() == .wait)
        #expect(machine.mayProcessMessages, "buffered messages may still be processed; replies are capped by the budget")
        machine.writabilityChanged(to: true)
        #expect(machine.resume() == .read)
    }

    @Test func repliesBeyondTheBudgetClose() {
        var machine = machine(outputLimit: 1_000)
        machine.handshakeCompleted()
        #expect(machine.outputQueued(600) == .write)
        #expect(machine.outputQueued(300) == .write)
        #expect(machine.outputQueued(200) == .closeOverBudget(queued: 1_100))
        machine.outputWritten(1_100)
        #expect(machine.queuedOutput == 0)
        #expect(machine.outputQueued(999) == .write, "written output frees the budget")
        #expect(machine.outputQueued(Int.max) == .closeOverBudget(queued: Int.max), "no overflow trap")
        machine.outputWritten(-5)
        #expect(machine.queuedOutput == Int.max)
    }

    @Test func closingHappensOnceStopsReadingAndIsForcedWhenTheFlushHangs() {
        var machine = publishing()
        #expect(machine.readRequested() == .read)
        #expect(machine.close() == .flushThenClose(forceAfter: .seconds(2)))
        #expect(machine.close() == .none)
        #expect(!machine.mayProcessMessages)
        #expect(machine.readRequested() == .wait)
        #expect(machine.resume() == .wait, "a closing connection never reads again")
        #expect(machine.flushDeadlinePassed() == true, "still closing at the deadline: force it")
        machine.channelInactive()
        #expect(machine.flushDeadlinePassed() == false, "already closed: nothing to force")
        #expect(machine.close() == .none)
    }

    @Test func theHandshakeStageIsGatedByWritabilityToo() {
        var machine = machine()
        machine.writabilityChanged(to: false)
        #expect(machine.readRequested() == .wait)
        machine.writabilityChanged(to: true)
        #expect(machine.resume() == .read)
    }
}
