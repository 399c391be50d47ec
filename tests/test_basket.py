"""Association rules against arules' published results, miner agreement, bundles and the CSV export."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.datasets import SHARED_DATASETS

from orchestration.analytics.basket import (
    ITEM_SEPARATOR,
    RULE_COLUMNS,
    baskets_to_categories,
    min_count_for_support,
    mine_rules,
    mine_rules_csv,
    rules_for_export,
    suggest_bundles,
)

DATASETS = SHARED_DATASETS
GROCERIES = DATASETS / "groceries"
ONLINE_RETAIL = DATASETS / "online_retail_baskets" / "online_retail_baskets.csv"


def _read_long(path: Path) -> pd.DataFrame:
    # Items verbatim: Groceries has "cream cheese " with a trailing blank, and no NA guessing.
    return pd.read_csv(path, dtype={"item": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def groceries() -> pd.DataFrame:
    path = GROCERIES / "groceries_long.csv"
    if not path.exists():
        pytest.skip(f"reference data set not available: {path} (see ../shared/datasets/README.md)")
    return _read_long(path)


@pytest.fixture(scope="module")
def arules_reference() -> pd.DataFrame:
    path = GROCERIES / "rules_supp0.01_conf0.5.csv"
    if not path.exists():
        pytest.skip(f"reference rules not available: {path}")
    return pd.read_csv(path)


def _parse_arules_set(text: str) -> frozenset[str]:
    return frozenset(text.strip("{}").split(","))


def test_min_count_follows_floating_point_support_test():
    assert min_count_for_support(0.001, 9835) == 10  # 9.835 baskets -> 10
    assert min_count_for_support(0.01, 9835) == 99
    assert min_count_for_support(0.005, 25900) == 130  # 129.5 -> 130
    # 0.28 * 25 is 7.000000000000001 in floating point, yet 7 / 25 >= 0.28 holds: 7, not 8.
    assert 0.28 * 25 > 7
    assert min_count_for_support(0.28, 25) == 7
    for n in (7, 30, 9835, 25900):
        for s in (0.001, 0.01, 0.1, 1 / 3, 0.5, 1.0):
            c = min_count_for_support(s, n)
            assert c / n >= s
            assert c == 1 or (c - 1) / n < s


def test_groceries_reproduces_arules_rules_exactly(groceries, arules_reference):
    rules = mine_rules(groceries, 0.01, 0.5)
    assert rules.attrs["n_baskets"] == 9835
    assert len(rules) == len(arules_reference) == 15
    ours = {(frozenset(row.antecedents), row.consequent): row for row in rules.itertuples()}
    for ref in arules_reference.itertuples():
        key = (_parse_arules_set(ref.LHS), next(iter(_parse_arules_set(ref.RHS))))
        assert key in ours, key
        got = ours[key]
        assert got.count == ref.count
        assert got.support == pytest.approx(ref.support, abs=1e-9)
        assert got.confidence == pytest.approx(ref.confidence, abs=1e-9)
        assert got.antecedent_support == pytest.approx(ref.coverage, abs=1e-9)
        assert got.lift == pytest.approx(ref.lift, abs=1e-9)
        # Leverage and conviction are not in arules' file: derived here from its figures alone.
        # supp(RHS) = confidence / lift; leverage = supp − coverage · supp(RHS);
        # conviction = (1 − supp(RHS)) / (1 − confidence).
        rhs_support = ref.confidence / ref.lift
        assert got.consequent_support == pytest.approx(rhs_support, abs=1e-9)
        assert got.leverage == pytest.approx(ref.support - ref.coverage * rhs_support, abs=1e-9)
        assert got.conviction == pytest.approx((1 - rhs_support) / (1 - ref.confidence), rel=1e-9)
    # arules sorts its file by lift too; same order.
    assert list(rules["lift"]) == sorted(rules["lift"], reverse=True)
    np.testing.assert_allclose(rules["lift"], arules_reference["lift"], rtol=0, atol=1e-9)


def test_groceries_low_support_matches_arules_counts(groceries):
    rules = mine_rules(groceries, 0.001, 0.5, miner="fim")
    assert len(rules) == 5668
    by_size = (rules["antecedent_len"] + 1).value_counts().sort_index().to_dict()
    assert by_size == {2: 11, 3: 1461, 4: 3211, 5: 939, 6: 46}
    top = rules.iloc[0]
    assert set(top["antecedents"]) == {"Instant food products", "soda"}
    assert top["consequents"] == ("hamburger meat",)
    assert top["lift"] == pytest.approx(18.996, abs=5e-4)
    # Measures of a sample of rules against baskets counted here, one set per basket.
    baskets = groceries.groupby("basket_id")["item"].agg(frozenset)
    item_support = {}
    sample = pd.concat(
        [rules.head(10), rules.sample(40, random_state=0), rules[np.isinf(rules["conviction"])]]
    )
    assert np.isinf(sample["conviction"]).sum() > 0  # there are confidence-1 rules at this support
    for row in sample.itertuples():
        lhs, rhs = frozenset(row.antecedents), row.consequent
        has_lhs = baskets.map(lhs.issubset)
        has_rhs = item_support.setdefault(rhs, baskets.map(lambda b, rhs=rhs: rhs in b))
        both = (has_lhs & has_rhs).sum()
        assert row.count == both
        assert row.support == pytest.approx(both / 9835, abs=1e-12)
        assert row.confidence == pytest.approx(both / has_lhs.sum(), abs=1e-12)
        assert row.lift == pytest.approx(both / has_lhs.sum() / has_rhs.mean(), rel=1e-9)
        assert row.leverage == pytest.approx(both / 9835 - has_lhs.mean() * has_rhs.mean(), abs=1e-12)
        if both == has_lhs.sum():  # every basket with the antecedent holds the consequent
            assert math.isinf(row.conviction)
        else:
            expected = (1 - has_rhs.mean()) / (1 - both / has_lhs.sum())
            assert row.conviction == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("min_support", [0.01, 0.005, 0.001])
def test_mlxtend_and_fim_return_identical_rules(groceries, min_support):
    fim_rules = mine_rules(groceries, min_support, 0.5, miner="fim")
    mlx_rules = mine_rules(groceries, min_support, 0.5, miner="mlxtend")
    assert len(fim_rules) > 0
    assert list(fim_rules.columns) == RULE_COLUMNS
    pd.testing.assert_frame_equal(fim_rules, mlx_rules, check_exact=False, rtol=0, atol=1e-9)


def test_max_len_limits_itemset_size(groceries):
    full = mine_rules(groceries, 0.001, 0.5)
    for miner in ("fim", "mlxtend"):
        short = mine_rules(groceries, 0.001, 0.5, max_len=3, miner=miner)
        assert (short["antecedent_len"] <= 2).all()
        expected = full[full["antecedent_len"] <= 2].reset_index(drop=True)
        pd.testing.assert_frame_equal(short, expected)
    assert len(expected) == 11 + 1461


def test_auto_falls_back_to_mlxtend_without_pyfim(groceries, monkeypatch):
    with_fim = mine_rules(groceries, 0.01, 0.5)
    monkeypatch.setitem(sys.modules, "fim", None)  # makes `import fim` raise ImportError
    with pytest.raises(ImportError):
        import fim  # noqa: F401
    without = mine_rules(groceries, 0.01, 0.5, miner="auto")
    pd.testing.assert_frame_equal(with_fim, without)


@pytest.fixture
def tiny_baskets() -> pd.DataFrame:
    # 10 baskets. a,b together in 4; a alone in 2 more (conf a=>b = 4/6, b=>a = 4/4); c,d in 2 baskets
    # (support exactly 0.2); basket 9 repeats "a" twice (one count), basket 10 only holds rare item z.
    rows = [
        *[(i, x) for i in (1, 2, 3, 4) for x in ("a", "b")],
        (5, "a"),
        (6, "a"),
        *[(i, x) for i in (7, 8) for x in ("c", "d")],
        (9, "e"),
        (9, "e"),
        (10, "z"),
    ]
    return pd.DataFrame(rows, columns=["basket_id", "item"])


@pytest.mark.parametrize("miner", ["fim", "mlxtend"])
def test_thresholds_are_inclusive_and_support_counts_every_basket(tiny_baskets, miner):
    rules = mine_rules(tiny_baskets, 0.2, 2 / 3, miner=miner)
    got = {(r.antecedent_key, r.consequent_key): r for r in rules.itertuples()}
    # {c,d} has support exactly 0.2 = min_support and is kept; confidence of a=>b is exactly 2/3.
    assert set(got) == {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")}
    assert got[("a", "b")].confidence == pytest.approx(2 / 3, abs=1e-15)
    # The denominator is all 10 baskets, though baskets 9 and 10 hold no frequent item.
    assert got[("c", "d")].support == pytest.approx(0.2, abs=1e-15)
    assert got[("a", "b")].lift == pytest.approx((4 / 6) / 0.4, abs=1e-12)
    assert math.isinf(got[("b", "a")].conviction)
    assert got[("a", "b")].conviction == pytest.approx((1 - 0.4) / (1 - 2 / 3), rel=1e-12)
    # Counted by hand: supp(a) = 6/10, supp(b) = 4/10, supp(a,b) = 4/10; supp(c) = supp(d) = supp(c,d) = 2/10.
    # a=>b: leverage 0.4 − 0.6·0.4 = 0.16; lift (4/6)/0.4 = 5/3. b=>a: confidence 4/4 = 1, lift 1/0.6 = 5/3.
    # c=>d: confidence 1, lift 1/0.2 = 5, leverage 0.2 − 0.2·0.2 = 0.16, conviction (1 − 0.2)/0 = inf.
    assert got[("a", "b")].antecedent_support == pytest.approx(0.6, abs=1e-15)
    assert got[("a", "b")].consequent_support == pytest.approx(0.4, abs=1e-15)
    assert got[("a", "b")].count == 4
    assert got[("a", "b")].leverage == pytest.approx(0.16, abs=1e-12)
    assert got[("b", "a")].confidence == 1.0
    assert got[("b", "a")].lift == pytest.approx(5 / 3, abs=1e-12)
    assert got[("b", "a")].leverage == pytest.approx(0.16, abs=1e-12)
    assert got[("c", "d")].confidence == 1.0
    assert got[("c", "d")].lift == pytest.approx(5.0, abs=1e-12)
    assert got[("c", "d")].leverage == pytest.approx(0.16, abs=1e-12)
    assert math.isinf(got[("c", "d")].conviction)
    # Order: lift descending (c=>d and d=>c have lift 5), ties broken by confidence, support, keys.
    assert list(zip(rules["antecedent_key"], rules["consequent_key"], strict=True)) == [
        ("c", "d"),
        ("d", "c"),
        ("b", "a"),
        ("a", "b"),
    ]
    # Just above the thresholds, those rules go.
    assert mine_rules(tiny_baskets, 0.21, 0.1, miner=miner)["antecedent_key"].isin(["c", "d"]).sum() == 0
    assert ("a", "b") not in {
        (r.antecedent_key, r.consequent_key)
        for r in mine_rules(tiny_baskets, 0.2, 0.67, miner=miner).itertuples()
    }


def test_repeated_item_in_a_basket_counts_once(tiny_baskets):
    doubled = pd.concat([tiny_baskets, tiny_baskets[tiny_baskets["basket_id"] <= 4]], ignore_index=True)
    for miner in ("fim", "mlxtend"):
        pd.testing.assert_frame_equal(
            mine_rules(doubled, 0.2, 0.5, miner=miner), mine_rules(tiny_baskets, 0.2, 0.5, miner=miner)
        )


def test_unsorted_rows_integer_items_and_missing_items(tiny_baskets):
    codes = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "z": 26}
    numeric = tiny_baskets.assign(item=tiny_baskets["item"].map(codes))
    shuffled = numeric.sample(frac=1.0, random_state=0)
    with_missing = pd.concat([shuffled, pd.DataFrame({"basket_id": [11], "item": [None]})], ignore_index=True)
    rules = mine_rules(with_missing, 0.18, 0.5)
    assert rules.attrs["n_baskets"] == 11
    assert set(rules["consequent"]) == {1, 2, 3, 4}
    assert all(isinstance(x, int | np.integer) for a in rules["antecedents"] for x in a)
    cd = rules[(rules["antecedent_key"] == "3") & (rules["consequent_key"] == "4")].iloc[0]
    assert cd["support"] == pytest.approx(2 / 11)


def test_no_rules_gives_empty_frame_with_columns(tiny_baskets):
    for miner in ("fim", "mlxtend"):
        rules = mine_rules(tiny_baskets, 0.9, 0.5, miner=miner)
        assert rules.empty
        assert list(rules.columns) == RULE_COLUMNS
    assert rules_for_export(rules).empty


def test_invalid_arguments(tiny_baskets):
    with pytest.raises(ValueError, match="miner"):
        mine_rules(tiny_baskets, 0.1, 0.5, miner="eclat")
    with pytest.raises(ValueError, match="max_len"):
        mine_rules(tiny_baskets, 0.1, 0.5, max_len=1)
    with pytest.raises(ValueError, match="min_support"):
        mine_rules(tiny_baskets, 0.0, 0.5)
    with pytest.raises(KeyError, match="basket_id"):
        mine_rules(tiny_baskets.rename(columns={"basket_id": "order"}), 0.1, 0.5)


def test_online_retail_rule_count():
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"reference data set not available: {ONLINE_RETAIL}")
    lines = ONLINE_RETAIL.read_text().splitlines()
    baskets = pd.DataFrame(
        [(i, item) for i, line in enumerate(lines) for item in line.split(",")], columns=["basket_id", "item"]
    )
    assert baskets["basket_id"].nunique() == 25900
    assert baskets["item"].nunique() == 4070
    rules = mine_rules(baskets, 0.005, 0.5, miner="fim")
    assert len(rules) == 6223
    assert rules["count"].min() >= 130


def test_rules_csv_round_trip(groceries, arules_reference, tmp_path):
    out = tmp_path / "rules.csv"
    n = mine_rules_csv(GROCERIES / "groceries_long.csv", out, 0.01, 0.5)
    assert n == 15
    written = pd.read_csv(out, keep_default_na=False)
    assert list(written.columns[:2]) == ["antecedents", "consequents"]
    got = {
        (frozenset(a.split(ITEM_SEPARATOR)), c)
        for a, c in zip(written["antecedents"], written["consequents"], strict=True)
    }
    want = {
        (_parse_arules_set(lhs), next(iter(_parse_arules_set(rhs))))
        for lhs, rhs in zip(arules_reference["LHS"], arules_reference["RHS"], strict=True)
    }
    assert got == want
    np.testing.assert_allclose(written["lift"], arules_reference["lift"], atol=1e-9)


def test_rules_csv_reads_items_verbatim(tmp_path):
    src = tmp_path / "baskets.csv"
    # "NA" and "001" are real item codes here, and a trailing blank belongs to the name.
    lines = ["basket_id,item"]
    for b in range(1, 5):
        lines += [f"{b},NA", f"{b},001"]
    lines += ["5,cream cheese ", "6,cream cheese ", "6,NA", "7,"]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "rules.csv"
    n = mine_rules_csv(src, out, 0.2, 0.5, max_len=2, miner="mlxtend", separator=";")
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert n == len(written) == 2
    assert set(zip(written["antecedents"], written["consequents"], strict=True)) == {
        ("001", "NA"),
        ("NA", "001"),
    }
    # Seven basket ids in the file, including the one with an empty item.
    assert float(written.loc[written["antecedents"] == "NA", "support"].iloc[0]) == pytest.approx(4 / 7)


def test_category_level_rules(groceries):
    info_path = GROCERIES / "groceries_iteminfo.csv"
    if not info_path.exists():
        pytest.skip(f"reference data set not available: {info_path}")
    info = pd.read_csv(info_path, dtype=str, keep_default_na=False).rename(
        columns={"labels": "item", "level2": "category"}
    )
    cats = baskets_to_categories(groceries, info)
    assert cats["basket_id"].nunique() == 9835
    assert not cats.duplicated().any()
    rules = mine_rules(cats, 0.02, 0.5)
    assert len(rules) > 0
    # Support of a category rule equals the share of baskets holding an item of each side's category.
    r = rules.iloc[0]
    cat_of = dict(zip(info["item"], info["category"], strict=True))
    sets = groceries.assign(cat=groceries["item"].map(cat_of)).groupby("basket_id")["cat"].agg(set)
    needed = {*r["antecedents"], r["consequent"]}
    assert r["support"] == pytest.approx(sets.map(needed.issubset).mean(), abs=1e-12)


def _pair_baskets() -> pd.DataFrame:
    # Pairs: (p1,p2) strong, (p3,p4) strong, (p1,p5) lift below threshold, (p6,p7) too rare.
    rows = []
    basket = 0
    for items, times in ((("p1", "p2"), 30), (("p3", "p4"), 20), (("p1", "p5"), 5), (("p6", "p7"), 3)):
        for _ in range(times):
            basket += 1
            rows += [(basket, x) for x in items]
    for single in ("p1", "p5", "p2", "p3", "p4", "p5", "p6", "p7"):
        for _ in range(15):
            basket += 1
            rows.append((basket, single))
    return pd.DataFrame(rows, columns=["basket_id", "item"])


@pytest.fixture
def pair_rules() -> pd.DataFrame:
    return mine_rules(_pair_baskets(), 0.001, 0.0, max_len=2)


def test_bundles_keep_margin_and_pick_largest_discount(pair_rules):
    products = pd.DataFrame(
        {
            "product_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
            "list_price": [20.0, 30.0, 10.0, 10.0, 5.0, 8.0, 8.0],
            "unit_cost": [10.0, 12.0, 8.5, 9.0, 2.0, 4.0, 4.0],
            "is_active": [True, True, True, True, True, True, True],
        }
    )
    bundles = suggest_bundles(pair_rules, products, min_lift=1.5, min_count=10, min_margin_kept=0.5)
    assert set(zip(bundles["product_a"], bundles["product_b"], strict=True)) == {("p1", "p2"), ("p3", "p4")}
    b12 = bundles[bundles["product_a"] == "p1"].iloc[0]
    assert b12["combined_list_price"] == 50.0
    assert b12["combined_unit_cost"] == 22.0
    # Margin 28: half of it (14) may be given away = 28% of 50, capped at the 20% maximum.
    assert b12["suggested_discount_pct"] == pytest.approx(0.20)
    assert b12["bundle_price"] == pytest.approx(40.0)
    assert b12["count"] == 30
    assert b12["confidence_a_to_b"] == pytest.approx(30 / 50)
    assert b12["confidence_b_to_a"] == pytest.approx(30 / 45)
    b34 = bundles[bundles["product_a"] == "p3"].iloc[0]
    # Margin 2.5 on a price of 20: at most 1.25 off = 6.25%, floored to whole percent -> 6%.
    assert b34["suggested_discount_pct"] == pytest.approx(0.06)
    for b in bundles.itertuples():
        assert b.bundle_margin >= 0.5 * b.combined_margin - 1e-9
        assert b.margin_kept >= 0.5 - 1e-9
        assert b.suggested_discount_pct <= 0.2 + 1e-12
        # One more step would break the margin rule or the cap: the discount is the largest allowed.
        more = b.suggested_discount_pct + 0.01
        assert more > 0.2 + 1e-12 or b.combined_list_price * (1 - more) - b.combined_unit_cost < (
            0.5 * b.combined_margin
        )
    # Lift order.
    assert list(bundles["lift"]) == sorted(bundles["lift"], reverse=True)


def test_bundles_skip_inactive_and_handle_loss_making_pairs(pair_rules):
    products = pd.DataFrame(
        {
            "product_id": ["p1", "p2", "p3", "p4"],
            "list_price": [20.0, 30.0, 10.0, 10.0],
            "unit_cost": [10.0, 12.0, 11.0, 10.0],
            "is_active": [True, False, True, True],
        }
    )
    bundles = suggest_bundles(pair_rules, products, min_lift=1.5, min_count=10)
    assert list(zip(bundles["product_a"], bundles["product_b"], strict=True)) == [("p3", "p4")]
    assert bundles["suggested_discount_pct"].iloc[0] == 0.0
    assert bundles["bundle_price"].iloc[0] == 20.0
    with pytest.raises(ValueError, match="min_margin_kept"):
        suggest_bundles(pair_rules, products, min_margin_kept=1.5)


def test_fim_and_mlxtend_agree_when_every_basket_holds_every_frequent_item():
    # After pruning, all baskets hold both items: pyfim alone would report nothing here.
    baskets = pd.DataFrame({"basket_id": [1, 1, 2, 2, 3, 3, 4], "item": ["t", "m", "t", "m", "t", "m", "b"]})
    fim_rules = mine_rules(baskets, 0.5, 0.9, miner="fim")
    assert len(fim_rules) == 2
    pd.testing.assert_frame_equal(fim_rules, mine_rules(baskets, 0.5, 0.9, miner="mlxtend"))


@pytest.mark.parametrize("miner", ["fim", "mlxtend"])
def test_a_sure_rule_onto_an_item_in_every_basket_has_infinite_conviction(miner):
    """Baskets {a, b}, {a, b}, {a}: b → a has confidence 2/2 = 1 and a is in every basket, so conviction is
    (1 − 1) / (1 − 1) = 0/0, which arules reports as infinite; it must not raise (the suite turns numpy
    warnings into errors) and must be inf."""
    baskets = pd.DataFrame({"basket_id": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "a"]})
    rules = mine_rules(baskets, 0.1, 0.5, miner=miner)
    sure = rules[(rules["antecedents"] == ("b",)) & (rules["consequents"] == ("a",))].iloc[0]
    assert sure["confidence"] == 1.0
    assert sure["lift"] == 1.0  # 1 / support(a) = 1 / 1
    assert np.isinf(sure["conviction"])
    other = rules[(rules["antecedents"] == ("a",)) & (rules["consequents"] == ("b",))].iloc[0]
    # a → b: confidence 2/3, support(b) 2/3: conviction (1 − 2/3) / (1 − 2/3) = 1, lift 1.
    assert other["conviction"] == pytest.approx(1.0)


# --- suggest_bundles on _pair_baskets, worked out by hand ---------------------------------------------------
# 178 baskets: 30 {p1,p2}, 20 {p3,p4}, 5 {p1,p5}, 3 {p6,p7}, and 15 single-item baskets of each of p1, p2,
# p3, p4, p6, p7 and 30 of p5. Baskets holding each item: p1 50, p2 45, p3 35, p4 35, p5 35, p6 18, p7 18.
#   (p3,p4): count 20, lift 20*178/(35*35) = 2.906, confidence 20/35 both ways
#   (p1,p2): count 30, lift 30*178/(50*45) = 2.373, confidence p1->p2 30/50, p2->p1 30/45
#   (p6,p7): count 3,  lift 3*178/(18*18)  = 1.648
#   (p1,p5): count 5,  lift 5*178/(50*35)  = 0.509
N_PAIR_BASKETS = 178
CATALOGUE = pd.DataFrame(
    {
        "product_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
        "list_price": [20.0, 30.0, 10.0, 10.0, 5.0, 8.0, 8.0],
        "unit_cost": [10.0, 12.0, 8.5, 9.0, 2.0, 4.0, 4.0],
        "is_active": [True, True, True, True, True, True, True],
    }
)
BUNDLE_COLUMNS = [
    "product_a", "product_b", "count", "support", "lift", "confidence_a_to_b", "confidence_b_to_a",
    "combined_list_price", "combined_unit_cost", "combined_margin", "suggested_discount_pct", "bundle_price",
    "bundle_margin", "margin_kept",
]  # fmt: skip


def _pairs(bundles: pd.DataFrame) -> list[tuple]:
    return list(zip(bundles["product_a"], bundles["product_b"], strict=True))


def test_bundle_figures_are_those_of_the_baskets(pair_rules):
    bundles = suggest_bundles(pair_rules, CATALOGUE)
    assert list(bundles.columns) == BUNDLE_COLUMNS
    assert _pairs(bundles) == [("p3", "p4"), ("p1", "p2")]  # by lift
    b34, b12 = bundles.iloc[0], bundles.iloc[1]
    assert (b34["count"], b12["count"]) == (20, 30)
    assert b34["support"] == pytest.approx(20 / N_PAIR_BASKETS)
    assert b12["support"] == pytest.approx(30 / N_PAIR_BASKETS)
    assert b34["lift"] == pytest.approx(20 * N_PAIR_BASKETS / (35 * 35))
    assert b12["lift"] == pytest.approx(30 * N_PAIR_BASKETS / (50 * 45))
    assert (b34["confidence_a_to_b"], b34["confidence_b_to_a"]) == pytest.approx((20 / 35, 20 / 35))
    # p1 -> p2 and p2 -> p1 are two rules; each direction keeps its own confidence.
    assert (b12["confidence_a_to_b"], b12["confidence_b_to_a"]) == pytest.approx((30 / 50, 30 / 45))
    # Price 50, cost 22, margin 28: 20 % off (the cap) leaves 40 - 22 = 18, 18/28 of the margin.
    assert (b12["combined_list_price"], b12["combined_unit_cost"], b12["combined_margin"]) == (
        50.0,
        22.0,
        28.0,
    )
    assert (b12["bundle_price"], b12["bundle_margin"]) == pytest.approx((40.0, 18.0))
    assert b12["margin_kept"] == pytest.approx(18 / 28)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"min_lift": 2.9}, [("p3", "p4")]),
        ({"min_lift": 2.95}, []),
        ({"min_count": 20}, [("p3", "p4"), ("p1", "p2")]),  # inclusive
        ({"min_count": 21}, [("p1", "p2")]),
        ({"min_count": 3, "min_lift": 1.6}, [("p3", "p4"), ("p1", "p2"), ("p6", "p7")]),
        ({"min_count": 1, "min_lift": 0.5}, [("p3", "p4"), ("p1", "p2"), ("p6", "p7"), ("p1", "p5")]),
        ({"top_n": 1}, [("p3", "p4")]),
        ({"top_n": 5}, [("p3", "p4"), ("p1", "p2")]),
    ],
)
def test_bundle_thresholds_and_top_n(pair_rules, kwargs, expected):
    assert _pairs(suggest_bundles(pair_rules, CATALOGUE, **kwargs)) == expected


def test_bundles_use_the_catalogue_as_given():
    """Inactive (or unknown activity) products are left out unless active_only is off; a product missing from
    the catalogue drops its pairs; a catalogue without is_active counts every product as active."""
    rules = mine_rules(_pair_baskets(), 0.001, 0.0, max_len=2)
    inactive_p2 = CATALOGUE.assign(is_active=[True, False, True, True, True, True, True])
    assert _pairs(suggest_bundles(rules, inactive_p2)) == [("p3", "p4")]
    assert _pairs(suggest_bundles(rules, inactive_p2, active_only=False)) == [("p3", "p4"), ("p1", "p2")]
    unknown_p4 = CATALOGUE.assign(is_active=[True, True, True, None, True, True, True])
    assert _pairs(suggest_bundles(rules, unknown_p4)) == [("p1", "p2")]
    assert _pairs(suggest_bundles(rules, CATALOGUE.drop(columns="is_active"))) == [("p3", "p4"), ("p1", "p2")]
    assert _pairs(suggest_bundles(rules, CATALOGUE[CATALOGUE["product_id"] != "p1"])) == [("p3", "p4")]
    # A product listed twice counts once, with its first price.
    twice = pd.concat([CATALOGUE, CATALOGUE.assign(list_price=99.0)], ignore_index=True)
    assert suggest_bundles(rules, twice)["combined_list_price"].tolist() == [20.0, 50.0]


@pytest.mark.parametrize(
    ("kwargs", "pair", "discount", "price"),
    [
        # (p3,p4): price 20, cost 17.5, margin 2.5. Half the margin = 1.25 = 6.25 % of the price.
        ({}, ("p3", "p4"), 0.06, 18.8),
        ({"discount_step": 0.05}, ("p3", "p4"), 0.05, 19.0),
        ({"min_margin_kept": 1.0}, ("p3", "p4"), 0.0, 20.0),
        ({"min_margin_kept": 0.0}, ("p3", "p4"), 0.12, 17.6),  # the whole margin: 12.5 % -> 12 %
        ({"min_margin_kept": 0.0, "max_discount_pct": 0.1}, ("p3", "p4"), 0.10, 18.0),
        ({"max_discount_pct": 0.0}, ("p3", "p4"), 0.0, 20.0),
        # (p1,p2): price 50, margin 28. 0.4 * 28 / 50 = 22.4 % -> 22 %.
        ({"min_margin_kept": 0.6, "max_discount_pct": 0.5}, ("p1", "p2"), 0.22, 39.0),
        # A cap that is an exact multiple of the step: 0.29 / 0.01 is 28.999... in floating point.
        ({"min_margin_kept": 0.0, "max_discount_pct": 0.29}, ("p1", "p2"), 0.29, 35.5),
    ],
)
def test_bundle_discount_is_the_largest_step_the_margin_rule_and_cap_allow(
    pair_rules, kwargs, pair, discount, price
):
    bundles = suggest_bundles(pair_rules, CATALOGUE, **kwargs).set_index(["product_a", "product_b"])
    assert bundles.loc[pair, "suggested_discount_pct"] == pytest.approx(discount, abs=1e-12)
    assert bundles.loc[pair, "bundle_price"] == pytest.approx(price)


def test_a_pair_without_margin_gets_no_discount_and_no_margin_share(pair_rules):
    at_cost = CATALOGUE.assign(unit_cost=CATALOGUE["list_price"])
    bundles = suggest_bundles(pair_rules, at_cost)
    assert (bundles["suggested_discount_pct"] == 0.0).all()
    assert (bundles["bundle_margin"] == 0.0).all()
    assert bundles["margin_kept"].isna().all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_margin_kept": -0.1},
        {"min_margin_kept": 1.01},
        {"max_discount_pct": 1.0},
        {"max_discount_pct": -0.01},
    ],
)
def test_bundle_rule_arguments_out_of_range_are_refused(pair_rules, kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        suggest_bundles(pair_rules, CATALOGUE, **kwargs)


def test_a_direction_below_the_rules_confidence_has_no_confidence():
    """Mined at confidence 0.62, p1 -> p2 (0.6) is not a rule but p2 -> p1 (0.667) is: the pair stays, with
    the missing direction empty."""
    rules = mine_rules(_pair_baskets(), 0.001, 0.62, max_len=2)
    b12 = suggest_bundles(rules, CATALOGUE).set_index(["product_a", "product_b"]).loc[("p1", "p2")]
    assert pd.isna(b12["confidence_a_to_b"])
    assert b12["confidence_b_to_a"] == pytest.approx(30 / 45)
    assert b12["count"] == 30


def test_bundles_order_products_by_their_text_and_ties_by_count_then_ids():
    """Integer ids: "10" sorts before "9" as text. Pairs with the same lift: the one bought together more
    often first; with the same lift and count, by the ids."""
    rows, basket = [], 0
    for items, times in (((9, 10), 20), ((1, 2), 20), ((3, 4), 40)):
        for _ in range(times):
            basket += 1
            rows += [(basket, x) for x in items]
    for single, times in ((9, 20), (10, 20), (1, 20), (2, 20), (4, 40)):
        for _ in range(times):
            basket += 1
            rows.append((basket, single))
    # 200 baskets. (9,10) and (1,2): 20 together, 40 baskets each item: lift 20 * 200 / (40 * 40) = 2.5.
    # (3,4): 40 together, 3 in 40 and 4 in 80 baskets: lift 40 * 200 / (40 * 80) = 2.5.
    rules = mine_rules(pd.DataFrame(rows, columns=["basket_id", "item"]), 0.001, 0.0, max_len=2)
    catalogue = pd.DataFrame({"product_id": [1, 2, 3, 4, 9, 10], "list_price": 10.0, "unit_cost": 5.0})
    bundles = suggest_bundles(rules, catalogue, min_lift=1.0, min_count=1)
    assert bundles["lift"].nunique() == 1
    assert bundles["lift"].iloc[0] == pytest.approx(2.5)
    assert _pairs(bundles) == [(3, 4), (1, 2), (10, 9)]


def test_no_pairs_give_an_empty_frame_with_the_columns(pair_rules):
    three = mine_rules(_pair_baskets(), 0.001, 0.0, max_len=2)
    longer_only = three.assign(antecedent_len=2)
    for rules in (pair_rules.head(0), longer_only):
        empty = suggest_bundles(rules, CATALOGUE)
        assert empty.empty
        assert list(empty.columns) == BUNDLE_COLUMNS
    none_qualify = suggest_bundles(pair_rules, CATALOGUE, min_count=1_000)
    assert none_qualify.empty
    assert list(none_qualify.columns) == BUNDLE_COLUMNS


def test_bundle_defaults_keep_a_pair_bought_together_ten_times():
    """The defaults (min_count 10, min_lift 1.5) are inclusive: 10 baskets of {1, 2} among 40 qualify, 9 do
    not; a threshold equal to a pair's own lift keeps it."""

    def rules_for(together: int):
        rows = [(b, x) for b in range(together) for x in (1, 2)]
        rows += [(100 + b, 3) for b in range(40 - together)]
        return mine_rules(pd.DataFrame(rows, columns=["basket_id", "item"]), 0.001, 0.0, max_len=2)

    catalogue = pd.DataFrame({"product_id": [1, 2, 3], "list_price": 10.0, "unit_cost": 5.0})
    assert _pairs(suggest_bundles(rules_for(10), catalogue)) == [(1, 2)]  # lift 40 / 10 = 4
    assert _pairs(suggest_bundles(rules_for(9), catalogue)) == []
    rules = rules_for(10)
    own_lift = float(rules["lift"].iloc[0])
    assert _pairs(suggest_bundles(rules, catalogue, min_lift=own_lift)) == [(1, 2)]
    assert _pairs(suggest_bundles(rules, catalogue, min_lift=np.nextafter(own_lift, np.inf))) == []


