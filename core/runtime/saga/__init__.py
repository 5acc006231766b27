"""The saga engine: definitions as data, a pure `decide`, instances that round-trip as JSON, and
the definition drawn as a Mermaid flowchart. Context-free: definitions live in their contexts.

How a saga worker drives it, one input at a time, each in one transaction:

    instance = store.get(saga_id)                # None before Start
    decision = decide(definition, instance, Reply(step=..., attempt=..., ok=...), clock.now())
    store.put(decision.instance)                 # optimistic: on a version conflict, load and decide again
    history rows      <- decision.history
    outbox rows       <- decision.commands       # to the participant's commands topic, id = command.message_id
    timer rows        <- decision.timers, minus decision.cancel_timers
    (the reply's inbox entry), commit; then publish decision.feed

Inputs: Start(saga_id, data), Reply(step, attempt, ok, reason, compensation), TimerFired(step,
generation), Operator(action, step, reason). Refused operator actions raise IllegalTransition
(the saga's state does not allow it), ValidationError or NotFound (no step, unknown step, no
reason); nothing else is raised for an input that belongs to the saga. `instance.state` is the
sub-state people filter on and `instance.summary()` the line the order's API shows.
"""

from core.runtime.saga.decision import (
    CancelTimer,
    Decision,
    HistoryEntry,
    HistoryKind,
    SendCommand,
    SetTimer,
    message_id,
)
from core.runtime.saga.definition import (
    ALL,
    ONCE,
    UNTIL_SUCCESS,
    Branch,
    DefinitionError,
    Join,
    OnFailure,
    RetryPolicy,
    SagaDefinition,
    Step,
)
from core.runtime.saga.engine import decide
from core.runtime.saga.inputs import Input, Operator, OperatorAction, Reply, Start, TimerFired
from core.runtime.saga.instance import Phase, SagaInstance, SagaState, StepRun, StepStatus
from core.runtime.saga.mermaid import to_mermaid

__all__ = [
    "ALL", "ONCE", "UNTIL_SUCCESS", "Branch", "CancelTimer", "Decision", "DefinitionError", "HistoryEntry",
    "HistoryKind", "Input", "Join", "OnFailure", "Operator", "OperatorAction", "Phase", "Reply", "RetryPolicy",
    "SagaDefinition", "SagaInstance", "SagaState", "SendCommand", "SetTimer", "Start", "Step", "StepRun",
    "StepStatus", "TimerFired", "decide", "message_id", "to_mermaid",
]
