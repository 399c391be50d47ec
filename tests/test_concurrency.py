"""One writer at a time: the warehouse lock, the Dagster run queue and the landing sensor.

A second run on a busy warehouse must either wait or stop at once naming the run that holds it; a run killed
with ``kill -9`` must not leave the warehouse locked; the sensor must start one run per settled change of the
landing folder, never one for a file that is still being copied.

Two real `ecrm run`s at once (the second stops at once naming the first; one with ``--wait`` takes over when
the first ends) are tested in ``test_crash_safety.py``, on the runs killed there: one pipeline run fewer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration import settings
from orchestration.locking import WarehouseBusy, held_here, lock_path, read_holder, warehouse_lock
from orchestration.resources import HOST_TAG, PID_TAG, LandingResource, WarehouseResource

PROJECT_DAGSTER_YAML = settings.PROJECT_ROOT / ".dagster_home" / "dagster.yaml"

# A process that takes the lock, says so, and holds it until killed.
HOLDER = """
import sys, time
from pathlib import Path
from orchestration.locking import warehouse_lock
with warehouse_lock(Path(sys.argv[1]), holder="test holder"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _start_holder(warehouse: Path, seconds: float = 600) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_the_lock_nests_within_a_process_and_names_its_holder_to_others(tmp_path):
    warehouse = tmp_path / "ecrm.duckdb"
    probe = (
        "import sys\nfrom pathlib import Path\nfrom orchestration.locking import WarehouseBusy, warehouse_lock\n"
        "try:\n    with warehouse_lock(Path(sys.argv[1])):\n        print('got it')\n"
        "except WarehouseBusy as exc:\n    print(exc)\n"
    )
    in_thread: list[bool] = []

    def another_thread() -> None:
        with warehouse_lock(warehouse):
            in_thread.append(held_here(warehouse))

    with warehouse_lock(warehouse, holder="ecrm forget"):
        # ecrm forget -> run_pipeline -> the job's resource: each level locks again, none may deadlock.
        with warehouse_lock(warehouse), warehouse_lock(warehouse, wait=True):
            thread = threading.Thread(target=another_thread)
            thread.start()
            thread.join(timeout=5)
            assert in_thread == [True]
            other = subprocess.run(
                [sys.executable, "-c", probe, str(warehouse)], capture_output=True, text=True, timeout=60
            )
        assert f"pid {os.getpid()}" in other.stdout, other.stdout + other.stderr
        assert "(ecrm forget)" in other.stdout
        assert "got it" not in other.stdout
        assert held_here(warehouse)
    assert not held_here(warehouse)
    other = subprocess.run(
        [sys.executable, "-c", probe, str(warehouse)], capture_output=True, text=True, timeout=60
    )
    assert other.stdout.strip() == "got it"


def test_a_lock_left_by_a_killed_process_does_not_block_the_next_run(tmp_path):
    warehouse = tmp_path / "ecrm.duckdb"
    holder = _start_holder(warehouse)
    with pytest.raises(WarehouseBusy) as busy, warehouse_lock(warehouse):
        pass
    assert busy.value.holder.pid == holder.pid
    assert busy.value.holder.command == "test holder"
    started = time.monotonic()
    with pytest.raises(WarehouseBusy), warehouse_lock(warehouse, wait=1.0):
        pass
    assert time.monotonic() - started >= 0.9
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    # The file (and the dead holder's details in it) stays; the OS has dropped the lock with the process.
    assert lock_path(warehouse).exists()
    assert read_holder(warehouse).pid == holder.pid
    with warehouse_lock(warehouse, wait=False):
        assert read_holder(warehouse).pid == os.getpid()


def test_dagster_runs_one_run_at_a_time_from_the_project_instance(tmp_path):
    # Dagster's own config validation, on a copy so that the project's home is not written to.
    shutil.copy(PROJECT_DAGSTER_YAML, tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
        assert not instance.telemetry_enabled
    finally:
        instance.dispose()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dagster_run_holds_the_lock_and_fails_runs_whose_process_was_killed(tmp_path):
    warehouse = tmp_path / "ecrm.duckdb"
    seen: dict = {}

    @dg.asset
    def probe(warehouse: WarehouseResource) -> None:
        seen["held"] = held_here(Path(warehouse.path))
        seen["holder"] = read_holder(Path(warehouse.path))

    resources = {
        "warehouse": WarehouseResource(path=str(warehouse), published_path=str(tmp_path / "p.duckdb"))
    }
    defs = dg.Definitions(assets=[probe], jobs=[dg.define_asset_job("probe_job")], resources=resources)
    job = defs.resolve_job_def("probe_job")
    with dg.instance_for_test() as instance:
        # Two runs the instance shows as started: one whose process was killed, one still alive (waiting).
        killed = dg.DagsterRun(job_name="probe_job", status=dg.DagsterRunStatus.STARTED,
                               tags={PID_TAG: str(_dead_pid()), HOST_TAG: socket.gethostname()})  # fmt: skip
        alive = dg.DagsterRun(job_name="probe_job", status=dg.DagsterRunStatus.STARTED,
                              tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})  # fmt: skip
        instance.add_run(killed)
        instance.add_run(alive)
        holder = _start_holder(warehouse, seconds=3)
        started = time.monotonic()
        result = job.execute_in_process(instance=instance)
        waited = time.monotonic() - started
        holder.wait()
        assert result.success
        assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        logs = [e.message for e in instance.all_logs(result.run_id)]
    # The run waited for the other process, then held the lock for its steps, and let it go at the end.
    assert waited >= 2
    assert any("Waiting for the warehouse lock" in m and f"pid {holder.pid}" in m for m in logs)
    assert seen["held"]
    assert seen["holder"].pid == os.getpid()
    assert result.run_id in seen["holder"].command
    assert not held_here(warehouse)


# --- the sensor -------------------------------------------------------------------------------------------


def _write(path: Path, text: str, age_seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    mtime = time.time() - age_seconds
    os.utime(path, (mtime, mtime))
    return path


def test_the_sensor_waits_for_files_to_settle_and_starts_one_run_per_change(tmp_path, monkeypatch):
    from orchestration.definitions import defs

    monkeypatch.setenv("ECRM_LANDING_SETTLE_SECONDS", "60")
    sensor = defs.resolve_sensor_def("new_landing_files")
    landing = tmp_path / "landing"
    resources = {"landing": LandingResource(path=str(landing))}

    def tick(cursor):
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance)
            result = sensor.evaluate_tick(context)
        return result.run_requests, result.cursor, result.skip_message

    orders = _write(landing / "shop" / "orders" / "orders.csv", "order_id\n1\n", age_seconds=300)
    requests, cursor, _ = tick(None)
    assert len(requests) == 1
    assert cursor == requests[0].run_key

    # Unchanged files never start a second run; neither do partial copies, temporary or hidden files.
    _write(landing / "shop" / "orders" / "orders_2.csv.part", "order_id\n2\n", age_seconds=0)
    _write(landing / "shop" / "orders" / "orders_3.csv.tmp", "order_id\n3\n", age_seconds=0)
    _write(landing / "shop" / "orders" / ".orders_4.csv", "order_id\n4\n", age_seconds=0)
    _write(landing / ".imports" / "report.csv", "format\nolist\n", age_seconds=0)
    assert tick(cursor)[:2] == ([], cursor)

    # A file still being copied (modified 5 s ago): no run until it has settled.
    copying = _write(landing / "shop" / "orders" / "orders_5.csv", "order_id\n5\n", age_seconds=5)
    requests, still, message = tick(cursor)
    assert requests == []
    assert still == cursor
    assert "orders_5.csv" in message
    # ... and while one file settles, a settled change to another waits with it (the run loads both).
    _write(orders, "order_id\n1\n6\n", age_seconds=300)
    assert tick(cursor)[:2] == ([], cursor)

    mtime = time.time() - 120
    os.utime(copying, (mtime, mtime))
    requests, new_cursor, _ = tick(cursor)
    assert len(requests) == 1
    assert new_cursor not in (None, cursor)
    assert tick(new_cursor)[:2] == ([], new_cursor)

    # The settling time comes from ECRM_LANDING_SETTLE_SECONDS.
    _write(landing / "shop" / "orders" / "orders_7.csv", "order_id\n7\n", age_seconds=5)
    assert tick(new_cursor)[0] == []
    monkeypatch.setenv("ECRM_LANDING_SETTLE_SECONDS", "2")
    assert len(tick(new_cursor)[0]) == 1
