"""Recommendation evaluation, the parts the main example leaves out, each worked out by hand: the favourite
category fill-up, baskets without an order id, the catalogue restriction, the lengths judged, the block size
of the co-occurrence baseline and what the result carries besides its values."""

from __future__ import annotations

import pandas as pd
import pytest
from support.recommendations import NO_RULES, metric_value, order_lines

from orchestration.analytics import recommend_evaluation
from orchestration.analytics.recommend_evaluation import evaluate_recommendations, split_order_lines

CUTOFF = pd.Timestamp("2024-01-10")


def _categories_example() -> pd.DataFrame:
    """Six customers whose favourite category (most training revenue) decides their fill-up."""
    return order_lines(
        [
            ("o1", "c1", "2024-01-01", "a", "A", 10.0),
            ("o1", "c1", "2024-01-01", "b", "B", 5.0),  # c1: A 10 > B 5
            ("o2", "c2", "2024-01-02", "a", "A", 1.0),
            ("o2", "c2", "2024-01-02", "d", "B", 9.0),  # c2: B 9 > A 1
            ("o3", "c3", "2024-01-03", "d", "B", 2.0),
            ("o3", "c3", "2024-01-03", "e", "A", 1.0),  # c3: B 2 > A 1
            ("o4", "c4", "2024-01-04", "a", "A", 5.0),  # c4: A
            ("o5", "c5", "2024-01-05", "f", "C", 3.0),  # c5: C
            ("o6", "c6", "2024-01-06", "a", "A", 5.0),
            ("o6", "c6", "2024-01-06", "d", "B", 5.0),  # c6: A 5 = B 5, the tie goes to A by name
            ("o7", "c4", "2024-01-20", "d", "B", 1.0),  # new for c4
            ("o8", "c3", "2024-01-21", "b", "B", 1.0),  # new for c3
            ("o9", "c6", "2024-01-22", "b", "B", 1.0),  # new for c6
        ]
    )


@pytest.mark.parametrize("block_cells", [recommend_evaluation._BLOCK_CELLS, 1])
def test_rules_fill_up_with_the_best_sellers_of_the_favourite_category(monkeypatch, block_cells):
    # A block of one cell scores the co-occurrence baseline one customer at a time: the same figures.
    monkeypatch.setattr(recommend_evaluation, "_BLOCK_CELLS", block_cells)
    ev = evaluate_recommendations(_categories_example(), CUTOFF, ks=(1, 3), rule_params=NO_RULES)
    # Segments: A = {c1, c4, c6}, B = {c2, c3}, C = {c5}. Best sellers (share of the segment buying):
    #   A: a 3/3, then b 1/3 and d 1/3 (ties by product)   B: d 2/2, then a 1/2 and e 1/2
    #   overall (distinct buyers): a 4, d 3, then b, e, f 1 each.
    # c4 owns a:    A's b, d, then overall e, f -> [b, d, e, f]; buys d: rank 2
    # c3 owns d, e: B's a, then overall b, f    -> [a, b, f];    buys b: rank 2
    # c6 owns a, d: A's b, then overall e, f    -> [b, e, f];    buys b: rank 1
    assert set(ev["customers"]) == {3}
    assert metric_value(ev, "rules", "hit_rate", 1) == pytest.approx(1 / 3)
    assert metric_value(ev, "rules", "precision", 1) == pytest.approx(1 / 3)
    assert metric_value(ev, "rules", "hit_rate", 3) == 1.0
    assert metric_value(ev, "rules", "precision", 3) == pytest.approx(1 / 3)
    assert metric_value(ev, "rules", "recall", 3) == 1.0
    # Popularity ignores categories: c4 [d, b, e], c3 [a, b, f], c6 [b, e, f] -> hits at 1: c4, c6.
    assert metric_value(ev, "popularity", "hit_rate", 1) == pytest.approx(2 / 3)
    # Co-occurrence: c4 (a) scores d (o2, o6) 2, b (o1) 1 -> [d, ...]; c3 (d, e) scores a 2 -> [a, b, ...];
    # c6 (a, d) scores b 1 (with a in o1) and e 1 (with d in o3), tied: popularity puts b first.
    assert metric_value(ev, "cooccurrence", "hit_rate", 1) == pytest.approx(2 / 3)
    assert metric_value(ev, "cooccurrence", "hit_rate", 3) == 1.0


