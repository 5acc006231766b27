"""The route table: which service owns a path, and which scope a request to it needs.

Pure: no I/O. The longest matching prefix wins, so `/orders/{id}/overview` could be given to
another service than `/orders` without touching the rest of the table. A prefix matches a whole
path segment: `/orders` owns `/orders` and `/orders/42`, never `/ordersx`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.kernel.errors import ValidationError

KEY = "gateway.routes"
READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
ADMIN_SCOPE = "admin"


@dataclass(frozen=True)
class Route:
    """`prefix` is owned by `service`; reads need `read_scope`, anything else `write_scope`."""

    prefix: str
    service: str
    read_scope: str
    write_scope: str

    def scope_for(self, method: str) -> str:
        return self.read_scope if method.upper() in READ_METHODS else self.write_scope

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix.rstrip("/") + "/")


def default_route(prefix: str, service: str) -> Route:
    return Route(prefix, service, f"{service}:read", f"{service}:write")


# The REST routers' prefixes (adapters/inbound/rest/): the overview and the checkout quote are
# served by the orders service, which composes the others.
DEFAULT_ROUTES = (
    default_route("/orders", "orders"),
    default_route("/checkout", "orders"),
    default_route("/inventory", "inventory"),
    default_route("/payments", "payments"),
    default_route("/shipping", "shipping"),
)


class RouteTable:
    def __init__(self, routes: tuple[Route, ...] = DEFAULT_ROUTES) -> None:
        prefixes = [r.prefix for r in routes]
        if len(set(prefixes)) != len(prefixes):
            raise ValidationError(KEY, f"a prefix is listed twice: {', '.join(sorted(prefixes))}")
        # Longest first: the first match is the most specific one.
        self.routes = tuple(sorted(routes, key=lambda r: len(r.prefix), reverse=True))

    def match(self, path: str) -> Route | None:
        return next((r for r in self.routes if r.matches(path)), None)

    def services(self) -> tuple[str, ...]:
        return tuple(sorted({r.service for r in self.routes}))


def parse_routes(text: str) -> RouteTable:
    """`/prefix=service[,read_scope,write_scope];...` -> a RouteTable; "" -> the default table.
    Without scopes a route needs `<service>:read` and `<service>:write`. Raises ValidationError
    naming gateway.routes and the bad entry."""
    if not text.strip():
        return RouteTable()
    routes = []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        prefix, sep, rest = entry.partition("=")
        parts = [p.strip() for p in rest.split(",")]
        prefix = prefix.strip()
        if not sep or not prefix.startswith("/") or not parts[0] or len(parts) not in (1, 3) or not all(parts):
            raise ValidationError(KEY, f"{entry!r}: expected /prefix=service or /prefix=service,read_scope,write_scope")
        if len(prefix) > 1:
            prefix = prefix.rstrip("/")
        route = default_route(prefix, parts[0]) if len(parts) == 1 else Route(prefix, parts[0], parts[1], parts[2])
        routes.append(route)
    return RouteTable(tuple(routes))
