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
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# Dagster logs each step as `STEP_START - Started execution of step "<key>".`; dbt logs `N of M START ...`.
_STEP_START = re.compile(r'STEP_START - Started execution of step "([^"]+)"')
_STEP_DONE = re.compile(r'STEP_(SUCCESS|FAILURE) - .*step "([^"]+)"')
_RUN_SUCCESS = re.compile(r"- RUN_SUCCESS - ")
_DBT_NODE = re.compile(r"^\s*(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP)\b")

# The stages shown, in order. A stage's steps come from the job (see ``definitions.stage_steps``); the dbt
# stages count dbt's nodes, which only dbt's own log lines tell.
LABELS = {
    "load": "Loading landing files (entities)",
    "checks": "Checking contracts (asset checks)",
    "dbt": "Building the warehouse (dbt nodes)",
    "models": "Fitting models (CLV, churn, baskets, recommendations)",
    "views": "Building the marts on the models (dbt nodes)",
    "publish": "Publishing the read-only copy",
}
DBT_STAGES = ("dbt", "views")


@dataclass
class Stage:
    """One stage of a run as the user sees it."""

    label: str
    total: int | None = None
    done: int = 0
    started: float | None = None
    finished: float | None = None
    failed: bool = False


class StageProgress:
    """Follows a run's log file in a thread and shows its stages with a rich progress display."""

    def __init__(self, log_path: Path, steps: dict[str, str], out: TextIO) -> None:
        """``steps`` maps each step key of the job to its stage (a key of :data:`LABELS`)."""
        from rich.console import Console

        self.log_path = log_path
        self.steps = steps
        # A terminal gives its own width; a file or pipe (CI logs) gets one wide enough for every label.
        self.console = Console(file=out, highlight=False, width=None if out.isatty() else 110)
        per_stage = Counter(steps.values())
        self.stages = {
            key: Stage(label, total=None if key in DBT_STAGES else per_stage[key])
            for key, label in LABELS.items()
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._current_dbt: str | None = None
        self._offset = 0  # how far the log file has been read
        self._partial = ""  # a last line not yet ended by a line break
        # The follower thread and __exit__ both read the log: one at a time, so no line is read twice or lost.
        self._reading = threading.Lock()

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
        # No timeout: the thread ends after its current pass over the log, and the display must not be
        # closed while it is still counting (a long log on a busy machine takes seconds to read).
        self._thread.join()
        self._read_new()  # whatever was written after the last poll
        self._refresh()
        self.progress.stop()

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._read_new()
            self._refresh()
            time.sleep(0.25)

    def _read_new(self) -> None:
        with self._reading:
            self._read_new_unlocked()

    def _read_new_unlocked(self) -> None:
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
            key = self.steps.get(m.group(1))
            if key:
                stage = self.stages[key]
                stage.started = stage.started or now
                if key in DBT_STAGES:
                    self._current_dbt = key
        elif m := _STEP_DONE.search(line):
            key = self.steps.get(m.group(2))
            if key:
                stage = self.stages[key]
                stage.done += 0 if key in DBT_STAGES else 1
                stage.failed = stage.failed or m.group(1) == "FAILURE"
                stage.finished = now
        elif _RUN_SUCCESS.search(line):
            # A successful run means every step succeeded, also one whose own STEP_SUCCESS line did not reach
            # the log (seen for the last step of a run now and then): the display follows the run's verdict.
            for stage in self.stages.values():
                if stage.total is not None and not stage.failed:
                    stage.done = stage.total
                    stage.finished = stage.finished or now
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
    duration; yields a stream on the original standard output, for the progress display.

    Both levels are redirected: the file descriptors (what subprocesses inherit) and ``sys.stdout`` /
    ``sys.stderr`` (which a host such as pytest or Jupyter may have pointed elsewhere than the descriptors).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    terminal = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    with log_path.open("a", buffering=1, encoding="utf-8", errors="replace") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        try:
            yield terminal
        finally:
            log.flush()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()