def test_without_revenue_the_favourite_category_is_the_one_with_most_lines():
    lines = _categories_example().drop(columns="revenue")
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1,), rule_params=NO_RULES)
    # One line per category for c1, c2, c3 and c6: every tie goes to A, so A = {c1, c2, c3, c4, c6}:
    #   a 4/5, d 3/5, b 1/5, e 1/5. c4 -> [d, ...] (hit), c3 -> [a, ...], c6 -> [b, ...] (hit).
    assert metric_value(ev, "rules", "hit_rate", 1) == pytest.approx(2 / 3)


def test_without_categories_the_fill_up_is_the_overall_best_sellers():
    lines = _categories_example().drop(columns="category")
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1,), rule_params=NO_RULES)
    # Without segments the rules list is the popularity list: c4 [d], c3 [a], c6 [b].
    assert (
        metric_value(ev, "rules", "hit_rate", 1)
        == metric_value(ev, "popularity", "hit_rate", 1)
        == pytest.approx(2 / 3)
    )


def test_lines_without_a_category_do_not_decide_the_favourite():
    lines = _categories_example()
    # A large line of c6's without a category counts towards no category: c6 stays in A (see the first test).
    extra = order_lines([("o6", "c6", "2024-01-06", "d", "B", 50.0)]).assign(category=None)
    ev = evaluate_recommendations(pd.concat([lines, extra]), CUTOFF, ks=(1,), rule_params=NO_RULES)
    assert metric_value(ev, "rules", "hit_rate", 1) == pytest.approx(1 / 3)


def test_favourite_categories_by_revenue_ties_by_name():
    lines = _categories_example()
    fav = recommend_evaluation._favourite_categories(
        lines[lines["ordered_at"] <= CUTOFF], "customer_id", "category", "revenue"
    )
    assert list(fav.columns) == ["customer_id", "segment"]
    assert dict(zip(fav["customer_id"], fav["segment"], strict=True)) == {
        "c1": "A", "c2": "B", "c3": "B", "c4": "A", "c5": "C", "c6": "A",
    }  # fmt: skip
    assert list(fav.index) == list(range(6))
    assert recommend_evaluation._favourite_categories(lines, "customer_id", "missing", "revenue") is None
    # Revenue is summed over a category's lines (B: 3 + 3 > A: 5); without revenue, lines are counted.
    three = pd.DataFrame({"customer_id": ["c1"] * 3, "category": ["A", "B", "B"], "revenue": [5.0, 3.0, 3.0]})
    for frame in (three, three.drop(columns="revenue")):
        fav = recommend_evaluation._favourite_categories(frame, "customer_id", "category", "revenue")
        assert fav["segment"].tolist() == ["B"]
    # A line without revenue still names its category: a customer whose only line it is has that favourite.
    unpriced = pd.DataFrame({"customer_id": ["c1"], "category": ["A"], "revenue": [None]})
    fav = recommend_evaluation._favourite_categories(unpriced, "customer_id", "category", "revenue")
    assert fav["segment"].tolist() == ["A"]


def test_without_order_ids_a_basket_is_one_customers_purchases_at_one_moment():
    # x and y are always bought in two orders placed at the same moment by the same customer; c4 and c5
    # buy x and z on two different days.
    rows = []
    for n in range(4):
        day = f"2024-01-0{n + 1}"
        rows += [(f"o{n}x", f"c{n}", day, "x", "X", 1.0), (f"o{n}y", f"c{n}", day, "y", "Y", 1.0)]
    for c in ("c4", "c5"):
        rows += [(f"{c}a", c, "2024-01-06", "x", "X", 1.0), (f"{c}b", c, "2024-01-07", "z", "Z", 1.0)]
    rows += [("o9", "c9", "2024-01-05", "x", "X", 1.0), ("o10", "c9", "2024-01-15", "y", "Y", 1.0)]
    lines = order_lines(rows)
    params = {"min_support": 0.25, "min_confidence": 0.5, "max_len": 2}
    by_order = evaluate_recommendations(lines, CUTOFF, ks=(1,), rule_params=params)
    by_moment = evaluate_recommendations(lines.drop(columns="order_id"), CUTOFF, ks=(1,), rule_params=params)
    # By order, no two products share a basket. By moment, 9 baskets: {x, y} in 4 (support 4/9), so
    # x => y (confidence 4/7) and y => x (4/4); x and z never share one (a basket per customer would put
    # them together twice: z => x).
    assert by_order.attrs["n_rules"] == 0
    assert by_moment.attrs["n_rules"] == 2
    assert metric_value(by_moment, "rules", "hit_rate", 1) == 1.0  # c9 owns x, is offered y and buys it


