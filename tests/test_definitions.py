"""The Dagster definitions load as `dagster dev` loads them, and hold what the architecture promises."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._utils.schedules import schedule_execution_time_iterator

from orchestration.contracts import load_contracts

REPO = Path(__file__).resolve().parents[1]
# The command the README gives for browsing the definitions: `dagster dev -m orchestration.definitions`.
CODE_LOCATION = "orchestration.definitions"


def test_definitions_load_with_every_layer():
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    for name in load_contracts():
        assert f"raw/{name}" in keys
    for expected in (
        "staging/stg_shop__orders", "marts/fct_orders", "marts/customer_360", "ml/customer_predictions",
        "ml/association_rules", "ml/recommendations", "published_warehouse",
    ):  # fmt: skip
        assert expected in keys, expected
    job = defs.resolve_job_def("ecrm_everything")
    assert job.executor_def is dg.in_process_executor
    # Every asset the code location can build is in the job the schedule and the sensor start.
    assert job.asset_layer.executable_asset_keys == repo.asset_graph.materializable_asset_keys


def test_the_daily_schedule_asks_for_one_run_of_the_whole_job():
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("daily_refresh")
    tick = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
    result = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
    assert result.skip_message is None
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.job_name in (None, "ecrm_everything")  # None: the schedule's own job
    assert schedule.job_name == "ecrm_everything"
    # The run rebuilds everything: no asset subset, no partition.
    assert request.asset_selection is None
    assert request.partition_key is None


def test_the_daily_schedule_ticks_at_five_in_the_morning_utc():
    """Tick times as Dagster's scheduler computes them from the schedule (cron and time zone), compared with
    times written out by hand: once a day at 05:00 UTC, so a 04:59 start waits one minute and a 05:00:01
    start waits for the next day."""
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("daily_refresh")
    assert schedule.execution_timezone in (None, "UTC", "Etc/UTC")  # None: Dagster's default, UTC

    def next_ticks(after: datetime, n: int) -> list[datetime]:
        ticks = schedule_execution_time_iterator(
            after.timestamp(), schedule.cron_schedule, schedule.execution_timezone
        )
        return [next(ticks).astimezone(UTC) for _ in range(n)]

    assert next_ticks(datetime(2026, 3, 4, 4, 59, tzinfo=UTC), 3) == [
        datetime(2026, 3, 4, 5, 0, tzinfo=UTC),
        datetime(2026, 3, 5, 5, 0, tzinfo=UTC),
        datetime(2026, 3, 6, 5, 0, tzinfo=UTC),
    ]
    assert next_ticks(datetime(2026, 3, 4, 5, 0, 1, tzinfo=UTC), 1) == [
        datetime(2026, 3, 5, 5, 0, tzinfo=UTC)
    ]
    # Across a month end and the European daylight-saving change (29 March 2026): still 05:00 UTC.
    assert next_ticks(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), 5) == [
        datetime(2026, 3, d, 5, 0, tzinfo=UTC) for d in (29, 30, 31)
    ] + [datetime(2026, 4, d, 5, 0, tzinfo=UTC) for d in (1, 2)]


def _validate(tmp_path: Path, module: str, working_directory: Path) -> subprocess.CompletedProcess:
    """`dagster definitions validate -m module`: Dagster's own loader, as `dagster dev -m module` uses it."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        # The code location imports from the checkout, not from the test runner's sys.path tweaks.
        "PYTHONPATH": os.pathsep.join([str(working_directory), str(REPO)]),
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-m", module,
         "-d", str(working_directory)],
        cwd=working_directory, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_the_code_location_loads_through_dagsters_own_loader(tmp_path):
    done = _validate(tmp_path, CODE_LOCATION, REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"Validation successful for code location {CODE_LOCATION}" in done.stdout + done.stderr


def test_the_loader_check_fails_on_a_code_location_that_does_not_load(tmp_path):
    """The same command on a module whose import breaks (as a renamed asset module would) exits non-zero."""
    broken = tmp_path / "broken_location"
    broken.mkdir()
    (broken / "broken_defs.py").write_text(
        "import dagster as dg\n"
        "from orchestration.assets import no_such_module  # noqa: F401\n"
        "defs = dg.Definitions()\n"
    )
    done = _validate(tmp_path, "broken_defs", broken)
    assert done.returncode != 0
    assert "no_such_module" in done.stdout + done.stderr


def test_customer_360_builds_after_the_models_that_feed_it():
    from orchestration.definitions import defs

    graph = defs.get_repository_def().asset_graph
    upstream, frontier = set(), [dg.AssetKey(["marts", "customer_360"])]
    while frontier:
        parents = graph.get(frontier.pop()).parent_keys - upstream
        upstream |= parents
        frontier += parents
    assert dg.AssetKey(["ml", "customer_predictions"]) in upstream
    assert dg.AssetKey(["ml", "recommendations"]) in upstream
