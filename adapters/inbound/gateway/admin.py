"""The whole system's admin API at the gateway, for `orderhex dashboard --attach GATEWAY`:
`/admin/events` merges the event streams (SSE) of every service instance the gateway knows, each
event tagged with its `service` and `instance` in its data; every other `/admin/*` request goes
to an instance of the orders service (sagas, breakers, outbox, ports live there).

Both need `Authorization: Bearer <api.admin_token>`, the token the services share; the gateway
presents the same token to them. The merged stream numbers its events itself, under an id of its
own per connection: a dashboard that reconnects gets the services' replay again, as after a
restart (a replay buffer at the gateway would let it resume instead)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from adapters.inbound.gateway.problems import problem
from adapters.inbound.gateway.upstreams import Upstreams
from ports.registry import InstanceRecord

log = logging.getLogger("orderhex.gateway")
ADMIN_SERVICE = "orders"
SERVED_BY = "X-Served-By"  # as on every proxied answer (proxy.py)
HEARTBEAT_SECONDS = 15.0
RETRY_SECONDS = 1.0  # a lost upstream stream is opened again after this
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length",
                        "content-encoding", "authorization", "x-api-key", "x-gateway-error"})


class Admin:
    def __init__(self, upstreams: Upstreams, admin_token: str, upstream_api_key: str, timeout: float) -> None:
        self.upstreams = upstreams
        self._token = admin_token
        self._upstream_key = upstream_api_key
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._streams: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout),
                                              skip_auto_headers=("Content-Type",))

    def end_streams(self) -> None:
        """At shutdown: an event stream never ends by itself, so the server would wait its whole
        shutdown timeout for each one open."""
        for task in self._streams:
            task.cancel()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _refused(self, request: web.Request) -> web.Response | None:
        if not self._token:
            return problem(403, "forbidden", "the gateway has no admin token (set api.admin_token)", request.path)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
            return problem(401, "unauthorized", "this needs 'Authorization: Bearer <admin token>'", request.path,
                           {"WWW-Authenticate": "Bearer"})
        return None

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"}
        if self._upstream_key:
            headers["X-API-Key"] = self._upstream_key
        return headers

    # -- /admin/events ---------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        records = self.upstreams.all()
        if not records:
            return problem(503, "unavailable", "the gateway knows no service instance yet", request.path,
                           {"Retry-After": "1"})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        readers = [asyncio.create_task(self._follow(record, queue)) for record in records]
        stream, seq = uuid.uuid4().hex[:12], 0
        me = asyncio.current_task()
        if me is not None:
            self._streams.add(me)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                seq += 1
                event["seq"] = seq
                await response.write(f"id: {stream}:{seq}\ndata: {json.dumps(event)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the dashboard went away
        finally:
            self._streams.discard(me)
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        return response

    async def _follow(self, record: InstanceRecord, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Puts every event of one instance's stream on `queue`, tagged; reopens a lost stream,
        resuming after the last event seen."""
        assert self._session is not None, "the app's startup opens the session"
        last_id = ""
        url = record.address.rstrip("/") + "/admin/events"
        while True:
            headers = {**self._headers(), "Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            try:
                async with self._session.get(url, headers=headers) as upstream:
                    if upstream.status != 200:
                        log.warning("the event stream of %s answered %d", record.key, upstream.status)
                    else:
                        async for event_id, data in _sse(upstream.content):
                            last_id = event_id or last_id
                            tags = {"service": record.service, "instance": record.instance_id}
                            await queue.put({**data, "data": {**(data.get("data") or {}), **tags}})
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.info("the event stream of %s was lost (%s); reopening", record.key, exc or type(exc).__name__)
            await asyncio.sleep(RETRY_SECONDS)

    # -- every other /admin/* ------------------------------------------------------------------

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """To the first routable orders instance (one answer, not balanced: admin calls are few)."""
        if (refused := self._refused(request)) is not None:
            return refused
        assert self._session is not None, "the app's startup opens the session"
        instances = self.upstreams.routable(ADMIN_SERVICE)
        if not instances:
            return problem(503, "unavailable", f"no healthy instance of {ADMIN_SERVICE}, which serves the admin API",
                           request.path, {"Retry-After": "1"})
        record = instances[0]
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP} | self._headers()
        try:
            async with self._session.request(request.method, record.address.rstrip("/") + request.path_qs,
                                             headers=headers, data=body or None,
                                             timeout=aiohttp.ClientTimeout(total=self._timeout)) as upstream:
                content = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=upstream.status, body=content, headers={**kept, SERVED_BY: record.key})
        except (aiohttp.ClientError, TimeoutError) as exc:
            return problem(502, "bad-gateway", f"{record.key} did not answer: {exc or type(exc).__name__}",
                           request.path)


async def _sse(content: aiohttp.StreamReader) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(id, data as JSON) of each SSE event carrying data; comments, gaps and retries are skipped."""
    event_id, name, data = "", "", []
    async for raw in content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data and name != "gap":
                with contextlib.suppress(json.JSONDecodeError):
                    yield event_id, json.loads("\n".join(data))
            event_id, name, data = "", "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = value
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)
