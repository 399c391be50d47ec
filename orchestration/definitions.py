"""The single Dagster ``Definitions`` of ecrm: assets, checks, resources, a job, a schedule and a sensor."""

import dagster as dg

from orchestration import settings

settings.quiet_telemetry()

from orchestration.assets import analytics, dbt, loading  # noqa: E402
from orchestration.resources import default_resources  # noqa: E402

everything = dg.define_asset_job(
    "ecrm_everything",
    selection=dg.AssetSelection.all(),
    # DuckDB takes one writing process at a time: run every step in this process, in dependency order.
    executor_def=dg.in_process_executor,
    description="Load every landing file, build the warehouse, fit the models, publish for the dashboards.",
)


def build_definitions() -> dg.Definitions:
    """The Definitions with resources for the paths the environment names now (``ecrm run`` resolves them
    again for every run, so one process can build several warehouses)."""
    return dg.Definitions(
        assets=[*loading.load_assets, dbt.dbt_warehouse, dbt.dbt_model_marts, *analytics.assets],
        asset_checks=[*loading.contract_checks, *analytics.checks],
        jobs=[everything],
        schedules=[dg.ScheduleDefinition(name="daily_refresh", job=everything, cron_schedule="0 5 * * *")],
        sensors=[analytics.new_landing_files_sensor(everything)],
        resources=default_resources(),
    )


defs = build_definitions()


def stage_steps() -> dict[str, str]:
    """The stage of ``ecrm run``'s progress display each step of the job belongs to (step key -> stage)."""
    steps = {a.node_def.name: "load" for a in loading.load_assets}
    steps |= {c.node_def.name: "checks" for c in loading.contract_checks}
    steps |= {dbt.dbt_warehouse.node_def.name: "dbt", dbt.dbt_model_marts.node_def.name: "views"}
    steps |= {a.node_def.name: "models" for a in analytics.assets if a is not analytics.published_warehouse}
    steps[analytics.published_warehouse.node_def.name] = "publish"
    return steps
