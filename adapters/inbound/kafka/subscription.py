"""The loop every consumer runs: subscribe, handle batch after batch, and ride out an outage by
leaving the group, waiting with a growing back-off and subscribing again (the group hands the
unacked message to the new member)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.kernel.errors import Unavailable
from core.runtime.relay import Backoff
from ports.messaging import Subscriber


def consume_until(stop: threading.Event, *, subscribe: Callable[[], Subscriber],
                  consume_batch: Callable[[Subscriber], int], backoff: Backoff,
                  on_outage: Callable[[Unavailable], None]) -> None:
    """Run until `stop` is set; leaves the group on the way out."""
    subscriber: Subscriber | None = None
    try:
        while not stop.is_set():
            try:
                if subscriber is None:
                    subscriber = subscribe()
                consume_batch(subscriber)
                backoff.reset()
            except Unavailable as exc:
                on_outage(exc)
                if subscriber is not None:
                    _close_quietly(subscriber)
                    subscriber = None
                stop.wait(backoff.next_delay())
    finally:
        if subscriber is not None:
            subscriber.close()


def _close_quietly(subscriber: Subscriber) -> None:
    try:
        subscriber.close()
    except Exception:  # the broker that made us reconnect may not let us leave cleanly either
        return
