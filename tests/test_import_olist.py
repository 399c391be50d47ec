"""`ecrm import olist` on the real Olist sample: the marts equal an independent pandas computation from the
export, and every input row is accounted for (pages on it: test_imported_pipelines)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from orchestration.importers import ImportFailed, run_import
from tests.conftest import OLIST

needs_olist = pytest.mark.skipif(
    not OLIST.is_dir(), reason=f"the Olist sample is absent ({OLIST.name} beside the repository's datasets)"
)


def _truth() -> dict:
    """Customers, orders and revenue computed straight from Olist's files with pandas."""
    orders = pd.read_csv(OLIST / "olist_orders_dataset.csv")
    items = pd.read_csv(OLIST / "olist_order_items_dataset.csv")
    customers = pd.read_csv(OLIST / "olist_customers_dataset.csv")
    sales = orders[~orders["order_status"].isin(["canceled", "unavailable"])]
    sales = sales[sales["order_id"].isin(items["order_id"])].merge(customers, on="customer_id")
    sold = items[items["order_id"].isin(sales["order_id"])]
    return {
        "orders": sales["order_id"].nunique(),
        "customers": sales["customer_unique_id"].nunique(),
        "revenue": round(float(sold["price"].sum()), 2),
        "shipping": round(float(sold["freight_value"].sum()), 2),
        "lines": len(sold),
    }


@needs_olist
def test_import_accounts_for_every_row(tmp_path):
    report = run_import("olist", [OLIST], tmp_path / "landing")
    truth = _truth()
    assert report.landing_files["shop/orders/olist.csv"] == truth["orders"]
    assert report.landing_files["shop/order_lines/olist.csv"] == truth["lines"]
    assert report.landing_files["shop/customers/olist.csv"] == truth["customers"]
    for f in report.files:
        # Every row read is written somewhere or set aside with a reason.
        assert f.rows_read == sum(f.rows_written.values()) + sum(f.set_aside.values()), f
    recognised = {f.recognised_as for f in report.files}
    assert {"olist orders", "olist order items", "olist customers", "olist products"} <= recognised


@needs_olist
def test_reimport_is_identical(tmp_path):
    run_import("olist", [OLIST], tmp_path / "a")
    run_import("olist", [OLIST], tmp_path / "a")
    run_import("olist", [OLIST], tmp_path / "b")
    for path in (tmp_path / "b").rglob("*.csv"):
        assert path.read_bytes() == (tmp_path / "a" / path.relative_to(tmp_path / "b")).read_bytes()


@needs_olist
def test_times_are_sao_paulo_local_time(tmp_path):
    tables = ["olist_orders_dataset.csv", "olist_customers_dataset.csv", "olist_order_items_dataset.csv"]
    report = run_import("olist", [OLIST / t for t in tables], tmp_path)
    # Any subset of the tables is enough; without the products table no catalogue is written.
    assert "shop/products/olist.csv" not in report.landing_files
    orders = pd.read_csv(tmp_path / "shop" / "orders" / "olist.csv").set_index("order_id")
    # 2018-03-27 18:00:43 in São Paulo (UTC-3, no summer time in March 2018) is 21:00:43 UTC; 2017-11-14 fell
    # in Brazilian summer time (UTC-2).
    assert orders.loc["c58cff333993bb6b7161d7ec1350eef3", "ordered_at"] == "2018-03-27T18:00:43-03:00"
    summer = orders[orders["ordered_at"].str.startswith("2017-11-14")]
    assert summer["ordered_at"].str.endswith("-02:00").all()
    assert len(summer) > 0


def test_a_file_that_is_no_olist_table_is_named(tmp_path):
    bad = tmp_path / "orders.csv"
    bad.write_text("id,when,total\n1,2020-01-01,3.0\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"orders\.csv: not an Olist table.*expected one of"):
        run_import("olist", [bad], tmp_path / "landing")


@needs_olist
@pytest.mark.e2e
def test_marts_equal_the_export(olist_run):
    run, _ = olist_run
    truth = _truth()
    assert run.report.success, run.report.render()
    with duckdb.connect(str(run.published), read_only=True) as con:
        orders, customers, revenue, shipping = con.execute(
            "select count(*), count(distinct customer_id), round(sum(revenue), 2), round(sum(shipping_amount), 2) "
            "from marts.fct_orders"
        ).fetchone()
        c360 = con.execute("select count(*) from marts.customer_360 where orders > 0").fetchone()[0]
        quarantined = con.execute("select sum(rows_quarantined) from ops.load_manifest").fetchone()[0]
    assert (orders, customers, c360) == (truth["orders"], truth["customers"], truth["customers"])
    assert revenue == pytest.approx(truth["revenue"], abs=0.01)
    assert shipping == pytest.approx(truth["shipping"], abs=0.01)
    assert quarantined == 0
    assert not run.report.import_mismatches
    assert run.report.imports
    assert "olist" in run.report.imports[0]


@needs_olist
@pytest.mark.e2e
def test_reviews_reach_customer_360(olist_run):
    run, reviews = olist_run
    with duckdb.connect(str(run.published), read_only=True) as con:
        got = con.execute(
            """
            select o.order_id, c.reviews, c.mean_review_score
            from marts.fct_orders o join marts.customer_360 c using (customer_id)
            where o.order_id in (select distinct order_id from raw.shop__reviews)
            """
        ).df()
    # Hand-worked: order 0 scored 5, order 1 scored 1, order 2 scored 4 and 2 (mean 3); each order is a
    # different person in the sample (no repeat buyers among them).
    expected = {reviews.order_id[0]: (1, 5.0), reviews.order_id[1]: (1, 1.0), reviews.order_id[2]: (2, 3.0)}
    assert {r.order_id: (r.reviews, r.mean_review_score) for r in got.itertuples()} == expected
