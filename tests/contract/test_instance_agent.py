"""The InstanceAgent port (ports/instances.py) on its one adapter, the sidecar's admin routes, against
a real `orderhex serve --service payments` and a real `orderhex sidecar` registered in a real etcd:
status names the instance's health and lease, drain takes it out of the registry while it keeps
serving, stop ends the sidecar, a wrong token and a sidecar that is gone are Unavailable naming it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.inbound.sidecar.agent import HttpSidecarAgent
from core.kernel.errors import Unavailable
from ports.registry import InstanceRecord
from tests.e2e.test_sidecar import ADMIN, KEY, TTL, listed, topology, wait_until

pytestmark = pytest.mark.etcd
__all__ = ["topology"]


def registered(topology: dict[str, Any]) -> InstanceRecord:
    records = wait_until(lambda: listed(topology["registry"]), 30, "the sidecar registered its instance")
    record: InstanceRecord = records[0]
    return record


def test_status_says_the_instance_is_up_with_its_lease(topology: dict[str, Any]) -> None:
    agent = HttpSidecarAgent(ADMIN)
    try:
        status = wait_until(lambda: (s := agent.status(registered(topology))).health == "up" and s, 10,
                            "the sidecar reported the instance up")
        assert status.lease_remaining is not None and 0 <= status.lease_remaining <= TTL
    finally:
        agent.close()


def test_drain_takes_the_instance_out_and_it_keeps_serving(topology: dict[str, Any]) -> None:
    agent = HttpSidecarAgent(ADMIN)
    try:
        record = registered(topology)
        agent.drain(record)
        wait_until(lambda: not listed(topology["registry"]), TTL + 3, "the drained instance left the registry")
        proxied = httpx.get(f"{topology['sidecar'].url}/payments/accounts", headers={"X-API-Key": KEY}, timeout=5)
        assert proxied.status_code == 200
    finally:
        agent.close()


def test_stop_ends_the_sidecar_and_then_it_is_unavailable(topology: dict[str, Any]) -> None:
    agent = HttpSidecarAgent(ADMIN)
    try:
        record = registered(topology)
        agent.stop(record)
        assert topology["sidecar"].process.wait(15) is not None
        with pytest.raises(Unavailable, match="sidecar of payments"):
            agent.status(record)
    finally:
        agent.close()


def test_a_wrong_admin_token_is_unavailable_naming_the_token(topology: dict[str, Any]) -> None:
    agent = HttpSidecarAgent("not-the-token")
    try:
        with pytest.raises(Unavailable, match="refused the admin token"):
            agent.drain(registered(topology))
        assert listed(topology["registry"]), "a refused drain took the instance out"
    finally:
        agent.close()
