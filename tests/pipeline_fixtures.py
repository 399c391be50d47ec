"""One generated, loaded and dbt-built warehouse per test session, shared by the dbt and identity tests.

Building costs about half a minute (generate, load through the contracts, ``dbt build``), so the result is
cached per (customers, seed) for the whole session whichever test module asks first. dbt runs against a
warehouse and target folder inside pytest's temporary directory, so the repo's own ``dbt_project/target`` and
any developer warehouse are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pytest

from orchestration.warehouse import ensure_ml_tables

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"

# One data set serves both test modules: big enough for identity resolution to be measured on thousands
# of records, small enough for one build in well under a minute.
CUSTOMERS = 2_000
SEED = 11


@dataclass(frozen=True)
class Pipeline:
    """Where a built demo pipeline lives."""

    root: Path
    landing: Path
    truth: Path
    warehouse: Path
    target: Path

    @property
    def build_results(self) -> Path:
        """run_results.json of the full ``dbt build``."""
        return self.root / "build_run_results.json"


_BUILT: dict[tuple[int, int], Pipeline] = {}


def create_ml_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the empty ``ml`` tables dbt reads as sources, exactly as the Python assets do."""
    ensure_ml_tables(con)


def run_dbt(pipeline: Pipeline, *args: str) -> None:
    """Run one dbt command on the pipeline's warehouse; fail the test with dbt's output when it fails.

    dbt runs in a child process: in-process, dbt-duckdb keeps its connection to the warehouse open, and
    DuckDB then refuses the tests' own read-only connections to the same file.
    """
    env = {**os.environ, "ECRM_WAREHOUSE": str(pipeline.warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(pipeline.target),
        "--log-path",
        str(pipeline.root / "logs"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")


def private_copy(pipeline: Pipeline, folder: Path) -> Pipeline:
    """The session's built warehouse and dbt target copied to ``folder``, for a test that writes: the shared
    warehouse stays as built whatever order the tests run in."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pipeline.warehouse, folder / pipeline.warehouse.name)
    shutil.copytree(pipeline.target, folder / "dbt_target")
    return replace(
        pipeline, root=folder, warehouse=folder / pipeline.warehouse.name, target=folder / "dbt_target"
    )


def built_pipeline(
    tmp_path_factory: pytest.TempPathFactory, customers: int = CUSTOMERS, seed: int = SEED
) -> Pipeline:
    """Generate demo data, load it through the contracts and ``dbt build`` it, once per session."""
    key = (customers, seed)
    if key in _BUILT:
        return _BUILT[key]
    from orchestration.demo.generator import generate
    from orchestration.loading.loader import load_landing

    root = tmp_path_factory.mktemp(f"pipeline_{customers}_{seed}")
    generate(root, customers=customers, seed=seed)
    pipeline = Pipeline(
        root=root,
        landing=root / "landing",
        truth=root / "truth",
        warehouse=root / "warehouse.duckdb",
        target=root / "dbt_target",
    )
    con = duckdb.connect(str(pipeline.warehouse))
    try:
        load_landing(con, pipeline.landing)
        create_ml_tables(con)
    finally:
        con.close()
    run_dbt(pipeline, "build")
    # Later dbt commands overwrite run_results.json; keep the full build's results.
    shutil.copy(pipeline.target / "run_results.json", pipeline.build_results)
    _BUILT[key] = pipeline
    return pipeline


def query(pipeline: Pipeline, sql: str, params: list | None = None):
    """Run a read-only query on the pipeline's warehouse and return a DataFrame."""
    con = duckdb.connect(str(pipeline.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()