@pytest.mark.parametrize(
    ("prices", "costs", "discount", "kept"),
    [
        # Margin 0.5 on 10.0: half of it is 2.5 % of the price -> 2 %; 9.8 - 9.5 = 0.3 of 0.5 kept.
        ((6.0, 4.0), (5.0, 4.5), 0.02, 0.6),
        # A price under 1: 0.8 - 0.2 = 0.6 margin, half of it is 37.5 % -> the 20 % cap; 0.64 - 0.2 = 0.44.
        ((0.5, 0.3), (0.1, 0.1), 0.20, 0.44 / 0.6),
    ],
)
def test_small_margins_and_cheap_products_are_discounted_too(prices, costs, discount, kept):
    rows = [(b, x) for b in range(20) for x in ("a", "b")] + [(100 + b, "c") for b in range(20)]
    rules = mine_rules(pd.DataFrame(rows, columns=["basket_id", "item"]), 0.001, 0.0, max_len=2)
    catalogue = pd.DataFrame({"product_id": ["a", "b"], "list_price": prices, "unit_cost": costs})
    bundle = suggest_bundles(rules, catalogue).iloc[0]
    assert bundle["suggested_discount_pct"] == pytest.approx(discount, abs=1e-12)
    assert bundle["margin_kept"] == pytest.approx(kept)


