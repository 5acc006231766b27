"""A saga's definition as data: its steps, their commands and compensations, deadlines and retries.

A definition lives in the context that owns the process (core/orders/sagas.py) and is checked
when it is built, so a saga that could never end (a compensation after the pivot, a pivot that
gives up) is refused at import time rather than discovered in production. Commands are named by
their qualified type ("inventory.ReserveStock"); a pure payload builder turns the saga's data
into the command's JSON body (its context's wire format), so the engine never names a context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

# The saga's data -> the command's JSON body. Pure: same data, same payload, on every replay.
PayloadBuilder = Callable[[Mapping[str, Any]], dict[str, Any]]
# The saga's data and the reason it failed -> the final command's JSON body.
FailurePayloadBuilder = Callable[[Mapping[str, Any], str], dict[str, Any]]

_COMMAND = re.compile(r"[a-z][a-z0-9_]*\.[A-Z][A-Za-z0-9]*")
_NAME = re.compile(r"[a-z][a-z0-9-]*")


class DefinitionError(ValueError):
    """A saga definition that cannot run as written. Names the definition and what is wrong."""


class Join(StrEnum):
    """How a branch ends. ALL: every step of the branch must succeed."""

    ALL = "all"


ALL = Join.ALL


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often a step is tried and how long to wait between tries.

    `max_attempts` counts every try, the first included; None tries until it succeeds. The wait
    before try n+1 is `backoff_initial * backoff_multiplier ** (n - 1)`, at most `backoff_max`.
    `retry_failures` False ends the step at its first failed reply (a refusal such as "stock
    short" gives the same answer when asked again); missed deadlines are retried either way,
    because a lost message is the usual cause.
    """

    max_attempts: int | None = 1
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_multiplier: float = 2.0
    backoff_max: timedelta = timedelta(minutes=1)
    retry_failures: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise DefinitionError(f"max_attempts must be at least 1 (or None: until it succeeds), "
                                  f"got {self.max_attempts}")
        if self.backoff_initial < timedelta(0) or self.backoff_max < self.backoff_initial:
            raise DefinitionError(f"backoff must satisfy 0 <= initial <= max, got {self.backoff_initial} and "
                                  f"{self.backoff_max}")
        if self.backoff_multiplier < 1:
            raise DefinitionError(f"backoff_multiplier must be at least 1, got {self.backoff_multiplier}")

    @property
    def until_success(self) -> bool:
        return self.max_attempts is None

    def allows_another(self, tries: int) -> bool:
        """Whether a try may follow `tries` tries that did not succeed."""
        return self.max_attempts is None or tries < self.max_attempts

    def delay(self, tries: int) -> timedelta:
        """The wait after `tries` unsuccessful tries, before the next one."""
        # The exponent is capped so a step retried for days cannot overflow a float.
        growth = self.backoff_multiplier ** min(max(0, tries - 1), 64)
        return min(self.backoff_max, timedelta(seconds=self.backoff_initial.total_seconds() * growth))


