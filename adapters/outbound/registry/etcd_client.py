"""A small client of etcd's v3 JSON gateway (plain HTTP, no gRPC): the key-value, lease and
watch calls the registry needs, with keys and values base64 as the gateway wants them.

Chosen over etcd3gw (which works here too, FIELD-NOTES) because the registry needs six calls
and a watch stream whose thread it can stop, and httpx is already a dependency: no new package
to keep in step with etcd. Every failure to reach etcd is Unavailable naming the URL.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from core.kernel.errors import Unavailable

HINT = ("Start etcd there or set registry.url to a running cluster; registry.url = embedded runs one in the "
        "data directory (`orderhex registry status`)")
LEASE_NOT_FOUND = 5  # gRPC NOT_FOUND, which etcd answers for a lease it does not know


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def shown(url: str) -> str:
    """The URL without any user:password in it, for messages and logs."""
    split = urlsplit(url)
    if split.username is None and split.password is None:
        return url
    return urlunsplit(split._replace(netloc=split.netloc.rpartition("@")[2]))


def prefix_end(prefix: str) -> str:
    """The range_end that makes a range or watch cover every key starting with `prefix`."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return b64(b"\0")  # every key
    raw[-1] += 1
    return b64(bytes(raw))


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    lease: int
    mod_revision: int


@dataclass(frozen=True)
class WatchEvent:
    """A PUT or a DELETE; for a DELETE `value` is the deleted key's last value when etcd sent it."""

    kind: str
    key: str
    value: bytes | None
    revision: int


class EtcdError(Exception):
    """etcd answered, with an error (`code` is its gRPC status code)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def kv_of(data: dict[str, Any]) -> KeyValue:
    return KeyValue(key=unb64(data["key"]).decode(), value=unb64(data.get("value", "")),
                    lease=int(data.get("lease") or 0), mod_revision=int(data.get("mod_revision") or 0))


class EtcdClient:
    """Unary calls share one connection pool (httpx.Client is safe across threads); each watch
    stream has a client of its own so that stopping it closes only its connection."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = shown(url.rstrip("/"))
        self.timeout = timeout
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)))
        self._base = url.rstrip("/")

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body)
        except httpx.TransportError as exc:
            raise Unavailable(f"etcd at {self.url}", _reason(exc), HINT) from exc
        try:
            data: dict[str, Any] = response.json()
        except ValueError as exc:
            raise Unavailable(f"etcd at {self.url}", f"{path} answered {response.status_code} with no JSON "
                                                     "(is this etcd's client URL?)", HINT) from exc
        if response.status_code != 200 or "error" in data:
            code = int(data.get("code") or 0)
            if code == LEASE_NOT_FOUND:
                raise EtcdError(code, str(data.get("message") or data.get("error")))
            raise Unavailable(f"etcd at {self.url}", f"{path} answered {response.status_code}: "
                                                     f"{data.get('message') or data.get('error') or data}", HINT)
        return data

    def range_prefix(self, prefix: str, keys_only: bool = False) -> tuple[int, list[KeyValue]]:
        """Every key under `prefix` and the store's revision when read."""
        data = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": prefix_end(prefix), "keys_only": keys_only})
        return int(data["header"]["revision"]), [kv_of(kv) for kv in data.get("kvs", ())]

    def put(self, key: str, value: str, lease: int = 0) -> int:
        data = self.call("/v3/kv/put", {"key": b64(key), "value": b64(value), "lease": str(lease)})
        return int(data["header"]["revision"])

    def delete(self, key: str) -> None:
        self.call("/v3/kv/deleterange", {"key": b64(key)})

    def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: its id and the TTL etcd granted (it may round a short one up)."""
        data = self.call("/v3/lease/grant", {"TTL": ttl})
        return int(data["ID"]), int(data["TTL"])

    def keep_alive(self, lease: int) -> int:
        """The lease's renewed TTL; 0 when etcd no longer knows the lease."""
        data = self.call("/v3/lease/keepalive", {"ID": str(lease)})
        return int(data.get("result", {}).get("TTL") or 0)

    def revoke(self, lease: int) -> bool:
        """Revoke the lease and delete its keys; False when it was already gone."""
        try:
            self.call("/v3/lease/revoke", {"ID": str(lease)})
        except EtcdError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return self.call("/v3/maintenance/status", {})

    def open_watch(self, prefix: str, start_revision: int) -> WatchStream:
        return WatchStream(self._base, prefix, start_revision, self.timeout)

    def close(self) -> None:
        self._http.close()


class WatchStream:
    """One `/v3/watch` stream over keys under a prefix, from `start_revision` on, with each
    deleted key's last value (prev_kv). Iterate `batches()`; `close()` from another thread ends it."""

    def __init__(self, url: str, prefix: str, start_revision: int, timeout: float) -> None:
        self.url = shown(url)
        # No read timeout: an idle watch sends nothing for as long as nothing changes.
        self._http = httpx.Client(base_url=url, timeout=httpx.Timeout(None, connect=min(timeout, 2.0)))
        self._body = {"create_request": {"key": b64(prefix), "range_end": prefix_end(prefix),
                                         "start_revision": str(start_revision), "prev_kv": True}}
        self.compact_revision = 0
        self._socket: socket.socket | None = None
        self._closed = threading.Event()

    def batches(self) -> Iterator[list[WatchEvent]]:
        """Yields [] once when the watch is created, then each batch of events. Ends (returns) when
        etcd cancels the watch (`compact_revision` set when the start revision was compacted)."""
        try:
            with self._http.stream("POST", "/v3/watch", json=self._body) as response:
                # Closing the client from another thread does not wake a read blocked on an idle
                # watch; shutting the socket down does (close() below).
                stream = response.extensions.get("network_stream")
                self._socket = stream.get_extra_info("socket") if stream is not None else None
                if self._closed.is_set():
                    return
                if response.status_code != 200:
                    raise Unavailable(f"etcd at {self.url}", f"/v3/watch answered {response.status_code}", HINT)
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    result = json.loads(line).get("result", {})
                    if result.get("canceled") or result.get("compact_revision"):
                        self.compact_revision = int(result.get("compact_revision") or 0)
                        return
                    if result.get("created"):
                        yield []
                    events = [_event(e) for e in result.get("events", ())]
                    if events:
                        yield events
        except httpx.TransportError as exc:
            raise Unavailable(f"etcd at {self.url}", _reason(exc), HINT) from exc

    def close(self) -> None:
        self._closed.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._http.close()


def _event(data: dict[str, Any]) -> WatchEvent:
    kv = data["kv"]
    kind = data.get("type", "PUT")  # the gateway leaves out PUT, the enum's zero value
    prev = data.get("prev_kv")
    value = unb64(kv["value"]) if kind == "PUT" and "value" in kv else unb64(prev["value"]) if prev else None
    return WatchEvent(kind=kind, key=unb64(kv["key"]).decode(), value=value,
                      revision=int(kv.get("mod_revision") or 0))


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    return text
