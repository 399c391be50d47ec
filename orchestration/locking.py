"""One writer at a time: a lock on the warehouse, held for the whole of a run.

DuckDB itself lets one process open a file for writing, but only for as long as a connection is open; a run
opens and closes many (the loader, dbt's subprocess, the models, publishing), so two runs would interleave
between them and leave a warehouse that is neither. Every command that writes the warehouse (``ecrm run``,
``ecrm demo``, a Dagster run of ``ecrm_everything``, ``ecrm forget``) holds this lock around all of its
work.

The lock is an OS lock (``flock`` on POSIX) on ``<warehouse>.lock`` beside the warehouse: the kernel drops
it when the holding process ends in any way, ``kill -9`` and a power cut included, so a lock file left
behind never blocks the next run. The file holds who took the lock (pid, host, start time, command), which
is what a second run prints when it finds the warehouse busy.

Why filelock rather than ``fcntl`` by hand: it is already installed and pinned (``constraints.txt``; Dagster
depends on it), is maintained, and gives everything needed here: the OS lock on POSIX and Windows, a lock
object that nests (``thread_local=False``: re-entrant across the threads of one process), a timeout, and a
hook that writes the holder into the locked file before ``acquire`` returns. It writes no holder info of its
own, so that part is ours. portalocker would also do, but is not installed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

# How often a waiting run tries again; a run takes tens of seconds at least, so this costs nothing.
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class LockHolder:
    """Who holds the warehouse lock: what the lock file says."""

    pid: int
    host: str
    started_at: str  # ISO 8601, UTC
    command: str

    def describe(self) -> str:
        """``pid 1234 on host, started 2026-03-01 05:00:02 UTC (ecrm run)``."""
        started = self.started_at.replace("T", " ").split(".")[0].removesuffix("+00:00")
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where}, started {started} UTC ({self.command})"


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse lock, and the caller would not (or no longer) wait."""

    def __init__(self, warehouse: Path, holder: LockHolder | None, waited: float | None):
        self.warehouse = warehouse
        self.holder = holder
        self.waited = waited
        who = holder.describe() if holder else "a process whose details are not readable yet"
        after = f" after waiting {waited:.0f} s" if waited else ""
        super().__init__(f"The warehouse {warehouse} is in use by another run{after}: {who}.")


def lock_path(warehouse: Path) -> Path:
    """The lock file of a warehouse: ``<warehouse>.lock`` beside it."""
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".lock")


def read_holder(warehouse: Path) -> LockHolder | None:
    """The holder the lock file names (the last one, if nobody holds it now); None if absent or unreadable."""
    try:
        data = json.loads(lock_path(warehouse).read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["started_at"]), str(data["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def this_command() -> str:
    """This process's command line, shortened to what a person typed (``ecrm run --wait``)."""
    argv = sys.argv or ["python"]
    return " ".join([Path(argv[0]).name, *argv[1:]])[:200]


class _Entry:
    """One warehouse's lock in this process: the filelock object (it counts nested acquisitions itself)
    and the holder to write when the OS lock is first taken."""

    def __init__(self, path: Path):
        self.holder = ""
        self.lock = FileLock(path, thread_local=False, poll_interval=POLL_SECONDS, on_acquired=self._write)

    def _write(self, fd: int) -> None:
        # Runs with the OS lock held, before acquire() returns: a second run reading the file sees us.
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": self.holder or this_command(),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))


_ENTRIES: dict[Path, _Entry] = {}
_ENTRIES_GUARD = threading.Lock()


def _entry(warehouse: Path) -> _Entry:
    path = lock_path(Path(warehouse).resolve())
    with _ENTRIES_GUARD:
        if path not in _ENTRIES:
            path.parent.mkdir(parents=True, exist_ok=True)
            _ENTRIES[path] = _Entry(path)
        return _ENTRIES[path]


def held_here(warehouse: Path) -> bool:
    """Whether this process holds the lock of ``warehouse`` now."""
    return _entry(warehouse).lock.is_locked


@contextmanager
def warehouse_lock(
    warehouse: Path,
    wait: bool | float = False,
    holder: str = "",
    on_wait: Callable[[LockHolder | None], None] | None = None,
) -> Iterator[None]:
    """Hold the lock of ``warehouse`` for the ``with`` block.

    ``wait=False`` makes one attempt and raises :class:`WarehouseBusy` (naming the holder) if another
    process holds the lock; ``wait=True`` waits for as long as it takes; a number waits at most that many
    seconds, then raises. ``on_wait`` is called once with the holder when waiting starts, to say so.

    Re-entrant within a process: a nested ``warehouse_lock`` on the same warehouse (``ecrm forget`` calling
    :func:`orchestration.pipeline.run_pipeline`, which calls the Dagster job, whose resource locks again)
    returns at once, from any thread. ``holder`` names the holder in the lock file (default: this process's
    command line); only the outermost acquisition writes it.
    """
    entry = _entry(warehouse)
    lock = entry.lock
    if not lock.is_locked:
        entry.holder = holder
    try:
        lock.acquire(blocking=False)
    except Timeout:
        if wait is False:
            raise WarehouseBusy(Path(warehouse), read_holder(warehouse), None) from None
        if on_wait is not None:
            on_wait(read_holder(warehouse))
        started = time.monotonic()
        timeout = -1 if wait is True else float(wait)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise WarehouseBusy(Path(warehouse), read_holder(warehouse), time.monotonic() - started) from None
    try:
        yield
    finally:
        lock.release()
