"""A run killed at any point leaves the published copy whole and readable, and the next run rebuilds the
same warehouse as a clean run.

Real ``ecrm run`` processes are killed with SIGKILL (their whole process group: dbt runs as a child) while
they load files and while dbt builds the marts; publishing is killed in the middle of its copy. A clean run
on the same landing files, running alongside, is the reference. The same runs test two `ecrm run`s at once
(the lock itself is tested in ``test_concurrency.py``): each pipeline run costs a minute or more.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import settings
from orchestration.cli import EXIT_BUSY
from orchestration.locking import LockHolder, read_holder
from orchestration.warehouse import publish

ECRM = Path(sys.executable).with_name("ecrm")
NOBODY = LockHolder(pid=0, host="", started_at="", command="")
LAYERS = ("raw", "quarantine", "staging", "intermediate", "marts", "ml", "ops")


def _environment(root: Path) -> dict[str, str]:
    """An `ecrm run` on ``root``: its own Dagster home (the project's instance settings), no telemetry, an
    eligibility bar a few hundred customers pass, and unbuffered output to watch."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(settings.PROJECT_ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECRM_")}
    env |= {
        "DAGSTER_HOME": str(home), "ECRM_MIN_REPEAT_CUSTOMERS": "50", "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    return env


def _command(root: Path) -> list[str]:
    return [str(ECRM), "run", "--verbose", "--landing", str(root / "landing"),
            "--warehouse", str(root / "warehouse" / "ecrm.duckdb")]  # fmt: skip


def _start_run(root: Path, log: Path) -> subprocess.Popen:
    """``ecrm run --verbose`` on ``root/landing``, in a session of its own so that its group can be killed."""
    with log.open("w") as out:
        return subprocess.Popen(
            _command(root),
            env=_environment(root),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_when(proc: subprocess.Popen, log: Path, pattern: str, timeout: float = 400) -> float:
    """SIGKILL ``proc``'s whole process group as soon as its output matches ``pattern``; the kill time."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern, re.MULTILINE)
    while not regex.search(log.read_text(errors="replace")):
        assert proc.poll() is None, f"the run ended before {pattern!r}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {pattern!r} in {timeout} s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return time.monotonic()


def figures(database: Path) -> dict[str, float]:
    """Row counts of every table of every layer, and the sums a manager reads, of a warehouse file."""
    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema in "
            f"({', '.join(repr(s) for s in LAYERS)}) order by 1, 2"
        ).fetchall()
        out: dict[str, float] = {
            f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables
        }
        revenue, margin = con.execute(
            "select sum(revenue), sum(gross_margin) from marts.fct_orders"
        ).fetchone()
        out["sum(marts.fct_orders.revenue)"] = round(float(revenue), 2)
        out["sum(marts.fct_orders.gross_margin)"] = round(float(margin), 2)
        for column in ("rows_read", "rows_loaded", "rows_quarantined"):
            out[f"sum(ops.load_manifest.{column})"] = con.execute(
                f"select sum({column}) from ops.load_manifest"
            ).fetchone()[0]
        for status, n in con.execute("select status, count(*) from ops.load_manifest group by 1").fetchall():
            out[f"ops.load_manifest files {status}"] = n
    return out


def _raw_matches_manifest(database: Path) -> None:
    """Every raw table holds exactly the rows the manifest says were loaded into it: no file half loaded."""
    with duckdb.connect(str(database), read_only=True) as con:
        manifest = dict(
            con.execute(
                "select source || '__' || entity, sum(rows_loaded) from ops.load_manifest group by 1"
            ).fetchall()
        )
        raw = {
            name: con.execute(f'select count(*) from raw."{name}"').fetchone()[0]
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
    assert manifest, "nothing was loaded before the kill: nothing was tested"
    assert {k: v for k, v in raw.items() if v or k in manifest} == manifest


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Reference:
    """A clean run on the demo landing files, started in the background and waited for when needed."""

    def __init__(self, root: Path):
        self.root = root
        self.log = root / "run.log"
        self.proc = _start_run(root, self.log)
        self._figures: dict | None = None

    def figures(self) -> dict[str, float]:
        if self._figures is None:
            assert self.proc.wait(timeout=900) == 0, self.log.read_text()[-3000:]
            self._figures = figures(settings.published_path(self.root / "warehouse" / "ecrm.duckdb"))
        return self._figures


@pytest.fixture(scope="module")
def demo_landing(tmp_path_factory) -> Path:
    """A small demo data set (300 customers, seed 7): ``ecrm generate``'s files."""
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("demo")
    generate(root, customers=300, seed=7)
    return root / "landing"


@pytest.fixture(scope="module")
def reference(demo_landing, tmp_path_factory):
    """The clean run every crashed one is compared with; it runs while the crash tests do."""
    # Parse the dbt project here, once, so that the two runs starting together do not both write its manifest.
    import orchestration.definitions  # noqa: F401

    root = tmp_path_factory.mktemp("reference")
    shutil.copytree(demo_landing, root / "landing")
    ref = Reference(root)
    yield ref
    if ref.proc.poll() is None:
        os.killpg(ref.proc.pid, signal.SIGKILL)


def _wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


@pytest.mark.e2e
def test_killed_runs_leave_the_published_copy_and_a_waiting_run_rebuilds_the_clean_warehouse(
    demo_landing, reference, tmp_path
):
    """One night of trouble on one warehouse: a run killed while loading; the next one killed while dbt
    builds the marts, after a second `ecrm run` was refused and a third one started to wait for it; the
    waiting one then takes over and must leave exactly what a clean run does."""
    shutil.copytree(demo_landing, tmp_path / "landing")
    warehouse = tmp_path / "warehouse" / "ecrm.duckdb"
    published = settings.published_path(warehouse)
    # Yesterday's published copy, which the dashboards are reading.
    published.parent.mkdir(parents=True)
    with duckdb.connect(str(published)) as con:
        con.execute("create table yesterday as select 42 as answer")
    before = _digest(published)

    def published_is_yesterdays() -> None:
        assert _digest(published) == before
        with duckdb.connect(str(published), read_only=True) as con:
            assert con.execute("select answer from yesterday").fetchone() == (42,)

    # 1. Killed while loading the largest entity (those before it are committed, whole).
    log1 = tmp_path / "run1.log"
    _kill_when(_start_run(tmp_path, log1), log1, r"raw__web__events - STEP_START")
    published_is_yesterdays()
    _raw_matches_manifest(warehouse)

    # 2. The next run holds the warehouse: a second `ecrm run` stops at once, naming it ...
    log2 = tmp_path / "run2.log"
    second = _start_run(tmp_path, log2)
    _wait_for(lambda: (read_holder(warehouse) or NOBODY).pid == second.pid, "the run took the lock")
    # Python lists every module it imports (PYTHONPROFILEIMPORTTIME): "at once" means before Dagster or dbt
    # is even imported, checked on what the process loaded rather than on a clock of this busy machine.
    refused = subprocess.run(_command(tmp_path), env={**_environment(tmp_path), "PYTHONPROFILEIMPORTTIME": "1"},
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert refused.returncode == EXIT_BUSY, refused.stdout + refused.stderr
    imported = re.findall(r"^import time:.*\|\s*([\w.]+)$", refused.stderr, flags=re.MULTILINE)
    assert "orchestration.cli" in imported
    assert not [
        m for m in imported if m.split(".")[0] in ("dagster", "dbt") or m == "orchestration.definitions"
    ]
    assert second.poll() is None, "the run ended before the second one tried: nothing was tested"
    assert f"pid {second.pid}, started " in refused.stderr
    assert "(ecrm run --verbose --landing" in refused.stderr
    assert "--wait" in refused.stderr

    # ... and one with --wait waits for it.
    waiting_log = tmp_path / "run3.log"
    with waiting_log.open("w") as out:
        waiting = subprocess.Popen([*_command(tmp_path), "--wait"], env=_environment(tmp_path), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        _wait_for(lambda: "Waiting for the run holding the warehouse" in waiting_log.read_text(), "it waits")
        assert f"pid {second.pid}" in waiting_log.read_text()

        # 3. The run holding the warehouse is killed while dbt builds the marts (dbt dies with it).
        _kill_when(second, log2, r"OK created sql table model marts\.")
        killed_at = time.monotonic()
        assert waiting.poll() is None, "--wait did not wait"
        published_is_yesterdays()

        # 4. The waiting run takes over, with nothing cleaned by hand: no lock left, no run left "started".
        assert waiting.wait(timeout=900) == 0, waiting_log.read_text()[-3000:]
    finally:
        if waiting.poll() is None:
            os.killpg(waiting.pid, signal.SIGKILL)
    print(f"\nthe waiting run finished {time.monotonic() - killed_at:.0f} s after the kill")
    assert "ecrm run succeeded" in waiting_log.read_text()
    assert not published.with_name(published.name + ".tmp").exists()

    expected = reference.figures()
    got = figures(published)
    assert got == expected
    assert got["marts.customer_360"] > 0
    assert got["sum(marts.fct_orders.revenue)"] > 0
    assert figures(warehouse) == expected
    _raw_matches_manifest(warehouse)

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
    # The killed runs were marked failed by the one after them, so the one-run queue does not wait on them.
    assert statuses == ["FAILURE", "FAILURE", "SUCCESS"]


# --- publishing ------------------------------------------------------------------------------------------

# Publishes the warehouse with a slowed copy, so that a kill lands in the middle of it.
SLOW_PUBLISH = """
import shutil, sys, time
from pathlib import Path
from orchestration.warehouse import publish

def slow_copy(source, target, length=0):
    while chunk := source.read(64 * 1024):
        target.write(chunk)
        target.flush()
        time.sleep(0.02)

shutil.copyfileobj = slow_copy
publish(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def _warehouse_with(path: Path, rows: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        # Random doubles do not compress: a file of a few megabytes, whose copy takes a while when slowed.
        con.execute(f"create or replace table t as select range as id, random() as x from range({rows})")
    return path


def _count_in_new_process(path: Path) -> int:
    """Rows of ``t`` as a fresh process sees the file (no DuckDB instance shared with this one)."""
    code = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True).execute('select count(*) from t').fetchone()[0])"
    return int(
        subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
        ).stdout
    )


def test_a_publish_killed_in_the_middle_of_its_copy_leaves_the_old_copy_whole(tmp_path):
    warehouse = _warehouse_with(tmp_path / "ecrm.duckdb", 10)
    published = publish(warehouse, tmp_path / "ecrm_published.duckdb")
    before = _digest(published)
    _warehouse_with(warehouse, 1_000_000)
    tmp = published.with_name(published.name + ".tmp")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_PUBLISH, str(warehouse), str(published)])
    deadline = time.monotonic() + 60
    while not (tmp.exists() and tmp.stat().st_size > 256 * 1024):
        assert proc.poll() is None, "the publish ended before it was killed"
        assert time.monotonic() < deadline, "the copy never started"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tmp.stat().st_size < warehouse.stat().st_size  # killed mid-copy indeed
    assert _digest(published) == before
    assert _count_in_new_process(published) == 10
    # The next publish replaces the leftover.
    publish(warehouse, published)
    assert not tmp.exists()
    assert _count_in_new_process(published) == 1_000_000


def test_a_reader_of_the_published_copy_keeps_reading_it_through_a_publish(tmp_path):
    warehouse = _warehouse_with(tmp_path / "ecrm.duckdb", 10)
    published = publish(warehouse, tmp_path / "ecrm_published.duckdb")
    with duckdb.connect(str(published), read_only=True) as reader:
        assert reader.execute("select count(*) from t").fetchone() == (10,)
        _warehouse_with(warehouse, 20)
        publish(warehouse, published)
        # The open dashboard keeps its (old) copy, whole; whoever opens the file now gets the new one.
        assert reader.execute("select count(*), sum(id) from t").fetchone() == (10, 45)
        assert _count_in_new_process(published) == 20


def test_publish_copies_what_is_still_in_the_write_ahead_log(tmp_path):
    warehouse = tmp_path / "ecrm.duckdb"
    with duckdb.connect(str(warehouse)) as writer:
        writer.execute("create table t as select range as id from range(1000)")
        writer.execute("insert into t select range from range(1000, 1500)")
        # Still open: the rows are committed but in ecrm.duckdb.wal, which publish does not copy.
        assert warehouse.with_name("ecrm.duckdb.wal").exists()
        published = publish(warehouse, tmp_path / "ecrm_published.duckdb")
        assert not published.with_name(published.name + ".wal").exists()
        assert _count_in_new_process(published) == 1500
