"""Who is calling and what they may do: API keys (X-API-Key) and JWTs (Authorization: Bearer,
HS256 with `gateway.jwt_key`), each giving a client id and a set of scopes. `admin` grants
every scope.

Keys are looked up by their SHA-256 digest and never appear in a message, a log line or a metric.
A JWT must carry `exp` and `sub`; its scopes come from `scope` (space-separated, RFC 8693) or
`scopes` (a list).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from adapters.inbound.gateway.routes import ADMIN_SCOPE
from adapters.inbound.tokens import TokenRefused, verify_jwt
from core.kernel.errors import ValidationError

API_KEY_HEADER = "X-API-Key"
KEYS_SETTING = "gateway.api_key"


@dataclass(frozen=True)
class Principal:
    client: str
    scopes: frozenset[str]
    method: str  # "api-key", "jwt" or "none" (auth is off)

    def may(self, scope: str) -> bool:
        return ADMIN_SCOPE in self.scopes or scope in self.scopes


class AuthFailed(Exception):
    """401 (no or bad credential) or 403 (a good one without the scope). Never holds the credential."""

    def __init__(self, status: int, detail: str, error: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error = error


def parse_api_keys(text: str) -> dict[bytes, Principal]:
    """`client=key=scope,scope;client=key=scope` -> principals by the key's SHA-256 digest (so
    the lookup costs the same for every key and the table holds no key). Errors name the
    client, never the key."""
    found: dict[bytes, Principal] = {}
    clients: set[str] = set()
    for number, entry in enumerate((e.strip() for e in text.split(";")), start=1):
        if not entry:
            continue
        parts = entry.split("=")
        if len(parts) != 3 or not parts[0].strip() or not parts[1].strip():
            raise ValidationError(KEYS_SETTING, f"entry {number} is not client=key=scope,scope (the key is not shown)")
        client, key, scopes = (p.strip() for p in parts)
        if client in clients:
            raise ValidationError(KEYS_SETTING, f"client {client!r} is listed twice")
        digest = _digest(key)
        if digest in found:
            raise ValidationError(KEYS_SETTING, f"client {client!r} has the same key as {found[digest].client!r}")
        clients.add(client)
        found[digest] = Principal(client, frozenset(s for s in (x.strip() for x in scopes.split(",")) if s), "api-key")
    return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class Authenticator:
    """`api_keys` from parse_api_keys; `jwt_key` the HS256 secret ("" refuses JWTs). With neither,
    auth is off: every caller is the anonymous client with every scope (`enabled` False)."""

    def __init__(self, api_keys: dict[bytes, Principal], jwt_key: str = "") -> None:
        self._keys = api_keys
        self._jwt_key = jwt_key
        self.enabled = bool(api_keys or jwt_key)

    @property
    def takes_api_keys(self) -> bool:
        return bool(self._keys)

    @property
    def takes_jwts(self) -> bool:
        return bool(self._jwt_key)

    def authenticate(self, api_key: str | None, authorization: str | None, anonymous: str) -> Principal:
        if not self.enabled:
            return Principal(anonymous, frozenset((ADMIN_SCOPE,)), "none")
        if api_key is not None:
            return self._by_key(api_key)
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return self._by_jwt(token.strip())
        accepted = " or ".join(x for x, on in ((f"the {API_KEY_HEADER} header", bool(self._keys)),
                                               ("Authorization: Bearer <JWT>", bool(self._jwt_key))) if on)
        raise AuthFailed(401, f"this gateway needs {accepted}")

    def _by_key(self, given: str) -> Principal:
        # The lookup is by the key's digest: its timing tells nothing about the key's characters.
        principal = self._keys.get(_digest(given))
        if principal is None:
            raise AuthFailed(401, f"the {API_KEY_HEADER} header is not a known key", "invalid_key")
        return principal

    def _by_jwt(self, token: str) -> Principal:
        if not self._jwt_key:
            raise AuthFailed(401, "this gateway accepts no JWTs (gateway.jwt_key is not set)", "invalid_token")
        try:
            claims = verify_jwt(token, self._jwt_key)
        except TokenRefused as exc:
            raise AuthFailed(401, str(exc), "invalid_token") from None
        return Principal(claims.subject, claims.scopes, "jwt")

    @staticmethod
    def authorize(principal: Principal, scope: str) -> None:
        if not principal.may(scope):
            raise AuthFailed(403, f"client {principal.client!r} lacks the scope {scope!r}", "insufficient_scope")
