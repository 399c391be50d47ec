"""The 7P marts against the fact tables they summarise, recomputed here with pandas.

Each expected figure is computed from ``marts.fct_orders`` / ``marts.profitability__customers`` in pandas,
independently of the mart's SQL, on the session's end-to-end demo warehouse.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def marts(pipeline_run):
    with duckdb.connect(str(pipeline_run.published), read_only=True) as con:

        def read(sql: str) -> pd.DataFrame:
            return con.execute(sql).fetch_df()

        profitability = read("select * from marts.profitability__customers")
        yield {
            "orders": read(
                "select order_id, customer_id, ordered_at, revenue, gross_margin, discount_amount, promotion_code, "
                "refund_amount, returned_cost, net_margin from marts.fct_orders"
            ),
            "cohorts": read("select * from marts.persistency__cohort_retention"),
            "repeat": read("select * from marts.persistency__repeat_purchase order by order_number"),
            "profit": profitability[["customer_id", "net_profit"]],
            "profitability": profitability,
            "returns": read("select order_id, product_id, quantity from marts.fct_returns"),
            "unit_costs": read("select product_id, unit_cost from marts.dim_products"),
            "pareto": read("select * from marts.profitability__pareto order by percentile"),
            "codes": read("select * from marts.promotion__discount_codes"),
            "movement": read("select * from marts.profiling__segment_movement"),
            "sales": read("select * from marts.performance__sales_monthly"),
            "lines": read(
                "select order_id, ordered_at, category, revenue, quantity from marts.fct_order_lines"
            ),
            "events": read(
                "select session_id, customer_id, anonymous_id, event_type, event_at, product_id, search_query "
                "from marts.fct_web_events"
            ),
            "products": read("select product_id, product_name from marts.dim_products"),
            "wanted": read("select * from marts.product__wishlist_ranking"),
            "intent": read("select * from marts.prospecting__high_intent_visitors"),
            "first_ltv": read("select * from marts.product__first_purchase_ltv"),
            "bundles": read("select * from marts.product__bundles"),
            "rules_bundles": read("select product_a, product_b from ml.bundles"),
            "uplift_segments": read("select * from marts.promotion__uplift_by_segment"),
            "campaign_uplift": read("select * from marts.promotion__campaign_effectiveness"),
            "forecast": read("select * from marts.prospecting__forecast_monthly order by months_ahead"),
            "predictions": read(
                "select expected_purchases_30d, expected_purchases_90d, expected_order_value "
                "from ml.customer_predictions where expected_purchases_90d is not null"
            ),
            "habits": read(
                "select customer_id, preferred_order_weekday, preferred_order_hour from marts.customer_360 "
                "where is_buyer"
            ),
            "acquisition": read("select * from marts.profitability__acquisition_channels"),
            "sends": read(
                "select campaign_id, customer_id, is_control, sent_at from marts.fct_campaign_sends"
            ),
            "campaigns": read(
                "select campaign_id, channel, cost, started_at from staging.stg_marketing__campaigns"
            ),
        }


def _first_order_month(orders: pd.DataFrame) -> pd.Series:
    first = orders.groupby("customer_id")["ordered_at"].min()
    if first.dt.tz is not None:  # fct_orders.ordered_at is UTC; months are UTC months
        first = first.dt.tz_convert("UTC").dt.tz_localize(None)
    return first.dt.to_period("M").dt.to_timestamp()


def test_cohort_cumulative_value_reconciles_with_orders(marts):
    orders, cohorts = marts["orders"], marts["cohorts"]
    cohort_of = _first_order_month(orders)
    orders = orders.assign(cohort=orders["customer_id"].map(cohort_of))
    expected = orders.groupby("cohort").agg(revenue=("revenue", "sum"), margin=("gross_margin", "sum"))
    size = cohort_of.value_counts()
    last = cohorts.sort_values("months_since_first_order").groupby("cohort_month").tail(1)
    assert len(last) == len(expected) > 3
    for row in last.itertuples():
        cohort = pd.Timestamp(row.cohort_month)
        assert row.cohort_customers == size[cohort]
        assert row.cumulative_revenue_per_customer * row.cohort_customers == pytest.approx(
            expected.loc[cohort, "revenue"], rel=1e-9
        )
        assert row.cumulative_margin_per_customer * row.cohort_customers == pytest.approx(
            expected.loc[cohort, "margin"], rel=1e-9
        )
    # Cumulative value never falls (revenue after discounts is never negative).
    for _, cohort in cohorts.sort_values("months_since_first_order").groupby("cohort_month"):
        assert (cohort["cumulative_revenue_per_customer"].diff().dropna() >= -1e-9).all()


def test_repeat_purchase_curve_matches_pandas(marts):
    orders = marts["orders"].sort_values(["customer_id", "ordered_at", "order_id"])
    orders["n"] = orders.groupby("customer_id").cumcount() + 1
    orders["next_at"] = orders.groupby("customer_id")["ordered_at"].shift(-1)
    orders["gap_days"] = (orders["next_at"] - orders["ordered_at"]).dt.total_seconds() / 86400
    repeat = marts["repeat"].set_index("order_number")
    assert list(repeat.index) == list(range(1, orders["n"].max() + 1))
    for n in (1, 2, 3):
        at_n = orders[orders["n"] == n]
        gaps = at_n["gap_days"].dropna()
        row = repeat.loc[n]
        assert row["customers"] == len(at_n)
        assert row["customers_ordering_again"] == len(gaps)
        assert row["share_ordering_again"] == pytest.approx(len(gaps) / len(at_n))
        # percentile_cont is numpy's linear interpolation.
        assert row["median_days_to_next_order"] == pytest.approx(np.percentile(gaps, 50), rel=1e-6)
        assert row["days_to_next_order_p25"] == pytest.approx(np.percentile(gaps, 25), rel=1e-6)
        assert row["days_to_next_order_p75"] == pytest.approx(np.percentile(gaps, 75), rel=1e-6)
    # Those who ordered again after the n-th order are exactly the customers with an (n+1)-th.
    assert (
        repeat["customers_ordering_again"].iloc[:-1].to_numpy() == repeat["customers"].iloc[1:].to_numpy()
    ).all()


def test_net_margin_recovers_the_cost_of_returned_units_and_is_what_profit_sums(marts):
    """An order's returned cost is its returned units at the product's unit cost (fct_returns x dim_products,
    in pandas); net margin = gross margin - refunds + returned cost; a customer's net profit is the sum of
    her orders' net margins less service and marketing cost."""
    orders, returns = marts["orders"].set_index("order_id"), marts["returns"]
    costed = returns.merge(marts["unit_costs"], on="product_id", how="left")
    returned_cost = (costed["quantity"] * costed["unit_cost"].fillna(0)).groupby(costed["order_id"]).sum()
    assert (returned_cost > 0).sum() > 10, "the demo has returns of costed products"
    expected = returned_cost.reindex(orders.index, fill_value=0.0)
    np.testing.assert_allclose(orders["returned_cost"], expected, atol=1e-6)
    np.testing.assert_allclose(
        orders["net_margin"], orders["gross_margin"] - orders["refund_amount"] + expected, atol=1e-6
    )
    profit = marts["profitability"].set_index("customer_id")
    per_customer = orders.groupby("customer_id")[["net_margin", "returned_cost"]].sum()
    per_customer = per_customer.reindex(profit.index, fill_value=0.0)
    np.testing.assert_allclose(profit["returned_cost"], per_customer["returned_cost"], atol=1e-6)
    np.testing.assert_allclose(
        profit["net_profit"],
        per_customer["net_margin"] - profit["service_cost"] - profit["marketing_cost"],
        atol=1e-6,
    )