def test_a_cap_a_hair_below_a_step_is_not_rounded_up_to_it(pair_rules):
    """max_discount_pct = 0.07 - 5e-12: dividing by the step gives 6.9999999995, which the 1e-9 meant for
    exact multiples lifts to 7; the guard must bring the discount back to 6 %, under the cap."""
    bundles = suggest_bundles(pair_rules, CATALOGUE, min_margin_kept=0.0, max_discount_pct=0.07 - 5e-12)
    assert bundles["suggested_discount_pct"].tolist() == pytest.approx([0.06, 0.06], abs=1e-12)


def test_bundle_ties_on_lift_count_and_first_product_go_by_the_second():
    rows, basket = [], 0
    for items in ((1, 3), (1, 2)):
        for _ in range(20):
            basket += 1
            rows += [(basket, x) for x in items]
    for single, times in ((2, 20), (3, 20)):
        for _ in range(times):
            basket += 1
            rows.append((basket, single))
    rules = mine_rules(pd.DataFrame(rows, columns=["basket_id", "item"]), 0.001, 0.0, max_len=2)
    catalogue = pd.DataFrame({"product_id": [1, 2, 3], "list_price": 10.0, "unit_cost": 5.0})
    bundles = suggest_bundles(rules, catalogue, min_lift=1.0, min_count=1)
    assert bundles["lift"].nunique() == 1
    assert _pairs(bundles) == [(1, 2), (1, 3)]


