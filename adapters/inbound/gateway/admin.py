"""The whole system's admin API at the gateway, for `orderhex dashboard --attach GATEWAY`:

- `/admin/events`: the merged event feed of every service instance (merged_feed.py), each event
  tagged with its `service` and `instance`, resumable with Last-Event-ID or `?after=`;
- `/admin/services`: every instance's services, each tagged with its `instance` (service/instance);
- `/admin/breakers`: every instance's breakers, each named `<name>@<service/instance>` (and the
  gateway's own per-upstream breakers, `gateway:<service/instance>`); an action on one goes to the
  instance that holds it, or to the gateway's own breaker;
- every other `/admin/*` request goes to an instance of the orders service (sagas, the outbox and
  the ports a dashboard steers live there).

Every route needs `Authorization: Bearer <api.admin_token>`, the token the services share; the
gateway presents the same token to them. An instance that does not answer a merged read is named in
`X-Gateway-Unanswered`; the others' answers still come back."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from adapters.inbound.gateway.merged_feed import MergedFeed, Source, qualified, sources
from adapters.inbound.gateway.problems import problem
from adapters.inbound.gateway.upstreams import Upstreams
from core.kernel.errors import InvalidFields, NotFound, ValidationError
from core.runtime.breaker import BreakerBoard, BreakerConfig

log = logging.getLogger("orderhex.gateway")
ADMIN_SERVICE = "orders"
SERVED_BY = "X-Served-By"  # as on every proxied answer (proxy.py)
UNANSWERED = "X-Gateway-Unanswered"
HEARTBEAT_SECONDS = 15.0
MAX_STREAMS = 100
BREAKER_ACTIONS = ("force-open", "force-closed", "metrics-only", "reset")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length",
                        "content-encoding", "authorization", "x-api-key", "x-gateway-error"})


Gathered = tuple[list[tuple[Source, Any]], list[str]]  # (source, its answer) and the keys of those without one


class Unanswered(Exception):
    """An instance did not answer a merged read with a 200."""


class Admin:
    def __init__(self, upstreams: Upstreams, admin_token: str, upstream_api_key: str, timeout: float,
                 breakers: BreakerBoard | None = None, *, feed_capacity: int = 5000,
                 max_streams: int = MAX_STREAMS) -> None:
        self.upstreams = upstreams
        self._token = admin_token
        self._upstream_key = upstream_api_key
        self._timeout = timeout
        self._breakers = breakers
        self._max_streams = max_streams
        self._session: aiohttp.ClientSession | None = None
        self._streams: set[asyncio.Task[Any]] = set()
        self.feed = MergedFeed(upstreams.all, self._headers, self._watch, capacity=feed_capacity,
                               connect_timeout=timeout)

    def add_routes(self, router: web.UrlDispatcher, any_path: str) -> None:
        router.add_get("/admin/events", self.events)
        router.add_get("/admin/services", self.services)
        router.add_get("/admin/breakers", self.breakers)
        router.add_post("/admin/breakers/{name}/{action}", self.breaker_action)
        router.add_put("/admin/breakers/{name}/config", self.breaker_action)
        router.add_route("*", "/admin/{tail:" + any_path + "}", self.forward)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout),
                                              skip_auto_headers=("Content-Type",))

    def end_streams(self) -> None:
        """At shutdown: an event stream never ends by itself, so the server would wait its whole
        shutdown timeout for each one open."""
        for task in self._streams:
            task.cancel()

    async def close(self) -> None:
        await self.feed.stop()
        if self._session is not None:
            await self._session.close()

    def _watch(self, wake: Callable[[], None]) -> None:
        self.upstreams.on_change(lambda _view: wake())

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

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "the app's startup opens the session"
        return self._session

    # -- /admin/events ---------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        try:
            after = _after(request.query.get("after"))
            last = self.feed.resume_point(request.headers.get("Last-Event-ID"), after)
        except ValueError as exc:
            field = "header.Last-Event-ID" if "BOOT:SEQ" in str(exc) else "query.after"
            return _invalid(request, field, str(exc))
        if len(self._streams) >= self._max_streams:
            return problem(503, "unavailable", f"{self._max_streams} event streams are open; close one or try "
                                               "again later", request.path, {"Retry-After": "5"})
        self.feed.start(self.session)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        me = asyncio.current_task()
        assert me is not None, "aiohttp runs each request in a task"
        self._streams.add(me)
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            while True:
                news = self.feed.news  # taken before reading: an event appended after the read sets it
                chunk, last, gap = self.feed.after(last)
                if gap is not None:
                    missed = json.dumps({"missed_from": gap[0], "missed_to": gap[1]})
                    await response.write(f"event: gap\ndata: {missed}\n\n".encode())
                if chunk:
                    await response.write(chunk)
                    continue
                try:
                    await asyncio.wait_for(news.wait(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the dashboard went away, or the gateway is stopping
        finally:
            self._streams.discard(me)
        return response

    # -- merged reads ------------------------------------------------------------------------------

    async def _read(self, source: Source, path: str) -> list[dict[str, Any]]:
        async with self.session.get(source.address + path, headers=self._headers(),
                                    timeout=aiohttp.ClientTimeout(total=self._timeout)) as upstream:
            if upstream.status != 200:
                raise Unanswered(f"it answered {upstream.status}")
            answer = await upstream.json(content_type=None)
        if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
            raise Unanswered("its answer is no list of objects")
        return answer

    async def _gather(self, request: web.Request, path: str) -> Gathered | web.Response:
        """Each instance's answer to GET `path`, and the keys of those that gave none; a problem
        when no instance is known or none answered."""
        found = sorted(sources(self.upstreams.all()).values(), key=lambda s: s.key)
        if not found:
            return problem(503, "unavailable", "the gateway knows no service instance yet", request.path,
                           {"Retry-After": "1"})
        answers = await asyncio.gather(*(self._read(s, path) for s in found), return_exceptions=True)
        answered, missing = [], []
        for source, answer in zip(found, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, (Unanswered, aiohttp.ClientError, TimeoutError, ValueError)):
                    raise answer
                log.warning("%s did not answer %s: %s", source.key, path, answer or type(answer).__name__)
                missing.append(source.key)
            else:
                answered.append((source, answer))
        if not answered:
            return problem(502, "bad-gateway", f"no instance answered {path}: {', '.join(missing)}", request.path)
        return answered, missing

    async def services(self, request: web.Request) -> web.Response:
        """Every instance's services, each with `instance` (service/instance) beside what it says."""
        if (refused := self._refused(request)) is not None:
            return refused
        gathered = await self._gather(request, "/admin/services")
        if isinstance(gathered, web.Response):
            return gathered
        answered, missing = gathered
        merged = [{**item, "instance": source.key} for source, items in answered for item in items]
        merged.sort(key=lambda item: (str(item.get("service")), item["instance"]))
        return _json(merged, missing)

    async def breakers(self, request: web.Request) -> web.Response:
        """Every instance's breakers named `<name>@<service/instance>`, then the gateway's own."""
        if (refused := self._refused(request)) is not None:
            return refused
        gathered = await self._gather(request, "/admin/breakers")
        if isinstance(gathered, web.Response):
            return gathered
        answered, missing = gathered
        merged = [_qualified(snapshot, source) for source, snapshots in answered for snapshot in snapshots]
        for breaker in self._breakers.all() if self._breakers is not None else ():
            merged.append({**breaker.snapshot().to_json(), "breaker": breaker.name, "service": "gateway",
                           "instance": "gateway"})
        merged.sort(key=lambda snapshot: str(snapshot["name"]))
        return _json(merged, missing)

    # -- acting on one breaker -------------------------------------------------------------------

    async def breaker_action(self, request: web.Request) -> web.Response:
        """To the instance that holds the breaker (its own name restored), or the gateway's own."""
        if (refused := self._refused(request)) is not None:
            return refused
        name, action = request.match_info["name"], request.match_info.get("action", "config")
        if request.method == "POST" and action == "config":
            raise web.HTTPMethodNotAllowed(request.method, ("PUT",))
        if action not in (*BREAKER_ACTIONS, "config"):
            return problem(404, "not-found", f"no breaker action {action!r}; one of {', '.join(BREAKER_ACTIONS)}",
                           request.path)
        body = await request.read()
        if self._breakers is not None and name in {b.name for b in self._breakers.all()}:
            return self._act_here(request, name, action, body)
        for source in sources(self.upstreams.all()).values():
            if name.endswith("@" + source.key):
                return await self._act_there(request, source, name.removesuffix("@" + source.key), action, body)
        return problem(404, "not-found", f"no circuit breaker {name!r} in the system; GET /admin/breakers lists "
                                         "them", request.path)

    def _act_here(self, request: web.Request, name: str, action: str, body: bytes) -> web.Response:
        assert self._breakers is not None
        try:
            breaker = self._breakers.get(name)
            data = json.loads(body or b"null")
            if action == "config":
                if not isinstance(data, dict):
                    raise ValidationError("body", "must be a JSON object of BreakerConfig fields")
                breaker.reconfigure(BreakerConfig.from_json({**breaker.config.to_json(), **data}))
            else:
                if not isinstance(data, dict) or set(data) != {"reason"} or not isinstance(data["reason"], str):
                    raise ValidationError("reason", 'the body must be {"reason": "<why>"}: say why, for whoever '
                                                    "looks next")
                getattr(breaker, action.replace("-", "_"))(data["reason"])
        except json.JSONDecodeError as exc:
            return _invalid(request, "body", f"not JSON: {exc}")
        except ValidationError as exc:
            errors = exc.errors if isinstance(exc, InvalidFields) else [exc]
            return problem(422, "validation", str(exc), request.path,
                           errors=[{"field": e.field, "message": e.message} for e in errors])
        except TypeError as exc:  # a setting of the wrong type, which the config's checks compare
            return _invalid(request, "body", str(exc))
        except NotFound as exc:
            return problem(404, "not-found", str(exc), request.path)
        return _json({**breaker.snapshot().to_json(), "breaker": name, "service": "gateway", "instance": "gateway"})

    async def _act_there(self, request: web.Request, source: Source, name: str, action: str,
                         body: bytes) -> web.Response:
        path = f"/admin/breakers/{quote(name, safe='')}/{action}"
        headers = {**self._headers(), "Content-Type": request.headers.get("Content-Type", "application/json")}
        try:
            async with self.session.request(request.method, source.address + path, headers=headers, data=body,
                                            timeout=aiohttp.ClientTimeout(total=self._timeout)) as upstream:
                content = await upstream.read()
                snapshot = json.loads(content) if upstream.status == 200 else None
                if isinstance(snapshot, dict) and "name" in snapshot:
                    return _json(_qualified(snapshot, source), served_by=source.key)
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=upstream.status, body=content, headers={**kept, SERVED_BY: source.key})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return problem(502, "bad-gateway", f"{source.key} did not answer: {exc or type(exc).__name__}",
                           request.path)

    # -- every other /admin/* ------------------------------------------------------------------

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """To the first routable orders instance (one answer, not balanced: admin calls are few)."""
        if (refused := self._refused(request)) is not None:
            return refused
        instances = self.upstreams.routable(ADMIN_SERVICE)
        if not instances:
            return problem(503, "unavailable", f"no healthy instance of {ADMIN_SERVICE}, which serves the admin API",
                           request.path, {"Retry-After": "1"})
        record = instances[0]
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP} | self._headers()
        try:
            # The path as the client sent it: decoded, a saga id's %2F would become a path segment.
            async with self.session.request(request.method, record.address.rstrip("/") + request.raw_path,
                                            headers=headers, data=body or None,
                                            timeout=aiohttp.ClientTimeout(total=self._timeout)) as upstream:
                content = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=upstream.status, body=content, headers={**kept, SERVED_BY: record.key})
        except (aiohttp.ClientError, TimeoutError) as exc:
            return problem(502, "bad-gateway", f"{record.key} did not answer: {exc or type(exc).__name__}",
                           request.path)


def _qualified(snapshot: dict[str, Any], source: Source) -> dict[str, Any]:
    name = str(snapshot["name"])
    return {**snapshot, "name": qualified(name, source.key), "breaker": name, "service": source.service,
            "instance": source.key}


def _after(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(f"must be a seq of the gateway's feed (a whole number >= 0), got {raw[:80]!r}")
    return int(raw)


def _invalid(request: web.Request, field: str, message: str) -> web.Response:
    return problem(422, "validation", f"{field}: {message}", request.path,
                   errors=[{"field": field, "message": message}])


def _json(payload: Any, missing: list[str] | None = None, served_by: str | None = None) -> web.Response:
    headers = {UNANSWERED: ", ".join(missing)} if missing else {}
    if served_by is not None:
        headers[SERVED_BY] = served_by
    return web.Response(body=json.dumps(payload).encode(), content_type="application/json", headers=headers)
