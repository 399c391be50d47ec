"""The pipeline benchmark measures every asset the Dagster job builds, and its figures describe that run.

No time is asserted (these machines are shared and noisy). What the benchmark must cover comes from the
Dagster code location (every asset ``ecrm_everything`` materialises) and from benchmarks/README.md (the
reference points it promises); the row counts it reports are checked against the landing files.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
# The smallest shop the benchmark runs on: its cost is the fixed start-up of each stage's process and of
# dbt, not the data, and a shop this small still has bad rows to quarantine and model-quality rows.
CUSTOMERS = 60
# The reference points benchmarks/README.md promises for `pipeline.py`, measured in the same run.
DOCUMENTED_REFERENCES = (
    "read_csv",  # DuckDB reading the same files
    "loader alone",
    "dbt build alone",
    "compiled SQL of the models in",
    "compiled SQL of the models and data tests",
)


def _benchmark_module():
    """benchmarks/pipeline.py as a module (it imports its sibling ``measure`` as a script would)."""
    folder = str(REPO / "benchmarks")
    spec = importlib.util.spec_from_file_location("pipeline_benchmark", REPO / "benchmarks" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def _job_assets() -> set[dg.AssetKey]:
    from orchestration.definitions import defs

    return set(defs.resolve_job_def("ecrm_everything").asset_layer.executable_asset_keys)


def _stage_assets(selection: str) -> set[dg.AssetKey]:
    """The asset keys a benchmark stage's selection names (raw layer, a dbt asset, or asset key strings)."""
    from orchestration.assets import dbt
    from orchestration.definitions import defs

    if selection == "raw":
        graph = defs.get_repository_def().asset_graph
        return {k for k in graph.materializable_asset_keys if k.path[0] == "raw"}
    if selection.startswith("dbt_"):
        return set(getattr(dbt, selection).keys)
    return {dg.AssetKey(k.split("/")) for k in selection.split(",")}


def test_the_benchmark_stages_cover_every_asset_of_the_job_once():
    stages = {name: _stage_assets(selection) for name, selection in _benchmark_module().STAGES}
    covered = [key for keys in stages.values() for key in keys]
    assert len(covered) == len(set(covered)), "an asset is measured in two stages"
    job = _job_assets()
    assert set(covered) - job == set(), "a stage names an asset the job does not build"
    assert job - set(covered) == set(), "the benchmark leaves an asset of the job unmeasured"


def _landing_rows(landing: Path) -> int:
    """Data rows (records, header excluded) of every landing CSV file, read as the loader's fallback does."""
    total = 0
    for path in landing.rglob("*.csv"):
        with path.open(encoding="latin-1", newline="") as fh:
            total += sum(1 for _ in csv.reader(fh, strict=False)) - 1
    return total


def test_pipeline_benchmark_measures_every_stage_and_reference(tmp_path: Path) -> None:
    work, results = tmp_path / "work", tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "benchmarks/pipeline.py", "--customers", str(CUSTOMERS), "--workdir", str(work),
         "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads((results / f"pipeline_{CUSTOMERS}.json").read_text())

    # One row per stage, generation first, in the order the job builds them.
    declared = [name for name, _ in _benchmark_module().STAGES]
    assert [r["stage"] for r in result["stages"]] == ["generate", *declared]
    # Each stage really built its assets: every asset of the job is in the benchmark's own warehouse.
    warehouse = work / "warehouse" / "ecrm.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relations = {
            dg.AssetKey([schema, name])
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
    missing = {k for k in _job_assets() if len(k.path) == 2} - relations
    assert missing == set(), missing
    assert warehouse.with_name("ecrm_published.duckdb").exists()  # published_warehouse

    references = [r["stage"] for r in result["references"]]
    for documented in DOCUMENTED_REFERENCES:
        assert sum(documented in r for r in references) == 1, (documented, references)
    for row in [*result["stages"], *result["references"]]:
        assert min(row["wall_s"], row["cpu_s"], row["peak_mb"], row["tree_peak_mb"]) > 0, row
        # A measurement's own work is part of its process's whole time.
        assert row["wall_s"] <= row["process_wall_s"], row
    # The total counts the stages' work and one start-up, and its peak is the largest stage's.
    work_s = sum(r["wall_s"] for r in result["stages"])
    assert abs(result["total"]["wall_s"] - work_s - result["total"]["setup_s"]) < 1e-6
    assert result["total"]["peak_mb"] == max(r["peak_mb"] for r in result["stages"])
    # Stages and references ran one after another within this one run of the script.
    measured = sum(r["process_wall_s"] for r in [*result["stages"], *result["references"]])
    assert result["elapsed_s"] >= measured

    # Every landing row is in raw or in quarantine, and the figures name the run's own data.
    layers = result["rows_per_layer"]
    assert layers["raw"] + layers["quarantine"] == _landing_rows(work / "landing")
    assert min(layers["quarantine"], layers["marts"], layers["ml"]) > 0, layers
    with duckdb.connect(str(warehouse), read_only=True) as con:
        orders = con.execute("select count(*) from raw.shop__orders").fetchone()[0]
    assert result["orders"] == orders
    table = (results / f"pipeline_{CUSTOMERS}.md").read_text()
    assert f"{result['orders']:,} orders" in table
    for name in ["generate", *declared, *references]:
        assert f"| {name} |" in table, name


