"""Speed and memory of every pipeline stage, with reference points measured in the same run.

    python benchmarks/pipeline.py --customers 10000 [--engine spark] [--workdir DIR] [--keep]

Each stage runs in its own fresh Python process (so its peak memory is its own) on the same warehouse,
in dependency order: generate, load + contracts, dbt build, customer models (CLV + churn), basket rules,
recommendations, dbt marts that read the models, publish. With ``--workdir`` pointing at a folder that
already holds ``landing/`` (e.g. from ``benchmarks/generator.py --out``), generation is skipped and those
files are used; delete its ``warehouse/`` first.

Reference points, measured after the stages in the same run:
- the floor for loading: DuckDB reading the same landing files with one
  ``CREATE TABLE AS SELECT * FROM read_csv(...)`` per entity, into a database file as the loader writes;
- the contract loader alone (``load_landing``, without Dagster and its 52 asset checks);
- the same dbt build run by dbt alone, without Dagster;
- the floor for dbt: the compiled SQL of the warehouse models run in one DuckDB connection, without and
  with the compiled queries of their data tests (the cost of orchestration is the build over these).
Basket mining against the C implementation and CLV on unique rows against all rows are in
``benchmarks/basket.py`` and ``benchmarks/clv.py``.

"wall s (work)" is a stage's own work; the imports it needs (Dagster, dagster-dbt, the models: a few seconds)
are timed apart, because one real run (``ecrm run``) pays them once; the total counts them once.

With ``--engine spark`` the stages after loading also run on Spark (``ECRM_ENGINE=spark``, PySpark in local
mode on this machine's cores) on a copy of the loaded warehouse, beside the same stages on DuckDB in the same
run. Loading is the same code on both engines, so it runs once. Two more references show where a Spark build's
time goes besides Spark's own work: the export of the raw layer to the Parquet lake, and the read of Spark's
tables back into the DuckDB file. The two warehouses' row counts per layer are compared.

Prints a Markdown table and writes ``benchmarks/results/pipeline_<customers>.json`` and ``.md``
(``pipeline_<customers>_spark.*`` with ``--engine spark``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from measure import measure

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Dagster asset selections per stage (asset key strings); see orchestration/definitions.py.
STAGES = [
    ("load + contracts", "raw"),
    ("dbt build (warehouse)", "dbt_warehouse"),
    ("customer models (CLV, churn, next purchase)", "ml/customer_predictions,ml/model_quality"),
    ("basket rules + bundles", "ml/association_rules,ml/bundles"),
    ("recommendations", "ml/recommendations"),
    ("dbt build (customer 360 and marts on models)", "dbt_model_marts"),
    ("publish for dashboards", "published_warehouse"),
]


# Imports common to every stage: a real run (`ecrm run`) pays them once, so they are timed apart.
STAGE_SETUP = (
    "import dagster as dg\nfrom orchestration.definitions import defs\nfrom orchestration.assets import dbt\n"
)


def _stage_code(selection: str) -> str:
    if selection == "raw":
        select = "keys = [k for k in defs.get_repository_def().asset_graph.get_all_asset_keys() if k.path[0] == 'raw']"
    elif selection.startswith("dbt_"):
        select = f"keys = list(getattr(dbt, '{selection}').keys)"
    else:
        select = f"keys = [dg.AssetKey(k.split('/')) for k in '{selection}'.split(',')]"
    return (
        f"{select}\n"
        "r = defs.resolve_job_def('ecrm_everything').execute_in_process(asset_selection=keys,"
        " instance=dg.DagsterInstance.ephemeral(), raise_on_error=True)\n"
        "assert r.success\n"
    )


def _floor_code(landing: Path, database: Path) -> str:
    # Into a database file, as the loader writes: the floor includes persisting the rows, not just parsing.
    return (
        "import duckdb\n"
        "from orchestration.contracts import load_contracts\n"
        f"con = duckdb.connect({str(database)!r})\n"
        "for c in load_contracts().values():\n"
        f"    files = sorted(str(p) for p in (__import__('pathlib').Path({str(landing)!r}) / c.source / c.entity).glob('*.csv'))\n"
        "    if files:\n"
        '        con.execute(f"create table \\"{c.name}\\" as select * from read_csv({files!r}, union_by_name=true)")\n'
        "con.close()\n"
    )


def _dbt_alone_code(warehouse_copy: Path, target: Path) -> str:
    # The same warehouse models built by dbt alone, outside Dagster; its target/run holds the exact SQL.
    return (
        "import os, subprocess\n"
        "from orchestration import settings\n"
        f"env = {{**os.environ, 'ECRM_WAREHOUSE': {str(warehouse_copy)!r}}}\n"
        "subprocess.run([settings.dbt_executable(), 'build', '--quiet', '--exclude', 'source:ml+',"
        " '--project-dir', str(settings.DBT_PROJECT_DIR), '--profiles-dir', str(settings.DBT_PROJECT_DIR),"
        f" '--target-path', {str(target)!r}], env=env, check=True)\n"
    )


def _compiled_sql_code(warehouse_copy: Path, target: Path, with_tests: bool) -> str:
    # Replays the statements dbt ran (target/run) for the warehouse models, in dependency order, in one
    # DuckDB connection: what the models cost without dbt or Dagster around them. With tests, each data
    # test's compiled query also runs (after its model), as `dbt build` does.
    return (
        "import duckdb, json, pathlib\n"
        f"target = pathlib.Path({str(target)!r})\n"
        f"with_tests = {with_tests!r}\n"
        "manifest = json.loads((target / 'manifest.json').read_text())\n"
        "kinds = ('model', 'test') if with_tests else ('model',)\n"
        "nodes = {k: v for k, v in manifest['nodes'].items() if v['resource_type'] in kinds}\n"
        "order, seen = [], set()\n"
        "def visit(k):\n"
        "    if k in seen or k not in nodes: return\n"
        "    seen.add(k)\n"
        "    for d in nodes[k]['depends_on']['nodes']: visit(d)\n"
        "    order.append(k)\n"
        "for k in sorted(nodes): visit(k)\n"
        f"con = duckdb.connect({str(warehouse_copy)!r})\n"
        "ran = {'model': 0, 'test': 0}\n"
        "for k in order:\n"
        "    n = nodes[k]\n"
        "    p = target / 'run' / n['package_name'] / n['original_file_path']\n"
        "    if n['resource_type'] == 'test' and p.suffix == '.yml':\n"
        "        p = p / n['path']\n"
        "    if not p.exists(): continue\n"
        "    con.execute(p.read_text()).fetchall()\n"
        "    ran[n['resource_type']] += 1\n"
        "assert ran['model'] > 10 and (ran['test'] > 10 or not with_tests), ran\n"
    )


def _export_to_lake_code(warehouse_copy: Path, lake: Path) -> str:
    # What every Spark build pays first: the DuckDB file's raw, quarantine, ops and ml tables as Parquet.
    return (
        "import duckdb, pathlib\n"
        "from orchestration import engines\n"
        f"con = duckdb.connect({str(warehouse_copy)!r})\n"
        f"rows = engines.export_to_lake(con, pathlib.Path({str(lake)!r}))\n"
        "assert sum(rows.values()) > 0, rows\n"
    )


def _import_from_spark_code(spark_warehouse: Path, database: Path) -> str:
    # What every Spark build pays after: Spark's tables (Parquet) read back into a DuckDB file.
    return (
        "import duckdb, pathlib\n"
        "from orchestration import engines\n"
        f"folder = pathlib.Path({str(spark_warehouse)!r})\n"
        "tables = sorted((d.name.removesuffix('.db'), t.name) for d in folder.glob('*.db') for t in d.iterdir()"
        " if t.is_dir())\n"
        f"con = duckdb.connect({str(database)!r})\n"
        "rows = engines.import_from_spark(con, folder, tables)\n"
        "assert len(rows) > 10, rows\n"
    )


def _run_stages(stages: list[tuple[str, str]], env: dict, label: str = "") -> list[dict]:
    """Each stage (name, Dagster selection) in its own process, in order; one measurement per stage."""
    rows = []
    for name, selection in stages:
        print(f"running {name}{label} ...", flush=True)
        rows.append({"stage": name, **measure(_stage_code(selection), STAGE_SETUP, env)})
    return rows


def _total(rows: list[dict]) -> dict:
    """The stages' work plus one start-up: one pipeline run imports Dagster, dbt and the models once, while
    each stage here paid them in its own process."""
    return {
        "stage": "total: the stages' work plus one start-up",
        "wall_s": sum(r["wall_s"] for r in rows) + max(r["setup_s"] for r in rows),
        "setup_s": max(r["setup_s"] for r in rows),
        "process_wall_s": sum(r["process_wall_s"] for r in rows),
        "cpu_s": sum(r["cpu_s"] for r in rows),
        "peak_mb": max(r["peak_mb"] for r in rows),
        "tree_cpu_s": sum(r["tree_cpu_s"] for r in rows),
        "tree_peak_mb": max(r["tree_peak_mb"] for r in rows),
    }


def _rows_per_layer(warehouse: str) -> dict[str, int]:
    """Rows of every table, summed per layer (schema) of the warehouse."""
    import duckdb

    counts: dict[str, int] = {}
    with duckdb.connect(warehouse, read_only=True) as con:
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw','quarantine','staging','intermediate','marts','ml','ops')"
        ).fetchall():
            counts.setdefault(schema, 0)
            counts[schema] += con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
    return counts


# Per customer of customer_360 on both engines: what a manager sees (segment, band, country) and the value.
_SAME_ANSWERS_SQL = """
select
    count(*) as customers,
    count(*) filter (where a.rfm_segment is distinct from b.rfm_segment) as other_segment,
    count(*) filter (where a.churn_band is distinct from b.churn_band) as other_churn_band,
    count(*) filter (where a.country is distinct from b.country) as other_country,
    coalesce(max(abs(a.clv_12m - b.clv_12m)), 0) as max_clv_difference,
    coalesce(max(abs(a.churn_risk - b.churn_risk)), 0) as max_churn_risk_difference,
    (select sum(net_revenue) from d.marts.fct_orders) - (select sum(net_revenue) from s.marts.fct_orders)
        as net_revenue_difference
