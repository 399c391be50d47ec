"""The notebooks: committed without outputs, each executed top to bottom in a real kernel on the session's
published warehouse, fitting exactly what the pipeline fits, and covering every 7P mart."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_customer_value.ipynb",
    "02_churn.ipynb",
    "03_market_basket.ipynb",
    "04_reference_results.ipynb",
    "05_seven_p.ipynb",
]
SEVEN_P_MODELS = sorted(p.stem for p in (REPO / "dbt_project" / "models" / "marts" / "seven_p").glob("*.sql"))
# A cell may take a while on the first import of lifetimes or the first fit; a hung cell fails the test.
CELL_TIMEOUT_SECONDS = 600


def _code(path: Path) -> str:
    return "\n".join(
        "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
    )


def test_the_five_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: strip outputs"
            assert cell["execution_count"] is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_the_published_warehouse_and_the_pipelines_functions(path):
    code = _code(path)
    assert "orchestration" in code
    # Marts are read through the one read-only helper, never by opening a file of their own.
    assert "duckdb.connect" not in code
    if "con = " in code:
        assert re.search(r"from orchestration\.notebook import [^\n]*\bconnect\b", code)
        assert "con = connect()" in code
    # No notebook fits a model of its own: the fits are the pipeline's functions.
    for foreign in ("BetaGeoFitter", "GammaGammaFitter", "apriori(", "fpgrowth(", "HistGradientBoosting"):
        assert foreign not in code, f"{path.name} calls {foreign} directly"


def test_every_seven_p_mart_is_read_by_the_seven_p_notebook():
    code = _code(NOTEBOOK_DIR / "05_seven_p.ipynb")
    assert SEVEN_P_MODELS, "no 7P marts found"
    missing = [name for name in SEVEN_P_MODELS if not re.search(rf'\bmart\(\s*"{name}"', code)]
    assert not missing, f"05_seven_p.ipynb has no section reading {missing}"


def test_customer_summary_is_weeks_at_hour_resolution_without_refunds():
    """Hand-worked: two orders five hours apart on one day are two purchases; a stand-alone refund is none."""
    import pandas as pd

    from orchestration.analytics.customer_models import customer_summary

    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "ordered_at": pd.to_datetime(
                ["2024-01-01 10:00", "2024-01-01 15:00", "2024-01-08 10:00", "2024-01-15 10:00"], utc=True
            ),
            "revenue": [50.0, 30.0, -20.0, 10.0],
            "margin": [20.0, 12.0, -20.0, 4.0],
        }
    )
    summary = customer_summary(orders)
    a, b = summary.loc["a"], summary.loc["b"]
    assert a["frequency"] == 1
    assert a["recency"] == pytest.approx(5 / 168)
    assert a["T"] == pytest.approx(2.0)  # 14 days to the last order, in weeks
    assert a["monetary_value"] == pytest.approx(30.0)
    assert a["margin_value"] == pytest.approx(12.0)
    assert (b["frequency"], b["T"]) == (0, 0)


def test_the_basket_thresholds_are_the_assets():
    from orchestration.assets import analytics
    from orchestration.notebook import basket_thresholds

    assert basket_thresholds() == {
        "PRODUCT_RULES": analytics.PRODUCT_RULES,
        "CATEGORY_RULES": analytics.CATEGORY_RULES,
    }


@pytest.mark.e2e
def test_the_shared_summary_gives_the_parameters_in_model_quality(pipeline_run):
    """What a notebook (or the README's example) fits equals what the pipeline stored for the same warehouse."""
    from orchestration.analytics.customer_models import customer_orders, customer_summary, fit_customer_model

    con = duckdb.connect(str(pipeline_run.published), read_only=True)
    try:
        model = fit_customer_model(customer_summary(customer_orders(con)))
        stored = con.execute(
            "select model, substr(metric, 7), value from ml.model_quality where metric like 'param_%'"
        ).fetchall()
    finally:
        con.close()
    # Seven revenue parameters and three margin ones; a different time resolution moves every one of them.
    assert len(stored) == 10, stored
    for sub_model, parameter, value in stored:
        assert model.params[parameter] == pytest.approx(value, rel=1e-6), (sub_model, parameter)


@pytest.mark.e2e
def test_the_connection_helper_finds_the_pipelines_published_copy(pipeline_run, monkeypatch, tmp_path):
    from orchestration import notebook

    monkeypatch.delenv("ECRM_PUBLISHED", raising=False)
    monkeypatch.setenv("ECRM_WAREHOUSE", str(pipeline_run.warehouse))
    assert notebook.published_warehouse() == pipeline_run.published
    con = notebook.connect()
    try:
        assert con.execute("select count(*) from marts.fct_orders").fetchone()[0] > 0
        with pytest.raises(duckdb.Error):
            con.execute("create table marts.scratch as select 1 as x")
    finally:
        con.close()
    monkeypatch.setenv("ECRM_PUBLISHED", str(tmp_path / "absent.duckdb"))
    with pytest.raises(FileNotFoundError, match="make demo"):
        notebook.published_warehouse()


@pytest.mark.e2e
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom_on_the_published_warehouse(path, pipeline_run, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("ECRM_PUBLISHED", str(pipeline_run.published))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        # The kernel starts in notebooks/, as when a data scientist opens the notebook.
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    # Any cell that raises fails the test (nbclient raises CellExecutionError with the traceback).
    client.execute()
    # The kernel was this virtualenv's Python (the one with the project installed), not another on PATH.
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.prefix