def _measure_module():
    """benchmarks/measure.py as a module."""
    spec = importlib.util.spec_from_file_location("measure_benchmark", REPO / "benchmarks" / "measure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A process that starts a helper and never waits for it, as PySpark does with its Java runtime: the helper
# fills 300 MB and spins a second of CPU, says so through a file, and the parent exits without reaping it.
_UNWAITED_HELPER = """
import os, pathlib, subprocess, sys, tempfile, time
done = pathlib.Path(tempfile.mkdtemp()) / "done"
helper = ("import pathlib, sys, time\\nblock = bytearray(300 * 2**20)\\nblock[::4096] = b'x' * len(block[::4096])\\n"
          "t = time.process_time()\\nwhile time.process_time() - t < 1.0: pass\\n"
          "pathlib.Path(sys.argv[1]).write_text('')\\ntime.sleep(1.0)")
subprocess.Popen([sys.executable, "-c", helper, str(done)])
while not done.exists():
    time.sleep(0.05)
time.sleep(0.6)  # two more samples of the tree while the helper still holds its memory
"""


def test_measure_counts_a_process_its_parent_never_waits_for():
    measured = _measure_module().measure(_UNWAITED_HELPER)
    # getrusage sees only waited children: the helper's second of CPU is not in it (its peak memory cannot
    # be compared: a child forked from a large test process starts with that process's resident set)...
    assert measured["cpu_s"] < 0.6, measured
    # ...the sampled process tree has the CPU and the 300 MB.
    assert measured["tree_cpu_s"] >= 0.9, measured
    assert measured["tree_peak_mb"] >= 300, measured


def _row(stage: str, wall: float, cpu: float, peak: float) -> dict:
    return {"stage": stage, "wall_s": wall, "setup_s": 1.0, "process_wall_s": wall + 1.0, "cpu_s": cpu,
            "peak_mb": peak, "tree_cpu_s": cpu, "tree_peak_mb": peak}  # fmt: skip


def test_the_engine_table_sets_each_spark_stage_beside_the_same_duckdb_stage():
    bench = _benchmark_module()
    duckdb_stages = [_row("load + contracts", 10, 12, 900), _row("dbt build (warehouse)", 20, 30, 400)]
    spark_stages = [_row("dbt build (warehouse)", 150, 200, 2500)]
    result = {
        "machine": {"cpus": 2},
        "stages": duckdb_stages,
        "total": bench._total(duckdb_stages),
        "rows_per_layer": {"raw": 100, "staging": 90, "marts": 40},
        "spark": {
            "stages": spark_stages,
            "total": bench._total(duckdb_stages[:1] + spark_stages),
            "rows_per_layer": {"raw": 100, "marts": 41},
        },
    }
    lines = bench.render_engines(result)
    # Written out by hand: 150 s against 20 s is 7.5 times; the totals are 10 + 20 + 1 and 10 + 150 + 1 s.
    assert "| dbt build (warehouse) | 20.0 | 150.0 | 7.5 | 30.0 | 200.0 | 400 | 2500 |" in lines
    assert any(
        line.startswith("| total: the stages' work plus one start-up | 31.0 | 161.0 | 5.2 |")
        for line in lines
    )
    # A layer with other counts is named; staging (views on both engines) is not compared.
    assert "**not the same as on DuckDB in marts**" in lines[-1]
    result["spark"]["rows_per_layer"]["marts"] = 40
    assert "the same as on DuckDB in every layer" in bench.render_engines(result)[-1]
    result["spark"]["same_answers"] = {
        "customers": 1200, "other_segment": 0, "other_churn_band": 3, "other_country": 0,
        "max_clv_difference": 0.0, "max_churn_risk_difference": 0.02, "net_revenue_difference": 0.0,
    }  # fmt: skip
    last = bench.render_engines(result)[-1]
    assert "(1,200 customers): 0 in another RFM segment, 3 in another churn band" in last
    assert "in churn risk 0.02" in last


def test_same_answers_counts_the_customers_the_engines_see_differently(tmp_path: Path):
    bench = _benchmark_module()
    rows = {
        # customer, segment, band, country, CLV, churn risk: c2 changes band, c3 segment and CLV by 0.5.
        "duckdb": [("c1", "A", "low", "DE", 10.0, 0.1), ("c2", "A", "low", "DE", 20.0, 0.2),
                   ("c3", "B", "high", "FR", 30.0, 0.9)],
        "spark": [("c1", "A", "low", "DE", 10.0, 0.1), ("c2", "A", "medium", "DE", 20.0, 0.45),
                  ("c3", "C", "high", "FR", 30.5, 0.9)],
    }  # fmt: skip
    files = {}
    for engine, customers in rows.items():
        files[engine] = str(tmp_path / f"{engine}.duckdb")
        with duckdb.connect(files[engine]) as con:
            con.execute("create schema marts")
            con.execute(
                "create table marts.customer_360 (customer_id varchar, rfm_segment varchar, "
                "churn_band varchar, country varchar, clv_12m double, churn_risk double)"
            )
            con.executemany("insert into marts.customer_360 values (?, ?, ?, ?, ?, ?)", customers)
            con.execute("create table marts.fct_orders as select 100.0 as net_revenue")
    same = bench._same_answers(files["duckdb"], files["spark"])
    assert same["customers"] == 3
    assert (same["other_segment"], same["other_churn_band"], same["other_country"]) == (1, 1, 0)
    assert same["max_clv_difference"] == 0.5
    assert same["max_churn_risk_difference"] == pytest.approx(0.25)
    assert same["net_revenue_difference"] == 0