from d.marts.customer_360 as a
full join s.marts.customer_360 as b using (customer_id)
"""


def _same_answers(duckdb_file: str, spark_file: str) -> dict:
    """How far the Spark warehouse's customer 360 is from DuckDB's, customer by customer."""
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"attach '{duckdb_file}' as d (read_only)")
        con.execute(f"attach '{spark_file}' as s (read_only)")
        cursor = con.execute(_SAME_ANSWERS_SQL)
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", help="where to put data (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--results", default=str(RESULTS), help="where to write the JSON and Markdown")
    parser.add_argument(
        "--engine", choices=("duckdb", "spark"), default="duckdb",
        help="spark: also run the stages after loading on Spark, beside DuckDB, in the same run",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.engine == "spark":
        from orchestration import engines
        from orchestration.settings import spark_warehouse_dir

        if reason := engines.spark_unavailable():
            parser.error(f"--engine spark cannot run here: {reason}")

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ecrm_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "ECRM_LANDING": str(work / "landing"),
        "ECRM_WAREHOUSE": str(work / "warehouse" / "ecrm.duckdb"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DAGSTER_HOME": str(work / "dagster_home"),
        "PYTHONPATH": str(ROOT),
        "ECRM_ENGINE": "duckdb",
    })  # fmt: skip
    (work / "dagster_home").mkdir(exist_ok=True)
    (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    rows: list[dict] = []
    t_all = time.perf_counter()
    if not (work / "landing").exists():
        gen = measure(
            f"generate(__import__('pathlib').Path({str(work)!r}), customers={args.customers}, seed={args.seed})",
            "from orchestration.demo.generator import generate",
            env,
        )
        rows.append({"stage": "generate", **gen})
    load, after_load = STAGES[:1], STAGES[1:]
    rows += _run_stages(load, env)
    up_to_load = list(rows)  # generation and loading: the same for both engines
    if args.engine == "spark":
        # The same loaded warehouse for Spark, in a folder of its own (its lake and Spark's tables go beside).
        spark_file = work / "spark" / "warehouse" / "ecrm.duckdb"
        shutil.rmtree(spark_file.parent.parent, ignore_errors=True)
        spark_file.parent.mkdir(parents=True)
        shutil.copyfile(env["ECRM_WAREHOUSE"], spark_file)
        spark_env = {**env, "ECRM_ENGINE": "spark", "ECRM_WAREHOUSE": str(spark_file)}
        for variable in ("ECRM_SPARK_LAKE", "ECRM_SPARK_WAREHOUSE"):  # beside the copy, as by default
            spark_env.pop(variable, None)
    rows += _run_stages(after_load, env)
    total = _total(rows)
    spark_rows: list[dict] = []
    if args.engine == "spark":
        spark_rows = _run_stages(after_load, spark_env, " on Spark")

    refs = []
    floor_db = work / "floor.duckdb"
    floor_db.unlink(missing_ok=True)
    refs.append(
        {
            "stage": "floor: DuckDB read_csv → table in a database file, all entities",
            **measure(_floor_code(work / "landing", floor_db), env=env),
        }
    )
    floor_db.unlink(missing_ok=True)
    # The loader by itself (no Dagster, none of the 52 asset checks), into a fresh database file.
    refs.append(
        {
            "stage": "reference: the contract loader alone (load_landing, no Dagster checks)",
            **measure(
                f"load_landing(duckdb.connect({str(floor_db)!r}), Path({str(work / 'landing')!r}))",
                "import duckdb\nfrom pathlib import Path\nfrom orchestration.loading.loader import load_landing",
                env=env,
            ),
        }
    )
    floor_db.unlink(missing_ok=True)
    target = work / "dbt_alone_target"
    references = (
        ("reference: dbt build alone, no Dagster (warehouse models and their tests)", lambda c: _dbt_alone_code(c, target)),
        ("floor: dbt's compiled SQL of the models in one connection", lambda c: _compiled_sql_code(c, target, False)),
        ("floor: dbt's compiled SQL of the models and data tests in one connection", lambda c: _compiled_sql_code(c, target, True)),
    )  # fmt: skip
    for name, make in references:
        copy = work / "reference_copy.duckdb"
        shutil.copyfile(env["ECRM_WAREHOUSE"], copy)
        refs.append({"stage": name, **measure(make(copy), env=env)})
    (work / "reference_copy.duckdb").unlink(missing_ok=True)
    if args.engine == "spark":
        copy, lake = work / "reference_copy.duckdb", work / "reference_lake"
        shutil.copyfile(spark_file, copy)
        shutil.rmtree(lake, ignore_errors=True)
        refs.append({
            "stage": "Spark's way in: export_to_lake alone (raw, quarantine, ops, ml → Parquet)",
            **measure(_export_to_lake_code(copy, lake), env=env),
        })  # fmt: skip
        copy.unlink()
        shutil.rmtree(lake, ignore_errors=True)
        refs.append({
            "stage": "Spark's way out: import_from_spark alone (every table Spark built → DuckDB file)",
            **measure(_import_from_spark_code(spark_warehouse_dir(spark_file), copy), env=env),
        })  # fmt: skip
        copy.unlink(missing_ok=True)

    import duckdb

    counts = _rows_per_layer(env["ECRM_WAREHOUSE"])
    with duckdb.connect(env["ECRM_WAREHOUSE"], read_only=True) as con:
        orders, events = con.execute(
            "select (select count(*) from raw.shop__orders), (select count(*) from raw.web__events)"
        ).fetchone()

    result = {
        "customers": args.customers, "engine": args.engine,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "stages": rows, "total": total, "references": refs, "rows_per_layer": counts,
        "orders": orders, "web_events": events,
    }  # fmt: skip
    if args.engine == "spark":
        result["spark"] = {
            "stages": spark_rows,
            "total": _total(up_to_load + spark_rows),
            "rows_per_layer": _rows_per_layer(str(spark_file)),
            "same_answers": _same_answers(env["ECRM_WAREHOUSE"], str(spark_file)),
        }
    result["elapsed_s"] = time.perf_counter() - t_all
    md = render(result)
    print(md)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    stem = f"pipeline_{args.customers}" + ("_spark" if args.engine == "spark" else "")
    (results / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
    (results / f"{stem}.md").write_text(md + "\n")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def render(result: dict) -> str:
    """The benchmark as a Markdown table."""
    lines = [
        f"### {result['customers']:,} customers — {result['orders']:,} orders, {result['web_events']:,} web events",
        "",
        "| stage | wall s (work) | s of imports | wall s (whole process) | CPU s | peak MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in [*result["stages"], result["total"], *result["references"]]:
        lines.append(
            f"| {r['stage']} | {r['wall_s']:.1f} | {r['setup_s']:.1f} | {r['process_wall_s']:.1f} "
            f"| {r['cpu_s']:.1f} | {r['peak_mb']:.0f} |"
        )
    lines += [
        "",
        "Rows per layer: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result["rows_per_layer"].items())),
    ]
    if "spark" in result:
        lines += ["", *render_engines(result)]
    return "\n".join(lines)


def render_engines(result: dict) -> list[str]:
    """The stages after loading on DuckDB and on Spark side by side (Markdown lines).

    CPU and memory here are those of the whole process tree (``tree_cpu_s``, ``tree_peak_mb``), so Spark's
    Java runtime, which ``getrusage`` does not see, is counted.
    """
    spark = result["spark"]
    duckdb_rows = {r["stage"]: r for r in [*result["stages"], result["total"]]}
    lines = [
        f"#### DuckDB and Spark (local, {result['machine']['cpus']} cores) on the same loaded warehouse",
        "",
        "| stage | DuckDB wall s | Spark wall s | Spark ÷ DuckDB | DuckDB CPU s | Spark CPU s "
        "| DuckDB peak MB | Spark peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*spark["stages"], spark["total"]]:
        d = duckdb_rows[r["stage"]]
        lines.append(
            f"| {r['stage']} | {d['wall_s']:.1f} | {r['wall_s']:.1f} | {r['wall_s'] / d['wall_s']:.1f} "
            f"| {d['tree_cpu_s']:.1f} | {r['tree_cpu_s']:.1f} | {d['tree_peak_mb']:.0f} "
            f"| {r['tree_peak_mb']:.0f} |"
        )
    # Staging models are views on both engines; the copy a Spark build fills takes Spark's tables only.
    layers = sorted(spark["rows_per_layer"])
    different = [k for k in layers if spark["rows_per_layer"][k] != result["rows_per_layer"].get(k)]
    lines += [
        "",
        "The total on Spark counts loading (the same code on both engines) once, as a Spark run does. "
        "CPU and peak memory are those of the whole process tree, Spark's Java runtime included.",
        "",
        "Rows per layer on Spark (tables; staging models are views): "
        + ", ".join(f"{k} {spark['rows_per_layer'][k]:,}" for k in layers)
        + (
            f" (**not the same as on DuckDB in {', '.join(different)}**)"
            if different
            else " (the same as on DuckDB in every layer)"
        ),
    ]
    if same := spark.get("same_answers"):
        lines += [
            "",
            f"Customer 360 on Spark against DuckDB, customer by customer ({same['customers']:,} customers): "
            f"{same['other_segment']} in another RFM segment, {same['other_churn_band']} in another churn band, "
            f"{same['other_country']} in another country; largest difference in 12-month CLV "
            f"{same['max_clv_difference']:.2g} and in churn risk {same['max_churn_risk_difference']:.2g}; "
            f"net revenue of all orders differs by {same['net_revenue_difference']:.2g}.",
        ]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
