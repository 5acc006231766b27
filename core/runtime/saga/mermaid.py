"""A saga definition drawn as a Mermaid flowchart (`orderhex sagas graph NAME` prints it).

Solid edges go forward; a branch opens at a fork and closes at its join; the pivot is drawn as
a subroutine box; compensations hang off their steps on dotted edges and lead, dotted, to the
on_failure command.
"""

from __future__ import annotations

from datetime import timedelta

from core.runtime.saga.definition import Branch, RetryPolicy, SagaDefinition, Step


def to_mermaid(definition: SagaDefinition) -> str:
    nodes = [f'    start(["{definition.name}"])']
    edges: list[str] = []
    previous = "start"
    for index, stage in enumerate(definition.steps, start=1):
        if isinstance(stage, Branch):
            fork, join = f"fork_{index}", f"join_{index}"
            nodes.append(f'    {fork}{{{{"branch"}}}}')
            nodes.append(f'    {join}{{{{"join {stage.join.value}"}}}}')
            edges.append(f"    {previous} --> {fork}")
            for step in stage.steps:
                nodes.append(_step_node(step, definition.pivot))
                edges.append(f"    {fork} --> {_id(step)}")
                edges.append(f"    {_id(step)} --> {join}")
            previous = join
        else:
            nodes.append(_step_node(stage, definition.pivot))
            edges.append(f"    {previous} --> {_id(stage)}")
            previous = _id(stage)
    nodes.append('    completed(["completed"])')
    edges.append(f"    {previous} --> completed")
    undone = [step for step in definition.every_step if step.compensation is not None]
    for step in undone:
        nodes.append(f'    undo_{_slug(step)}(["{step.compensation}"])')
        edges.append(f"    {_id(step)} -. undo .-> undo_{_slug(step)}")
    if definition.on_failure is not None:
        nodes.append(f'    on_failure>"{definition.on_failure.command} (with the reason)"]')
        nodes.append('    compensated(["compensated"])')
        for step in undone:
            edges.append(f"    undo_{_slug(step)} -.-> on_failure")
        edges.append("    on_failure -.-> compensated")
    return "\n".join(["flowchart TD", *nodes, *edges]) + "\n"


def _step_node(step: Step, pivot: str | None) -> str:
    is_pivot = step.name == pivot
    name = f"{step.name} (pivot)" if is_pivot else step.name
    label = f"{name}<br/>{step.command}<br/>deadline {_duration(step.deadline)}, {_tries(step.retry)}"
    return f'    {_id(step)}[["{label}"]]' if is_pivot else f'    {_id(step)}["{label}"]'


def _id(step: Step) -> str:
    # Prefixed: a bare "end" would close the flowchart in Mermaid's grammar.
    return f"step_{_slug(step)}"


def _slug(step: Step) -> str:
    return step.name.replace("-", "_")


def _tries(policy: RetryPolicy) -> str:
    if policy.max_attempts is None:
        return "until it succeeds"
    return "1 try" if policy.max_attempts == 1 else f"up to {policy.max_attempts} tries"


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