def test_recommendations_stay_within_the_active_catalogue():
    lines = order_lines(
        [
            ("o1", "c1", "2024-01-01", "x", "X", 1.0),
            ("o1", "c1", "2024-01-01", "y", "Y", 1.0),
            ("o2", "c2", "2024-01-02", "x", "X", 1.0),
            ("o2", "c2", "2024-01-02", "y", "Y", 1.0),
            ("o3", "c3", "2024-01-03", "x", "X", 1.0),
            ("o4", "c4", "2024-01-04", "z", "Z", 1.0),
            ("o5", "c3", "2024-01-15", "y", "Y", 1.0),  # new for c3
            ("o5", "c3", "2024-01-15", "n", "N", 1.0),  # new for c3, never sold before the cutoff
        ]
    )
    params = {"min_support": 0.5, "min_confidence": 0.5, "max_len": 2}
    everything = evaluate_recommendations(lines, CUTOFF, ks=(1, 3), rule_params=params)
    # c3 owns x; T = {y, n}. Every method puts y first (rule x => y; 2 buyers; together with x twice).
    for model in ("rules", "popularity", "cooccurrence"):
        assert metric_value(everything, model, "hit_rate", 1) == 1.0, model
        assert metric_value(everything, model, "recall", 3) == pytest.approx(1 / 2), model
    # Without y in the catalogue nothing offers it; a product still sold but never bought (n) is ranked
    # last by the baselines, which rank every allowed product (c3: [z, n]), and never by the rules.
    restricted = evaluate_recommendations(
        lines, CUTOFF, ks=(1, 3), rule_params=params, active_products=["x", "z", "n"]
    )
    assert metric_value(restricted, "rules", "hit_rate", 3) == 0.0
    for model in ("popularity", "cooccurrence"):
        assert metric_value(restricted, model, "hit_rate", 1) == 0.0, model
        assert metric_value(restricted, model, "hit_rate", 3) == 1.0, model
        assert metric_value(restricted, model, "precision", 3) == pytest.approx(1 / 3), model
        assert metric_value(restricted, model, "recall", 3) == pytest.approx(1 / 2), model
    # With only x (which c3 owns) still sold, every list is empty: c3 is judged and nothing is a hit.
    nothing = evaluate_recommendations(lines, CUTOFF, ks=(3,), rule_params=params, active_products=["x"])
    assert set(nothing["customers"]) == {1}
    assert (nothing["value"] == 0.0).all()


def test_lengths_judged_are_distinct_positive_and_sorted():
    ev = evaluate_recommendations(_categories_example(), CUTOFF, ks=(3, 1, 3), rule_params=NO_RULES)
    assert list(ev["k"].unique()) == [1, 3]
    assert len(ev) == 3 * 3 * 2  # methods x metrics x lengths
    assert ev["k"].dtype == "int64"
    assert ev["customers"].dtype == "int64"
    for bad in [(0, 3), (), (-1,)]:
        with pytest.raises(ValueError, match="ks must be positive"):
            evaluate_recommendations(_categories_example(), CUTOFF, ks=bad, rule_params=NO_RULES)


def test_the_result_names_its_split_and_training_population():
    ev = evaluate_recommendations(
        _categories_example(), "2024-01-10", test_end="2024-01-21", ks=(1,), rule_params=NO_RULES
    )
    assert ev.attrs["cutoff"] == CUTOFF
    assert ev.attrs["test_end"] == pd.Timestamp("2024-01-21")
    assert ev.attrs["n_train_customers"] == 6
    assert ev.attrs["n_rules"] == 0
    assert set(ev["customers"]) == {2}  # c6's purchase of 22 January is after the test window
    assert evaluate_recommendations(_categories_example(), CUTOFF, ks=(1,)).attrs["test_end"] is None


def test_rows_without_a_customer_or_product_are_left_out():
    lines = _categories_example()
    unknown = order_lines(
        [("o0", "c4", "2024-01-03", "d", "B", 1.0), ("o0b", "c9", "2024-01-03", "b", "B", 1.0)]
    )
    unknown.loc[0, "product_id"] = None  # would make c4 an owner of a missing product
    unknown.loc[1, "customer_id"] = None  # would count one more buyer of b
    ev = evaluate_recommendations(pd.concat([lines, unknown]), CUTOFF, ks=(1, 3), rule_params=NO_RULES)
    base = evaluate_recommendations(lines, CUTOFF, ks=(1, 3), rule_params=NO_RULES)
    pd.testing.assert_frame_equal(ev, base)
    assert ev.attrs["n_train_customers"] == 6


