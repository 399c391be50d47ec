"""Shared fixtures: one real pipeline run on a small generated data set, reused by the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from support.datasets import SHARED_DATASETS

E2E_CUSTOMERS = 400
E2E_SEED = 7


# `make test` runs the suite on two pytest-xdist workers (`-n 2`). These modules build pipelines of their own
# (real `ecrm run` processes, imported exports, a warehouse to forget someone in) and share no session fixture
# with the rest: they run on one worker, and every module sharing the session's demo pipelines (`pipeline_run`,
# the 2,000-customer dbt build) runs on the other, so each session fixture is built once.
OWN_PIPELINE_MODULES = frozenset(
    {
        "test_benchmarks.py",
        "test_crash_safety.py",
        "test_forget.py",
        "test_import_olist.py",
        "test_imported_pipelines.py",
        "test_portable_macros.py",
        "test_spark_engine.py",
    }
)


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduler with two work units: the modules with pipelines of their own, and the rest.

    Written here because pytest-xdist's own grouping (``--dist loadgroup`` with ``xdist_group`` marks) names
    groups by rewriting ``item._nodeid``, which pytest 9 no longer reads: every test would be sent alone.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByPipelines(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0].rsplit("/", 1)[-1]
            return "own_pipelines" if module in OWN_PIPELINE_MODULES else "shared_pipelines"

    return ByPipelines(config, log)


@dataclass
class PipelineRun:
    """Where a test pipeline run put its files, and its report."""

    root: Path
    landing: Path
    truth: Path
    warehouse: Path
    published: Path
    report: object


def run_pipeline_into(root: Path, customers: int, seed: int) -> PipelineRun:
    """Generate demo data into ``root`` and run the real pipeline (all assets, in-process) on it."""
    from orchestration.demo.generator import generate

    generate(root, customers=customers, seed=seed)
    # A few hundred customers are below the production eligibility bar (500 repeat buyers): lower it so the
    # models run; the ineligible path has its own unit test.
    return _run_on_landing(root, min_repeat_customers="50", verbose=True)


def _run_on_landing(
    root: Path,
    min_repeat_customers: str | None,
    verbose: bool,
    warehouse: Path | None = None,
    engine: str = "duckdb",
) -> PipelineRun:
    """Point the pipeline's environment at ``root`` (landing, warehouse, Dagster home) and run it on
    ``engine``; the warehouse file is ``root/warehouse/ecrm.duckdb`` unless given."""
    from orchestration import settings
    from orchestration.pipeline import run_pipeline

    os.environ["ECRM_LANDING"] = str(root / "landing")
    os.environ["ECRM_WAREHOUSE"] = str(warehouse or root / "warehouse" / "ecrm.duckdb")
    os.environ["ECRM_ENGINE"] = engine
    os.environ.pop("ECRM_PUBLISHED", None)
    if min_repeat_customers is None:
        os.environ.pop("ECRM_MIN_REPEAT_CUSTOMERS", None)
    else:
        os.environ["ECRM_MIN_REPEAT_CUSTOMERS"] = min_repeat_customers
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    settings.quiet_telemetry()
    report = run_pipeline(verbose=verbose)
    warehouse = settings.warehouse_path()
    return PipelineRun(
        root, root / "landing", root / "truth", warehouse, settings.published_path(warehouse), report
    )


_ENV_KEYS = (
    "ECRM_LANDING",
    "ECRM_WAREHOUSE",
    "ECRM_PUBLISHED",
    "DAGSTER_HOME",
    "ECRM_MIN_REPEAT_CUSTOMERS",
    "ECRM_ENGINE",
    "ECRM_SPARK_LAKE",
    "ECRM_SPARK_WAREHOUSE",
    "ECRM_SPARK_CORES",
)


def run_import_into(root: Path, format_name: str, paths: list[Path], **options) -> PipelineRun:
    """Import an export with ``ecrm import``'s function into ``root/landing`` and run the real pipeline on
    it with the production eligibility rules (a real shop gets no lowered bar)."""
    from orchestration.importers import run_import

    run_import(format_name, paths, root / "landing", **options)
    # Other session fixtures (the demo run) read the same variables: leave them as they were.
    with environment_kept():
        return _run_on_landing(root, min_repeat_customers=None, verbose=False)


@contextlib.contextmanager
def environment_kept():
    """Restore the pipeline's environment variables (paths, Dagster home, eligibility) on exit."""
    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> PipelineRun:
    """The whole pipeline, run once per test session on a few hundred generated customers."""
    with environment_kept():
        yield run_pipeline_into(tmp_path_factory.mktemp("e2e"), E2E_CUSTOMERS, E2E_SEED)


