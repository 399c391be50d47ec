"""UCI Online Retail and Shopify exports (Olist: test_import_olist) through `ecrm import` and the whole pipeline: the marts equal an
independent computation from the export (pandas on the raw file, or the hand-worked Shopify figures), and
every dashboard page renders on the imported warehouse with a notice where a source is missing."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import SHARED_DATASETS, run_import_into
from tests.test_dashboard import PAGES as DASHBOARD_PAGES
from tests.test_dashboard import open_page
from tests.test_import_shopify import EXPORTED_AT, FIXTURES, REFUNDS, REVENUE

RETAIL = SHARED_DATASETS / "online_retail_sample" / "online_retail_first30k.csv"
# UCI's codes for postage, discounts and adjustments: not products (see the importer's docstring).
NON_PRODUCTS = {
    "POST",
    "DOT",
    "C2",
    "D",
    "M",
    "BANK CHARGES",
    "AMAZONFEE",
    "CRUK",
    "S",
    "B",
    "PADS",
    "ADJUST",
}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def retail_run(tmp_path_factory):
    if not RETAIL.exists():
        pytest.skip(
            f"the Online Retail sample is absent ({RETAIL.parent.name} beside the repository's datasets)"
        )
    return run_import_into(tmp_path_factory.mktemp("online_retail"), "online-retail", [RETAIL])


@pytest.fixture(scope="module")
def shopify_run(tmp_path_factory):
    # The fixtures use the reserved example.* domains, which the identity graph rightly treats as
    # placeholders and never links on; a real shop's customers have real domains, so the copy run here does
    # (.shop, an ordinary top-level domain: special-use ones such as .test fail the e-mail rule, as they
    # cannot receive mail).
    export = tmp_path_factory.mktemp("shopify_export")
    for path in FIXTURES.glob("*.csv"):
        text = path.read_text(encoding="utf-8")
        for domain in ("example.com", "example.org", "example.net"):
            text = text.replace(f"@{domain}", f"@shop-{domain.split('.')[1]}.shop")
            text = text.replace(f"@{domain.replace('e', 'E', 1)}", f"@Shop-{domain.split('.')[1]}.shop")
        (export / path.name).write_text(text, encoding="utf-8")
    return run_import_into(tmp_path_factory.mktemp("shopify"), "shopify", [export], exported_at=EXPORTED_AT)


def _retail_truth() -> dict:
    """Invoices, customers and sales from the raw UCI file with pandas alone: invoices that are not
    cancellations, lines with a customer and a product code (postage, discounts and adjustments are not
    products); cancellations with a customer are the candidate returns."""
    raw = pd.read_csv(RETAIL, dtype={"InvoiceNo": str, "StockCode": str})
    raw = raw[raw["CustomerID"].notna()]
    # products and cancelled postage (below) are refunded; cancelled adjustments (M, D, ...) are not returns
    code = raw["StockCode"].str.strip().str.upper()
    product = ~code.isin(NON_PRODUCTS)
    cancelled = raw["InvoiceNo"].str.startswith("C")
    sales = raw[~cancelled & product & (raw["Quantity"] > 0) & (raw["UnitPrice"] >= 0)]
    # Cancelled postage is refunded too: an order-level return (no product).
    returns = raw[cancelled & (product | code.isin({"POST", "DOT", "C2"}))]
    # A discount credit (D) goes onto the customer's latest order at or before it; with no such order in
    # the export it is set aside as unmatched, like a cancellation of an earlier invoice.
    credits = raw[cancelled & (code == "D")]
    when = pd.to_datetime(raw["InvoiceDate"])
    first_sale = when[~cancelled].groupby(raw["CustomerID"]).min()
    credit_time = pd.to_datetime(credits["InvoiceDate"])
    unmatched_credits = int((~(credits["CustomerID"].map(first_sale) <= credit_time)).sum())
    return {
        "unmatched_credits": unmatched_credits,
        "orders": sales["InvoiceNo"].nunique(),
        "customers": sales["CustomerID"].nunique(),
        "gross_sales": round(float((sales["Quantity"] * sales["UnitPrice"]).sum()), 2),
        "lines": len(sales),
        "cancellation_lines": len(returns),
    }


def test_online_retail_marts_equal_the_export(retail_run):
    truth = _retail_truth()
    report = retail_run.report
    assert report.success, report.render()
    with duckdb.connect(str(retail_run.published), read_only=True) as con:
        orders, customers = con.execute(
            "select count(*), count(distinct customer_id) from marts.fct_orders"
        ).fetchone()
        lines, gross = con.execute(
            "select count(*), round(sum(gross_sales), 2) from marts.fct_order_lines"
        ).fetchone()
        returns = con.execute("select count(*) from marts.fct_returns").fetchone()[0]
        quarantined = con.execute("select sum(rows_quarantined) from ops.load_manifest").fetchone()[0]
    assert (orders, customers, lines) == (truth["orders"], truth["customers"], truth["lines"])
    assert gross == pytest.approx(truth["gross_sales"], abs=0.01)
    assert quarantined == 0
    assert not report.import_mismatches
    # Every cancellation with a customer is a return, or set aside because its invoice predates the export.
    saved = json.loads((retail_run.landing / ".imports" / "online-retail.json").read_text())
    unmatched = saved["files"][0]["set_aside"]["cancellation of an invoice not in the export"]
    assert returns + unmatched == truth["cancellation_lines"] + truth["unmatched_credits"]


def test_shopify_marts_equal_the_hand_worked_figures(shopify_run):
    report = shopify_run.report
    assert report.success, report.render()
    with duckdb.connect(str(shopify_run.published), read_only=True) as con:
        revenue = dict(
            con.execute("select currency, round(sum(revenue), 2) from marts.fct_orders group by 1").fetchall()
        )
        refunds = dict(con.execute("select order_id, refund_amount from marts.fct_returns").fetchall())
        consent = {
            email: (by_email, by_sms)
            for email, by_email, by_sms in con.execute(
                "select email, email_opt_in, sms_opt_in from marts.customer_360 where email is not null"
            ).fetchall()
        }
    assert {c: pytest.approx(float(v), abs=0.005) for c, v in REVENUE.items()} == revenue
    assert refunds == {k: pytest.approx(float(v)) for k, v in REFUNDS.items()}
    # The latest statement per channel (hand-read from the customers exports, see test_import_shopify).
    assert consent["alice@shop-com.shop"] == (False, False)
    assert consent["carla@shop-org.shop"] == (True, False)
    assert consent["bob@shop-com.shop"] == (False, True)
    assert not report.import_mismatches


@pytest.mark.parametrize("page", [path for path, *_ in DASHBOARD_PAGES], ids=lambda p: Path(p).stem)
@pytest.mark.parametrize("which", ["olist_run", "retail_run", "shopify_run"])
def test_every_page_renders_on_each_imported_warehouse(which, page, request, monkeypatch):
    run = request.getfixturevalue(which)
    run = run[0] if which == "olist_run" else run  # (run, reviews)
    monkeypatch.setenv("ECRM_PUBLISHED", str(run.published))
    at = open_page(page)  # through the navigation entry; fails on any exception element
    if page.endswith("promotion.py"):
        # No export holds campaigns: the page names the landing folder that would fill it.
        assert any("marketing/campaigns" in i.value for i in at.info)


def test_progress_display_follows_the_real_run_log(olist_run):
    """Replayed over the log file the Olist run wrote, the progress display ends with six complete stage
    lines: every landing entity loaded, every contract check run, every dbt node built."""
    import io
    from pathlib import Path

    from orchestration.contracts import load_contracts
    from orchestration.definitions import stage_steps
    from orchestration.progress import LABELS, StageProgress

    run, _ = olist_run
    out = io.StringIO()
    with StageProgress(Path(run.report.log_path), stage_steps(), out=out) as progress:
        pass
    stages = progress.stages
    assert stages["load"].done == len(load_contracts())
    assert stages["checks"].done == 4 * len(load_contracts())  # four checks per raw table
    for key, stage in stages.items():
        assert stage.total, key
        assert stage.done == stage.total, (key, stage)
        assert not stage.failed, key
    shown = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(shown) == len(LABELS)
    for line, (key, label) in zip(shown, LABELS.items(), strict=True):
        assert line.startswith(label), line
        assert f"{stages[key].total}/{stages[key].total}" in line, line
