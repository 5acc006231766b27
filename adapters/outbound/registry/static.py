"""The static registry: a fixed list of instances from configuration, for a topology whose
addresses are known in advance (`registry.static = "payments=http://127.0.0.1:8101,
http://127.0.0.1:8102;inventory=http://127.0.0.1:8102"`).

Every listed instance is always live: nothing expires and watches never fire. Registration
exists so an instance (or its sidecar) runs unchanged against any registry: registering an
instance the list already holds (same service and address) is accepted and does nothing, and
its keep-alive always succeeds; registering one the list does not hold is refused with a
ValidationError saying to add it to `registry.static`, because a registration nobody else
could ever see would hide a misconfiguration.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from core.kernel.errors import ValidationError
from ports.registry import InstanceRecord, Registration, RegistryChange

KEY = "registry.static"


def parse_static(text: str, listed_at: datetime | None = None) -> dict[str, list[InstanceRecord]]:
    """`service=url,url;service=url` -> the records by service. An instance's id is its
    host:port. Raises ValidationError naming `registry.static` and the bad part."""
    listed_at = listed_at or datetime.now(UTC)
    found: dict[str, list[InstanceRecord]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        service, sep, urls = part.partition("=")
        service = service.strip()
        if not sep or not service:
            raise ValidationError(KEY, f"{part!r}: expected service=http://host:port[,http://host:port...]")
        if service in found:
            raise ValidationError(KEY, f"service {service!r} is listed twice")
        records = []
        for url in (u.strip().rstrip("/") for u in urls.split(",")):
            split = urlsplit(url)
            if split.scheme not in ("http", "https") or not split.hostname or split.port is None or split.path:
                raise ValidationError(KEY, f"{service}: {url!r} is not a base URL like http://127.0.0.1:8101")
            records.append(InstanceRecord(service=service, instance_id=f"{split.hostname}:{split.port}",
                                          address=url, started_at=listed_at))
        if len({r.instance_id for r in records}) != len(records):
            raise ValidationError(KEY, f"{service}: an address is listed twice")
        found[service] = sorted(records, key=lambda r: r.instance_id)
    return found


class StaticRegistry:
    def __init__(self, listing: str | dict[str, list[InstanceRecord]]) -> None:
        self._listing = parse_static(listing) if isinstance(listing, str) else dict(listing)

    def register(self, record: InstanceRecord, ttl_seconds: int) -> Registration:
        if ttl_seconds < 1:
            raise ValidationError("ttl_seconds", f"{ttl_seconds}: a lease lasts at least 1 second")
        listed = {r.address for r in self._listing.get(record.service, ())}
        if record.address.rstrip("/") not in listed:
            raise ValidationError(KEY, f"{record.service} at {record.address} is not in the static list "
                                       f"({', '.join(sorted(listed)) or 'no instances'}): add it to {KEY}, "
                                       "or use registry.adapter = etcd or memory")
        return Registration(record, ttl_seconds, "static")

    def keep_alive(self, registration: Registration) -> bool:
        return True

    def deregister(self, registration: Registration) -> None:
        return None

    def instances(self, service: str) -> list[InstanceRecord]:
        return list(self._listing.get(service, ()))

    def services(self) -> list[str]:
        return sorted(s for s, records in self._listing.items() if records)

    def watch(self, callback: Callable[[RegistryChange], None]) -> Callable[[], None]:
        return lambda: None

    def describe(self) -> str:
        count = sum(len(r) for r in self._listing.values())
        return f"static registry ({count} instances of {len(self._listing)} services, from {KEY})"

    def check(self) -> None:
        return None

    def close(self) -> None:
        return None
