"""The store's files and their byte format: checksummed JSON lines, written so a crash can only
ever leave an incomplete last line behind, and snapshots replaced atomically.

Every line is `{"crc":"<crc32 of the record, 8 hex>","rec":<record JSON>}` and ends in a newline.
A record is complete exactly when its newline is on disk: a writer killed mid-write leaves a
prefix without one (a "torn" tail), which is safe to cut because it can hold no complete record.
A newline-terminated line that fails its checksum is damage, never a crash artefact, and is
refused rather than repaired.

The header line of a journal and the snapshot say which format their records are in. Format 2
keeps any context's aggregates and views (see state.py); format 1 kept only orders and is still
read, translated record by record (see legacy.py). A newer format is refused, not guessed at.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from core.kernel.errors import Unavailable

# The format this code writes, and every format it reads.
FORMAT = 2
READABLE = (1, 2)
JOURNAL = "journal.jsonl"
SNAPSHOT = "snapshot.json"
LOCK = "writer.lock"
# Torn tails are moved here before being cut from the journal, so nothing is thrown away unseen.
TORN = "journal.torn"

_HEAD = b'{"crc":"'
_MID = b'","rec":'
_BODY_START = len(_HEAD) + 8 + len(_MID)


def encode(record: dict[str, Any]) -> bytes:
    # orjson: every unit of work writes a line, and it encodes 5-10x faster than `json`; its
    # compact UTF-8 text is what the standard library's `json` wrote here with these options.
    raw = orjson.dumps(record)
    return b'%s%08x%s%s}\n' % (_HEAD, zlib.crc32(raw), _MID, raw)


def decode(line: bytes) -> dict[str, Any] | None:
    """The record of one line (without its newline), or None if the line is damaged."""
    if len(line) <= _BODY_START or not line.startswith(_HEAD) or line[_BODY_START - len(_MID):_BODY_START] != _MID:
        return None
    raw = line[_BODY_START:-1]
    try:
        ok = line.endswith(b"}") and int(line[len(_HEAD):len(_HEAD) + 8], 16) == zlib.crc32(raw)
        record = orjson.loads(raw) if ok else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def declared_format(line: bytes) -> int | None:
    """The format a header or snapshot line claims, read loosely: a newer format may have
    changed the checksum scheme, and must still be recognised as newer rather than as damage."""
    try:
        value = json.loads(line)["rec"]["format"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def check_format(path: Path, line: bytes) -> dict[str, Any]:
    """The header or snapshot record of `line` (its "format" one of READABLE); Unavailable if it
    is newer than this code or damaged."""
    claimed = declared_format(line)
    if claimed is not None and claimed > FORMAT:
        raise Unavailable(str(path), f"written by a newer orderhex (file format {claimed}, this one reads "
                                     f"formats {READABLE[0]} to {FORMAT})",
                          "upgrade orderhex to open it; the file was not changed")
    record = decode(line)
    if record is None or record.get("format") not in READABLE:
        raise damaged(path, 0, "its header does not parse or fails its checksum")
    return record


def damaged(path: Path, offset: int, why: str) -> Unavailable:
    return Unavailable(
        str(path), f"damaged at byte {offset}: {why}",
        "nothing was changed or deleted; restore the directory from a backup, or move it away to start "
        "an empty store",
    )


@dataclass
class Chunk:
    """What reading a journal from an offset found."""

    records: list[tuple[int, dict[str, Any]]]  # (offset of the line, record)
    end: int  # offset just after the last complete line
    tail: bytes  # bytes after the last newline: an incomplete record, or b""


def read(path: Path, handle: BinaryIO, offset: int) -> Chunk:
    """The complete records of an open journal from `offset` on (`path` names it in errors)."""
    handle.seek(offset)
    data = handle.read()
    complete = data.rfind(b"\n") + 1
    records: list[tuple[int, dict[str, Any]]] = []
    start = 0
    while start < complete:
        stop = data.index(b"\n", start)
        line = data[start:stop]
        if offset + start == 0:
            records.append((0, check_format(path, line)))
        else:
            record = decode(line)
            if record is None:
                raise damaged(path, offset + start, "a complete line fails its checksum (not a crash artefact)")
            records.append((offset + start, record))
        start = stop + 1
    return Chunk(records=records, end=offset + complete, tail=data[complete:])


def read_snapshot(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unavailable(str(path), f"cannot be read ({exc.strerror})", "check its permissions") from exc
    if not data.endswith(b"\n"):
        raise damaged(path, len(data), "the snapshot is incomplete (snapshots are renamed into place whole)")
    return check_format(path, data[:-1])


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a reader or a crash sees the old file or the new one, never
    a mix: write a temporary file, flush it to disk, rename it over, flush the directory."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
