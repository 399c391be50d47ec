"""Speed and memory of every pipeline stage, with reference points measured in the same run.

    python benchmarks/pipeline.py --customers 10000 [--workdir DIR] [--keep]

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

Prints a Markdown table and writes ``benchmarks/results/pipeline_<customers>.json`` and ``.md``.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", help="where to put data (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--results", default=str(RESULTS), help="where to write the JSON and Markdown")
    args = parser.parse_args(argv)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ecrm_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "ECRM_LANDING": str(work / "landing"),
        "ECRM_WAREHOUSE": str(work / "warehouse" / "ecrm.duckdb"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DAGSTER_HOME": str(work / "dagster_home"),
        "PYTHONPATH": str(ROOT),
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
    for name, selection in STAGES:
        print(f"running {name} ...", flush=True)
        rows.append({"stage": name, **measure(_stage_code(selection), STAGE_SETUP, env)})
    # One pipeline run imports Dagster, dbt and the models once; each stage here paid them in its own process.
    total = {
        "stage": "total: the stages' work plus one start-up",
        "wall_s": sum(r["wall_s"] for r in rows) + max(r["setup_s"] for r in rows),
        "setup_s": max(r["setup_s"] for r in rows),
        "process_wall_s": sum(r["process_wall_s"] for r in rows),
        "cpu_s": sum(r["cpu_s"] for r in rows),
        "peak_mb": max(r["peak_mb"] for r in rows),
    }

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

    import duckdb

    counts = {}
    with duckdb.connect(env["ECRM_WAREHOUSE"], read_only=True) as con:
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw','quarantine','staging','intermediate','marts','ml','ops')"
        ).fetchall():
            counts.setdefault(schema, 0)
            counts[schema] += con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
        orders, events = con.execute(
            "select (select count(*) from raw.shop__orders), (select count(*) from raw.web__events)"
        ).fetchone()

    result = {
        "customers": args.customers,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "stages": rows, "total": total, "references": refs, "rows_per_layer": counts,
        "orders": orders, "web_events": events, "elapsed_s": time.perf_counter() - t_all,
    }  # fmt: skip
    md = render(result)
    print(md)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"pipeline_{args.customers}.json").write_text(json.dumps(result, indent=2, default=str))
    (results / f"pipeline_{args.customers}.md").write_text(md + "\n")
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
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
