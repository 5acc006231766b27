"""Sagas and timers as the file store's journal and snapshots keep them (see state.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ports.sagas import SagaRecord, Timer


def record_to_json(record: SagaRecord) -> dict[str, Any]:
    return {"saga_id": record.saga_id, "definition": record.definition, "state": record.state,
            "instance": record.instance, "version": record.version, "started_at": record.started_at.isoformat(),
            "updated_at": record.updated_at.isoformat(),
            "next_due": record.next_due.isoformat() if record.next_due is not None else None}


def record_from_json(data: dict[str, Any]) -> SagaRecord:
    """The record `record_to_json` wrote; KeyError, ValueError or TypeError for anything else."""
    if not isinstance(data["instance"], dict):
        raise TypeError(f"saga {data['saga_id']!r}: its instance is not a JSON object")
    return SagaRecord(saga_id=str(data["saga_id"]), definition=str(data["definition"]), state=str(data["state"]),
                      instance=data["instance"], version=int(data["version"]),
                      started_at=datetime.fromisoformat(data["started_at"]),
                      updated_at=datetime.fromisoformat(data["updated_at"]),
                      next_due=datetime.fromisoformat(data["next_due"]) if data["next_due"] is not None else None)


def timer_to_json(timer: Timer, claimed_until: datetime | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"saga_id": timer.saga_id, "step": timer.step, "generation": timer.generation,
                            "due_at": timer.due_at.isoformat()}
    if claimed_until is not None:
        data["claimed_until"] = claimed_until.isoformat()
    return data


def timer_from_json(data: dict[str, Any]) -> tuple[Timer, datetime | None]:
    """The timer (and its claim) `timer_to_json` wrote; KeyError, ValueError or TypeError for anything else."""
    claimed = data.get("claimed_until")
    timer = Timer(str(data["saga_id"]), str(data["step"]), int(data["generation"]),
                  datetime.fromisoformat(data["due_at"]))
    return timer, datetime.fromisoformat(claimed) if claimed is not None else None
