"""librdkafka's own log, routed through Python logging and rate-limited, and the broker's
up/down transitions said once each.

Without a `logger`, librdkafka writes straight to stderr: one `%3|...|FAIL|...` line per
reconnect attempt, 182 lines in 25 s of a broker outage. With `LIBRDKAFKA` as the client's
`logger` (confluent-kafka calls `logger.log(level, "%s [%s] %s", facility, client, text)`),
those lines come out in the process's log format, and `RateLimit` lets one line per facility
and client through per window, the next one saying how many it held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError

LIBRDKAFKA = logging.getLogger("orderhex.librdkafka")
log = logging.getLogger("orderhex.kafka")


class RateLimit(logging.Filter):
    """Lets the first record of each (facility, client) through per `window` seconds; the first
    one after the window carries `suppressed`: how many were dropped in between."""

    def __init__(self, window: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: dict[tuple[str, str], float] = {}
        self._dropped: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        key = (str(args[0]), str(args[1])) if len(args) >= 2 else (record.getMessage(), "")
        now = self._clock()
        with self._lock:
            if now < self._open_until.get(key, 0.0):
                self._dropped[key] = self._dropped.get(key, 0) + 1
                return False
            self._open_until[key] = now + self.window
            dropped = self._dropped.pop(key, 0)
            if len(self._open_until) > 1000:  # client names are per client: forget old ones
                self._open_until = {k: t for k, t in self._open_until.items() if t > now}
        if args:
            record.facility, record.client = str(args[0]), str(args[1]) if len(args) > 1 else ""
        if record.levelno > logging.WARNING:
            # librdkafka calls a dropped connection an error; it reconnects, and the relay and the
            # intake retry: orderhex says at error level only what it cannot ride out.
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        if dropped:
            record.suppressed = dropped
        return True


LIBRDKAFKA_LIMIT = RateLimit()
if not any(isinstance(f, RateLimit) for f in LIBRDKAFKA.filters):
    LIBRDKAFKA.addFilter(LIBRDKAFKA_LIMIT)


class BrokerState:
    """Whether the broker answered the last time anyone here asked; a change is logged once
    ("broker down: why" at warning, "broker up again after N s" at info)."""

    def __init__(self, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self._clock = clock
        self._lock = threading.Lock()
        self.up: bool | None = None  # not known until the first answer or failure
        self._down_since = 0.0
        # Bumped by every failure report, so a wait can tell that one happened since it began.
        self.failures = 0

    def failed(self, reason: object) -> None:
        with self._lock:
            self.failures += 1
            if self.up is False:
                return
            self.up = False
            self._down_since = self._clock()
        log.warning("broker down: %s", reason, extra={"broker": self.what, "broker_up": False})

    def answered(self) -> None:
        with self._lock:
            if self.up is True:
                return
            was_down, self.up = self.up is False, True
            seconds = round(self._clock() - self._down_since, 1)
        if was_down:
            log.info("broker up again after %.1f s", seconds, extra={"broker": self.what, "broker_up": True,
                                                                      "down_seconds": seconds})

    def on_error(self, error: KafkaError) -> None:
        """librdkafka's error callback (served from a client's poll or flush). Only "all brokers
        down" says the broker is down; a single dropped connection is reconnected by librdkafka
        and already shows in its (rate-limited) log."""
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.failed(error.str())
        elif error.fatal():
            log.error("kafka client failed: %s", error.str(), extra={"broker": self.what})
        else:
            log.debug("kafka client error: %s", error.str(), extra={"broker": self.what})


_STATES: dict[str, BrokerState] = {}
_STATES_LOCK = threading.Lock()


def broker_state(what: str) -> BrokerState:
    """The one BrokerState of a broker (by its description) in this process: an adapter that
    failed to open and the next one that tries share it, so an outage is said once."""
    with _STATES_LOCK:
        state = _STATES.get(what)
        if state is None:
            state = _STATES[what] = BrokerState(what)
        return state
