"""The etcd registry: instances of every process, kept by a real etcd (any cluster by URL, or the
embedded one of the data directory).

Each instance is one key, `<prefix><service>/<instance_id>` (prefix `/orderhex/services/`),
whose value is the record's JSON and which is attached to a lease of the registration's TTL:
when the lease expires (nobody kept it alive: the process died) etcd deletes the key, and every
watch sees the DELETE. A watch is a `/v3/watch` stream on a thread of its own that resumes from
the last revision it saw after a lost connection, and lists the prefix again when that revision
was compacted, so no change is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from adapters.outbound.registry.etcd_client import EtcdClient, KeyValue, WatchEvent, WatchStream
from adapters.outbound.registry.watchers import Watchers
from core.kernel.errors import Unavailable, ValidationError
from ports.registry import InstanceRecord, Registration, RegistryChange

log = logging.getLogger("orderhex.registry")
PREFIX = "/orderhex/services/"
WATCH_START_TIMEOUT = 5.0
RECONNECT_BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)


class EtcdRegistry:
    def __init__(self, url: str, prefix: str = PREFIX, timeout: float = 5.0) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValidationError("registry.prefix", f"{prefix!r}: must start and end with '/'")
        self.prefix = prefix
        self._client = EtcdClient(url, timeout)
        self.url = self._client.url  # without credentials: it goes into messages
        self._lock = threading.Lock()
        self._watches: list[_Watch] = []

    def key(self, record: InstanceRecord) -> str:
        return f"{self.prefix}{record.service}/{record.instance_id}"

    def register(self, record: InstanceRecord, ttl_seconds: int) -> Registration:
        if ttl_seconds < 1:
            raise ValidationError("ttl_seconds", f"{ttl_seconds}: a lease lasts at least 1 second")
        lease, granted = self._client.grant(ttl_seconds)
        try:
            self._client.put(self.key(record), record.dumps(), lease)
        except BaseException:
            # The put may have failed before etcd saw it: the lease then holds nothing, but it
            # should not linger either (best effort: etcd may be what failed).
            with contextlib.suppress(Unavailable):
                self._client.revoke(lease)
            raise
        return Registration(record, granted, str(lease))

    def keep_alive(self, registration: Registration) -> bool:
        return self._client.keep_alive(int(registration.lease)) > 0

    def deregister(self, registration: Registration) -> None:
        # Revoking the lease deletes the key with it (and nothing registered since under a new lease).
        self._client.revoke(int(registration.lease))

    def instances(self, service: str) -> list[InstanceRecord]:
        if not service or "/" in service:
            return []
        _, kvs = self._client.range_prefix(f"{self.prefix}{service}/")
        records = [r for r in map(self._record, kvs) if r is not None]
        return sorted(records, key=lambda r: r.instance_id)

    def services(self) -> list[str]:
        _, kvs = self._client.range_prefix(self.prefix, keys_only=True)
        return sorted({kv.key[len(self.prefix):].split("/", 1)[0] for kv in kvs})

    def watch(self, callback: Callable[[RegistryChange], None]) -> Callable[[], None]:
        watch = _Watch(self._client, self.prefix, callback)
        watch.start()
        with self._lock:
            self._watches.append(watch)

        def stop() -> None:
            with self._lock:
                if watch in self._watches:
                    self._watches.remove(watch)
            watch.stop()

        return stop

    def describe(self) -> str:
        return f"etcd registry at {self.url} (keys under {self.prefix})"

    def check(self) -> None:
        self._client.status()

    def close(self) -> None:
        with self._lock:
            watches, self._watches = self._watches, []
        for watch in watches:
            watch.stop()
        self._client.close()

    def _record(self, kv: KeyValue) -> InstanceRecord | None:
        try:
            return InstanceRecord.loads(kv.value)
        except ValidationError as exc:
            log.warning("registry key %s holds no instance record: %s", kv.key, exc)
            return None


class _Watch:
    """One watch: lists the prefix (the state it starts from), streams every change after that
    revision, and calls back in order on its own thread."""

    def __init__(self, client: EtcdClient, prefix: str, callback: Callable[[RegistryChange], None]) -> None:
        self._client = client
        self._prefix = prefix
        self._watchers = Watchers()
        self._watchers.add(callback)
        self._known: dict[str, InstanceRecord] = {}
        self._revision = 0
        self._stopping = threading.Event()
        self._created = threading.Event()
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="registry-watch", daemon=True)

    def start(self) -> None:
        """Returns once etcd has created the watch, so every later change reaches the callback."""
        self._resync(announce=False)
        self._thread.start()
        if not self._created.wait(WATCH_START_TIMEOUT):
            self.stop()
            raise Unavailable(f"etcd at {self._client.url}", f"a watch was not created within {WATCH_START_TIMEOUT} s",
                              "check the etcd server's log")

    def stop(self) -> None:
        self._stopping.set()
        self._watchers.clear()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            stream = self._client.open_watch(self._prefix, self._revision + 1)
            with self._stream_lock:
                if self._stopping.is_set():
                    stream.close()
                    return
                self._stream = stream
            try:
                for batch in stream.batches():
                    if not batch:
                        self._created.set()
                        failures = 0
                        continue
                    self._apply(batch)
                if stream.compact_revision:
                    log.warning("registry watch fell behind etcd's compaction (revision %s): listing again",
                                stream.compact_revision)
                    self._resync(announce=True)
            except Exception as exc:  # a lost connection, or etcd restarting: resume, unless stopping
                if self._stopping.is_set():
                    return
                delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
                failures += 1
                log.warning("registry watch on %s lost (%s); resuming from revision %d in %.1f s",
                            self._client.url, exc, self._revision + 1, delay)
                self._stopping.wait(delay)
            finally:
                stream.close()

    def _apply(self, events: list[WatchEvent]) -> None:
        changes = []
        for event in events:
            self._revision = max(self._revision, event.revision)
            if event.kind == "PUT" and event.value is not None:
                record = _parse(event.key, event.value)
                if record is not None:
                    self._known[event.key] = record
                    changes.append(RegistryChange("up", record))
            elif event.kind == "DELETE":
                known = self._known.pop(event.key, None)
                record = _parse(event.key, event.value) if event.value is not None else known
                if record is not None:
                    changes.append(RegistryChange("down", record))
        if not self._stopping.is_set():
            self._watchers.notify(changes)

    def _resync(self, announce: bool) -> None:
        """List the prefix again: the state (and revision) the stream continues from. With
        `announce`, tell the callback what changed since the state it knew."""
        revision, kvs = self._client.range_prefix(self._prefix)
        current = {kv.key: r for kv in kvs if (r := _parse(kv.key, kv.value)) is not None}
        if announce:
            gone = [RegistryChange("down", r) for k, r in self._known.items() if k not in current]
            new = [RegistryChange("up", r) for k, r in current.items() if self._known.get(k) != r]
            self._watchers.notify(gone + new)
        self._known, self._revision = current, revision


def _parse(key: str, value: bytes) -> InstanceRecord | None:
    try:
        return InstanceRecord.loads(value)
    except ValidationError as exc:
        log.warning("registry key %s holds no instance record: %s", key, exc)
        return None
