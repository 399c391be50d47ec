"""Dagster resources: declared once, configured from the environment, injected by parameter name."""

import contextlib
import os
import socket
from pathlib import Path

import dagster as dg

from orchestration import settings, warehouse
from orchestration.locking import warehouse_lock

# Tags naming the process that ran a run, so that a later run can tell a run that is still going from one
# whose process was killed (the instance would show it as started forever; see fail_abandoned_runs).
PID_TAG = "ecrm/pid"
HOST_TAG = "ecrm/host"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file (``ECRM_WAREHOUSE``) and its published read-only copy."""

    path: str
    published_path: str

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        """Hold the warehouse lock for the whole run (resources are set up once per run: the job runs in
        process), waiting for a run that holds it; inside ``ecrm run`` the lock is already ours."""
        run = context.dagster_run
        holder = f"Dagster run {run.run_id} of {run.job_name}" if run else "a Dagster run"

        def say_waiting(who) -> None:
            if context.log:
                context.log.info(
                    f"Waiting for the warehouse lock, held by {who.describe() if who else 'another run'}"
                )

        if run and context.instance:
            context.instance.add_run_tags(run.run_id, process_tags())
        with warehouse_lock(Path(self.path), wait=True, holder=holder, on_wait=say_waiting):
            if run and context.instance:
                fail_abandoned_runs(context.instance, run.job_name, run.run_id)
            yield self

    def connect(self, read_only: bool = False):
        """Context-managed DuckDB connection to the warehouse."""
        return warehouse.connect(Path(self.path), read_only=read_only)


class LandingResource(dg.ConfigurableResource):
    """The landing folder (``ECRM_LANDING``) holding ``<source>/<entity>/`` files."""

    path: str


def default_resources() -> dict:
    """Resources for the given environment (with the demo defaults)."""
    from dagster_dbt import DbtCliResource

    wh = settings.warehouse_path()
    return {
        "warehouse": WarehouseResource(path=str(wh), published_path=str(settings.published_path(wh))),
        "landing": LandingResource(path=str(settings.landing_path())),
        "dbt": DbtCliResource(
            project_dir=str(settings.DBT_PROJECT_DIR),
            profiles_dir=str(settings.DBT_PROJECT_DIR),
            dbt_executable=settings.dbt_executable(),
        ),
    }


def process_tags() -> dict[str, str]:
    """Run tags naming this process (pid and host)."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def fail_abandoned_runs(
    instance: dg.DagsterInstance, job_name: str, current_run_id: str | None = None
) -> list[str]:
    """Mark failed the runs of ``job_name`` that the instance shows in progress but whose process is gone.

    Call it holding the warehouse lock. A run killed with ``kill -9`` (or by a reboot) never reports its end,
    so the instance shows it as started for ever; the run queue allows one run at a time (dagster.yaml), so
    such a run would keep every later scheduled or sensor run queued. Only runs whose ``ecrm/pid`` process
    on this host no longer exists are touched: a run waiting for the lock, or on another host, is left be.
    Returns the run ids marked failed.
    """
    status = dg.DagsterRunStatus
    running = [status.STARTING, status.STARTED, status.CANCELING]
    failed = []
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=running))
    for run in runs:
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if run.run_id == current_run_id or not pid or host != socket.gethostname():
            continue
        if _process_gone(int(pid)):
            instance.report_run_failed(
                run, f"Its process (pid {pid}) ended without finishing the run (killed?)."
            )
            failed.append(run.run_id)
    return failed
