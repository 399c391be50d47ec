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