ONCE = RetryPolicy(max_attempts=1)
UNTIL_SUCCESS = RetryPolicy(max_attempts=None)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One command the saga sends a participant and waits for, with the command that undoes it.

    `deadline` bounds each try (and each try of the compensation); `retry` governs the command's
    tries and `compensation_retry` the compensation's: a compensation that keeps failing past its
    policy leaves the saga stuck, waiting for an operator, never silently half-undone.
    """

    name: str
    participant: str
    command: str
    payload: PayloadBuilder
    compensation: str | None = None
    compensation_payload: PayloadBuilder | None = None
    deadline: timedelta
    retry: RetryPolicy = ONCE
    compensation_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=10))

    def __post_init__(self) -> None:
        where = f"step {self.name!r}"
        if not _NAME.fullmatch(self.name):
            raise DefinitionError(f"{where}: a step name is lower-case words joined by '-'")
        for command in (self.command, self.compensation):
            if command is None:
                continue
            if not _COMMAND.fullmatch(command):
                raise DefinitionError(f"{where}: {command!r} is not a qualified command type "
                                      f"like 'inventory.ReserveStock'")
            if command.split(".")[0] != self.participant:
                raise DefinitionError(f"{where}: {command} is not a command of participant {self.participant!r}")
        if (self.compensation is None) != (self.compensation_payload is None):
            raise DefinitionError(f"{where}: a compensation needs both its command and its payload builder")
        if self.deadline <= timedelta(0):
            raise DefinitionError(f"{where}: the deadline must be positive, got {self.deadline}")


@dataclass(frozen=True)
class Branch:
    """Steps that run in parallel. With join ALL the saga goes on once every one succeeded."""

    steps: tuple[Step, ...]
    join: Join = ALL

    def __post_init__(self) -> None:
        if len(self.steps) < 2:
            raise DefinitionError(f"a branch runs at least two steps in parallel, got {len(self.steps)}")


Stage = Step | Branch


@dataclass(frozen=True, kw_only=True)
class OnFailure:
    """The command sent once every completed step is compensated, carrying the reason."""

    participant: str
    command: str
    payload: FailurePayloadBuilder

    def __post_init__(self) -> None:
        if not _COMMAND.fullmatch(self.command) or self.command.split(".")[0] != self.participant:
            raise DefinitionError(f"on_failure: {self.command!r} is not a command of participant {self.participant!r}")

    @property
    def name(self) -> str:
        return "on-failure"


@dataclass(frozen=True)
class SagaDefinition:
    """A saga: its `steps` run in order, each a Step or a Branch of steps that run in parallel.

    `pivot` names the step after which the saga only goes forward: it and every step after it
    have no compensation and are retried until they succeed. None means there is no way back at
    all (every step only goes forward). Before the pivot, a step that fails (after its retries)
    or misses its deadline makes the saga compensate the completed steps and send `on_failure`.
    """

    name: str
    steps: tuple[Stage, ...]
    pivot: str | None
    on_failure: OnFailure | None = None

    def __post_init__(self) -> None:
        where = f"saga {self.name!r}"
        if not _NAME.fullmatch(self.name):
            raise DefinitionError(f"{where}: a saga name is lower-case words joined by '-'")
        if not self.steps:
            raise DefinitionError(f"{where}: a saga needs at least one step")
        names = [step.name for step in self.every_step]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise DefinitionError(f"{where}: step names must be unique, repeated: {', '.join(repeated)}")
        if self.on_failure is not None and self.on_failure.name in names:
            raise DefinitionError(f"{where}: {self.on_failure.name!r} is reserved for the on_failure command")
        if self.pivot is not None:
            if self.pivot not in names:
                raise DefinitionError(f"{where}: the pivot {self.pivot!r} is not one of its steps ({', '.join(names)})")
            if not any(isinstance(stage, Step) and stage.name == self.pivot for stage in self.steps):
                raise DefinitionError(f"{where}: the pivot {self.pivot!r} must be a step of its own, not in a branch")
        for step in self.forward_only_steps():
            if step.compensation is not None:
                raise DefinitionError(f"{where}: step {step.name!r} is at or after the pivot, so it cannot have a "
                                      f"compensation ({step.compensation})")
            if not step.retry.until_success:
                raise DefinitionError(f"{where}: step {step.name!r} is at or after the pivot, so it must be retried "
                                      f"until it succeeds (max_attempts=None), got {step.retry.max_attempts}")

    @property
    def every_step(self) -> tuple[Step, ...]:
        """Every step, in definition order (a branch's steps in their order)."""
        return tuple(step for stage in self.steps for step in _stage_steps(stage))

    def step(self, name: str) -> Step:
        for step in self.every_step:
            if step.name == name:
                return step
        raise KeyError(f"saga {self.name!r} has no step {name!r}; its steps: "
                       f"{', '.join(s.name for s in self.every_step)}")

    def stage_steps(self) -> Iterator[tuple[Step, ...]]:
        """The stages in order, each as the steps that run together."""
        for stage in self.steps:
            yield _stage_steps(stage)

    def forward_only_steps(self) -> tuple[Step, ...]:
        """The pivot and every step after it (all steps when there is no pivot)."""
        steps = self.every_step
        if self.pivot is None:
            return steps
        index = [step.name for step in steps].index(self.pivot)
        return steps[index:]

    def is_before_pivot(self, name: str) -> bool:
        return name not in {step.name for step in self.forward_only_steps()}


def _stage_steps(stage: Stage) -> tuple[Step, ...]:
    return stage.steps if isinstance(stage, Branch) else (stage,)
