"""Recommendation evaluation on a time split: hand-worked metrics, no look-ahead, planted associations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.recommendations import metric_value, write_recommendation_marts

from orchestration.analytics.recommend_evaluation import (
    EVALUATION_COLUMNS,
    evaluate_recommendations,
    recommendation_quality,
    split_order_lines,
)

CUTOFF = pd.Timestamp("2024-01-10")
# Thresholds for the tiny example: 7 training baskets, support >= 0.2 needs 2 baskets.
TINY_RULES = {"min_support": 0.2, "min_confidence": 0.5, "max_len": 2}


def _lines(orders: list[tuple[str, str, str, list[str]]]) -> pd.DataFrame:
    rows = [(o, c, pd.Timestamp(t), p) for o, c, t, items in orders for p in items]
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "product_id"])


def _tiny() -> pd.DataFrame:
    return _lines(
        [
            ("o1", "c1", "2024-01-01", ["x", "y"]),
            ("o2", "c2", "2024-01-02", ["x", "y"]),
            ("o3", "c3", "2024-01-03", ["x", "z"]),
            ("o4", "c4", "2024-01-04", ["w", "p"]),
            ("o5", "c4", "2024-01-10 00:00:00", ["y"]),  # exactly at the cutoff: training
            ("o10", "c6", "2024-01-05", ["p"]),
            ("o11", "c7", "2024-01-06", ["p"]),
            ("o6", "c3", "2024-01-15", ["y", "w"]),  # c3 owns x, z: new {y, w}
            ("o7", "c4", "2024-01-20", ["y", "x"]),  # c4 owns w, p, y: new {x}
            ("o8", "c5", "2024-02-01", ["x"]),  # no training purchase: not judged
            ("o9", "c1", "2024-01-12", ["x"]),  # only a repeat: not judged
        ]
    )


def test_hand_worked_example():
    ev = evaluate_recommendations(_tiny(), CUTOFF, ks=(1, 3), rule_params=TINY_RULES)
    assert list(ev.columns) == EVALUATION_COLUMNS
    assert set(ev["customers"]) == {2}  # c3 and c4
    assert ev.attrs["n_rules"] == 2  # x=>y and y=>x, confidence 2/3 each
    # Popularity (distinct training buyers, ties by id): p 3, x 3, y 3, w 1, z 1.
    #   c3 (owns x, z; new y, w): [p, y, w]   c4 (owns w, p, y; new x): [x, z]
    # Co-occurrence: c3 scores y = C(x, y) = 2, the rest 0 -> [y, p, w]; c4 scores x = C(y, x) = 2 -> [x, z].
    # Rules: c3 fires x=>y, then best sellers p, w -> [y, p, w]; c4 fires y=>x, then z -> [x, z].
    expected = {
        ("popularity", 1): {"hit_rate": (0 + 1) / 2, "precision": (0 + 1) / 2, "recall": (0 + 1) / 2},
        ("popularity", 3): {"hit_rate": 1.0, "precision": (2 / 3 + 1 / 3) / 2, "recall": 1.0},
        ("cooccurrence", 1): {"hit_rate": 1.0, "precision": 1.0, "recall": (1 / 2 + 1) / 2},
        ("cooccurrence", 3): {"hit_rate": 1.0, "precision": (2 / 3 + 1 / 3) / 2, "recall": 1.0},
        ("rules", 1): {"hit_rate": 1.0, "precision": 1.0, "recall": (1 / 2 + 1) / 2},
        ("rules", 3): {"hit_rate": 1.0, "precision": (2 / 3 + 1 / 3) / 2, "recall": 1.0},
    }
    for (model, k), metrics in expected.items():
        for metric, value in metrics.items():
            assert metric_value(ev, model, metric, k) == pytest.approx(value), (model, k, metric)


def test_purchase_exactly_at_cutoff_is_training():
    lines = pd.concat(
        [
            _tiny(),
            # c8's only later purchase is exactly at the cutoff: history, so c8 is not judged.
            _lines([("o12", "c8", "2024-01-03", ["q"]), ("o13", "c8", "2024-01-10 00:00:00", ["r"])]),
        ],
        ignore_index=True,
    )
    train, test = split_order_lines(lines, CUTOFF)
    assert set(train["order_id"]) == {"o1", "o2", "o3", "o4", "o5", "o10", "o11", "o12", "o13"}
    assert set(test["order_id"]) == {"o6", "o7", "o8", "o9"}
    at_cutoff = evaluate_recommendations(lines, CUTOFF, ks=(3,), rule_params=TINY_RULES)
    assert set(at_cutoff["customers"]) == {2}
    # One microsecond earlier the cutoff lines are test: c8 is judged on r, and c4's y becomes new.
    earlier = evaluate_recommendations(
        lines, CUTOFF - pd.Timedelta(microseconds=1), ks=(3,), rule_params=TINY_RULES
    )
    assert set(earlier["customers"]) == {3}


def test_test_end_limits_the_test_window():
    # Only o6 (c3, 15 Jan) falls in (cutoff, 16 Jan]; c4's order of 20 Jan is outside.
    ev = evaluate_recommendations(_tiny(), CUTOFF, test_end="2024-01-16", ks=(3,), rule_params=TINY_RULES)
    assert set(ev["customers"]) == {1}


def _planted(seed: int = 0) -> pd.DataFrame:
    """Customers who bought a_i buy b_i later; five popular products are bought at random throughout.

    400 "pattern" customers bought a_i and b_i together before the cutoff (so a_i => b_i is a rule); 200
    "test" customers bought only a_i (and maybe popular products) before it and b_i after it, plus a
    popular product with probability 0.2. Popular products each have ~30 % of customers as buyers,
    far more than any a_i or b_i, so the popularity baseline recommends them.
    """
    rng = np.random.default_rng(seed)
    popular = [f"p{j}" for j in range(5)]
    orders = []
    for n in range(600):
        i = int(rng.integers(10))
        extra = [p for p in popular if rng.random() < 0.3]
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 180)))
        if n < 400:
            orders.append((f"o{n}", f"c{n}", str(day), [f"a{i}", f"b{i}", *extra]))
        else:
            orders.append((f"o{n}", f"c{n}", str(day), [f"a{i}", *extra]))
            later = [f"b{i}"]
            if rng.random() < 0.2:
                later.append(str(rng.choice(popular)))
            orders.append((f"o{n}x", f"c{n}", str(day + pd.Timedelta(days=200)), later))
    return _lines(orders)


def test_rules_beat_popularity_on_planted_associations():
    lines = _planted()
    cutoff = pd.Timestamp("2024-06-29")  # after every first order, before every later one
    ev = evaluate_recommendations(lines, cutoff)
    assert set(ev["customers"]) == {200}
    # Generator truth: every test customer buys b_i next and a_i => b_i holds with confidence 2/3.
    assert metric_value(ev, "rules", "hit_rate", 3) >= 0.95
    assert metric_value(ev, "popularity", "hit_rate", 3) < 0.5
    assert metric_value(ev, "rules", "hit_rate", 3) > metric_value(ev, "popularity", "hit_rate", 3) + 0.4
    assert metric_value(ev, "rules", "recall", 3) > metric_value(ev, "popularity", "recall", 3)


def test_quality_rows():
    ev = evaluate_recommendations(_tiny(), CUTOFF, ks=(3, 10), rule_params=TINY_RULES)
    q = recommendation_quality(ev, computed_at="2024-02-01")
    assert set(q["model"]) == {"recommendations"}
    assert set(q["segment"]) == {"all"}
    assert set(q["computed_at"]) == {pd.Timestamp("2024-02-01", tz="UTC")}
    assert q["passed"].isna().all()  # no bounds are set
    metrics = dict(zip(q["metric"], q["value"], strict=True))
    assert metrics["hit_rate_at_3"] == pytest.approx(1.0)
    assert metrics["precision_at_3_popularity"] == pytest.approx(0.5)
    assert metrics["customers_evaluated"] == 2
    for suffix in ("", "_popularity", "_cooccurrence"):
        for m in ("hit_rate", "precision", "recall"):
            for k in (3, 10):
                assert f"{m}_at_{k}{suffix}" in metrics
    # At k = 10 the lists hold every product not owned, so precision is hits / 10: c3 2, c4 1.
    assert metrics["precision_at_10_popularity"] == pytest.approx((2 / 10 + 1 / 10) / 2)


def test_recommendations_asset_adds_its_rows_to_model_quality(tmp_path):
    """The asset keeps the customer models' rows and writes the same figures as the function, once."""
    import duckdb

    from orchestration.assets.analytics import RECOMMENDATION_TEST_DAYS, recommendations
    from orchestration.resources import WarehouseResource

    lines = _tiny()
    # Training orders moved 200 days back, so the asset's cutoff (last order - 180 days) splits as above.
    lines.loc[lines["ordered_at"] <= CUTOFF, "ordered_at"] -= pd.Timedelta(days=200)
    lines = lines.assign(category="all", revenue=1.0)
    products = pd.DataFrame(
        {"product_id": list("pqrwxyz"), "product_name": list("pqrwxyz"), "is_active": True}
    )
    path = tmp_path / "w.duckdb"
    write_recommendation_marts(path, lines, products)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "insert into ml.model_quality (model, metric, segment, value) values ('bgnbd', 'r', 'all', 1)"
        )
    resource = WarehouseResource(path=str(path), published_path=str(tmp_path / "pub.duckdb"))
    recommendations(warehouse=resource)
    recommendations(warehouse=resource)
    with duckdb.connect(str(path), read_only=True) as con:
        stored = con.execute("select model, metric, value from ml.model_quality").fetch_df()
    assert (stored["model"] == "bgnbd").sum() == 1
    ours = stored[stored["model"] == "recommendations"].set_index("metric")["value"]
    cutoff = lines["ordered_at"].max() - pd.Timedelta(days=RECOMMENDATION_TEST_DAYS)
    direct = recommendation_quality(
        evaluate_recommendations(lines, cutoff, active_products=products["product_id"])
    ).set_index("metric")["value"]
    assert len(ours) == len(direct) == 19
    pd.testing.assert_series_equal(ours.sort_index(), direct.sort_index(), check_names=False)
    assert ours["customers_evaluated"] == 2


@pytest.mark.parametrize("cutoff", ["2023-01-01", "2025-01-01"])
def test_nobody_to_judge_gives_missing_values(cutoff):
    # Before every order nobody has a history; after every order nobody buys again.
    ev = evaluate_recommendations(_tiny(), cutoff, rule_params=TINY_RULES)
    assert len(ev) == 3 * 3 * 2
    assert ev["value"].isna().all()
    assert set(ev["customers"]) == {0}
    assert recommendation_quality(ev).set_index("metric").loc["customers_evaluated", "value"] == 0