def test_bundle_columns_have_numeric_types(pair_rules):
    bundles = suggest_bundles(pair_rules, CATALOGUE)
    assert bundles["count"].dtype == np.int64
    for column in BUNDLE_COLUMNS[3:]:
        assert bundles[column].dtype == np.float64, column


def test_rules_csv_keeps_ids_as_text_and_honours_its_options(tmp_path):
    """Basket ids "01" and "1" are two baskets and items "007" and "7" two items (read as numbers they would
    merge); empty items are no item however many there are; other columns are ignored; max_len bounds the
    rules; the separator joins a two-item antecedent."""
    lines = ["basket_id,item,note"]
    for b in ("01", "1", "2", "3"):
        lines += [f"{b},007,x", f"{b},7,y", f"{b},8,z", f"{b},,"]
    lines += ["4,7,", "5,,"]
    src = tmp_path / "baskets.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "rules.csv"
    n = mine_rules_csv(src, out, 0.5, 0.5, max_len=3, separator=";")
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert n == len(written)
    items = {i for a in written["antecedents"] for i in a.split(";")} | set(written["consequents"])
    assert items == {"007", "7", "8"}
    # Six baskets: 007 and 8 in four ("01", "1", "2", "3"), 7 in five.
    row = written[(written["antecedents"] == "007;8") & (written["consequents"] == "7")].iloc[0]
    assert float(row["support"]) == pytest.approx(4 / 6)
    assert float(row["confidence"]) == 1.0
    assert mine_rules_csv(src, out, 0.5, 0.5, max_len=2) < n
    assert not pd.read_csv(out, dtype=str)["antecedents"].str.contains(";").any()


