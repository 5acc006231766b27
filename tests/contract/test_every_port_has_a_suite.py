"""Meta-test: a registered adapter or a new outbound port cannot slip past the contract suites."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Protocol

import bootstrap
import ports

HERE = Path(__file__).parent
INBOUND = {"Ordering", "Inventory", "Payments", "Shipping", "Control", "Resilience", "SagaOperations", "Overviews",
           "Instances"}
# Which suite holds each outbound port's contract.
SUITES = {
    "Repository": "test_unit_of_work", "UnitOfWork": "test_unit_of_work", "Inbox": "test_unit_of_work",
    "Committer": "test_unit_of_work", "ViewWriter": "test_second_context", "Storage": "test_projection_rebuild",
    "Outbox": "test_outbox", "ReadModel": "test_read_model", "EventStore": "test_event_store",
    "Publisher": "test_messaging", "Subscriber": "test_messaging", "Messaging": "test_messaging",
    "StreamingPublisher": "test_messaging", "Sending": "test_messaging",
    "Clock": "test_clock_and_ids", "IdGenerator": "test_clock_and_ids", "EventFeed": "test_feed",
    "StockLevels": "test_service_queries", "Credit": "test_service_queries", "ShipmentStatus": "test_service_queries",
    "ForcedStates": "test_forced_states",
    "ServiceRegistry": "test_registry", "InstanceAgent": "test_instance_agent",
    "SagaWriter": "test_sagas", "SagaStore": "test_sagas", "TimerStore": "test_sagas",
}


def _suite_ports() -> dict[str, set[str]]:
    covered: dict[str, set[str]] = {}
    for path in HERE.glob("test_*.py"):
        module = importlib.import_module(f"tests.contract.{path.stem}")
        declared = getattr(module, "PORT", None)
        for family in (declared,) if isinstance(declared, str) else declared or ():
            covered.setdefault(family, set()).add(path.stem)
    return covered


def _outbound_protocols() -> set[str]:
    names = set()
    for info in pkgutil.iter_modules(ports.__path__):
        module = importlib.import_module(f"ports.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and Protocol in obj.__mro__[1:] and obj.__module__ == module.__name__:
                names.add(name)
    return names - INBOUND


def test_every_registered_port_family_has_a_contract_suite() -> None:
    covered = _suite_ports()
    missing = sorted(set(bootstrap.REGISTRY) - set(covered))
    assert not missing, f"no contract suite declares PORT for: {missing}"


def test_every_outbound_port_protocol_is_assigned_to_an_existing_suite() -> None:
    protocols = _outbound_protocols()
    unassigned = sorted(protocols - set(SUITES))
    assert not unassigned, f"ports without a contract suite: {unassigned}"
    for port, suite in SUITES.items():
        assert (HERE / f"{suite}.py").exists(), f"{port}'s suite {suite} is missing"


def test_storage_and_messaging_suites_run_on_every_registered_adapter() -> None:
    from tests.contract import conftest

    storage_params = conftest.storage_adapter._fixture_function_marker.params  # type: ignore[attr-defined]
    messaging_params = conftest.messaging_adapter._fixture_function_marker.params  # type: ignore[attr-defined]

    def names(params: list) -> list[str]:
        return sorted(p.values[0] if hasattr(p, "values") else p for p in params)

    assert names(storage_params) == sorted(bootstrap.STORAGE_ADAPTERS)
    assert names(messaging_params) == sorted(bootstrap.MESSAGING_ADAPTERS)
