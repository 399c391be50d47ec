"""The marts the dashboard adds (performance__kpis, performance__products_monthly, profiling__churn_bands)
equal an independent pandas computation from fct_orders, fct_order_lines and customer_360."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

ALL = "(all)"
LAPSE = pd.Timedelta(days=365)
STEP = {"month": pd.offsets.MonthBegin(1), "quarter": pd.offsets.QuarterBegin(1, startingMonth=1),
        "year": pd.offsets.YearBegin(1)}  # fmt: skip
FREQ = {"month": "MS", "quarter": "QS", "year": "YS"}


@pytest.fixture(scope="module")
def warehouse(pipeline_run):
    with duckdb.connect(str(pipeline_run.published), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        yield {
            "orders": con.execute(
                "select order_id, customer_id, ordered_at, sales_channel, revenue, gross_margin "
                "from marts.fct_orders"
            ).fetch_df(),
            "lines": con.execute(
                "select ordered_at, product_id, category, sales_channel, country, order_id, customer_id, "
                "quantity, revenue, gross_margin from marts.fct_order_lines"
            ).fetch_df(),
            "customers": con.execute(
                "select customer_id, country, rfm_segment, clv_12m, clv_margin_12m, churn_band, orders, revenue, "
                "probability_alive, expected_purchases_90d from marts.customer_360"
            ).fetch_df(),
            "kpis": con.execute("select * from marts.performance__kpis").fetch_df(),
            "products": con.execute("select * from marts.performance__products_monthly").fetch_df(),
            "sales_monthly": con.execute("select * from marts.performance__sales_monthly").fetch_df(),
            "bands": con.execute("select * from marts.profiling__churn_bands").fetch_df(),
            "spread": con.execute("select * from marts.profiling__value_distribution").fetch_df(),
        }


def _naive(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).dt.tz_localize(None)


def expected_kpis(
    orders: pd.DataFrame, customers: pd.DataFrame, period_type: str, cell: dict
) -> pd.DataFrame:
    """The KPI rows of one cell and period type, counted customer by customer from the orders."""
    frame = orders.merge(
        customers[["customer_id", "country", "rfm_segment", "clv_12m"]], "left", "customer_id"
    )
    frame["country"] = frame["country"].fillna("unknown")
    frame["rfm_segment"] = frame["rfm_segment"].fillna("prospect")
    frame["ordered_at"] = _naive(frame["ordered_at"])
    as_of = frame["ordered_at"].max()
    first_period = frame["ordered_at"].min().to_period(period_type[0].upper()).start_time
    for column, value in cell.items():
        if value != ALL:
            frame = frame[frame[column] == value]
    frame = frame.sort_values(["ordered_at", "order_id"])
    rows = []
    for start in pd.date_range(first_period, as_of, freq=FREQ[period_type]):
        end = start + STEP[period_type]
        before_end = frame[frame["ordered_at"] < end]
        if before_end.empty:
            continue
        in_period = before_end[before_end["ordered_at"] >= start]
        history = before_end.groupby("customer_id")["ordered_at"]
        firsts = history.min()
        counts = history.size()
        lapsed_from = history.max() + LAPSE
        rows.append({
            "period_start": start, "customers": len(firsts), "active_customers": in_period["customer_id"].nunique(),
            "new_customers": int(((firsts >= start) & (firsts < end)).sum()), "orders": len(in_period),
            "revenue": in_period["revenue"].sum(), "gross_margin": in_period["gross_margin"].sum(),
            "repeat_customers": int((counts >= 2).sum()),
            "lapsed_customers": int(((lapsed_from < end) & (lapsed_from <= as_of)).sum()),
            "predicted_clv_12m": (
                frame.drop_duplicates("customer_id")["clv_12m"].sum() if start <= as_of < end else np.nan
            ),
        })  # fmt: skip
    return pd.DataFrame(rows)


CELLS = [
    {"sales_channel": ALL, "country": ALL, "rfm_segment": ALL},
    {"sales_channel": "web", "country": ALL, "rfm_segment": ALL},
    {"sales_channel": ALL, "country": "first", "rfm_segment": ALL},
    {"sales_channel": "web", "country": "first", "rfm_segment": "champions"},
    {"sales_channel": ALL, "country": ALL, "rfm_segment": "lost"},
]


@pytest.mark.parametrize("period_type", ["month", "quarter", "year"])
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: "-".join(c.values()))
def test_kpis_equal_a_count_customer_by_customer(warehouse, period_type, cell):
    orders, customers, kpis = warehouse["orders"], warehouse["customers"], warehouse["kpis"]
    if cell["country"] == "first":  # the country of the most buyers
        buyers = customers[customers["customer_id"].isin(orders["customer_id"])]
        cell = {**cell, "country": buyers["country"].fillna("unknown").value_counts().index[0]}
    want = expected_kpis(orders, customers, period_type, cell)
    got = kpis[
        (kpis["period_type"] == period_type)
        & (kpis["sales_channel"] == cell["sales_channel"])
        & (kpis["country"] == cell["country"])
        & (kpis["rfm_segment"] == cell["rfm_segment"])
    ].copy()
    got["period_start"] = pd.to_datetime(got["period_start"])
    got = got.sort_values("period_start").reset_index(drop=True)
    assert not want.empty, "the cell was chosen to hold orders"
    assert list(got["period_start"]) == list(want["period_start"])
    for column in ["customers", "active_customers", "new_customers", "orders", "repeat_customers",
                   "lapsed_customers"]:  # fmt: skip
        assert list(got[column]) == list(want[column]), column
    for column in ["revenue", "gross_margin", "predicted_clv_12m"]:
        np.testing.assert_allclose(got[column], want[column], rtol=1e-9, atol=1e-6, err_msg=column)
    # Ratios from their numerators and denominators, and the change against the row before.
    np.testing.assert_allclose(got["repeat_rate"], want["repeat_customers"] / want["customers"])
    np.testing.assert_allclose(got["churn_rate"], want["lapsed_customers"] / want["customers"])
    previous = want["revenue"].shift(1)
    expected_change = ((want["revenue"] - previous) / previous.replace(0, np.nan)).to_numpy()
    np.testing.assert_allclose(got["revenue_change"].to_numpy(dtype=float), expected_change, equal_nan=True)
    np.testing.assert_allclose(
        got["churn_rate_change"].iloc[1:].to_numpy(dtype=float),
        (got["churn_rate"] - got["churn_rate"].shift(1)).iloc[1:].to_numpy(dtype=float),
    )
    assert got["is_complete"].tolist() == [True] * (len(got) - 1) + [False]


def test_kpis_all_cell_reconciles_with_fct_orders(warehouse):
    orders, kpis = warehouse["orders"], warehouse["kpis"]
    whole = kpis[(kpis["sales_channel"] == ALL) & (kpis["country"] == ALL) & (kpis["rfm_segment"] == ALL)]
    for period_type in ["month", "quarter", "year"]:
        rows = whole[whole["period_type"] == period_type]
        assert rows["orders"].sum() == len(orders)
        assert rows["revenue"].sum() == pytest.approx(orders["revenue"].sum())
        assert rows["new_customers"].sum() == orders["customer_id"].nunique()
        assert rows.sort_values("period_start")["customers"].iloc[-1] == orders["customer_id"].nunique()


def test_products_monthly_equal_the_order_lines(warehouse):
    lines, products, sales = warehouse["lines"], warehouse["products"], warehouse["sales_monthly"]
    lines = lines.assign(
        month=_naive(lines["ordered_at"]).dt.to_period("M").dt.start_time,
        category=lines["category"].fillna("uncategorised"),
        country=lines["country"].fillna("unknown"),
    )
    want = lines.groupby(["month", "product_id", "sales_channel", "country"]).agg(
        revenue=("revenue", "sum"), units=("quantity", "sum"), orders=("order_id", "nunique"),
        customers=("customer_id", "nunique"), gross_margin=("gross_margin", "sum"),
    )  # fmt: skip
    got = products.assign(month=pd.to_datetime(products["month"])).set_index(
        ["month", "product_id", "sales_channel", "country"]
    )
    assert len(got) == len(want)
    got = got.loc[want.index]
    np.testing.assert_allclose(got["revenue"], want["revenue"], atol=1e-6)
    np.testing.assert_allclose(got["gross_margin"], want["gross_margin"], atol=1e-6)
    assert (got["units"].to_numpy() == want["units"].to_numpy()).all()
    assert (got["orders"].to_numpy() == want["orders"].to_numpy()).all()
    # The drill-down adds up to the category figures of performance__sales_monthly.
    by_category = products.groupby(["month", "category", "sales_channel", "country"])["revenue"].sum()
    sales_by_category = sales.groupby(["month", "category", "sales_channel", "country"])["revenue"].sum()
    pd.testing.assert_series_equal(
        by_category.sort_index(), sales_by_category.sort_index(), check_exact=False
    )


def test_churn_bands_equal_customer_360(warehouse):
    customers, bands = warehouse["customers"], warehouse["bands"]
    buyers = customers[customers["orders"] > 0].assign(
        churn_band=lambda d: d["churn_band"].fillna("not scored"),
        country=lambda d: d["country"].fillna("unknown"),
    )
    want = buyers.groupby(["churn_band", "country", "rfm_segment"]).agg(
        customers=("customer_id", "size"), scored_customers=("probability_alive", "count"),
        revenue=("revenue", "sum"), clv_12m=("clv_12m", "sum"), probability_alive_sum=("probability_alive", "sum"),
    )  # fmt: skip
    got = bands.set_index(["churn_band", "country", "rfm_segment"]).loc[want.index]
    assert len(bands) == len(want)
    assert (got["customers"].to_numpy() == want["customers"].to_numpy()).all()
    assert (got["scored_customers"].to_numpy() == want["scored_customers"].to_numpy()).all()
    np.testing.assert_allclose(got["clv_12m"], want["clv_12m"], atol=1e-6)
    np.testing.assert_allclose(got["probability_alive_sum"], want["probability_alive_sum"], atol=1e-9)
    order = bands.drop_duplicates("churn_band").set_index("churn_band")["band_order"].sort_values()
    assert [b for b in order.index if b != "not scored"] == [
        b for b in ["low", "medium", "high"] if b in set(order.index)
    ]


def test_value_distribution_bins_every_scored_buyer_once(warehouse):
    customers, spread = warehouse["customers"], warehouse["spread"]
    scored = customers[(customers["orders"] > 0) & customers["probability_alive"].notna()]
    edges = [0, 10, 25, 50, 100, 200, 500, 1000, 2000, 5000, np.inf]
    want_clv = pd.cut(scored["clv_12m"].fillna(0).clip(lower=0), edges, right=False, labels=False) + 1
    want_alive = np.minimum(np.floor(scored["probability_alive"] * 20), 19).astype(int) + 1
    for measure, want in (("clv_12m", want_clv), ("probability_alive", want_alive)):
        got = spread[spread["measure"] == measure].groupby("bin")["customers"].sum()
        assert got.to_dict() == want.value_counts().sort_index().to_dict(), measure
    high = scored[scored["churn_band"] == "high"]
    got_high = spread[(spread["measure"] == "probability_alive") & (spread["churn_band"] == "high")]
    assert got_high["customers"].sum() == len(high)
