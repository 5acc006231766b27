from __future__ import annotations

import os
import threading
import time
import uuid


class Uuid7Ids:
    """UUIDv7 (RFC 9562): 48-bit millisecond time, then a 12-bit counter, then random bits.

    The counter keeps ids made within one millisecond in order, so ids sort by creation.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def new_id(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                self._counter += 1
                if self._counter > 0xFFF:  # counter spent: borrow the next millisecond
                    self._last_ms += 1
                    self._counter = 0
                ms = self._last_ms
            else:
                self._last_ms, self._counter = ms, 0
            counter = self._counter
        rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
        return str(uuid.UUID(int=value))
