"""The dbt project as Dagster assets: staging, identity, marts; dbt tests surface as asset checks.

The project is split in two asset groups around the Python models: everything that does not read the
``ml`` source builds first; the models reading ``ml`` (``customer_360`` and what depends on it) build after
the predictions exist. Two definitions make that order explicit instead of relying on subsetting.
"""

import hashlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import engines, settings
from orchestration.resources import WarehouseResource
from orchestration.warehouse import ensure_ml_tables

ML_CONSUMERS = "source:ml+"

dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)


def _ensure_manifest() -> None:
    # The manifest describes the assets, so it must exist at import; `dbt parse` makes it on a fresh clone.
    # Run with the dbt beside this Python, so an unactivated virtualenv works too.
    manifest = dbt_project.manifest_path
    sources = [
        p
        for d in ("models", "macros", "tests")
        for p in (settings.DBT_PROJECT_DIR / d).rglob("*")
        if p.is_file()
    ]
    sources.append(settings.DBT_PROJECT_DIR / "dbt_project.yml")
    # Re-parse when an analyst changed a model since the last parse, so the assets match the project.
    if not manifest.exists() or max(p.stat().st_mtime for p in sources) > manifest.stat().st_mtime:
        env = {**os.environ, "ECRM_WAREHOUSE": str(settings.warehouse_path())}
        subprocess.run(
            [settings.dbt_executable(), "parse", "--quiet", "--project-dir", str(settings.DBT_PROJECT_DIR),
             "--profiles-dir", str(settings.DBT_PROJECT_DIR)],
            env=env, check=True,
        )  # fmt: skip


_ensure_manifest()


class EcrmDbtTranslator(DagsterDbtTranslator):
    """Models keyed ``[schema, name]`` (``marts/fct_orders``); sources keep ``[source, table]`` (``raw/shop__orders``)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["schema"]
        return super().get_group_name(dbt_resource_props)


def _target_path(warehouse_path: str, engine: str = "duckdb") -> Path:
    """dbt's target folder for one warehouse, kept between runs.

    dbt re-parses the whole project when the profile changed since the last parse, and the profile holds
    the warehouse path. dagster-dbt's default (a fresh folder per invocation) would therefore parse from
    scratch whenever the warehouse differs from the one ``dbt parse`` last saw; one folder per warehouse
    keeps dbt's ``partial_parse.msgpack`` valid from one build to the next. Each engine has its own folder,
    as the target is part of the profile too.
    """
    digest = hashlib.sha1(str(Path(warehouse_path).resolve()).encode()).hexdigest()[:12]
    suffix = "" if engine == "duckdb" else f"-{engine}"
    return settings.DBT_PROJECT_DIR / "target" / f"warehouse-{digest}{suffix}"


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    lake_schemas: tuple[str, ...] = engines.LAKE_SCHEMAS,
):
    """``dbt build`` of the asset definition's models on the engine in use (``ECRM_ENGINE``).

    On Spark, ``lake_schemas`` of the warehouse file are written to the lake first (those still missing
    there too), and the tables Spark built are read back into the file after, even when a test failed, as
    DuckDB keeps what it built (:mod:`orchestration.engines`).
    """
    engine = settings.engine()
    # dbt's profile reads the warehouse path from the environment; make it the resource's.
    os.environ["ECRM_WAREHOUSE"] = warehouse.path
    target_path = _target_path(warehouse.path, engine)
    if engine == "spark":
        lake, spark_warehouse = _spark_paths(warehouse)
        missing = tuple(s for s in engines.LAKE_SCHEMAS if not (lake / s).exists())
        lake_schemas = tuple(dict.fromkeys(lake_schemas + missing))
    with warehouse.connect() as con:
        ensure_ml_tables(con)
        if engine == "spark":
            rows = engines.export_to_lake(con, lake, lake_schemas)
            context.log.info(f"Wrote {sum(rows.values()):,} rows of {len(rows)} tables to the lake {lake}")
    # Unit tests check the SQL logic on fixed inputs, not the data: they run in the test suite (`make
    # test`), not in every production build.
    args = ["build", "--exclude-resource-type", "unit_test", "--target", engines.dbt_target(engine)]
    invocation = dbt.cli(args, context=context, target_path=target_path)
    try:
        yield from invocation.stream()
    except KeyError as exc:
        _stop(invocation)
        node = str(exc.args[0]) if exc.args else ""
        if node.startswith(("model.", "test.", "seed.", "snapshot.")):
            # dbt re-parses the project when it starts; Dagster's assets come from the manifest read when the
            # code location loaded. A model added in between has no asset to report to.
            raise dg.Failure(
                f"The dbt project changed while this run was starting ({node} is new): run again to build it."
            ) from exc
        raise
    except BaseException:
        _stop(invocation)
        raise
    finally:
        if engine == "spark" and (target_path / "run_results.json").exists():
            with warehouse.connect() as con:
                rows = engines.import_from_spark(con, spark_warehouse, engines.built_tables(target_path))
            context.log.info(f"Read {len(rows)} tables built by Spark back into {warehouse.path}")


def _spark_paths(warehouse: WarehouseResource) -> tuple[Path, Path]:
    """The lake and Spark's warehouse of this warehouse file, also set in the environment for dbt's profile."""
    lake = settings.spark_lake_path(Path(warehouse.path))
    spark_warehouse = settings.spark_warehouse_dir(Path(warehouse.path))
    spark_warehouse.mkdir(parents=True, exist_ok=True)
    os.environ["ECRM_SPARK_LAKE"] = str(lake)
    os.environ["ECRM_SPARK_WAREHOUSE"] = str(spark_warehouse)
    return lake, spark_warehouse


def _stop(invocation, grace_seconds: float = 30) -> None:
    """Stop a dbt process whose events are no longer read, so no dbt keeps writing to the warehouse (and
    holding DuckDB's lock) after its step, and the run's warehouse lock, are gone."""
    process = invocation.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=ML_CONSUMERS,
    name="dbt_warehouse",
    dagster_dbt_translator=EcrmDbtTranslator(),
)
def dbt_warehouse(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Staging, identity resolution, conformed facts and dimensions, and the 7P marts that need no model."""
    yield from _build(context, dbt, warehouse)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=ML_CONSUMERS,
    name="dbt_model_marts",
    dagster_dbt_translator=EcrmDbtTranslator(),
)
def dbt_model_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Marts that read the Python models' outputs back (``customer_360`` and what builds on it)."""
    yield from _build(context, dbt, warehouse, lake_schemas=("ml",))
