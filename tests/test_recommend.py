"""Rule-based recommendations: hand-checked answers, exclusions, fallback and planted associations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.analytics import recommend as recommend_module
from orchestration.analytics.basket import mine_rules
from orchestration.analytics.recommend import RECOMMENDATION_COLUMNS, best_sellers_by_segment, recommend


@pytest.fixture
def rules() -> pd.DataFrame:
    # Hand-made baskets. Rules at support 0.2 / confidence 0.5 (10 baskets):
    #   a=>b conf 1, b=>a conf 1 (a,b in 3 baskets, a and b nowhere else)
    #   {a,c}=>d conf 1 (a,c,d in 2 baskets), c=>d conf 2/3 (c in 3 baskets), d=>c 1, ...
    rows = [
        *[(i, x) for i in (1, 2) for x in ("a", "b", "c", "d")],
        (3, "a"),
        (3, "b"),
        (4, "c"),
        *[(i, "e") for i in (5, 6, 7)],
        *[(i, "f") for i in (8, 9)],
        (10, "g"),
    ]
    return mine_rules(pd.DataFrame(rows, columns=["basket_id", "item"]), 0.2, 0.5)


def _as_lists(recs: pd.DataFrame) -> dict:
    return {c: list(g.sort_values("rank")["product_id"]) for c, g in recs.groupby("customer_id")}


@pytest.mark.parametrize("max_hits", [None, 1, 2, 5], ids=["one block", "block 1", "block 2", "block 5"])
def test_hand_made_example(rules, monkeypatch, max_hits):
    """The answer worked out by hand; also with the customers split into blocks of at most ``max_hits``
    (customer, antecedent item) matches, as a large shop is, so the block bounds cannot shift a list."""
    if max_hits is not None:
        monkeypatch.setattr(recommend_module, "_MAX_HITS", max_hits)
    got = {(r.antecedent_key, r.consequent_key): r for r in rules.itertuples()}
    assert got[("a | c", "d")].confidence == 1.0
    assert got[("c", "d")].confidence == pytest.approx(2 / 3)
    assert got[("c", "a")].lift == pytest.approx(20 / 9)
    purchases = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3, 3, 4],
            "product_id": ["a", "c", "c", "a", "b", "g"],
        }
    )
    recs = recommend(purchases, rules, active_products=list("abcdefg"), top_n=2)
    assert list(recs.columns) == RECOMMENDATION_COLUMNS
    expected = pd.DataFrame(
        [
            # Owns a, c: {a,c}=>d (conf 1, lift 5) beats c=>d (2/3); b from a=>b (conf 1, support 0.3).
            (1, 1, "d", 1.0, "bought a, c", "rule"),
            (1, 2, "b", 1.0, "bought a", "rule"),
            # Owns c: c=>d (2/3, lift 10/3), then c=>a and c=>b (2/3, lift 20/9), a by name.
            (2, 1, "d", 2 / 3, "bought c", "rule"),
            (2, 2, "a", 2 / 3, "bought c", "rule"),
            # Owns a, b: a=>d and a=>c (2/3); a=>d, b=>d and {a,b}=>d tie, mine_rules' order picks a=>d.
            (3, 1, "d", 2 / 3, "bought a", "rule"),
            (3, 2, "c", 2 / 3, "bought a", "rule"),
            # Owns only g, which fires nothing: the most bought products (a and c, 2 of 4 customers each).
            (4, 1, "a", 0.5, "best seller", "best_seller"),
            (4, 2, "c", 0.5, "best seller", "best_seller"),
        ],
        columns=RECOMMENDATION_COLUMNS,
    )
    pd.testing.assert_frame_equal(recs, expected, check_dtype=False)
    # Ids keep the purchases' dtype.
    assert recs["customer_id"].dtype == purchases["customer_id"].dtype


def test_owned_and_inactive_products_are_never_recommended(rules):
    purchases = pd.DataFrame({"customer_id": [1, 1, 2, 2], "product_id": ["a", "c", "d", "e"]})
    recs = recommend(purchases, rules, active_products=["a", "b", "c", "e", "f", "g"], top_n=3)
    recs = recs[recs["customer_id"] == 1]
    assert "d" not in set(recs["product_id"])  # d no longer sold, though {a,c}=>d is the best rule
    assert not set(recs["product_id"]) & {"a", "c"}
    assert recs.iloc[0]["product_id"] == "b"
    assert recs.iloc[0]["source"] == "rule"
    # Then the best sellers a, c, d, e (one buyer each): a and c owned, d inactive, leaving e.
    assert list(recs["product_id"]) == ["b", "e"]
    assert list(recs["source"]) == ["rule", "best_seller"]


def test_segment_best_sellers_fill_the_gap():
    purchases = pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 3, 3, 4, 4, 5],
            "product_id": ["x", "x", "y", "x", "y", "z", "w", "z"],
        }
    )
    segments = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5, 6], "segment": ["s", "s", "s", "t", "t", "t"]})
    no_rules = mine_rules(pd.DataFrame({"basket_id": [1], "item": ["x"]}), 0.5, 0.5)
    assert no_rules.empty
    recs = recommend(purchases, no_rules, top_n=2, segments=segments)
    lists = _as_lists(recs)
    # Segment s bought x (3 customers), y (2); customer 1 owns x -> y, then the overall ranking.
    assert lists[1][0] == "y"
    first = recs[(recs["customer_id"] == 1) & (recs["rank"] == 1)].iloc[0]
    assert first["reason"] == "best seller in segment s"
    assert first["score"] == pytest.approx(2 / 3)
    second = recs[(recs["customer_id"] == 1) & (recs["rank"] == 2)].iloc[0]
    assert second["reason"] == "best seller"
    assert second["product_id"] in {"z", "w"}
    # Customer 6 has no purchases but a segment: t's best sellers z (2 of 2) then w.
    assert lists[6] == ["z", "w"]
    # Customer 5 in t owns z -> w from the segment.
    assert lists[5][0] == "w"


def test_best_sellers_by_segment_scores():
    purchases = pd.DataFrame({"customer_id": [1, 1, 2, 3], "product_id": ["x", "x", "x", "y"]})
    segments = pd.DataFrame({"customer_id": [1, 2, 3], "segment": ["s", "t", "t"]})
    table = best_sellers_by_segment(purchases, segments, active_products=["x", "y"])
    overall = table[table["segment"].isna()].set_index("product_id")
    assert overall.loc["x", "buyers"] == 2
    assert overall.loc["x", "score"] == pytest.approx(2 / 3)
    t = table[table["segment"] == "t"].set_index("product_id")
    assert t.loc["x", "score"] == pytest.approx(0.5)
    assert t.loc["y", "score"] == pytest.approx(0.5)
    assert set(best_sellers_by_segment(purchases, active_products=["y"])["product_id"]) == {"y"}


def test_product_names_in_reason(rules):
    purchases = pd.DataFrame({"customer_id": ["c1"], "product_id": ["a"]})
    recs = recommend(purchases, rules, top_n=1, product_names={"a": "Apple juice"})
    assert recs.iloc[0]["reason"] == "bought Apple juice"
    assert recs.iloc[0]["product_id"] == "b"


def test_every_customer_gets_n_recommendations_and_planted_pairs_are_found():
    rng = np.random.default_rng(7)
    n_products, n_customers = 60, 1500
    products = np.array([f"P{i:02d}" for i in range(n_products)])
    planted = [("P01", "P02"), ("P10", "P11"), ("P20", "P21"), ("P30", "P31")]
    popularity = rng.dirichlet(np.full(n_products, 0.8))
    rows = []
    customer_of_basket = {}
    basket = 0
    for customer in range(n_customers):
        for _ in range(rng.integers(1, 4)):
            basket += 1
            customer_of_basket[basket] = customer
            items = set(rng.choice(products, size=rng.integers(1, 5), p=popularity))
            items -= {x for pair in planted for x in pair}
            # Each planted antecedent lands in 6% of baskets and pulls its partner in 70% of those;
            # the partner also sells alone in 3% of baskets.
            for a, b in planted:
                if rng.random() < 0.06:
                    items.add(a)
                    if rng.random() < 0.7:
                        items.add(b)
                elif rng.random() < 0.03:
                    items.add(b)
            rows += [(basket, x) for x in items]
    baskets = pd.DataFrame(rows, columns=["basket_id", "item"])
    rules = mine_rules(baskets, 0.002, 0.1)
    strong = rules[rules["lift"] > 1.5]
    found = set(zip(strong["antecedent_key"], strong["consequent_key"], strict=True))
    assert all(pair in found for pair in planted)

    purchases = pd.DataFrame(
        {"customer_id": baskets["basket_id"].map(customer_of_basket), "product_id": baskets["item"]}
    )
    active = [p for p in products if p != "P05"]
    recs = recommend(purchases, rules, active_products=active, top_n=3)
    per_customer = recs.groupby("customer_id").size()
    assert purchases["customer_id"].nunique() > 0.95 * n_customers
    assert set(per_customer.index) == set(purchases["customer_id"])
    assert (per_customer == 3).all()
    assert "P05" not in set(recs["product_id"])
    owned = set(zip(purchases["customer_id"], purchases["product_id"], strict=True))
    assert not any((c, p) in owned for c, p in zip(recs["customer_id"], recs["product_id"], strict=True))
    assert (recs.groupby("customer_id")["rank"].apply(list).map(tuple) == (1, 2, 3)).all()
    assert not recs.duplicated(["customer_id", "product_id"]).any()
    # Owners of a planted antecedent without its partner get the partner first or close to it.
    owners = purchases.groupby("customer_id")["product_id"].agg(set)
    lonely = [c for c, items in owners.items() if "P10" in items and "P11" not in items]
    assert lonely
    top = recs[recs["customer_id"].isin(lonely) & (recs["source"] == "rule")]
    assert (top.groupby("customer_id")["product_id"].apply(set).map(lambda s: "P11" in s)).mean() > 0.8
    # Within a customer the rule recommendations come first, scores never increase.
    for _, g in recs.groupby("customer_id"):
        sources = list(g["source"])
        assert sources == sorted(sources, key=lambda s: s != "rule")
        rule_scores = g.loc[g["source"] == "rule", "score"].to_numpy()
        assert (np.diff(rule_scores) <= 1e-12).all()


def test_customer_who_owns_nearly_everything_gets_what_is_left():
    products = [f"p{i}" for i in range(8)]
    purchases = pd.DataFrame(
        {
            "customer_id": [1] * 6 + [2, 3, 4],
            "product_id": [*products[:6], "p0", "p0", "p7"],
        }
    )
    no_rules = mine_rules(pd.DataFrame({"basket_id": [1], "item": ["x"]}), 0.5, 0.5)
    recs = recommend(purchases, no_rules, active_products=products, top_n=3)
    # Customer 1 owns p0-p5; p6 is active but nobody bought it, so it is no best seller: only p7 is left.
    assert list(recs.loc[recs["customer_id"] == 1, "product_id"]) == ["p7"]
    assert (recs.groupby("customer_id").size().drop(1) == 3).all()


def test_invalid_top_n(rules):
    with pytest.raises(ValueError, match="top_n"):
        recommend(pd.DataFrame({"customer_id": [1], "product_id": ["a"]}), rules, top_n=0)


def test_segment_fill_up_skips_an_empty_ranking_and_leaves_the_unsegmented_to_the_overall_one():
    """Segments s (customers 1, 2), t (3, 4) and u (5); customer 6 bought but has no segment. s's only best
    seller is no longer sold, so s falls through to the overall ranking; t and u still get theirs; customer
    6 gets the overall best sellers, never another segment's."""
    purchases = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 4, 5, 6, 7, 8],
            "product_id": ["old", "old", "t1", "t1", "t2", "u1", "x", "x", "x"],
        }
    )
    segments = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5], "segment": ["s", "s", "t", "t", "u"]})
    no_rules = mine_rules(pd.DataFrame({"basket_id": [1], "item": ["x"]}), 0.5, 0.5)
    active = ["t1", "t2", "u1", "x"]
    recs = recommend(purchases, no_rules, active_products=active, top_n=1, segments=segments)
    first = recs[recs["rank"] == 1].set_index("customer_id")
    # Overall: x (3 buyers), t1 (2), then t2 and u1 (1 each).
    assert first.loc[1, ["product_id", "reason"]].tolist() == ["x", "best seller"]
    assert first.loc[3, ["product_id", "reason"]].tolist() == ["t2", "best seller in segment t"]
    assert first.loc[5, ["product_id", "reason"]].tolist() == ["x", "best seller"]  # u's only product owned
    assert first.loc[6, ["product_id", "reason"]].tolist() == ["t1", "best seller"]


