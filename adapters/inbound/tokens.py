"""JWT verification shared by the inbound adapters that terminate auth (the gateway and the
sidecar): HS256 with one shared secret, `exp` and `sub` required, a few seconds of leeway for
clock skew. Pure apart from PyJWT, so both families use one rule instead of two that drift."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

LEEWAY_SECONDS = 5  # clock skew between the token's issuer and the process checking it
ALGORITHMS = ["HS256"]


@dataclass(frozen=True)
class Claims:
    subject: str
    scopes: frozenset[str]


class TokenRefused(Exception):
    """A JWT that does not verify; the message says why and never holds the token."""


def verify_jwt(token: str, key: str) -> Claims:
    """The token's subject and scopes (`scope`, space-separated as in RFC 8693, or a `scopes`
    list), or TokenRefused: expired, wrong signature, wrong algorithm, missing `exp` or `sub`."""
    try:
        claims = jwt.decode(token, key, algorithms=ALGORITHMS, leeway=LEEWAY_SECONDS,
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise TokenRefused("the JWT has expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRefused(f"the JWT is not valid: {exc}") from None
    raw = claims.get("scope", claims.get("scopes", ()))
    scopes = raw.split() if isinstance(raw, str) else [str(s) for s in raw] if isinstance(raw, list) else []
    return Claims(str(claims["sub"]), frozenset(scopes))
