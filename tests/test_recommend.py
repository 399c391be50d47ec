"""Rule-based recommendations: hand-checked answers, exclusions, fallback and planted associations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


def test_hand_made_example(rules):
    got = {(r.antecedent_key, r.consequent_key): r.confidence for r in rules.itertuples()}
    assert got[("a | c", "d")] == 1.0
    assert got[("c", "d")] == pytest.approx(2 / 3)
    purchases = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3, 3, 4],
            "product_id": ["a", "c", "c", "a", "b", "g"],
        }
    )
    recs = recommend(purchases, rules, active_products=list("abcdefg"), top_n=2)
    assert list(recs.columns) == RECOMMENDATION_COLUMNS
    lists = _as_lists(recs)
    # Customer 1 owns a and c: a=>b (conf 1), {a,c}=>d (conf 1) fire; b wins the tie on lift (b's
    # lift 10/3 vs d's 5).. no: d has the higher lift, so d first.
    assert lists[1] == ["d", "b"]
    c1 = recs[recs["customer_id"] == 1].set_index("product_id")
    assert c1.loc["d", "reason"] == "bought a, c"  # the stronger of {a,c}=>d (1.0) and c=>d (2/3)
    assert c1.loc["d", "score"] == 1.0
    assert c1.loc["b", "reason"] == "bought a"
    assert set(c1["source"]) == {"rule"}
    # Customer 2 owns only c: c=>d (2/3) fires, c=>a and c=>b (2/3) too; {a,c}=>d does not.
    c2 = recs[recs["customer_id"] == 2]
    assert set(c2["product_id"]) <= {"a", "b", "d"}
    assert (c2["score"] == pytest.approx(2 / 3)).all()
    assert (c2["reason"] == "bought c").all()
    # Customer 3 owns a and b: nothing new from a<=>b; c and d follow from a=>c? a=>c has conf 2/3.
    c3 = recs[recs["customer_id"] == 3]
    assert not set(c3["product_id"]) & {"a", "b"}
    # Customer 4 owns g, which fires no rule: best sellers, not g.
    c4 = recs[recs["customer_id"] == 4]
    assert (c4["source"] == "best_seller").all()
    assert "g" not in set(c4["product_id"])
    assert list(c4["rank"]) == [1, 2]
    # Ids keep the purchases' dtype.
    assert recs["customer_id"].dtype == purchases["customer_id"].dtype


def test_owned_and_inactive_products_are_never_recommended(rules):
    purchases = pd.DataFrame({"customer_id": [1, 1], "product_id": ["a", "c"]})
    recs = recommend(purchases, rules, active_products=["a", "b", "c", "e", "f", "g"], top_n=3)
    assert "d" not in set(recs["product_id"])  # d no longer sold, though {a,c}=>d is the best rule
    assert not set(recs["product_id"]) & {"a", "c"}
    assert recs.iloc[0]["product_id"] == "b"
    assert recs.iloc[0]["source"] == "rule"
    assert len(recs) == 3
    assert (recs["source"].iloc[1:] == "best_seller").all()


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
            for a, b in planted:
                if a in items and rng.random() < 0.7:
                    items.add(b)
                elif rng.random() < 0.03:
                    items |= {a, b}
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
    assert len(per_customer) == n_customers
    assert (per_customer == 3).all()
    assert "P05" not in set(recs["product_id"])
    owned = set(zip(purchases["customer_id"], purchases["product_id"], strict=True))
    assert not any((c, p) in owned for c, p in zip(recs["customer_id"], recs["product_id"], strict=True))
    assert (recs.groupby("customer_id")["rank"].apply(list) == pd.Series([[1, 2, 3]] * n_customers)).all()
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
            "customer_id": [1] * 7 + [2, 3, 4],
            "product_id": products[:7] + ["p0", "p0", "p1"],
        }
    )
    no_rules = mine_rules(pd.DataFrame({"basket_id": [1], "item": ["x"]}), 0.5, 0.5)
    recs = recommend(purchases, no_rules, active_products=products, top_n=3)
    assert list(recs.loc[recs["customer_id"] == 1, "product_id"]) == ["p7"]
    assert (recs.groupby("customer_id").size().drop(1) == 3).all()


def test_invalid_top_n(rules):
    with pytest.raises(ValueError, match="top_n"):
        recommend(pd.DataFrame({"customer_id": [1], "product_id": ["a"]}), rules, top_n=0)