OLIST = SHARED_DATASETS / "olist_sample"


def olist_reviews_fixture(folder: Path):
    """Olist's reviews table (absent from the sample) for three real orders, in Kaggle's layout: one order
    reviewed twice, with a comment holding a line break and a quote."""
    import pandas as pd

    orders = pd.read_csv(OLIST / "olist_orders_dataset.csv").head(3)
    reviews = pd.DataFrame(
        {
            "review_id": ["r1", "r2", "r3", "r4"],
            "order_id": [orders.order_id[0], orders.order_id[1], orders.order_id[2], orders.order_id[2]],
            "review_score": [5, 1, 4, 2],
            "review_comment_title": [None, "Ruim", None, None],
            "review_comment_message": ['chegou "rápido"\nrecomendo', "não chegou", None, "faltou item"],
            "review_creation_date": ["2018-04-07 00:00:00"] * 4,
            "review_answer_timestamp": ["2018-04-08 10:00:00", None, "2018-04-09 11:30:00", None],
        }
    )
    reviews.to_csv(folder / "olist_order_reviews_dataset.csv", index=False)
    return reviews


@pytest.fixture(scope="session")
def olist_run(tmp_path_factory):
    """The Olist sample (plus a reviews table) through `ecrm import olist` and the whole pipeline; (run,
    reviews written)."""
    if not OLIST.is_dir():
        pytest.skip(f"the Olist sample is absent ({OLIST.name} beside the repository's datasets)")
    export = tmp_path_factory.mktemp("olist_export")
    for f in OLIST.glob("*.csv"):
        shutil.copy(f, export / f.name)
    reviews = olist_reviews_fixture(export)
    return run_import_into(tmp_path_factory.mktemp("olist"), "olist", [export]), reviews


@pytest.fixture
def con():
    """An in-memory DuckDB connection in UTC, as the loader's tests need (one per test)."""
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    yield connection
    connection.close()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A landing folder holding the loader tests' one-product catalogue (modules may define their own)."""
    from tests.test_loader import PRODUCTS, write

    root = tmp_path / "landing"
    write(root, "shop/products/products.csv", PRODUCTS)
    return root


@pytest.fixture(scope="session")
def cdnow_master():
    """All 69,659 CDNOW purchases (lifetimes' ``CDNOW_master.txt``) of the 23,570 customers who first bought
    in the first quarter of 1997, January 1997 to June 1998; ``date`` parsed."""
    from importlib.resources import files

    import pandas as pd

    frame = pd.read_csv(
        files("lifetimes") / "datasets" / "CDNOW_master.txt",
        sep=r"\s+",
        dtype={"customer_id": str, "date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture
def dashboard_published(pipeline_run, monkeypatch, tmp_path):
    """The pipeline run's published copy as the dashboard reads it in the default (manager) role: the audit
    log, saved audiences and exports in ``tmp_path``, user ``test-manager``, ``dashboards/`` on the path (as
    ``streamlit run dashboards/app.py`` puts it, for the pages' ``import queries``), caches cleared."""
    import streamlit as st

    monkeypatch.setenv("ECRM_PUBLISHED", str(pipeline_run.published))
    monkeypatch.setenv("ECRM_AUDIT_LOG", str(tmp_path / "audit" / "access.jsonl"))
    monkeypatch.setenv("ECRM_AUDIENCES", str(tmp_path / "audiences"))
    monkeypatch.setenv("ECRM_EXPORTS", str(tmp_path / "exports"))
    monkeypatch.setenv("ECRM_DASHBOARD_USER", "test-manager")
    monkeypatch.delenv("ECRM_DASHBOARD_ROLE", raising=False)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "dashboards"))
    st.cache_data.clear()
    return pipeline_run.published
