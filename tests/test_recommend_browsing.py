"""Browsing signals in the recommendations: hand-worked scores, no look-ahead, the interest mart against an
independent pandas computation, and planted "carted, then bought" behaviour recovered by the evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipeline_fixtures import Pipeline, built_pipeline, query
from support.recommendations import metric_value, write_recommendation_marts

from orchestration.analytics.basket import mine_rules
from orchestration.analytics.recommend import interest_as_of, interest_scores, recommend
from orchestration.analytics.recommend_evaluation import (
    evaluate_recommendations,
    prefers_browsing,
    recommendation_quality,
)

NOW = pd.Timestamp("2024-03-01 12:00:00")
DAY = pd.Timedelta(days=1)


def _interest(rows: list[tuple]) -> pd.DataFrame:
    """One current row per (customer, product, last cart, last wish list, last view)."""
    frame = pd.DataFrame(
        rows, columns=["customer_id", "product_id", "last_carted_at", "last_wishlisted_at", "last_viewed_at"]
    )
    for col in ("last_carted_at", "last_wishlisted_at", "last_viewed_at"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


@pytest.fixture
def rules() -> pd.DataFrame:
    # a and b always together (3 baskets): a => b and b => a with confidence 1; c and d elsewhere.
    baskets = [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"), (3, "b"), (4, "c"), (5, "d")]
    return mine_rules(pd.DataFrame(baskets, columns=["basket_id", "item"]), 0.2, 0.5)


def test_carted_product_comes_first_with_its_reason(rules):
    purchases = pd.DataFrame({"customer_id": ["c1", "c2"], "product_id": ["a", "c"]})
    interest = _interest(
        [
            # c1 carted x today (score 3), wish-listed z 30 days ago (2 * 0.5 = 1), viewed y 30 days ago
            # (1 * 0.5 = 0.5), viewed a (owned: never recommended) and v (no longer sold).
            ("c1", "x", NOW, None, NOW - 2 * DAY),
            ("c1", "z", None, NOW - 30 * DAY, None),
            ("c1", "y", None, None, NOW - 30 * DAY),
            ("c1", "a", None, None, NOW),
            ("c1", "v", NOW, None, None),
            # Nobody who neither bought nor has a segment gets recommendations, with or without interest.
            ("c9", "x", NOW, None, None),
        ]
    )
    active = list("abcdxyz")
    recs = recommend(purchases, rules, active_products=active, top_n=4, interest=interest, as_of=NOW)
    c1 = recs[recs["customer_id"] == "c1"].sort_values("rank")
    assert list(c1["product_id"]) == ["x", "z", "y", "b"]
    assert list(c1["reason"]) == ["in your cart", "on your wish list", "you looked at this", "bought a"]
    assert list(c1["source"]) == ["browsing", "browsing", "browsing", "rule"]
    # x: cart today 3 + view two days ago 0.5 ** (2 / 30).
    assert c1["score"].tolist()[:3] == pytest.approx([3 + 0.5 ** (2 / 30), 1.0, 0.5])
    assert set(recs["customer_id"]) == {"c1", "c2"}
    # c2 showed no interest: exactly what it gets without browsing signals.
    without = recommend(purchases, rules, active_products=active, top_n=4)
    pd.testing.assert_frame_equal(
        recs[recs["customer_id"] == "c2"].reset_index(drop=True),
        without[without["customer_id"] == "c2"].reset_index(drop=True),
    )
    # At most one browsing place: x, then the rule and the best sellers as before.
    capped = recommend(
        purchases, rules, active_products=active, top_n=3, interest=interest, as_of=NOW, max_interest=1
    )
    assert list(capped.loc[capped["customer_id"] == "c1", "product_id"]) == ["x", "b", "c"]


def test_a_product_the_rules_also_pick_is_listed_once(rules):
    # c1 owns a, so a => b fires; c1 also viewed b. Best sellers: a, c, d (one buyer each, ties by id).
    purchases = pd.DataFrame({"customer_id": ["c1", "c2", "c2"], "product_id": ["a", "c", "d"]})
    interest = _interest([("c1", "b", None, None, NOW)])
    plain = recommend(purchases, rules, top_n=3)
    assert list(plain.loc[plain["customer_id"] == "c1", "source"]) == ["rule", "best_seller", "best_seller"]
    recs = recommend(purchases, rules, top_n=3, interest=interest, as_of=NOW)
    c1 = recs[recs["customer_id"] == "c1"]
    assert list(c1["product_id"]) == ["b", "c", "d"]
    assert list(c1["rank"]) == [1, 2, 3]
    assert list(c1["source"]) == ["browsing", "best_seller", "best_seller"]


def test_signals_after_the_moment_are_not_used():
    interest = _interest(
        [
            ("c1", "x", NOW + DAY, None, NOW - DAY),  # carted after NOW: only the view counts
            ("c1", "y", None, None, NOW + DAY),  # only seen after NOW: no candidate
        ]
    )
    scores = interest_scores(interest, NOW, half_life_days=1)
    assert scores[["product_id", "reason"]].values.tolist() == [["x", "you looked at this"]]
    assert scores["score"].iloc[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown"):
        interest_scores(interest, NOW, weights={"search": 1.0})


def test_history_rows_valid_at_a_moment():
    # c1 viewed x on day 1, carted it on day 5 and bought it on day 9: three rows of the history.
    t = pd.Timestamp("2024-01-01")
    history = pd.DataFrame(
        {
            "customer_id": ["c1"] * 3,
            "product_id": ["x"] * 3,
            "valid_from": [t + DAY, t + 5 * DAY, t + 9 * DAY],
            "valid_to": [t + 5 * DAY, t + 9 * DAY, pd.NaT],
            "last_viewed_at": [t + DAY] * 3,
            "last_carted_at": [pd.NaT, t + 5 * DAY, t + 5 * DAY],
            "cart_adds": [0, 1, 1],
        }
    )
    assert interest_as_of(history, t).empty
    assert interest_as_of(history, t + 3 * DAY)["cart_adds"].tolist() == [0]
    # valid_from is inclusive, valid_to exclusive: at day 5 exactly the cart add is known.
    assert interest_as_of(history, t + 5 * DAY)["cart_adds"].tolist() == [1]
    assert interest_as_of(history, t + 30 * DAY)["valid_to"].isna().tolist() == [True]


def _carted_then_bought(seed: int = 0, carts_before_cutoff: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Order lines and an interest history where every customer buys, after the cutoff, the product they
    carted before it (planted browse -> buy), and never buys another product they only viewed.

    300 customers each place a training order (days 0-150 of 2024) of one item ``q*`` and popular ``p*``
    products (each ~30 % of customers). Each carts one more ``q`` item and views another (days 150-170), and
    on day 380 buys the carted item, plus a popular product with probability 0.2. The cutoff of the
    evaluation is day 200. With ``carts_before_cutoff=False`` the cart and view happen on day 379 instead,
    after the cutoff (what the evaluation must not see).
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    popular = [f"p{j}" for j in range(5)]
    items = [f"q{j}" for j in range(40)]
    lines, interest = [], []
    for n in range(300):
        c = f"c{n}"
        first, carted, viewed = (str(x) for x in rng.choice(items, 3, replace=False))
        bought_at = start + pd.Timedelta(days=int(rng.integers(0, 150)), hours=int(rng.integers(0, 24)))
        for p in [first, *[p for p in popular if rng.random() < 0.3]]:
            lines.append((f"o{n}", c, bought_at, p))
        seen_at = start + pd.Timedelta(days=int(rng.integers(150, 170)), hours=int(rng.integers(0, 24)))
        if not carts_before_cutoff:
            seen_at = start + pd.Timedelta(days=379)
        later = start + pd.Timedelta(days=380)
        lines.append((f"o{n}x", c, later, carted))
        if rng.random() < 0.2:
            lines.append((f"o{n}x", c, later, str(rng.choice(popular))))
        # History rows as the mart holds them: the cart (valid until the purchase), then the purchase.
        interest.append((c, carted, seen_at, later, seen_at, pd.NaT, 0, 1))
        interest.append((c, carted, later, pd.NaT, seen_at, later, 1, 1))
        interest.append((c, viewed, seen_at, pd.NaT, pd.NaT, pd.NaT, 0, 0))
    frame = pd.DataFrame(
        interest,
        columns=[
            "customer_id",
            "product_id",
            "valid_from",
            "valid_to",
            "last_carted_at",
            "last_bought_at",
            "orders_with_product",
            "cart_adds",
        ],
    )
    frame["last_viewed_at"] = np.where(frame["cart_adds"] == 0, frame["valid_from"], pd.NaT)
    frame["last_viewed_at"] = pd.to_datetime(frame["last_viewed_at"])
    orders = pd.DataFrame(lines, columns=["order_id", "customer_id", "ordered_at", "product_id"])
    return orders, frame


CUTOFF = pd.Timestamp("2024-01-01") + pd.Timedelta(days=200)


def test_browsing_recovers_planted_cart_then_buy():
    lines, interest = _carted_then_bought()
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1, 3, 10), interest=interest)
    assert set(ev["customers"]) == {300}
    # Generator truth: every judged customer buys the product they carted, ranked first (the cart outweighs
    # the view of the same days), so hit@1 = 1 and precision@1 = 1.
    assert metric_value(ev, "browsing", "hit_rate", 1) == pytest.approx(1.0)
    assert metric_value(ev, "browsing", "hit_rate", 3) == pytest.approx(1.0)
    assert metric_value(ev, "popularity", "hit_rate", 3) < 0.5
    assert metric_value(ev, "browsing", "hit_rate", 3) > metric_value(ev, "popularity", "hit_rate", 3) + 0.4
    assert metric_value(ev, "browsing", "recall", 3) > metric_value(ev, "popularity", "recall", 3)
    assert metric_value(ev, "browsing", "hit_rate", 10) > metric_value(ev, "popularity", "hit_rate", 10)
    assert prefers_browsing(ev)
    metrics = recommendation_quality(ev).set_index("metric")["value"]
    assert metrics["hit_rate_at_3_browsing"] == pytest.approx(1.0)
    assert metrics["uses_browsing"] == 1
    # Without interest the evaluation is the one it was: no browsing rows, no choice.
    plain = evaluate_recommendations(lines, CUTOFF, ks=(1, 3, 10))
    assert "browsing" not in set(plain["model"])
    assert "uses_browsing" not in set(recommendation_quality(plain)["metric"])
    pd.testing.assert_frame_equal(plain, ev[ev["model"] != "browsing"].reset_index(drop=True))


def test_carts_after_the_cutoff_are_not_seen():
    # The same customers and purchases, but they look at the products only after the cutoff: the browsing
    # method then has nothing to go on and gives exactly the rule recommender's figures.
    lines, interest = _carted_then_bought(carts_before_cutoff=False)
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1, 3, 10), interest=interest)
    browsing = ev[ev["model"] == "browsing"].drop(columns="model").reset_index(drop=True)
    rules = ev[ev["model"] == "rules"].drop(columns="model").reset_index(drop=True)
    pd.testing.assert_frame_equal(browsing, rules)
    assert metric_value(ev, "browsing", "hit_rate", 3) < 0.5
    assert not prefers_browsing(ev)
    # Even a snapshot of the latest times (no history columns) cannot leak: later signals are ignored.
    snapshot = interest[interest["valid_to"].isna()].drop(columns=["valid_from", "valid_to"])
    ev2 = evaluate_recommendations(lines, CUTOFF, ks=(1, 3, 10), interest=snapshot)
    pd.testing.assert_frame_equal(ev2, ev)


def test_asset_uses_browsing_when_it_helps(tmp_path):
    """Through the ``recommendations`` asset: measured with browsing, chosen, and the open carts come first."""
    import duckdb

    from orchestration.assets.analytics import RECOMMENDATION_TEST_DAYS, recommendations
    from orchestration.resources import WarehouseResource

    lines, interest = _carted_then_bought()
    # Day 380 - 180 days = day 200, the cutoff above.
    assert lines["ordered_at"].max() - pd.Timedelta(days=RECOMMENDATION_TEST_DAYS) == CUTOFF
    lines = lines.assign(category="all", revenue=1.0)
    # One open cart today: c0 carted q_new after its last purchase and has not bought it.
    now = lines["ordered_at"].max() + DAY
    open_cart = pd.DataFrame(
        {"customer_id": ["c0"], "product_id": ["q_new"], "valid_from": [now], "valid_to": [pd.NaT]}
    ).assign(
        last_carted_at=now, last_viewed_at=pd.NaT, last_bought_at=pd.NaT, orders_with_product=0, cart_adds=1
    )
    history = pd.concat([interest, open_cart], ignore_index=True)
    history["is_current"] = history["valid_to"].isna()
    history["looked_not_bought"] = history["orders_with_product"] == 0
    history["last_wishlisted_at"] = pd.NaT
    products = sorted(set(lines["product_id"]) | {"q_new"})
    catalogue = pd.DataFrame({"product_id": products, "product_name": products, "is_active": True})
    path = tmp_path / "w.duckdb"
    write_recommendation_marts(path, lines, catalogue, history)
    result = recommendations(
        warehouse=WarehouseResource(path=str(path), published_path=str(tmp_path / "p.db"))
    )
    assert getattr(result.metadata["uses_browsing"], "value", result.metadata["uses_browsing"]) is True
    with duckdb.connect(str(path), read_only=True) as con:
        recs = con.execute("select * from ml.recommendations").fetch_df()
        quality = con.execute(
            "select metric, value from ml.model_quality where model = 'recommendations'"
        ).fetch_df()
    metrics = quality.set_index("metric")["value"]
    assert metrics["uses_browsing"] == 1
    assert metrics["hit_rate_at_3_browsing"] > metrics["hit_rate_at_3"]
    first = recs[recs["rank"] == 1].set_index("customer_id")
    assert (first.loc["c0", "product_id"], first.loc["c0", "reason"]) == ("q_new", "in your cart")
    # Everyone else bought what they carted and still has an open view of another product.
    assert (first.drop(index="c0")["reason"] == "you looked at this").all()
    assert recs["customer_id"].nunique() == 300


# --- the mart on a built warehouse -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    return built_pipeline(tmp_path_factory)


# Event type -> (count column, latest-time column) of the mart.
_SIGNAL_COLUMNS = {
    "product_view": ("views", "last_viewed_at"),
    "add_to_wishlist": ("wishlist_adds", "last_wishlisted_at"),
    "add_to_cart": ("cart_adds", "last_carted_at"),
}


def _expected_as_of(events: pd.DataFrame, lines: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """Per customer and product, the figures from the events and orders up to ``at``, computed directly."""
    e = events[events["event_at"] <= at]
    out = e.groupby(["customer_id", "product_id"]).agg(
        first_interest_at=("event_at", "min"), last_interest_at=("event_at", "max")
    )
    for event_type, (count_col, time_col) in _SIGNAL_COLUMNS.items():
        of_type = e[e["event_type"] == event_type].groupby(["customer_id", "product_id"])["event_at"]
        out[count_col] = of_type.size().reindex(out.index, fill_value=0)
        out[time_col] = of_type.max().reindex(out.index)
    bought = lines[lines["ordered_at"] <= at].groupby(["customer_id", "product_id"])
    out["orders_with_product"] = bought["order_id"].nunique().reindex(out.index, fill_value=0)
    out["last_bought_at"] = bought["ordered_at"].max().reindex(out.index)
    out["bought_after_interest"] = (out["last_bought_at"] >= out["last_interest_at"]).fillna(False)
    out["looked_not_bought"] = out["orders_with_product"] == 0
    return out.sort_index()


def test_interest_mart_equals_the_events_as_of_any_moment(pipeline):
    events = query(
        pipeline,
        "select customer_id, product_id, event_type, event_at from marts.fct_web_events "
        "where event_type in ('product_view', 'add_to_wishlist', 'add_to_cart') and product_id is not null",
    )
    lines = query(pipeline, "select customer_id, product_id, order_id, ordered_at from marts.fct_order_lines")
    mart = query(pipeline, "select * from marts.product__customer_interest")
    # The data exercise every column: carts, wish lists, interest later bought and interest never bought.
    assert len(events) > 1000
    for col in ("cart_adds", "wishlist_adds", "looked_not_bought", "bought_after_interest"):
        assert mart[col].astype(int).gt(0).any(), col
    latest = max(events["event_at"].max(), lines["ordered_at"].max())
    moments = [events["event_at"].quantile(q) for q in (0.25, 0.6)] + [latest]
    columns = list(_expected_as_of(events, lines, latest).columns)
    for at in moments:
        expected = _expected_as_of(events, lines, at)
        got = interest_as_of(mart, at).set_index(["customer_id", "product_id"]).sort_index()[columns]
        assert got.index.equals(expected.index), at
        for col in columns:
            pd.testing.assert_series_equal(
                got[col], expected[col], check_dtype=False, check_names=False, obj=f"{col} at {at}"
            )
    # The current rows are the figures as of the end.
    current = mart[mart["is_current"]].set_index(["customer_id", "product_id"]).sort_index()[columns]
    expected = _expected_as_of(events, lines, latest)
    assert current.index.equals(expected.index)
    pd.testing.assert_frame_equal(current, expected, check_dtype=False)


def test_overlaps_and_ties_are_resolved_for_every_customer_not_only_the_first(rules):
    """The same checks for the second customer: c2 owns a (a => b fires) and viewed b, which is listed once,
    first; c2 also viewed the product it owns, which is never recommended. c3 viewed 10 and 9 at the same
    moment: equal scores go by the product id as text, "10" before "9"."""
    purchases = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "product_id": ["c", "a", 9]})
    interest = _interest(
        [("c2", "b", None, None, NOW), ("c2", "a", None, None, NOW), ("c3", 8, None, None, NOW),
         ("c3", 9, None, None, NOW), ("c3", 10, None, None, NOW)]
    )  # fmt: skip
    recs = recommend(purchases, rules, top_n=3, interest=interest, as_of=NOW)
    c2 = recs[recs["customer_id"] == "c2"]
    assert list(c2["product_id"]).count("b") == 1
    assert c2.iloc[0][["product_id", "source"]].tolist() == ["b", "browsing"]
    assert "a" not in set(c2["product_id"])
    c3 = recs[recs["customer_id"] == "c3"]
    assert list(c3["product_id"])[:2] == [10, 8]  # 9 is owned; "10" < "8" as text


def test_interest_scores_default_moment_missing_columns_and_refused_settings():
    """Without ``as_of`` the ages count from the latest signal (a view 30 days before it weighs half a view
    at it); a missing signal column counts as never; no signal at all scores nobody."""
    interest = _interest([("c1", "x", None, None, NOW), ("c1", "y", None, None, NOW - 30 * DAY)])
    scores = interest_scores(interest)
    assert scores.set_index("product_id")["score"].to_dict() == pytest.approx({"x": 1.0, "y": 0.5})
    without_wishlist = interest.drop(columns="last_wishlisted_at")
    pd.testing.assert_frame_equal(interest_scores(without_wishlist, NOW), interest_scores(interest, NOW))
    nothing = _interest([("c1", "x", None, None, None)])
    assert interest_scores(nothing).empty
    with pytest.raises(ValueError, match="half_life_days must be positive, got 0"):
        interest_scores(interest, NOW, half_life_days=0)
    with pytest.raises(ValueError, match="interest weights must not be negative"):
        interest_scores(interest, NOW, weights={"view": -1.0})


def test_the_half_life_given_to_recommend_orders_the_browsing_products(rules):
    """x carted 30 days ago, y viewed now. With the default half-life of 30 days x scores 3 · 0.5 = 1.5 and
    y 1 · 1 = 1; with a half-life of 10 days x scores 3 · 0.5³ = 0.375 and y comes first."""
    purchases = pd.DataFrame({"customer_id": ["c1"], "product_id": ["c"]})
    interest = _interest([("c1", "x", NOW - 30 * DAY, None, None), ("c1", "y", None, None, NOW)])
    default = recommend(purchases, rules, top_n=2, interest=interest, as_of=NOW)
    assert default[["product_id", "score"]].values.tolist() == [["x", 1.5], ["y", 1.0]]
    short = recommend(purchases, rules, top_n=2, interest=interest, as_of=NOW, interest_half_life_days=10)
    assert short[["product_id", "score", "reason"]].values.tolist() == [
        ["y", 1.0, "you looked at this"],
        ["x", 0.375, "in your cart"],
    ]
