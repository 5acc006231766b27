"""The log line formats: JSON off a terminal, text on one; fields from `extra=` and from the
message being handled."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from adapters.inbound import logs
from core.kernel.feed import FeedEvent, FeedKind


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _logged(stream: io.StringIO, fmt: str = "auto") -> str:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        logs.configure(fmt, "debug", stream=stream)
        with logs.context(message_id="m-1", correlation_id="c-1", causation_id=None):
            logging.getLogger("orderhex.test").info("command %s", "accepted", extra={"order_id": "o-1"})
        logging.getLogger("orderhex.test").warning("outside")
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
    return stream.getvalue()


def test_a_pipe_gets_one_json_object_per_line_with_the_context_ids() -> None:
    first, second = (json.loads(line) for line in _logged(io.StringIO()).splitlines())
    assert first["message"] == "command accepted" and first["level"] == "info" and first["logger"] == "orderhex.test"
    assert (first["order_id"], first["message_id"], first["correlation_id"]) == ("o-1", "m-1", "c-1")
    assert "causation_id" not in first, "an id that is not known is left out"
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert "message_id" not in second, "the context ends with its block"


def test_a_terminal_gets_readable_lines() -> None:
    text = _logged(_Tty())
    assert " INFO    orderhex.test: command accepted  order_id=o-1 message_id=m-1 correlation_id=c-1" in text
    assert not text.lstrip().startswith("{")
    assert json.loads(_logged(_Tty(), "json").splitlines()[0])["message"] == "command accepted"


def test_feed_events_become_log_lines_at_their_level() -> None:
    now = datetime.now(UTC)
    error = FeedEvent(kind=FeedKind.ERROR, text="relay paused", at=now, data={"component": "relay"})
    batch = FeedEvent(kind=FeedKind.OUTBOX_PUBLISHED, text="3 published", at=now, data={"count": 3})
    command = FeedEvent(kind=FeedKind.COMMAND, text="PlaceOrder handled", at=now, data={"command": "PlaceOrder"})
    dead = FeedEvent(kind=FeedKind.ERROR, text="intake dead-lettered m", at=now, data={"message_id": "m"})
    assert [logs.feed_level(e) for e in (error, batch, command, dead)] == [
        logging.WARNING, logging.INFO, logging.DEBUG, logging.DEBUG]
