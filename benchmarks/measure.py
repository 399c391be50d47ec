"""Run a piece of Python in a fresh interpreter and measure it: the one timer every benchmark here uses.

A fresh process per measurement means its peak memory is its own, and nothing cached by an earlier
measurement (imports, DuckDB buffers) flatters a later one.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

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
    process or of any such subprocess). Raises with the process's output when it fails.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER.format(setup=setup, code=code)],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"measured code failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    # The marker may follow log output on the same line.
    result = json.loads(proc.stdout[proc.stdout.rindex("@@") + 2 :].splitlines()[0])
    result["process_wall_s"] = elapsed
    result["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # RUSAGE_CHILDREN's maximum covers every child so far; it only says something new when it grew.
    if after.ru_maxrss > before.ru_maxrss:
        result["peak_mb"] = max(result["peak_mb"], after.ru_maxrss / 1024)
    return result
