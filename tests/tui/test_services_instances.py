"""The Services panel's instances, driven headless through the real app: every instance the
registry (an in-memory one) lists, with what its agent says (health, lease left, last transition)
and its requests per second between two reads of the gateway's counts; `d` drains the selected
instance and `x` stops it, and a drained one leaves the table at the next read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from textual.widgets import DataTable

import bootstrap
from adapters.outbound.registry.memory import MemoryRegistry
from core.runtime.instances import RegistryInstances
from ports.instances import AgentStatus, Change
from ports.registry import InstanceRecord, Registration
from tests.tui.conftest import dashboard, until

pytestmark = pytest.mark.anyio
AT = datetime(2026, 5, 1, 12, 0, 7, tzinfo=UTC)


class StillClock:
    """Time stands still: the leases never run out while the test looks."""

    def now(self) -> datetime:
        return AT


class Agent:
    """Stands for the sidecars: answers from a table, and a drain deregisters (as a sidecar does)."""

    def __init__(self, registry: MemoryRegistry, registrations: dict[str, Registration]) -> None:
        self.registry = registry
        self.registrations = registrations
        self.actions: list[tuple[str, str]] = []

    def status(self, record: InstanceRecord) -> AgentStatus:
        if record.instance_id == "b":
            return AgentStatus("down", 3.0, (Change(AT, "up", "down", "3 failed probes: connection refused"),))
        return AgentStatus("up", 4.2, (Change(AT, "unknown", "up", "HTTP 200"),))

    def drain(self, record: InstanceRecord) -> None:
        self.actions.append(("drain", record.key))
        self.registry.deregister(self.registrations[record.key])

    def stop(self, record: InstanceRecord) -> None:
        self.actions.append(("stop", record.key))


async def test_instances_show_with_health_lease_and_rate_and_can_be_drained_or_stopped(
        application: bootstrap.Application) -> None:
    registry = MemoryRegistry(StillClock())
    registrations = {}
    for instance_id, port in (("a", 9003), ("b", 9103)):
        record = InstanceRecord("payments", instance_id, f"http://127.0.0.1:{port}", "0.1.0", 100 + port,
                                datetime(2026, 5, 1, tzinfo=UTC))
        registrations[record.key] = registry.register(record, 5)
    agent = Agent(registry, registrations)
    counts = iter([{"payments/a": 10.0, "payments/b": 0.0}] + [{"payments/a": 30.0, "payments/b": 0.0}] * 100)
    ticks = iter(float(n) for n in range(100))
    instances = RegistryInstances(registry, agent, traffic=lambda: next(counts), monotonic=lambda: next(ticks))
    app = dashboard(application, instances=instances)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        table: DataTable[Any] = app.query_one("#instances-table", DataTable)
        await until(pilot, lambda: table.row_count == 2)
        await until(pilot, lambda: str(table.get_row("payments/a")[5]) != "0.0")
        a = [c.value for c in table.get_row("payments/a")]
        b = [c.value for c in table.get_row("payments/b")]  # whole values, not what a column shows
        assert a[:4] == ["payments/a", "127.0.0.1:9003", "4 s", "up"]
        assert a[5] == "20.0"  # 20 more requests in one second
        assert b[3] == "down" and "connection refused" in b[4] and b[4].startswith("12:00:07 down")

        table.focus()
        table.move_cursor(row=table.get_row_index("payments/b"))
        await pilot.press("x")
        await until(pilot, lambda: agent.actions == [("stop", "payments/b")])
        await pilot.press("d")
        await until(pilot, lambda: ("drain", "payments/b") in agent.actions)
        await until(pilot, lambda: table.row_count == 1)
        assert [r.instance_id for r in registry.instances("payments")] == ["a"]
    registry.close()
