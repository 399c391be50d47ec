"""The support threshold as a basket count at its floating-point edges, and the flat export of rules.

Expected values are worked by hand from the definitions in ``orchestration/analytics/basket.py``'s module
docstring (arules' ``support >= minsupp``) and the measures' formulas, not taken from the code's output.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from orchestration.analytics.basket import min_count_for_support, mine_rules, rules_for_export

EXPORT_COLUMNS = [
    "antecedents", "consequents", "antecedent_len", "count", "support", "antecedent_support",
    "consequent_support", "confidence", "lift", "leverage", "conviction",
]  # fmt: skip


@pytest.mark.parametrize(
    ("min_support", "n_baskets", "expected"),
    [
        (0.001, 9_835, 10),  # Groceries at supp 0.001: arules counts itemsets in at least 10 baskets
        (0.28, 25, 7),  # 0.28 * 25 is 7.000000000000001 in floating point, yet 7 / 25 >= 0.28
        (0.3, 10, 3),  # 0.3 * 10 is 3.0000000000000004; 3 / 10 >= 0.3
        (0.2, 7, 2),  # 1.4 baskets: 2
        (1.0, 4, 4),  # every basket
        (0.01, 50, 1),  # half a basket: at least one
        # One ulp above 1/3: 1 / 3 falls short, so 2 of 3 baskets; the product with 3 rounds to exactly 1.0.
        (math.nextafter(1 / 3, 1), 3, 2),
        (0.5, 0, 1),  # no baskets: the smallest meaningful count
    ],
)
def test_min_count_is_the_smallest_count_meeting_the_support(min_support, n_baskets, expected):
    assert min_count_for_support(min_support, n_baskets) == expected


@pytest.mark.parametrize("min_support", [0.0, -0.1, 1.5, 2.0])
def test_min_support_outside_zero_to_one_is_refused(min_support):
    with pytest.raises(ValueError, match="min_support"):
        min_count_for_support(min_support, 10)


def test_export_of_a_hand_worked_example():
    # Baskets {a, b}, {a, b}, {a}, {c}: s(a) = 3/4, s(b) = 1/2, s(ab) = 1/2 (c is below the support).
    #   b => a: confidence 1, lift 1 / (3/4) = 4/3, leverage 1/2 - 1/2 * 3/4 = 1/8, conviction inf
    #   a => b: confidence (1/2) / (3/4) = 2/3, lift (2/3) / (1/2) = 4/3, leverage 1/8,
    #           conviction (1 - 1/2) / (1 - 2/3) = 3/2
    # Equal lift: the higher confidence first.
    baskets = pd.DataFrame({"basket_id": [1, 1, 2, 2, 3, 4], "item": ["a", "b", "a", "b", "a", "c"]})
    out = rules_for_export(mine_rules(baskets, min_support=0.5, min_confidence=0.5))
    assert list(out.columns) == EXPORT_COLUMNS
    assert out[["antecedents", "consequents"]].values.tolist() == [["b", "a"], ["a", "b"]]
    assert out["antecedent_len"].tolist() == [1, 1]
    assert out["count"].tolist() == [2, 2]
    expected = {
        "support": [1 / 2, 1 / 2],
        "antecedent_support": [1 / 2, 3 / 4],
        "consequent_support": [3 / 4, 1 / 2],
        "confidence": [1.0, 2 / 3],
        "lift": [4 / 3, 4 / 3],
        "leverage": [1 / 8, 1 / 8],
        "conviction": [np.inf, 3 / 2],
    }
    for column, values in expected.items():
        assert out[column].tolist() == pytest.approx(values, abs=1e-12), column


def test_export_joins_items_of_a_longer_antecedent_with_the_separator():
    # Baskets {x, y, z} twice and {w}: among the rules is {x, y} => z (support 2/3, confidence 1).
    baskets = pd.DataFrame({"basket_id": [1, 1, 1, 2, 2, 2, 3], "item": [*"xyz", *"xyz", "w"]})
    out = rules_for_export(mine_rules(baskets, min_support=0.5, min_confidence=0.5), separator=" + ")
    assert ("x + y", "z") in set(zip(out["antecedents"], out["consequents"], strict=True))


def test_export_of_no_rules_keeps_the_columns_and_their_types():
    baskets = pd.DataFrame({"basket_id": [1, 2], "item": ["a", "b"]})  # no pair: no rule
    out = rules_for_export(mine_rules(baskets, min_support=0.5, min_confidence=0.5))
    assert out.empty
    assert list(out.columns) == EXPORT_COLUMNS
    assert all(pd.api.types.is_string_dtype(out[c]) for c in EXPORT_COLUMNS[:2])
    assert all(out[c].dtype == np.float64 for c in EXPORT_COLUMNS[2:])
