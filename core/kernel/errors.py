"""Errors the core raises. Each names what failed and why, so a person can act on it.

DomainError is a refusal the domain made on purpose (bad input, a forbidden transition, a
conflict); Unavailable is not one: it says a dependency could not be reached.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the core raises on purpose (never a bug)."""


class ValidationError(DomainError):
    """Input broke an invariant. `field` names the offending input, as the wire format spells it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidFields(ValidationError):
    """Several inputs broke invariants at once: `errors` holds one ValidationError per bad field,
    so every door can name all of them (REST lists them, a form marks each field). It is a
    ValidationError of its first field, so code that handles one bad field handles this too."""

    def __init__(self, errors: list[ValidationError]) -> None:
        if not errors:
            raise ValueError("InvalidFields needs at least one error")
        super().__init__(errors[0].field, errors[0].message)
        self.args = ("; ".join(str(error) for error in errors),)
        self.errors = errors

    def __str__(self) -> str:
        return str(self.args[0])


class NotFound(DomainError):
    """The thing asked for does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class IllegalTransition(DomainError):
    """An action that the aggregate's current state does not allow. `kind` names the aggregate."""

    def __init__(self, aggregate_id: str, state: str, action: str, kind: str = "order") -> None:
        super().__init__(f"{kind} {aggregate_id} is {state}: cannot {action}")
        self.aggregate_id = aggregate_id
        self.state = state
        self.action = action
        self.kind = kind


class SagaLocked(DomainError):
    """A change that would race with a running saga (a semantic lock): cancelling or shipping an
    order while its place-order saga still decides its fate. Refused until the saga ends."""

    def __init__(self, aggregate_id: str, action: str, *, saga_id: str, definition: str, summary: str,
                 kind: str = "order") -> None:
        super().__init__(f"{kind} {aggregate_id} is held by saga {saga_id} ({definition}, {summary}): "
                         f"cannot {action} until it ends")
        self.aggregate_id = aggregate_id
        self.action = action
        self.saga_id = saga_id
        self.definition = definition
        self.summary = summary
        self.kind = kind


class ConcurrencyConflict(DomainError):
    """Someone else changed the aggregate since it was loaded."""

    def __init__(self, aggregate_id: str, expected_version: int, actual_version: int | None = None) -> None:
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(
            f"{aggregate_id} changed concurrently: expected version {expected_version}, found {actual}"
        )
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class IdempotencyConflict(DomainError):
    """An idempotency key was reused with a different request."""

    def __init__(self, key: str, aggregate_id: str, kind: str = "order") -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for {kind} {aggregate_id} with different content"
        )
        self.key = key
        self.aggregate_id = aggregate_id
        self.kind = kind

    @property
    def order_id(self) -> str:
        return self.aggregate_id


class AlreadyProcessed(DomainError):
    """The inbound message was handled before: its effect is already committed (idempotent consumer)."""

    def __init__(self, message_id: str) -> None:
        super().__init__(f"message {message_id!r} was already processed")
        self.message_id = message_id


class Unavailable(Exception):
    """A dependency (store, broker) cannot be reached. `what` names it, `hint` says what to do.

    Not a DomainError: the request may well be fine, and may succeed once the dependency is back.
    """

    def __init__(self, what: str, reason: str, hint: str = "") -> None:
        text = f"{what} is unavailable: {reason}"
        super().__init__(f"{text}. {hint}" if hint else text)
        self.what = what
        self.reason = reason
        self.hint = hint


class Refused(Exception):
    """A dependency refuses one message for good (too large, invalid): sending it again cannot
    succeed. `message_id` names it and `reason` says why. Not Unavailable: the rest can go on."""

    def __init__(self, message_id: str, reason: str) -> None:
        super().__init__(f"message {message_id!r} refused for good: {reason}")
        self.message_id = message_id
        self.reason = reason
