from __future__ import annotations

import os
import threading
import time

# Random bits come from the kernel's CSPRNG in blocks: one getrandom call per 512 ids rather than
# one per id (placing an order makes two ids; the syscall was a visible share of it).
_BLOCK = 4096
_RANDOM_BITS = (1 << 62) - 1


class Uuid7Ids:
    """UUIDv7 (RFC 9562): 48-bit millisecond time, then a 12-bit counter, then random bits.

    The counter keeps ids made within one millisecond in order, so ids sort by creation.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0
        self._random = b""
        self._offset = _BLOCK

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
            if self._offset == _BLOCK:
                self._random, self._offset = os.urandom(_BLOCK), 0
            rand = int.from_bytes(self._random[self._offset:self._offset + 8], "big") & _RANDOM_BITS
            self._offset += 8
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