def test_pareto_sums_to_the_customers_and_ranks_like_pandas(marts):
    profit, pareto = marts["profit"], marts["pareto"]
    assert pareto["customers"].sum() == len(profit)
    assert pareto["net_profit"].sum() == pytest.approx(profit["net_profit"].sum())
    assert pareto["cumulative_share_of_profit"].iloc[-1] == pytest.approx(1.0)
    ranked = profit.sort_values(["net_profit", "customer_id"], ascending=[False, True])[
        "net_profit"
    ].to_numpy()
    groups = np.array_split(ranked, 100)  # ntile(100): sizes differ by at most one, larger groups first
    top10 = sum(g.sum() for g in groups[:10]) / ranked.sum()
    assert pareto.set_index("percentile").loc[10, "cumulative_share_of_profit"] == pytest.approx(top10)
    assert pareto["loss"].sum() == pytest.approx(ranked[ranked < 0].sum())
    assert pareto["loss_making_customers"].sum() == (ranked < 0).sum()


def test_discount_codes_reconcile_with_orders(marts):
    orders, codes = marts["orders"], marts["codes"].set_index("promotion_code")
    coded = orders[orders["promotion_code"].fillna("").str.strip() != ""].copy()
    coded["code"] = coded["promotion_code"].str.strip().str.upper()
    assert len(codes) == coded["code"].nunique() > 0
    assert codes["discount_amount"].sum() == pytest.approx(coded["discount_amount"].sum())
    assert codes["orders"].sum() == len(coded)
    first = orders.sort_values(["ordered_at", "order_id"]).groupby("customer_id").head(1)
    first = first[first["order_id"].isin(coded["order_id"])]
    new_by_code = first.assign(code=first["promotion_code"].str.strip().str.upper()).groupby("code").size()
    for code, row in codes.iterrows():
        assert row["new_customers"] == new_by_code.get(code, 0), code
        assert row["revenue"] == pytest.approx(coded.loc[coded["code"] == code, "revenue"].sum())


