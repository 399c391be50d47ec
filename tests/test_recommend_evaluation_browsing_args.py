"""The browsing method of evaluate_recommendations under the arguments the main example leaves at their
defaults: the catalogue restriction, the favourite-category fill-up, the browsing keywords, other column
names and an interest history, each on one example worked out by hand below."""

from __future__ import annotations

import pandas as pd
import pytest
from support.recommendations import NO_RULES, metric_value, order_lines

from orchestration.analytics.recommend_evaluation import evaluate_recommendations

CUTOFF = pd.Timestamp("2024-01-10")
# NO_RULES: no rule fires, so the lists are the browsing signals, then the fill-up.
KS = (1, 2)

# Training: c1 bought a; c2 and c3 bought b (all category A); c4, c5 and c6 bought c (B).
#   Favourite categories: c1, c2, c3 -> A; c4, c5, c6 -> B.
#   Best sellers of A (share of A's customers buying): b (2 of 3), a (1 of 3); overall: c (3), b (2), a (1).
# After the cutoff: c1 buys x; c2 buys z and a. Judged: c1 (new {x}) and c2 (new {z, a}).
# Browsing before the cutoff: c1 viewed x, c2 viewed z (neither sold in training).
#
# rules    c1: [b, c] (A's b, then overall c; a owned)  -> 0 hits
#          c2: [a, c] (A's a; b owned)                  -> a at rank 1
#          hit@1 = (0 + 1) / 2 = 0.5, precision@2 = (0 + 1/2) / 2 = 0.25
# browsing c1: [x, b]  -> x at rank 1
#          c2: [z, a]  -> both
#          hit@1 = 1, precision@2 = (1/2 + 1) / 2 = 0.75, recall@2 = (1 + 1) / 2 = 1
LINES = [
    ("o1", "c1", "2024-01-01", "a", "A", 10.0),
    ("o2", "c2", "2024-01-02", "b", "A", 5.0),
    ("o3", "c3", "2024-01-03", "b", "A", 5.0),
    ("o4", "c4", "2024-01-04", "c", "B", 8.0),
    ("o5", "c5", "2024-01-05", "c", "B", 8.0),
    ("o6", "c6", "2024-01-06", "c", "B", 8.0),
    ("o7", "c1", "2024-01-15", "x", "A", 4.0),
    ("o8", "c2", "2024-01-16", "z", "B", 4.0),
    ("o8", "c2", "2024-01-16", "a", "A", 4.0),
]
INTEREST = [("c1", "x", "2024-01-05"), ("c2", "z", "2024-01-06")]


def _lines() -> pd.DataFrame:
    return order_lines(LINES)


def _interest(rows=INTEREST) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "last_viewed_at"])
    frame["last_viewed_at"] = pd.to_datetime(frame["last_viewed_at"])
    frame["last_carted_at"] = pd.NaT
    frame["last_wishlisted_at"] = pd.NaT
    return frame


def _figures(ev: pd.DataFrame, model: str) -> tuple[float, float, float]:
    return (
        metric_value(ev, model, "hit_rate", 1),
        metric_value(ev, model, "precision", 2),
        metric_value(ev, model, "recall", 2),
    )


def _evaluate(**kwargs) -> pd.DataFrame:
    kwargs.setdefault("interest", _interest())
    return evaluate_recommendations(_lines(), CUTOFF, ks=KS, rule_params=NO_RULES, **kwargs)


def test_browsing_puts_the_viewed_products_first_and_fills_up_from_the_favourite_category():
    ev = _evaluate()
    assert _figures(ev, "rules") == pytest.approx((0.5, 0.25, 0.25))
    # Without the favourite category c2's second place would be the overall best seller c: precision 0.5.
    assert _figures(ev, "browsing") == pytest.approx((1.0, 0.75, 1.0))
    assert set(ev.loc[ev["model"] == "browsing", "customers"]) == {2}


def test_the_catalogue_restriction_applies_to_browsing_too():
    """z is no longer sold: c2's browsing list is the rules' [a, c]."""
    ev = _evaluate(active_products=["a", "b", "c", "x"])
    assert _figures(ev, "browsing") == pytest.approx((1.0, 0.5, 0.75))  # c2: 1 hit of 2 new products
    assert _figures(ev, "rules") == pytest.approx((0.5, 0.25, 0.25))


@pytest.mark.parametrize(
    "interest_params",
    [{"max_interest": 0}, {"interest_weights": {"cart": 3.0, "wishlist": 2.0, "view": 0.0}}],
    ids=["no browsing places", "views switched off"],
)
def test_browsing_keywords_reach_the_recommender(interest_params):
    """No browsing place, or views weighted 0 (the only signals here): browsing is the rules' lists."""
    ev = _evaluate(interest_params=interest_params)
    assert _figures(ev, "browsing") == pytest.approx((0.5, 0.25, 0.25))


def test_one_browsing_place_keeps_the_second_for_the_fill_up():
    ev = _evaluate(interest_params={"max_interest": 1})
    assert _figures(ev, "browsing") == pytest.approx((1.0, 0.75, 1.0))


def test_other_column_names_are_read_from_the_interest_too():
    names = {"customer_id": "shopper", "product_id": "sku", "ordered_at": "sold_at", "category": "aisle"}
    lines = _lines().rename(columns=names)
    interest = _interest().rename(columns={"customer_id": "shopper", "product_id": "sku"})
    ev = evaluate_recommendations(
        lines, CUTOFF, ks=KS, rule_params=NO_RULES, interest=interest, customer_col="shopper",
        product_col="sku", time_col="sold_at", category_col="aisle",
    )  # fmt: skip
    assert _figures(ev, "browsing") == pytest.approx((1.0, 0.75, 1.0))


def test_an_interest_history_is_read_as_it_stood_at_the_cutoff():
    """History rows: c2's view of z only became known after the cutoff (valid from the 12th), and c1's
    row valid at the cutoff ended the day after; the view of z must not be seen."""
    history = _interest()
    history["valid_from"] = pd.to_datetime(["2024-01-05", "2024-01-12"])
    history["valid_to"] = pd.to_datetime(["2024-01-11", None])
    ev = _evaluate(interest=history)
    # c1: [x, b] as before; c2: no signal at the cutoff, so the rules' [a, c].
    assert _figures(ev, "browsing") == pytest.approx((1.0, 0.5, 0.75))
    closed = history.assign(valid_to=pd.to_datetime(["2024-01-09", None]))  # c1's row ended before the cutoff
    ev = _evaluate(interest=closed)
    assert _figures(ev, "browsing") == pytest.approx((0.5, 0.25, 0.25))
