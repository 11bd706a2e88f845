"""A durable local spool for accepted events while RabbitMQ cannot confirm them.

Appends go to ``current.jsonl``, one line per message, and are fsynced before the caller is
told they are safe: requests that arrive together share one write and one fsync (group commit).
To forward, the current file is sealed (renamed to ``sealed-<ns>.jsonl``) and a new one begun;
a sealed file is deleted only once every line in it was confirmed by the broker. A torn last
line from a crash is skipped: its request never got its 2xx. So that no new line is ever
written after a torn one, a non-empty ``current.jsonl`` found at start, or left by a failed
write, is sealed first.

Each process keeps its own spool in a slot directory under ``WEBHOOK_SPOOL_DIR``
(``slot-0``, ``slot-1``, …), held by an exclusive ``flock`` for as long as the process lives, so
replicas sharing one volume never write into one file. The kernel drops the lock when its
holder dies; any live instance then adopts what that slot still holds and forwards it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson

from shared.bus import SerializedMessage

CURRENT = "current.jsonl"
LOCK = ".lock"
SLOT_PREFIX = "slot-"


class SpoolBusy(Exception):
    """Another live process holds this spool directory."""


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._size = 0
        # Kept in memory: has_pending() is asked on every request, a directory listing is not cheap.
        self._sealed: list[Path] = []
        self._sealed_bytes = 0
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one write or seal at a time

    def open(self) -> None:
        """Take the directory for this process (or raise SpoolBusy) and seal what was left."""
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise SpoolBusy(str(self.directory)) from None
        self._lock_fd = lock_fd
        self._sealed = sorted(self.directory.glob("sealed-*.jsonl"))
        self._sealed_bytes = sum(path.stat().st_size for path in self._sealed)
        self._open_current()
        self._seal_now()  # whatever a previous process left, possibly with a torn last line

    def _open_current(self) -> None:
        path = self.directory / CURRENT
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        _sync_directory(self.directory)

    def close(self) -> None:
        self._close_current()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _close_current(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def append(self, messages: list[SerializedMessage]) -> None:
        """Returns once the messages are on disk (fsynced)."""
        data = b"".join(_line(message) for message in messages)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((data, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                data = b"".join(chunk for chunk, _ in batch)
                try:
                    async with self._lock:
                        await asyncio.to_thread(self._write_and_sync, data)
                except OSError as exc:
                    with contextlib.suppress(OSError):
                        async with self._lock:
                            self._seal_now()  # a partial write must not prefix the next one
                    for _, done in batch:
                        done.set_exception(exc)
                        done.exception()
                    continue
                for _, done in batch:
                    done.set_result(None)
        finally:
            self._writer = None

    def _write_and_sync(self, data: bytes) -> None:
        assert self._fd is not None, "spool not open"
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        self._size += len(data)

    async def seal(self) -> None:
        """Close the current file for forwarding (if it has anything) and start a new one."""
        async with self._lock:
            self._seal_now()

    def _seal_now(self) -> None:
        if self._fd is not None:
            self._size = os.fstat(self._fd).st_size  # counts a partial write too
        if self._size == 0:
            return
        self._close_current()
        sealed = self.directory / f"sealed-{time.time_ns()}.jsonl"
        os.replace(self.directory / CURRENT, sealed)
        self._sealed.append(sealed)
        self._sealed_bytes += self._size
        self._open_current()

    def has_pending(self) -> bool:
        return self._size > 0 or bool(self._sealed)

    def pending_bytes(self) -> int:
        return self._size + self._sealed_bytes

    def sealed(self) -> list[Path]:
        """Sealed files, oldest first."""
        return list(self._sealed)

    def forwarded(self, segment: Path) -> None:
        """Every line of ``segment`` is confirmed by the broker: delete it."""
        size = segment.stat().st_size
        segment.unlink()
        self._sealed.remove(segment)
        self._sealed_bytes -= size


def claim_slot(root: Path) -> Spool:
    """This process's spool: the first slot under ``root`` that no live process holds."""
    for number in itertools.count():
        spool = Spool(root / f"{SLOT_PREFIX}{number}")
        try:
            spool.open()
        except SpoolBusy:
            continue
        return spool
    raise AssertionError("unreachable")


def orphaned_slots(root: Path, own: Spool) -> Iterator[Spool]:
    """Slots with events left by a process that is gone, each opened (held) until closed."""
    for directory in sorted(root.glob(f"{SLOT_PREFIX}*")):
        if directory == own.directory or not _holds_events(directory):
            continue
        spool = Spool(directory)
        try:
            spool.open()
        except SpoolBusy:
            continue  # its owner is alive and forwards it
        try:
            yield spool
        finally:
            spool.close()


def _holds_events(directory: Path) -> bool:
    current = directory / CURRENT
    return any(directory.glob("sealed-*.jsonl")) or (
        current.exists() and current.stat().st_size > 0
    )


def _line(message: SerializedMessage) -> bytes:
    return (
        b'{"routing_key":'
        + orjson.dumps(message.routing_key)
        + b',"envelope":'
        + message.body
        + b"}\n"
    )


def read_segment(path: Path) -> Iterator[SerializedMessage]:
    with path.open("rb") as segment:
        for raw in segment:
            try:
                record = orjson.loads(raw)
                envelope = record["envelope"]
                yield SerializedMessage(
                    routing_key=record["routing_key"],
                    message_id=envelope["id"],
                    message_type=envelope["type"],
                    correlation_id=envelope["correlation_id"],
                    time=datetime.fromisoformat(envelope["time"]),
                    body=orjson.dumps(envelope),
                )
            except (ValueError, KeyError, TypeError):
                continue  # a torn line from a crash mid-write


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
