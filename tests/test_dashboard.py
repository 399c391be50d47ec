"""The dashboard renders every page on a real published warehouse, and its figures match the warehouse."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
PAGES = ["overview", "customers", "models", "baskets", "campaigns", "audiences", "data_quality"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.e2e


@pytest.fixture
def published(pipeline_run, monkeypatch):
    monkeypatch.setenv("ECRM_PUBLISHED", str(pipeline_run.published))
    # `streamlit run dashboards/app.py` puts dashboards/ on the path for the pages' `import queries`.
    monkeypatch.syspath_prepend(str(APP.parent))
    return pipeline_run.published


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_error(published, page):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP.parent / "app_pages" / f"{page}.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value  # the page's heading rendered
    assert not [w.value for w in at.warning], "page says the warehouse is missing"


def test_overview_metrics_match_the_warehouse(published):
    from streamlit.testing.v1 import AppTest

    with duckdb.connect(str(published), read_only=True) as con:
        orders, buyers = con.execute(
            "select count(*), count(distinct customer_id) from marts.fct_orders"
        ).fetchone()
    at = AppTest.from_file(str(APP.parent / "app_pages" / "overview.py"), default_timeout=60)
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Orders"] == f"{orders:,}"
    assert metrics["Buying customers"] == f"{buyers:,}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make browser)")
def test_dashboard_serves_figures_in_a_real_browser(published, tmp_path):
    from playwright.sync_api import sync_playwright

    with duckdb.connect(str(published), read_only=True) as con:
        orders = con.execute("select count(*) from marts.fct_orders").fetchone()[0]
    port = _free_port()
    env = {**os.environ, "ECRM_PUBLISHED": str(published), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.headless",
         "true", "--browser.gatherUsageStats", "false"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
            page.get_by_text("Repeat-buyer rate").wait_for(timeout=60_000)
            page.get_by_text(f"{orders:,}", exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
            page.get_by_role("link", name="Data quality").click()
            page.get_by_text("Rows quarantined").wait_for(timeout=60_000)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


MANIFEST_BEFORE_DRIFT_COLUMNS = """
    create table ops.load_manifest (
        path varchar primary key, sha256 varchar, source varchar, entity varchar, rows_read bigint,
        rows_loaded bigint, rows_quarantined bigint, status varchar, error varchar, loaded_at timestamptz
    )
"""


def _publish_manifest(published: Path, tmp_path: Path, with_drift_columns: bool) -> None:
    """Publish a warehouse holding only a load manifest of three files, as loaded before or after the
    loader recorded each file's encoding, schema-drift warnings and erased rows."""
    from orchestration.warehouse import publish

    warehouse = tmp_path / ("after" if with_drift_columns else "before") / "ecrm.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops; create schema quarantine")
        con.execute(MANIFEST_BEFORE_DRIFT_COLUMNS)
        con.execute(
            """
            insert into ops.load_manifest values
                ('crm/customers/a.csv', 'h1', 'crm', 'customers', 10, 8, 2, 'loaded', null, '2024-06-01'),
                ('shop/orders/b.csv', 'h2', 'shop', 'orders', 5, 5, 0, 'loaded', null, '2024-06-01'),
                ('shop/orders/c.csv', 'h3', 'shop', 'orders', 0, 0, 0, 'rejected', 'empty file', '2024-06-01')
            """
        )
        if with_drift_columns:
            con.execute(
                "alter table ops.load_manifest add column rows_erased bigint default 0;"
                "alter table ops.load_manifest add column encoding varchar;"
                "alter table ops.load_manifest add column warnings varchar;"
                "update ops.load_manifest set encoding = 'utf-8';"
                "update ops.load_manifest set encoding = 'cp1252', rows_erased = 3, "
                "warnings = 'undeclared columns present: loyalty_tier' where path = 'crm/customers/a.csv'"
            )
    publish(warehouse, published)


def test_data_quality_shows_encodings_warnings_and_erased_rows(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    published = tmp_path / "published" / "ecrm_published.duckdb"
    monkeypatch.setenv("ECRM_PUBLISHED", str(published))
    monkeypatch.syspath_prepend(str(APP.parent))
    page = str(APP.parent / "app_pages" / "data_quality.py")

    # A warehouse loaded before the manifest had the columns: the page works, the figures say "not known".
    _publish_manifest(published, tmp_path, with_drift_columns=False)
    at = AppTest.from_file(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Files"], metrics["Rows read"], metrics["Rows quarantined"]) == ("3", "15", "2")
    assert metrics["Files rejected"] == "1"
    assert (metrics["Files with warnings"], metrics["Rows erased"]) == ("—", "—")
    files = at.dataframe[0].value
    assert {"encoding", "warnings", "rows_erased"} <= set(files.columns)
    assert files["encoding"].isna().all()

    # The same copy republished by a newer loader: per file encoding and warnings, and the two figures.
    _publish_manifest(published, tmp_path, with_drift_columns=True)
    at = AppTest.from_file(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Files with warnings"], metrics["Rows erased"]) == ("1", "3")
    files = at.dataframe[0].value.set_index("path")
    assert files.loc["crm/customers/a.csv", "encoding"] == "cp1252"
    assert files.loc["shop/orders/b.csv", "encoding"] == "utf-8"
    assert files.loc["crm/customers/a.csv", "warnings"] == "undeclared columns present: loyalty_tier"
    assert pd.isna(files.loc["shop/orders/b.csv", "warnings"])
    assert "Schema-drift warnings" in [s.value for s in at.subheader]
    assert list(at.dataframe[1].value["path"]) == ["crm/customers/a.csv"]
