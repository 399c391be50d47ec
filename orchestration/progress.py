"""The progress display of ``ecrm run`` and ``ecrm demo``: one line per stage with counts and elapsed time,
while Dagster's and dbt's full logs go to a file.

Dagster runs the job in this process and dbt in a subprocess of it, and both write their logs to the
process's standard output and error. :func:`logs_to_file` points those two file descriptors at the log
file for the run (so the subprocess's output lands there too), and :class:`StageProgress` follows that
file and shows the stages with rich on the terminal the user is looking at.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# Dagster logs each step as `STEP_START - Started execution of step "<key>".`; dbt logs `N of M START ...`.
_STEP_START = re.compile(r'STEP_START - Started execution of step "([^"]+)"')
_STEP_DONE = re.compile(r'STEP_(SUCCESS|FAILURE) - .*step "([^"]+)"')
_DBT_NODE = re.compile(r"^\s*(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP)\b")
_DBT_MODEL = re.compile(r"^\s*\d+ of \d+ OK created sql \w+ model")


@dataclass
class Stage:
    """One stage of a run as the user sees it."""

    label: str
    total: int | None = None
    done: int = 0
    started: float | None = None
    finished: float | None = None
    failed: bool = False
    detail: str = ""


def stage_of(step_key: str) -> str | None:
    """Which displayed stage a Dagster step belongs to (``None`` for steps shown as part of no stage)."""
    if step_key.startswith("raw__"):
        return "checks" if _is_check(step_key) else "load"
    if step_key == "dbt_warehouse":
        return "dbt"
    if step_key in ("basket_rules", "customer_models", "ml__recommendations"):
        return "models"
    if step_key == "dbt_customer_views":
        return "views"
    if step_key == "published_warehouse":
        return "publish"
    return None


_CHECK_SUFFIXES = ("_great_expectations_suite", "_primary_key_unique", "_quarantine_share", "_rows_reconcile")


def _is_check(step_key: str) -> bool:
    return step_key.endswith(_CHECK_SUFFIXES)


class StageProgress:
    """Follows a run's log file in a thread and shows its stages with a rich progress display."""

    def __init__(self, log_path: Path, entities: int, out: TextIO) -> None:
        from rich.console import Console

        self.log_path = log_path
        self.console = Console(file=out, highlight=False)
        self.stages = {
            "load": Stage("Loading landing files (entities)", total=entities),
            "checks": Stage("Checking contracts (asset checks)", total=entities * 4),
            "dbt": Stage("Building the warehouse (dbt nodes)"),
            "models": Stage("Fitting models (CLV, churn, baskets, recommendations)", total=3),
            "views": Stage("Building customer views (dbt nodes)"),
            "publish": Stage("Publishing the read-only copy", total=1),
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._current_dbt: str | None = None

    def __enter__(self) -> StageProgress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks = {
            key: self.progress.add_task(stage.label, total=stage.total, start=False)
            for key, stage in self.stages.items()
        }
        self.progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._read_new()  # whatever was written after the last poll
        self._refresh()
        self.progress.stop()

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._read_new()
            self._refresh()
            time.sleep(0.25)

    _offset = 0
    _partial = ""

    def _read_new(self) -> None:
        try:
            with self.log_path.open("r", encoding="utf-8", errors="replace") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
                self._offset = fh.tell()
        except FileNotFoundError:
            return
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.feed(line)

    def feed(self, line: str) -> None:
        """Update the stages from one log line."""
        now = time.perf_counter()
        if m := _STEP_START.search(line):
            key = stage_of(m.group(1))
            if key:
                stage = self.stages[key]
                stage.started = stage.started or now
                if key in ("dbt", "views"):
                    self._current_dbt = key
        elif m := _STEP_DONE.search(line):
            key = stage_of(m.group(2))
            if key:
                stage = self.stages[key]
                stage.done += 1 if key not in ("dbt", "views") else 0
                stage.failed = stage.failed or m.group(1) == "FAILURE"
                stage.finished = now
        elif (m := _DBT_NODE.search(line)) and self._current_dbt:
            stage = self.stages[self._current_dbt]
            stage.total = int(m.group(2))
            stage.done = max(stage.done, int(m.group(1)))

    def _refresh(self) -> None:
        for key, stage in self.stages.items():
            task = self.tasks[key]
            if stage.started is not None:
                self.progress.start_task(task)
            label = stage.label + (" [red]FAILED[/red]" if stage.failed else "")
            self.progress.update(task, description=label, completed=stage.done, total=stage.total)
            if stage.finished is not None and stage.total is not None and stage.done >= stage.total:
                self.progress.stop_task(task)


@contextlib.contextmanager
def logs_to_file(log_path: Path) -> Iterator[TextIO]:
    """Send this process's standard output and error (and its subprocesses') to ``log_path`` for the
    duration; yields a stream on the original standard output, for the progress display."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.flush()
