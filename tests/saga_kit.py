"""Real sagas without a broker, for the tests of the doors that operate them: the memory store,
the real runner and the SagaOperations service over them. Participants answer by hand (`reply`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.outbound.memory.determinism import SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.storage import MemoryStorage
from core.orders.sagas import DEFINITIONS
from core.runtime.saga import Operator, Reply
from core.runtime.saga_operations import SagaOperationsService
from core.runtime.sagas import SagaRunner
from core.runtime.unit_of_work import UnitOfWork
from ports.system import EventFeed


def order_data(order_id: str) -> dict[str, Any]:
    return {"order_id": order_id, "customer_id": "c-1", "currency": "EUR",
            "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}], "total": "19.98"}


class SagaKit:
    """One store, one runner, one SagaOperations: start sagas, answer for participants, operate."""

    def __init__(self, feed: EventFeed | None = None, storage: Any = None) -> None:
        self.storage = storage or MemoryStorage()
        self.feed = feed or RingBufferFeed()
        self.clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC), step=timedelta(milliseconds=10))
        self.runner = SagaRunner(DEFINITIONS, topics=lambda participant: f"orderhex.{participant}.commands",
                                 replies_topic="orderhex.sagas.replies", feed=self.feed, now=self.clock.now)
        self.operations = SagaOperationsService(self.storage, DEFINITIONS, self.act)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.storage.committer, project=None, events_topic="orderhex.orders.events")

    def act(self, saga_id: str, operator: Operator) -> None:
        self.runner.act(self.unit_of_work(), saga_id, operator)

    def start(self, order_id: str, definition: str = "place-order") -> str:
        uow = self.unit_of_work()
        with uow:
            decision = self.runner.start(uow, definition, order_id, order_data(order_id))
            uow.commit()
        self.runner.announce(decision)
        return order_id

    def reply(self, saga_id: str, step: str, ok: bool = True, attempt: int = 1, reason: str | None = None,
              compensation: bool = False) -> None:
        message = f"reply:{saga_id}:{step}:{attempt}:{compensation}:{ok}"
        self.runner.reply(self.unit_of_work(), saga_id, Reply(step=step, attempt=attempt, ok=ok, reason=reason,
                                                              compensation=compensation), message)
