"""The file store: a directory, its writer lock, its journal and the in-memory index over them.

Layout of the directory:
- `journal.jsonl`: a header line (format, mode, the transaction it continues from), then
  one checksummed line per committed transaction. A commit is one write of one line followed by
  fdatasync: the line is the transaction, so it is on disk whole or (torn) not at all.
- `snapshot.json`: the whole index as of transaction N, replaced atomically. When the journal
  outgrows both `compact_bytes` and the last snapshot, the writer writes a snapshot, then
  atomically replaces the journal by one whose header continues from N. A crash between the two
  leaves an old journal whose records are all <= N, which replay skips. Waiting until the
  journal is as large as the snapshot keeps the bytes written per commit constant as the store
  grows (compacting at a fixed size rewrote a 100k-order store every 8 MiB: a quadratic fill).
- `writer.lock`: flock'ed by the one process allowed to append; names that process.

Readers in other processes may read: they take no lock, and before each read they apply the
complete lines appended since they last looked (or reload everything if the journal was
replaced by a compaction). An incomplete last line is reported as torn only while no writer
holds the lock (a live writer may be in the middle of writing it), and only the writer cuts it.
A process becomes the writer at its first write and stays the writer until `close()`.

Formats: each file is read in the format its header names (journal.READABLE), so a snapshot in
one format and a journal in another (a crash in the middle of an upgrade) still read. A process
that becomes the writer of a journal in an older format first compacts, which rewrites the
snapshot and the journal in the current format: new records never land in an old journal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from adapters.outbound.file import journal, legacy
from adapters.outbound.file.lock import WriterLock
from adapters.outbound.file.state import FileState
from core.kernel.errors import Unavailable
from core.kernel.feed import FeedEvent, FeedKind
from ports.system import EventFeed

T = TypeVar("T")
# How long a would-be writer waits for the lock: long enough to outlast a reader's probe.
_WRITER_PATIENCE = 0.2


class FileStore:
    def __init__(self, directory: Path, *, mode: str, compact_bytes: int, feed: EventFeed) -> None:
        self.directory = directory
        self.mode = mode
        self.compact_bytes = compact_bytes
        self.feed = feed
        self.lock = threading.RLock()
        self.state = FileState(mode)
        self.journal_path = directory / journal.JOURNAL
        self.snapshot_path = directory / journal.SNAPSHOT
        self._writer = WriterLock(directory / journal.LOCK)
        self._reader: BinaryIO | None = None
        self._loaded = False
        self._offset = 0
        self._fd: int | None = None
        # The size of the snapshot the loaded journal continues from (0: none).
        self._snapshot_bytes = 0
        self._reported_tail: int | None = None
        # The format of the journal loaded (its records are read in it).
        self._format = journal.FORMAT
        self.open()

    # -- opening and following the files ------------------------------------------------------

    def open(self) -> None:
        """Load the store. Takes no lock: the writer, if any, goes on writing meanwhile."""
        with self.lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._refresh(repair=False)
            except OSError as exc:
                raise self._os_error(exc, "open") from exc

    def read(self, query: Callable[[FileState], T]) -> T:
        """Run `query` on the committed state, first catching up with another writer's commits."""
        with self.lock:
            if not self._writer.held:
                try:
                    self._refresh(repair=False)
                except OSError as exc:
                    raise self._os_error(exc, "read") from exc
            return query(self.state)

    def check(self) -> None:
        """Raise Unavailable unless the journal can be read (the writer's: is still in place)."""
        with self.lock:
            try:
                if self._writer.held:
                    os.stat(self.journal_path)
                else:
                    self._refresh(repair=False)
            except OSError as exc:
                raise self._os_error(exc, "read") from exc

    def _refresh(self, *, repair: bool) -> None:
        try:
            stat = os.stat(self.journal_path)
        except FileNotFoundError:
            if self.snapshot_path.exists() or self._loaded:
                why = "has disappeared" if self._loaded else "is missing while snapshot.json exists"
                raise Unavailable(str(self.journal_path), why,
                                  "restore journal.jsonl from a backup; nothing was changed") from None
            if repair:
                journal.write_atomically(self.journal_path, journal.encode(self._header(0)))
                stat = os.stat(self.journal_path)
            else:
                return
        # The loaded journal is kept open, so its inode number cannot be reused by a later one.
        if self._reader is None or not os.path.samestat(stat, os.fstat(self._reader.fileno())) \
                or stat.st_size < self._offset:
            self._reload(repair=repair)
        elif stat.st_size > self._offset:
            self._catch_up(self._reader, repair=repair)

    def _reload(self, *, repair: bool) -> None:
        # The journal is opened before the snapshot is read: a compaction writes its snapshot
        # before its journal, so the snapshot read next is at least as new as this journal's
        # start, however many compactions run meanwhile.
        handle = self.journal_path.open("rb")
        try:
            state = FileState(self.mode)
            snapshot = journal.read_snapshot(self.snapshot_path)
            snapshot_bytes = self._size(self.snapshot_path) if snapshot is not None else 0
            if snapshot is not None:
                self._check_mode(self.snapshot_path, snapshot)
                self._apply(state, self.snapshot_path, 0, snapshot.get("state"), snapshot["format"])
            chunk = journal.read(self.journal_path, handle, 0)
            if not chunk.records:
                raise journal.damaged(self.journal_path, 0, "the header line is missing")
            header = chunk.records[0][1]
            self._check_mode(self.journal_path, header)
            if int(header.get("base_txn", 0)) > state.txn:
                raise journal.damaged(self.journal_path, 0, f"it continues from transaction {header['base_txn']} "
                                                            f"but snapshot.json holds only {state.txn}")
            self._format = header["format"]
            self._apply_chunk(state, chunk, skip_header=True, repair=repair)
        except BaseException:
            handle.close()
            raise
        self._forget_reader()
        self.state, self._reader, self._loaded = state, handle, True
        self._snapshot_bytes = snapshot_bytes

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return os.stat(path).st_size
        except FileNotFoundError:  # replaced meanwhile: the size only paces compaction
            return 0

    def _catch_up(self, handle: BinaryIO, *, repair: bool) -> None:
        try:
            self._apply_chunk(self.state, journal.read(self.journal_path, handle, self._offset), skip_header=False,
                              repair=repair)
        except Unavailable:
            self._forget_reader()  # partly applied: the next look starts over (and fails the same way)
            raise

    def _forget_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _apply_chunk(self, state: FileState, chunk: journal.Chunk, *, skip_header: bool, repair: bool) -> None:
        for offset, record in chunk.records[1 if skip_header else 0:]:
            txn = record.get("txn")
            if not isinstance(txn, int):
                raise journal.damaged(self.journal_path, offset, "a record has no transaction number")
            if txn <= state.txn:
                continue  # already in the snapshot (a crash came between snapshot and new journal)
            if txn != state.txn + 1:
                raise journal.damaged(self.journal_path, offset, f"transaction {state.txn + 1} is missing "
                                                                 f"before {txn}")
            self._apply(state, self.journal_path, offset, record, self._format)
        self._offset = chunk.end
        if chunk.tail and repair:
            self._cut_torn_tail(chunk)
        elif chunk.tail and chunk.end != self._reported_tail and self._writer.while_free(
                lambda: os.stat(self.journal_path).st_size == chunk.end + len(chunk.tail)):
            # No writer, and the incomplete line did not grow: its writer died mid-write.
            self._reported_tail = chunk.end
            self._report_torn(chunk, "it is cut off when this store is next written to")

    def _apply(self, state: FileState, path: Path, offset: int, record: Any, file_format: int) -> None:
        try:
            state.apply(record if file_format == journal.FORMAT else legacy.translate(record, self.mode))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            # The checksum held, so the record is as written, but not in a shape this code knows.
            raise journal.damaged(path, offset, f"a record does not fit format {file_format} "
                                                f"({type(exc).__name__}: {exc})") from exc

    def _cut_torn_tail(self, chunk: journal.Chunk) -> None:
        """Move an incomplete last line (a writer died mid-write) aside and cut it off. Only bytes
        after the last newline are cut, and every complete record ends in one, so no complete
        record can be lost."""
        with (self.directory / journal.TORN).open("ab") as torn:
            torn.write(chunk.tail + b"\n")
            torn.flush()
            os.fsync(torn.fileno())
        os.truncate(self.journal_path, chunk.end)
        fd = os.open(self.journal_path, os.O_WRONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._report_torn(chunk, f"it was cut off and saved to {journal.TORN}")

    def _report_torn(self, chunk: journal.Chunk, what_happened: str) -> None:
        self.feed.publish(FeedEvent(
            kind=FeedKind.ERROR, at=datetime.now(UTC),
            text=f"{self.journal_path}: ignored a torn last record ({len(chunk.tail)} bytes at byte {chunk.end}) "
                 f"left by a writer that died mid-write; no committed transaction is affected; {what_happened}",
            data={"file": str(self.journal_path), "offset": chunk.end, "bytes": len(chunk.tail)},
        ))

    def _check_mode(self, path: Path, record: dict[str, Any]) -> None:
        # Format 1 named the mode "orders" (it kept only orders).
        found = record.get("orders" if record["format"] == 1 else "mode")
        if found != self.mode:
            raise Unavailable(str(path), f"keeps aggregates as {found!r}, not {self.mode!r}",
                              f"open it in mode \"{found}\" (the storage mode setting) or point storage.file_dir "
                              f"at another directory; nothing was changed")

    def _header(self, base_txn: int) -> dict[str, Any]:
        return {"format": journal.FORMAT, "mode": self.mode, "base_txn": base_txn,
                "created_at": datetime.now(UTC).isoformat()}

    # -- writing ------------------------------------------------------------------------------

    def write(self, build: Callable[[FileState], dict[str, Any] | None]) -> None:
        """Become the writer, let `build` check the up-to-date state and return the changes (or
        None for nothing to do), then commit them as one journal line."""
        with self.lock:
            self._become_writer()
            state = self.state
            changes = build(state)
            if changes is None:
                return
            record = {"txn": state.txn + 1, "at": datetime.now(UTC).isoformat(), **changes}
            line = journal.encode(record)
            self._append(line)
            state.apply(record)
            if self._offset > max(self.compact_bytes, self._snapshot_bytes):
                try:
                    self._compact()
                except OSError as exc:
                    # Every commit is durable in the journal in place: report, keep going, retry next time.
                    self._report_compaction_failure(exc)

    def _become_writer(self) -> None:
        if self._writer.held:
            return
        try:
            if not self._writer.try_acquire(_WRITER_PATIENCE):
                raise Unavailable(str(self.directory), f"another process writes to it: {self._writer.holder()} "
                                  f"holds {self._writer.path}",
                                  "stop that process or send your changes through it; reading works meanwhile")
            self._refresh(repair=True)
            self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
            if self._format != journal.FORMAT:
                self._upgrade()
        except OSError as exc:
            self._writer.release()
            raise self._os_error(exc, "write") from exc
        except BaseException:
            self._writer.release()
            raise

    def _append(self, line: bytes) -> None:
        assert self._fd is not None
        try:
            journal.write_all(self._fd, line)
            os.fdatasync(self._fd)
        except OSError as exc:
            # Take back a partial line now, or the next commit would land behind garbage.
            try:
                os.ftruncate(self._fd, self._offset)
                os.fdatasync(self._fd)
            except OSError:
                self.close()  # the next writer cuts the tail as torn when it reopens
            raise self._os_error(exc, "commit", self.journal_path) from exc
        self._offset += len(line)

    def _upgrade(self) -> None:
        """The format step: rewrite a directory of an older format in the current one before
        this process writes a record in it. It is a compaction; until one succeeds, nothing is
        written (the next write tries again)."""
        old = self._format
        try:
            self._compact()
        except OSError as exc:
            self.close()
            raise Unavailable(str(exc.filename or self.journal_path),
                              f"cannot be upgraded from file format {old} to {journal.FORMAT} ({exc.strerror or exc})",
                              "check that the directory is writable and the disk is not full; reading works "
                              "meanwhile and nothing committed was changed") from exc

    def _compact(self) -> None:
        """Write a snapshot of everything, then restart the journal from it, in the current format.
        Raises OSError; if the journal may have been replaced by then, this process has stopped
        writing (the next write reopens whichever journal is in place)."""
        state = self.state
        snapshot = journal.encode({"format": journal.FORMAT, "mode": self.mode, "last_txn": state.txn,
                                   "state": state.dump()})
        journal.write_atomically(self.snapshot_path, snapshot)
        self._snapshot_bytes = len(snapshot)
        try:
            journal.write_atomically(self.journal_path, journal.encode(self._header(state.txn)))
            old, self._fd = self._fd, os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
            if old is not None:
                os.close(old)
            self._offset = os.fstat(self._fd).st_size
        except OSError:
            self.close()
            raise
        self._format = journal.FORMAT

    def _report_compaction_failure(self, exc: OSError) -> None:
        self.feed.publish(FeedEvent(kind=FeedKind.ERROR, at=datetime.now(UTC),
                                    text=f"{self.directory}: compaction failed ({exc}); the journal keeps growing",
                                    data={"file": str(self.snapshot_path)}))

    def close(self) -> None:
        with self.lock:
            self._forget_reader()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._writer.release()

    def _os_error(self, exc: OSError, action: str, path: Path | None = None) -> Unavailable:
        return Unavailable(str(exc.filename or path or self.directory), f"cannot {action} ({exc.strerror or exc})",
                           "check that the directory exists, is writable and the disk is not full")