def test_a_ranking_without_scores_is_used_in_its_order_with_score_zero():
    purchases = pd.DataFrame({"customer_id": [1, 2], "product_id": ["a", "b"]})
    no_rules = mine_rules(pd.DataFrame({"basket_id": [1], "item": ["x"]}), 0.5, 0.5)
    ranking = pd.DataFrame({"segment": [None, None, None], "product_id": ["c", "b", "a"]})
    recs = recommend(purchases, no_rules, top_n=2, best_sellers=ranking)
    assert _as_lists(recs) == {1: ["c", "b"], 2: ["c", "a"]}
    assert (recs["score"] == 0.0).all()


def test_a_product_without_a_name_is_named_by_its_id(rules):
    purchases = pd.DataFrame({"customer_id": ["c1", "c2", "c2"], "product_id": ["a", "a", "c"]})
    recs = recommend(purchases, rules, top_n=1, product_names={"a": "Apple juice"})
    assert recs.set_index("customer_id").loc["c2", "reason"] == "bought Apple juice, c"


def test_blocks_of_one_customer_each_skip_those_with_nothing_to_fire(rules, monkeypatch):
    """In blocks of a single match, customer 1 (owns only g, which fires nothing) comes first: the
    customers after it still get their rules."""
    monkeypatch.setattr(recommend_module, "_MAX_HITS", 1)
    purchases = pd.DataFrame({"customer_id": [1, 2, 3], "product_id": ["g", "a", "c"]})
    recs = recommend(purchases, rules, top_n=1)
    first = recs.set_index("customer_id")
    assert first.loc[2, ["product_id", "source"]].tolist() == ["b", "rule"]
    assert first.loc[3, ["product_id", "source"]].tolist() == ["d", "rule"]
    assert first.loc[1, "source"] == "best_seller"