def _segments_at(orders: pd.DataFrame, end: pd.Timestamp) -> pd.Series:
    """RFM segment of every buyer as of ``end`` (exclusive), by the rules of DECISIONLOG.md, in pandas."""
    before = orders[orders["ordered_at"] < end]
    per = before.groupby("customer_id").agg(
        orders=("order_id", "count"), revenue=("revenue", "sum"), last=("ordered_at", "max")
    )
    per["recency"] = (end.normalize() - per["last"].dt.normalize()).dt.days
    n = len(per)

    def score(values: pd.Series, ascending: bool) -> pd.Series:
        rank = values.rank(method="min", ascending=ascending)  # percent_rank = (rank - 1) / (n - 1)
        return np.minimum(5, 1 + np.floor(5 * (rank - 1) / (n - 1)))

    r = score(per["recency"], ascending=False)
    fm = np.floor((score(per["orders"], True) + score(per["revenue"], True) + 1) / 2)
    one = per["orders"] == 1
    rules = [
        (r >= 4) & one, (r >= 4) & (fm >= 4), (r >= 3) & (fm >= 3) & ~one, r >= 4, r == 3, fm >= 4, fm == 3,
        r == 2,
    ]  # fmt: skip
    names = ["new", "champions", "loyal", "potential_loyalist", "about_to_sleep", "cant_lose", "at_risk",
             "hibernating"]  # fmt: skip
    return pd.Series(np.select(rules, names, default="lost"), index=per.index)


