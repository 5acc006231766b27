"""Opens the configured ServiceRegistry: `memory`, `static` (registry.static) or `etcd`
(registry.url: a cluster's client URL, or "embedded" for the data directory's own etcd)."""

from __future__ import annotations

from pathlib import Path

from core.kernel.errors import ValidationError
from ports.registry import ServiceRegistry
from ports.system import Clock

ADAPTERS = ("memory", "static", "etcd")


def etcd_url(url: str, data_dir: Path) -> str:
    """The client URL to use: the embedded etcd's (started if none runs) or the one given (the
    first of a comma-separated list)."""
    if url in ("", "embedded"):
        from adapters.outbound.registry.embedded import ensure_embedded

        return ensure_embedded(data_dir)
    first = url.split(",", maxsplit=1)[0].strip()
    if not first.startswith(("http://", "https://")):
        raise ValidationError("registry.url", f"{url!r}: expected http://host:port (etcd's client URL) or embedded")
    return first


def open_registry(adapter: str, *, clock: Clock, data_dir: Path, url: str = "embedded", static: str = "",
                  prefix: str = "/orderhex/services/", timeout: float = 5.0) -> ServiceRegistry:
    if adapter == "memory":
        from adapters.outbound.registry.memory import MemoryRegistry

        return MemoryRegistry(clock, sweep_every=0.25)
    if adapter == "static":
        from adapters.outbound.registry.static import StaticRegistry

        return StaticRegistry(static)
    if adapter == "etcd":
        from adapters.outbound.registry.etcd import EtcdRegistry

        return EtcdRegistry(etcd_url(url, data_dir), prefix=prefix, timeout=timeout)
    raise ValidationError("registry.adapter", f"{adapter!r}: expected one of {', '.join(ADAPTERS)}")
