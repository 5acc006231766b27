"""uvicorn's HTTP protocols with a deadline for each request's head (its line and headers).

uvicorn (0.54) has no header read timeout: its keep-alive timer covers only the idle time between
requests and is cancelled by the first byte of the next one, so a client that trickles a header
line every few seconds (slowloris) holds its connection for as long as it likes; 300 of them held
all their sockets for 20 s and more (issue 16). Here a connection must deliver each request's head
within `header_timeout` seconds of its first byte (or of the connection's opening), else it is
closed. The body is bounded by the body limit, the response by the client reading it; neither is
timed here, so a long event stream is never cut.

The protocol underneath is the one uvicorn's "auto" picks: httptools when installed, else h11.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional in uvicorn; h11 always comes with it
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger("orderhex.serve")


class _HeadDeadline:
    """The deadline itself; the protocol classes below say when a head starts and ends."""

    header_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._deadline is None:
            loop: asyncio.AbstractEventLoop = self.loop  # type: ignore[attr-defined]
            self._deadline = loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_slow(self) -> None:
        self._deadline = None
        transport: asyncio.Transport = self.transport  # type: ignore[attr-defined]
        if not transport.is_closing():
            client = transport.get_extra_info("peername")
            log.info("closed a connection that sent no whole request head in %s s", self.header_timeout,
                     extra={"event": "request_head_timeout", "client": str(client),
                            "header_timeout_s": self.header_timeout})
            transport.close()


class H11WithHeadDeadline(_HeadDeadline, H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # IDLE after these bytes: a request has begun and its head is not complete yet.
        if self.conn.their_state is h11.IDLE:
            self._arm()
        else:
            self._disarm()


if HttpToolsProtocol is not None:

    class HttpToolsWithHeadDeadline(_HeadDeadline, HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:  # the first byte of a request
            self._arm()
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()


def http_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn.Config(http=...): uvicorn's own, with the head deadline."""
    base: type[Any] = H11WithHeadDeadline if HttpToolsProtocol is None else HttpToolsWithHeadDeadline
    return type(base.__name__, (base,), {"header_timeout": float(header_timeout)})