def test_segment_movement_of_one_month_matches_pandas(marts):
    orders = marts["orders"].copy()
    if orders["ordered_at"].dt.tz is not None:
        orders["ordered_at"] = orders["ordered_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    movement = marts["movement"]
    months = sorted(pd.to_datetime(movement["snapshot_month"]).unique())
    month = months[len(months) // 2]
    end, previous_end = month + pd.offsets.MonthBegin(1), month
    now, before = _segments_at(orders, end), _segments_at(orders, previous_end)
    moves = pd.DataFrame({"to_segment": now, "from_segment": before.reindex(now.index).fillna("prospect")})
    later = orders[(orders["ordered_at"] >= end) & (orders["ordered_at"] < end + pd.Timedelta(days=90))]
    moves["next_90d"] = later.groupby("customer_id")["revenue"].sum().reindex(moves.index).fillna(0)
    expected = moves.groupby(["from_segment", "to_segment"]).agg(
        customers=("to_segment", "size"), revenue=("next_90d", "sum")
    )
    got = movement[pd.to_datetime(movement["snapshot_month"]) == month].set_index(
        ["from_segment", "to_segment"]
    )
    assert got["customers"].sort_index().to_dict() == expected["customers"].sort_index().to_dict()
    for key, row in expected.iterrows():
        assert got.loc[key, "revenue_next_90d"] == pytest.approx(row["revenue"], abs=1e-6)
    # Every buyer of the month end is in exactly one move; the months' totals grow with the buyers.
    totals = movement.groupby("snapshot_month")["customers"].sum()
    assert totals.is_monotonic_increasing


def test_acquisition_channels_reconcile_with_buyers_and_campaign_costs(marts):
    orders, acquisition = marts["orders"], marts["acquisition"]
    assert acquisition["new_customers"].sum() == orders["customer_id"].nunique()
    # Acquisition cost by the documented rule, in pandas: each campaign's cost times the share of its
    # treated sends that reached someone without an earlier order.
    first = orders.groupby("customer_id")["ordered_at"].min()
    sends = marts["sends"][~marts["sends"]["is_control"]].copy()
    first_at = sends["customer_id"].map(first)
    sends["to_prospect"] = first_at.isna() | (first_at > sends["sent_at"])
    share = sends.groupby("campaign_id")["to_prospect"].mean()
    campaigns = marts["campaigns"].set_index("campaign_id")
    expected = (campaigns["cost"] * share.reindex(campaigns.index)).dropna()
    assert acquisition["acquisition_cost"].sum() == pytest.approx(expected.sum())
    by_channel = (expected.groupby(campaigns.loc[expected.index, "channel"]).sum()).to_dict()
    got = acquisition.groupby("acquisition_channel")["acquisition_cost"].sum(min_count=1).dropna().to_dict()
    assert got == pytest.approx(by_channel)
    # Channels without campaign cost have an unknown CAC, never zero.
    uncosted = acquisition[~acquisition["acquisition_channel"].isin(by_channel)]
    assert uncosted["cac"].isna().all()
    assert uncosted["payback_months"].isna().all()
    assert len(uncosted) > 0


def test_preferred_weekday_and_hour_are_the_most_frequent(marts):
    orders = marts["orders"].copy()
    if orders["ordered_at"].dt.tz is not None:
        orders["ordered_at"] = orders["ordered_at"].dt.tz_convert("UTC")
    orders["weekday"] = orders["ordered_at"].dt.day_of_week + 1  # ISO: Monday = 1
    orders["hour"] = orders["ordered_at"].dt.hour

    def most_frequent(column: str) -> pd.Series:
        counts = orders.groupby(["customer_id", column]).size().rename("n").reset_index()
        counts = counts.sort_values(["customer_id", "n", column], ascending=[True, False, True])
        return counts.groupby("customer_id")[column].first()

    habits = marts["habits"].set_index("customer_id")
    assert len(habits) == orders["customer_id"].nunique()
    assert (habits["preferred_order_weekday"] == most_frequent("weekday").reindex(habits.index)).all()
    assert (habits["preferred_order_hour"] == most_frequent("hour").reindex(habits.index)).all()


def test_sales_monthly_sums_to_the_orders_and_compares_months(marts):
    orders, sales, lines = marts["orders"], marts["sales"], marts["lines"]
    assert sales["revenue"].sum() == pytest.approx(orders["revenue"].sum(), rel=1e-9)
    month = (
        orders["ordered_at"].dt.tz_localize(None)
        if orders["ordered_at"].dt.tz is None
        else (orders["ordered_at"].dt.tz_convert("UTC").dt.tz_localize(None))
    )
    by_month = orders.groupby(month.dt.to_period("M").dt.to_timestamp())["revenue"].sum()
    got = sales.groupby(pd.to_datetime(sales["month"]))["revenue"].sum()
    assert got.to_dict() == pytest.approx(by_month.to_dict())
    assert sales["units"].sum() == lines["quantity"].sum()
    first_revenue = (
        orders.sort_values(["ordered_at", "order_id"]).groupby("customer_id").head(1)["revenue"].sum()
    )
    assert sales["new_customer_revenue"].sum() == pytest.approx(first_revenue)
    # The previous month's figure is that group's revenue one month earlier.
    keys = ["category", "sales_channel", "country", "rfm_segment"]
    indexed = sales.assign(month=pd.to_datetime(sales["month"])).set_index(["month", *keys])["revenue"]
    checked = 0
    for row in sales[sales["revenue_previous_month"] > 0].head(50).itertuples():
        earlier = (pd.Timestamp(row.month) - pd.offsets.MonthBegin(1), *(getattr(row, k) for k in keys))
        assert row.revenue_previous_month == pytest.approx(indexed.loc[earlier])
        checked += 1
    assert checked > 0


def test_wishlist_ranking_counts_people_per_signal_like_pandas(marts):
    events, wanted = marts["events"].copy(), marts["wanted"].set_index("product_id")
    events["person"] = events["customer_id"].fillna("anonymous:" + events["anonymous_id"])
    bought_sessions = set(events.loc[events["event_type"] == "purchase", "session_id"])

    def people(mask) -> pd.Series:
        return events[mask & events["product_id"].notna()].groupby("product_id")["person"].nunique()

    wish = people(events["event_type"] == "add_to_wishlist")
    views = people(events["event_type"] == "product_view")
    abandon = people((events["event_type"] == "add_to_cart") & ~events["session_id"].isin(bought_sessions))
    assert wish.sum() > 0
    for expected, column in ((wish, "wishlisters"), (views, "viewers"), (abandon, "cart_abandoners")):
        got = wanted[column]
        assert got.to_dict() == expected.reindex(got.index).fillna(0).astype(int).to_dict(), column
    names = marts["products"].set_index("product_id")["product_name"].str.strip().str.lower()
    searches = events[(events["event_type"] == "search") & events["search_query"].notna()]
    queries = searches.assign(q=searches["search_query"].str.strip().str.lower())
    for product_id in wanted.sort_values("want_rank").index[:5]:
        name = names[product_id]
        expected = (
            queries.loc[queries["q"].str.contains(name, regex=False), "person"].nunique()
            if len(name) >= 3
            else 0
        )
        assert wanted.loc[product_id, "searchers"] == expected
    score = wanted["wishlisters"] + wanted["cart_abandoners"] + wanted["searchers"] + 0.1 * wanted["viewers"]
    assert np.allclose(wanted["want_score"], score)
    assert list(wanted.sort_values("want_rank")["want_score"]) == sorted(wanted["want_score"], reverse=True)


def test_high_intent_visitors_never_bought_after_their_last_intent(marts):
    intent, orders, events = marts["intent"], marts["orders"], marts["events"]
    assert len(intent) > 0
    last_order = orders.groupby("customer_id")["ordered_at"].max()
    known = intent[intent["customer_id"].notna()]
    later = known["customer_id"].map(last_order)
    assert not (later >= known["last_intent_at"]).any()
    window_start = events["event_at"].max() - pd.Timedelta(days=30)
    assert (intent["last_intent_at"] > window_start).all()
    assert ((intent["cart_adds"] > 0) | (intent["wishlist_adds"] > 0) | (intent["searches"] >= 2)).all()


def test_first_purchase_ltv_counts_every_buyer_once_per_category(marts):
    first_ltv, orders = marts["first_ltv"], marts["orders"]
    categories = first_ltv[first_ltv["level"] == "category"]
    assert categories["customers"].sum() == orders["customer_id"].nunique()
    repeaters = (orders.groupby("customer_id").size() > 1).sum()
    assert (categories["repeat_rate"] * categories["customers"]).sum() == pytest.approx(repeaters)
    assert (first_ltv["level"] == "product").sum() <= 20


def test_bundles_mart_names_every_model_bundle(marts):
    bundles, model = marts["bundles"], marts["rules_bundles"]
    assert len(bundles) == len(model)
    assert set(zip(bundles["product_a"], bundles["product_b"], strict=True)) == set(
        zip(model["product_a"], model["product_b"], strict=True)
    )
    assert bundles["product_a_name"].notna().all()


def _agresti_caffo(xt: int, nt: int, xc: int, nc: int) -> tuple[float, float]:
    """95 % interval of p_t - p_c with one extra success and failure per arm (Agresti & Caffo 2000)."""
    pt, pc = (xt + 1) / (nt + 2), (xc + 1) / (nc + 2)
    se = np.sqrt(pt * (1 - pt) / (nt + 2) + pc * (1 - pc) / (nc + 2))
    return pt - pc - 1.96 * se, pt - pc + 1.96 * se


def test_uplift_by_segment_adds_up_to_the_campaigns_and_uses_the_published_interval(marts):
    by_segment, campaigns = marts["uplift_segments"], marts["campaign_uplift"].set_index("campaign_id")
    totals = by_segment.groupby("campaign_id")[
        ["treated_sends", "control_sends", "treated_conversions"]
    ].sum()
    for column in totals.columns:
        assert (totals[column] == campaigns.loc[totals.index, column]).all(), column
    for frame in (by_segment, campaigns.reset_index()):
        both = frame[(frame["treated_sends"] > 0) & (frame["control_sends"] > 0)]
        assert len(both) > 0
        for row in both.itertuples():
            low, high = _agresti_caffo(
                row.treated_conversions, row.treated_sends, row.control_conversions, row.control_sends
            )
            assert (row.uplift_ci_low, row.uplift_ci_high) == pytest.approx((low, high))
            assert row.is_significant == (low > 0 or high < 0)


def test_forecast_follows_the_acquisition_trend_and_the_customer_models(marts):
    orders, forecast, predictions = marts["orders"].copy(), marts["forecast"], marts["predictions"]
    if orders["ordered_at"].dt.tz is not None:
        orders["ordered_at"] = orders["ordered_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    orders["month"] = orders["ordered_at"].dt.to_period("M")
    last = orders["month"].max()
    first = orders.sort_values(["ordered_at", "order_id"]).groupby("customer_id").head(1)
    months = sorted(m for m in orders["month"].unique() if last - 12 <= m < last)
    y = first.groupby("month").size().reindex(months, fill_value=0).to_numpy(dtype=float)
    x = np.array([(m - last).n for m in months], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)  # least squares, as regr_slope / regr_intercept
    sd = np.sqrt(((y - (intercept + slope * x)) ** 2).sum() / (len(y) - 2))
    assert list(forecast["months_ahead"]) == [1, 2, 3]
    for k, row in zip((1, 2, 3), forecast.itertuples(), strict=True):
        expected = max(0.0, intercept + slope * k)
        assert row.expected_new_customers == pytest.approx(expected, abs=1e-9)
        assert row.new_customers_high == pytest.approx(expected + 1.96 * sd, abs=1e-9)
    e30, e90 = predictions["expected_purchases_30d"], predictions["expected_purchases_90d"]
    assert forecast["expected_repeat_orders"].iloc[0] == pytest.approx(e30.sum())
    assert forecast["expected_repeat_orders"].iloc[1] == pytest.approx((e90 - e30).sum() / 2)
    assert forecast["expected_repeat_revenue"].iloc[0] == pytest.approx(
        (e30 * predictions["expected_order_value"]).sum()
    )
    assert (forecast["repeat_orders_low"] <= forecast["expected_repeat_orders"]).all()