def test_nobody_to_recommend_to_gives_an_empty_frame_with_the_columns_and_types(rules):
    """No customers at all, or customers who already own everything still sold: no rows, the same columns
    and types as a full answer."""
    nobody = pd.DataFrame({"customer_id": pd.Series(dtype=object), "product_id": pd.Series(dtype=object)})
    owns_all = pd.DataFrame({"customer_id": [1, 1], "product_id": ["a", "b"]})
    for recs in (recommend(nobody, rules), recommend(owns_all, rules, active_products=["a", "b"])):
        assert recs.empty
        assert list(recs.columns) == RECOMMENDATION_COLUMNS
        assert recs["rank"].dtype == np.int64
        assert recs["score"].dtype == np.float64


def test_best_sellers_table_worked_out_by_hand():
    """Sorted by segment (the overall ranking, segment missing, first), share of buyers descending, then
    product id as text; a repeated purchase counts one buyer; the segment's denominator is its customers
    with a purchase; customer 4 has no segment and counts only overall."""
    purchases = pd.DataFrame(
        {"customer_id": [1, 1, 1, 2, 3, 4], "product_id": ["b", "b", "a", "a", "c", "a"]}
    )
    segments = pd.DataFrame({"customer_id": [1, 2, 3, 9], "segment": ["t", "t", "s", "s"]})
    table = best_sellers_by_segment(purchases, segments)
    assert list(table.columns) == ["segment", "product_id", "buyers", "score"]
    rows = [
        (None if pd.isna(s) else s, p, int(n), float(v))
        for s, p, n, v in table[["segment", "product_id", "buyers", "score"]].itertuples(index=False)
    ]
    assert rows == [
        (None, "a", 3, 3 / 4),  # a: customers 1, 2 and 4 of the 4 who bought
        (None, "b", 1, 1 / 4),
        (None, "c", 1, 1 / 4),
        ("s", "c", 1, 1.0),  # s: only customer 3 bought (9 never did)
        ("t", "a", 2, 1.0),
        ("t", "b", 1, 0.5),
    ]
    lone = best_sellers_by_segment(pd.DataFrame({"customer_id": [1], "product_id": ["a"]}))
    assert lone["score"].tolist() == [1.0]
    # A customer listed again under another segment counts in the first one only.
    twice = pd.concat([segments, pd.DataFrame({"customer_id": [2], "segment": ["s"]})], ignore_index=True)
    pd.testing.assert_frame_equal(best_sellers_by_segment(purchases, twice), table)


def test_three_recommendations_unless_told(rules):
    purchases = pd.DataFrame(
        {"customer_id": [1, 1, 2, 3, 3, 4], "product_id": ["a", "c", "c", "a", "b", "g"]}
    )
    assert recommend(purchases, rules).groupby("customer_id").size().tolist() == [3, 3, 3, 3]