def test_popularity_ties_are_broken_by_the_product_id_as_text():
    # Integer ids: 9 and 10 have one buyer each, 5 has two. As text "10" < "9", so 10 comes first.
    lines = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5"],
            "customer_id": ["c1", "c2", "c3", "c4", "c3"],
            "ordered_at": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-20"]
            ),
            "product_id": [9, 10, 5, 5, 10],
        }
    )
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1,), rule_params=NO_RULES)
    # c3 owns 5 and buys 10 next: popularity [10, 9]; co-occurrence scores nothing, so the same order.
    assert metric_value(ev, "popularity", "hit_rate", 1) == 1.0
    assert metric_value(ev, "cooccurrence", "hit_rate", 1) == 1.0


def test_a_product_bought_together_outranks_the_best_seller_even_as_the_least_popular():
    """Co-occurrence first, popularity only among equal scores, at the extremes: the candidate that shares a
    basket with the customer's product is the least popular product, the other the best seller and the
    first product seen."""
    lines = order_lines(
        [
            ("o1", "c2", "2024-01-01", "m", "A", 1.0),  # m: three buyers, seen first
            ("o2", "c3", "2024-01-02", "m", "A", 1.0),
            ("o3", "c4", "2024-01-03", "m", "A", 1.0),
            ("o4", "c1", "2024-01-04", "p", "A", 1.0),  # p and q: one buyer, together in c1's basket
            ("o4", "c1", "2024-01-04", "q", "A", 1.0),
            ("o5", "c5", "2024-01-05", "p", "A", 1.0),  # c5 owns p: q scores 1, m 0
            ("o6", "c5", "2024-01-20", "q", "A", 1.0),
        ]
    )
    # Popularity: m (3), then p (2), q (1) last. c5's co-occurrence list is [q, m]; popularity's is [m, q].
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1,), rule_params=NO_RULES)
    assert metric_value(ev, "cooccurrence", "hit_rate", 1) == 1.0
    assert metric_value(ev, "popularity", "hit_rate", 1) == 0.0


def _hit_rates(**by_model: float) -> pd.DataFrame:
    rows = [(model, "hit_rate", 3, value, 10) for model, value in by_model.items()]
    rows += [(model, "hit_rate", 10, 1.0, 10) for model in by_model]  # another length, always higher
    return pd.DataFrame(rows, columns=recommend_evaluation.EVALUATION_COLUMNS)


def test_browsing_is_preferred_only_when_its_hit_rate_at_k_is_strictly_higher():
    prefers = recommend_evaluation.prefers_browsing
    assert prefers(_hit_rates(rules=0.2, browsing=0.3))
    assert not prefers(_hit_rates(rules=0.3, browsing=0.3))  # a tie keeps the rules
    assert not prefers(_hit_rates(rules=0.3, browsing=0.2))
    assert not prefers(_hit_rates(rules=0.2))  # browsing not evaluated
    assert not prefers(_hit_rates(browsing=0.2))
    assert not prefers(_hit_rates(rules=float("nan"), browsing=0.2))  # nobody judged
    assert not prefers(_hit_rates(rules=0.2, browsing=float("nan")))
    # The length asked for decides: at 10 both are 1.0.
    assert not prefers(_hit_rates(rules=0.2, browsing=0.3), k=10)


def test_the_split_keeps_every_column_and_renumbers_the_rows():
    lines = _categories_example().rename(columns={"ordered_at": "placed_at"})
    train, test = split_order_lines(lines, CUTOFF, "2024-01-21", time_col="placed_at")
    # Training up to the cutoff's moment; test strictly after it and up to the end (o9 on 22 Jan is out).
    assert set(train["order_id"]) == {"o1", "o2", "o3", "o4", "o5", "o6"}
    assert set(test["order_id"]) == {"o7", "o8"}
    for part in (train, test):
        assert list(part.columns) == list(lines.columns)
        assert list(part.index) == list(range(len(part)))
    # The evaluation reads the same column when told its name.
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1,), rule_params=NO_RULES, time_col="placed_at")
    assert set(ev["customers"]) == {3}


def test_a_line_missing_only_its_category_still_counts():
    lines = _categories_example()
    # c5's only purchase and c4's later purchase have no category: c5 is still a training customer and
    # c4 is still judged on d.
    lines.loc[lines["order_id"].isin(["o5", "o7"]), "category"] = None
    ev = evaluate_recommendations(lines, CUTOFF, ks=(1,), rule_params=NO_RULES)
    assert ev.attrs["n_train_customers"] == 6
    assert set(ev["customers"]) == {3}