def test_categories_of_baskets_worked_out_by_hand():
    """An item with two categories takes the first; a category twice in a basket counts once; a basket whose
    items all lack a category keeps one row without an item (support still counts it); a basket with one
    mapped item loses its unmapped ones."""
    baskets = pd.DataFrame(
        {
            "basket_id": [1, 1, 1, 2, 2, 3, 3],
            "item": ["milk", "butter", "tea", "soap", "tea", "rock", "stone"],
        }
    )
    categories = pd.DataFrame(
        {
            "item": ["milk", "butter", "tea", "soap", "tea"],
            "category": ["dairy", "dairy", "drinks", "household", "food"],
        }
    )
    got = baskets_to_categories(baskets, categories)
    expected = pd.DataFrame(
        {"basket_id": [1, 1, 2, 2, 3], "item": ["dairy", "drinks", "household", "drinks", None]}
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert mine_rules(got, 0.3, 0.5).attrs["n_baskets"] == 3


def test_one_rule_left_after_the_confidence_filter_is_returned(tiny_baskets):
    """At confidence 0.7 only b => a (1.0) of a and b's rules survives, with c => d and d => c (1.0) gone
    for support: exactly one rule after the exact confidence filter dropped a => b (2/3)."""
    rules = mine_rules(tiny_baskets, 0.3, 0.7, miner="mlxtend")
    assert list(zip(rules["antecedent_key"], rules["consequent_key"], strict=True)) == [("b", "a")]


def test_rules_of_equal_lift_and_confidence_come_by_support():
    """x => y and u => v both have confidence 1/2 and lift 2 (y and v are each in a quarter of the 80
    baskets); x => y holds in 10 baskets, u => v in 5, so it comes first."""
    rows, basket = [], 0

    def add(items, times):
        nonlocal basket
        for _ in range(times):
            basket += 1
            rows.extend((basket, i) for i in items)

    add(("x", "y"), 10)
    add(("x",), 10)
    add(("y",), 10)
    add(("u", "v"), 5)
    add(("u",), 5)
    add(("v",), 15)
    add(("w",), 25)
    rules = mine_rules(pd.DataFrame(rows, columns=["basket_id", "item"]), 0.05, 0.5, max_len=2)
    picked = rules[rules["antecedent_key"].isin(["x", "u"])]
    assert picked["lift"].tolist() == pytest.approx([2.0, 2.0])
    assert picked["confidence"].tolist() == pytest.approx([0.5, 0.5])
    assert picked["antecedent_key"].tolist() == ["x", "u"]


@pytest.mark.parametrize("miner", ["fim", "mlxtend"])
def test_empty_rules_carry_the_column_types(tiny_baskets, miner):
    rules = mine_rules(tiny_baskets, 0.9, 0.5, miner=miner)
    assert rules.empty
    assert rules["antecedent_len"].dtype == np.int64
    assert rules["count"].dtype == np.int64
    for column in ("support", "antecedent_support", "consequent_support", "confidence", "lift", "leverage",
                   "conviction"):  # fmt: skip
        assert rules[column].dtype == np.float64, column


def test_fim_keeps_rules_under_one_percent_confidence_at_threshold_zero():
    """a is in 1,000 baskets, b in 5 of them and in 5 others: a => b has confidence 0.5 %. pyfim takes
    confidence in percent; at 0 it must still report the rule, as mlxtend does."""
    rows = (
        [(i, "a") for i in range(1000)] + [(i, "b") for i in range(5)] + [(2000 + i, "b") for i in range(5)]
    )
    baskets = pd.DataFrame(rows, columns=["basket_id", "item"])
    fim = mine_rules(baskets, 0.001, 0.0, miner="fim")
    assert ("a", "b") in set(zip(fim["antecedent_key"], fim["consequent_key"], strict=True))
    pd.testing.assert_frame_equal(fim, mine_rules(baskets, 0.001, 0.0, miner="mlxtend"))
