"""Run a piece of Python in a fresh interpreter and measure it: the one timer every benchmark here uses.

A fresh process per measurement means its peak memory is its own, and nothing cached by an earlier
measurement (imports, DuckDB buffers) flatters a later one.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

_WRAPPER = """
import json, resource, time
t0 = time.perf_counter()
{setup}
t1 = time.perf_counter(); c1 = time.process_time()
{code}
u = resource.getrusage(resource.RUSAGE_SELF)
print('\\n@@' + json.dumps({{'wall_s': time.perf_counter() - t1, 'setup_s': t1 - t0,
                           'own_cpu_s': time.process_time() - c1, 'peak_mb': u.ru_maxrss / 1024}}))
"""


def measure(code: str, setup: str = "", env: dict | None = None) -> dict:
    """Run ``setup`` then ``code`` in a new Python process (working directory: the repository).

    Returns ``wall_s`` (``code`` alone), ``setup_s`` (``setup`` alone, e.g. imports), ``process_wall_s``
    (everything including interpreter start-up), ``cpu_s`` (user + system CPU of the process and every
    subprocess it waited for, e.g. dbt under dagster-dbt) and ``peak_mb`` (the largest resident set of the
    process or of any such subprocess). A process nobody waits for (Spark's Java runtime, which PySpark
    starts and stops itself) is not in those two, so the whole process tree is also sampled every
    ``SAMPLE_S``: ``tree_cpu_s`` (CPU of every process seen in it) and ``tree_peak_mb`` (the largest sum of
    their resident sets at one sample; a sample can miss a short peak). Raises with the process's output
    when it fails.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER.format(setup=setup, code=code)],
            env=env, stdout=out, stderr=err, text=True, cwd=ROOT,
        )  # fmt: skip
        tree = _sample_tree(proc)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"measured code failed:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    # The marker may follow log output on the same line.
    result = json.loads(stdout[stdout.rindex("@@") + 2 :].splitlines()[0])
    result.update(tree)
    result["process_wall_s"] = elapsed
    result["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # RUSAGE_CHILDREN's maximum covers every child so far; it only says something new when it grew.
    if after.ru_maxrss > before.ru_maxrss:
        result["peak_mb"] = max(result["peak_mb"], after.ru_maxrss / 1024)
    return result


SAMPLE_S = 0.25


def _sample_tree(proc: subprocess.Popen) -> dict:
    """Until ``proc`` ends, sample it and every process below it; CPU seen per process and the peak sum of
    resident sets. psutil reads what the kernel reports per process, which ``getrusage`` cannot do for
    processes their parent never waits for."""
    cpu: dict[tuple[int, float], float] = {}  # (pid, start time) → CPU seconds at its last sample
    peak = 0.0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        rss = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            members = []
        for member in members:
            try:
                with member.oneshot():
                    times, memory, born = member.cpu_times(), member.memory_info(), member.create_time()
            except psutil.NoSuchProcess:
                continue
            # A process's own CPU only: its waited children's CPU is counted as theirs, when they are seen.
            cpu[(member.pid, born)] = times.user + times.system
            rss += memory.rss
        peak = max(peak, rss / 2**20)
        time.sleep(SAMPLE_S)
    return {"tree_cpu_s": sum(cpu.values()), "tree_peak_mb": peak}
