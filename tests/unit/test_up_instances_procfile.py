"""`orderhex up --instances NAME=N`: which processes the Procfile becomes (copies of the service
and its sidecar on ports moved up by 100 each, the service copy on a store of its own), and the
repository's Procfile is the whole topology."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.inbound.up.procfile import ProcfileError, read_procfile, with_instances

ROOT = Path(__file__).resolve().parents[2]


def own_store(service: str, copy: int) -> dict[str, str]:
    return {"ORDERHEX_STORAGE__URL": f"sqlite:////data/{service}-{copy}/db"}


def test_copies_of_a_service_and_its_sidecar_get_their_own_ports_and_store() -> None:
    processes = with_instances(read_procfile(ROOT / "Procfile"), {"payments": 3}, {"PAYMENTS_PORT": "7003"}, own_store)
    by_name = {p.name: p for p in processes}
    env = {"PAYMENTS_PORT": "7003"}
    assert [by_name[n].port(env) for n in ("payments", "payments.2", "payments.3")] == [7003, 7103, 7203]
    assert [by_name[n].port(env) for n in ("payments-sidecar", "payments-sidecar.2")] == [9003, 9103]
    assert "--upstream http://127.0.0.1:7103" in " ".join(by_name["payments-sidecar.2"].argv(env))
    assert by_name["payments.2"].environ(env)["ORDERHEX_STORAGE__URL"] == "sqlite:////data/payments-2/db"
    assert "ORDERHEX_STORAGE__URL" not in by_name["payments-sidecar.2"].environ(env)
    assert "ORDERHEX_STORAGE__URL" not in by_name["payments"].environ(env)
    ports = [p.port(env) for p in processes if p.port(env) is not None]
    assert len(ports) == len(set(ports))


def test_the_procfile_runs_the_whole_topology() -> None:
    names = [p.name for p in read_procfile(ROOT / "Procfile")]
    services = ("orders", "inventory", "payments", "shipping")
    assert names == ["registry", "broker", *[n for s in services for n in (s, f"{s}-sidecar")], "gateway"]


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(ProcfileError, match="no process 'billing'"):
        with_instances(read_procfile(ROOT / "Procfile"), {"billing": 2}, {}, own_store)


def test_a_port_variable_without_a_default_cannot_be_moved(tmp_path: Path) -> None:
    path = tmp_path / "Procfile"
    path.write_text("web: orderhex serve --port $WEB_PORT\n")
    with pytest.raises(ProcfileError, match=r"\$WEB_PORT is not set and has no default"):
        with_instances(read_procfile(path), {"web": 2}, {}, own_store)
