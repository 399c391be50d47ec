"""Market-basket analysis: association rules with arules semantics, bundle suggestions, CSV export.

Association rules follow Agrawal, Imieliński & Swami (1993) "Mining association rules between sets of
items in large databases" and the conventions of the R package arules (Hahsler, Grün & Hornik 2005):

* the support of an itemset is the fraction of *all* baskets that contain it, including baskets whose
  items all fall below the minimum support;
* an itemset is frequent when ``support >= min_support`` in floating point, i.e. when its basket count
  is at least the smallest integer ``c`` with ``c / n_baskets >= min_support`` (supp 0.001 on 9,835
  baskets gives 10);
* a rule ``X => {y}`` has exactly one item in the consequent and a non-empty antecedent; its support
  is the support of the full itemset ``X ∪ {y}`` and it is kept when ``confidence >= min_confidence``.
  arules' default ``minlen=1`` would also return ``{} => {y}`` for every item with
  ``support(y) >= min_confidence``; such a rule never fires from a purchase history, so it is left out
  (on Groceries at confidence 0.5 there are none, and the published counts 15 and 5,668 hold);
* measures: ``confidence = s(XY)/s(X)``, ``lift = confidence/s(Y)``,
  ``leverage = s(XY) - s(X)s(Y)`` (Piatetsky-Shapiro 1991),
  ``conviction = (1 - s(Y))/(1 - confidence)`` (Brin et al. 1997), ``inf`` when confidence is 1 as in
  mlxtend. All are computed from integer basket counts, so both miners give bit-identical figures.

Two miners sit behind :func:`mine_rules`: Borgelt's C implementation of Apriori (``pyfim``; Borgelt 2012,
"Frequent item set mining", WIREs Data Mining Knowl. Discov. 2(6)), which is what arules itself wraps,
and mlxtend's FP-growth (Han, Pei & Yin 2000) on a sparse one-hot matrix of the frequent items only.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "ITEM_SEPARATOR",
    "RULE_COLUMNS",
    "baskets_to_categories",
    "min_count_for_support",
    "mine_rules",
    "mine_rules_csv",
    "rules_for_export",
    "suggest_bundles",
]

# Items inside an antecedent key / exported cell are joined with this. Commas are common in product
# names ("Jam, strawberry") and would clash with arules' "{a,b}" notation, a spaced pipe rarely does.
ITEM_SEPARATOR = " | "

# The pipeline's thresholds (the ``basket_rules`` asset and the notebooks use these), chosen for shops of a
# few thousand orders a month: a product pair must appear in at least 0.2% of orders to be a rule (0.1% at
# category level would be every pair) and hold in a fifth of the antecedent's baskets.
PIPELINE_PRODUCT_RULES = {"min_support": 0.002, "min_confidence": 0.2, "max_len": 3}
PIPELINE_CATEGORY_RULES = {"min_support": 0.01, "min_confidence": 0.3, "max_len": 3}

RULE_COLUMNS = [
    "antecedents",
    "consequents",
    "consequent",
    "antecedent_key",
    "consequent_key",
    "antecedent_len",
    "count",
    "support",
    "antecedent_support",
    "consequent_support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
]

_MINERS = ("auto", "fim", "mlxtend")


def min_count_for_support(min_support: float, n_baskets: int) -> int:
    """Smallest basket count ``c`` with ``c / n_baskets >= min_support``, compared in floating point.

    This is arules' test (``support >= minsupp``); a bare ``ceil(min_support * n)`` can be one too high
    when the product is an integer that floating point rounds up (0.28 * 25 = 7.000000000000001).
    """
    if not 0 < min_support <= 1:
        raise ValueError(f"min_support must be in (0, 1], got {min_support}")
    if n_baskets <= 0:
        return 1
    count = max(1, math.ceil(min_support * n_baskets))
    while count > 1 and (count - 1) / n_baskets >= min_support:
        count -= 1
    while count / n_baskets < min_support:
        count += 1
    return count


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector around bulk allocation of acyclic lists.

    Building tens of thousands of transaction lists triggers repeated collections that find nothing to
    free and, on Online Retail, add up to a third of the C miner's own time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fim_available() -> bool:
    try:
        import fim  # noqa: F401
    except ImportError:
        return False
    return True


def _encode(
    baskets: pd.DataFrame, basket_col: str, item_col: str
) -> tuple[np.ndarray, np.ndarray, int, pd.Index]:
    """Integer-code a long basket table: (basket codes, item codes, n_baskets, item labels).

    Rows with a missing item are dropped, but their basket still counts towards ``n_baskets``.
    """
    missing = [c for c in (basket_col, item_col) if c not in baskets.columns]
    if missing:
        raise KeyError(f"baskets lacks column(s) {missing}; expected long format ({basket_col}, {item_col})")
    basket_codes, basket_labels = pd.factorize(baskets[basket_col], use_na_sentinel=True)
    item_codes, item_labels = pd.factorize(baskets[item_col], use_na_sentinel=True)
    keep = (item_codes >= 0) & (basket_codes >= 0)
    if not keep.all():
        basket_codes, item_codes = basket_codes[keep], item_codes[keep]
    return (
        basket_codes.astype(np.int64),
        item_codes.astype(np.int64),
        len(basket_labels),
        pd.Index(item_labels),
    )


def _group_by_basket(basket_codes: np.ndarray, item_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder so each basket's rows are contiguous (skipped when they already are)."""
    if len(basket_codes) > 1 and (np.diff(basket_codes) < 0).any():
        order = np.argsort(basket_codes, kind="stable")
        return basket_codes[order], item_codes[order]
    return basket_codes, item_codes


def _split_transactions(basket_codes: np.ndarray, item_codes: np.ndarray) -> list[list[int]]:
    """Python lists of item codes, one per basket that has any (input grouped by basket)."""
    if len(item_codes) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, basket_codes[1:] != basket_codes[:-1]])
    bounds = [*starts.tolist(), len(item_codes)]
    items = item_codes.tolist()
    return [items[bounds[k] : bounds[k + 1]] for k in range(len(starts))]


def _fim_rules(
    transactions: list[list[int]], min_count: int, min_confidence: float, max_len: int | None
) -> list[tuple]:
    """Borgelt's Apriori: rules ``(head, body, itemset count, body count, head count)``.

    Negative ``supp`` is an absolute count, which sidesteps fim's percentage rounding; the confidence
    bound is loosened by a hair here and re-applied exactly on the integer counts in
    :func:`_rules_frame`, so rules sitting exactly on the threshold (127/254 = 0.5 on Groceries) are
    decided the way arules decides them.
    """
    import fim

    options = {"zmax": max_len} if max_len is not None else {}
    return fim.apriori(
        transactions,
        target="r",
        supp=-min_count,
        conf=max(0.0, min_confidence * 100.0 - 1e-6),
        zmin=2,
        report="abh",
        mode="o",  # rule support = support of body ∪ head, as in arules, not of the body alone
        **options,
    )


def _mine_counts_fim(
    basket_codes: np.ndarray,
    item_codes: np.ndarray,
    min_count: int,
    min_confidence: float,
    max_len: int | None,
) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rules from Borgelt's Apriori: (antecedent code tuples, consequent codes, itemset, body, head counts)."""
    # Items below the minimum count cannot be in any frequent itemset; dropping them first makes the
    # Python transaction lists, and fim's own input scan, smaller. Supports are absolute counts, so the
    # baskets left empty need not be passed.
    frequent = np.bincount(item_codes) >= min_count
    keep = frequent[item_codes]
    basket_codes, item_codes = _group_by_basket(basket_codes[keep], item_codes[keep])
    with _gc_paused():
        # One empty transaction more: fim reports no rule at all when every item is in every transaction
        # it is given (seen with pyfim 6.28), which pruning can cause; counts are absolute, so it changes
        # no figure.
        transactions = [*_split_transactions(basket_codes, item_codes), []]
        raw = _fim_rules(transactions, min_count, min_confidence, max_len)
    n = len(raw)
    heads = np.fromiter((r[0] for r in raw), dtype=np.int64, count=n)
    bodies = [r[1] for r in raw]
    counts = np.fromiter((r[2] for r in raw), dtype=np.int64, count=n)
    body_counts = np.fromiter((r[3] for r in raw), dtype=np.int64, count=n)
    head_counts = np.fromiter((r[4] for r in raw), dtype=np.int64, count=n)
    return bodies, heads, counts, body_counts, head_counts


def _mine_counts_mlxtend(
    basket_codes: np.ndarray,
    item_codes: np.ndarray,
    n_baskets: int,
    n_items: int,
    min_count: int,
    max_len: int | None,
) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rules from mlxtend's FP-growth on a sparse one-hot matrix of the frequent items only."""
    from mlxtend.frequent_patterns import fpgrowth
    from scipy import sparse

    empty = ([], np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    # Dedupe (basket, item) first: a repeated line must count once, and the item counts below need it.
    pair_key = np.unique(basket_codes * n_items + item_codes)
    basket_codes, item_codes = pair_key // n_items, pair_key % n_items
    item_counts = np.bincount(item_codes, minlength=n_items)
    frequent = np.flatnonzero(item_counts >= min_count)
    if len(frequent) == 0:
        return empty
    # Infrequent items are dropped before encoding (no itemset containing them can be frequent), which
    # shrinks the matrix's width from every item ever sold to the few hundred that matter. Baskets stay
    # as rows even when empty: they cost nothing in CSR and keep mlxtend's denominator at n_baskets.
    column_of = np.full(n_items, -1, dtype=np.int64)
    column_of[frequent] = np.arange(len(frequent))
    cols = column_of[item_codes]
    keep = cols >= 0
    matrix = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=bool), (basket_codes[keep], cols[keep])),
        shape=(n_baskets, len(frequent)),
    )
    onehot = pd.DataFrame.sparse.from_spmatrix(matrix, columns=[str(c) for c in range(len(frequent))])
    # mlxtend keeps counts >= ceil(min_support * n); half a basket below min_count lands that ceiling
    # exactly on min_count whatever the floating-point rounding.
    itemsets = fpgrowth(
        onehot, min_support=(min_count - 0.5) / n_baskets, use_colnames=False, max_len=max_len
    )
    if itemsets.empty:
        return empty
    set_counts = np.rint(itemsets["support"].to_numpy() * n_baskets).astype(np.int64)
    count_of = {
        tuple(sorted(int(frequent[c]) for c in s)): k
        for s, k in zip(itemsets["itemsets"], set_counts.tolist(), strict=True)
    }
    # One-item consequents only: k rules per k-itemset instead of the 2^k - 2 splits that
    # mlxtend.association_rules enumerates and then discards here.
    bodies, heads, counts, body_counts, head_counts = [], [], [], [], []
    for itemset, count in count_of.items():
        if len(itemset) < 2:
            continue
        for pos, head in enumerate(itemset):
            body = itemset[:pos] + itemset[pos + 1 :]
            bodies.append(body)
            heads.append(head)
            counts.append(count)
            body_counts.append(count_of[body])
            head_counts.append(count_of[(head,)])
    return (
        bodies,
        np.asarray(heads, dtype=np.int64),
        np.asarray(counts, dtype=np.int64),
        np.asarray(body_counts, dtype=np.int64),
        np.asarray(head_counts, dtype=np.int64),
    )


def _empty_rules() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in RULE_COLUMNS})
    for c in ("antecedent_len", "count"):
        frame[c] = frame[c].astype(np.int64)
    for c in RULE_COLUMNS[7:]:
        frame[c] = frame[c].astype(np.float64)
    for c in ("antecedent_key", "consequent_key"):
        frame[c] = frame[c].astype(str)
    return frame


def mine_rules(
    baskets: pd.DataFrame,
    min_support: float,
    min_confidence: float,
    max_len: int | None = None,
    miner: str = "auto",
    *,
    basket_col: str = "basket_id",
    item_col: str = "item",
) -> pd.DataFrame:
    """Association rules with one item in the consequent, with arules' semantics (see the module doc).

    Parameters
    ----------
    baskets
        Long table, one row per (basket, item); an item repeated within a basket counts once, rows with a
        missing item are ignored (their basket still counts in the denominator).
    min_support, min_confidence
        Thresholds as fractions: keep itemsets with ``support >= min_support`` and rules with
        ``confidence >= min_confidence``.
    max_len
        Largest itemset (antecedent + consequent) considered; ``None`` means no limit.
    miner
        ``"fim"``: Borgelt's C Apriori from ``pyfim`` (a declared dependency). ``"mlxtend"``: FP-growth
        from mlxtend on a sparse one-hot matrix of the frequent items. ``"auto"`` (default) uses ``"fim"``
        and falls back to ``"mlxtend"`` when ``pyfim`` cannot be imported. Both return identical rules.

    Returns
    -------
    DataFrame with one row per rule and columns
    ``antecedents`` (tuple of items, sorted by their string form), ``consequents`` (1-tuple, as in
    mlxtend), ``consequent`` (the item itself), ``antecedent_key`` / ``consequent_key`` (the items'
    string forms joined by :data:`ITEM_SEPARATOR`, for DuckDB and CSV), ``antecedent_len``, ``count``
    (baskets holding antecedent and consequent), ``support``, ``antecedent_support`` (arules'
    "coverage"), ``consequent_support``, ``confidence``, ``lift``, ``leverage``, ``conviction``.
    Items keep their original type. Rows are sorted by lift, then confidence, then support (all
    descending), then antecedent length, antecedent key and consequent key (ascending), with a fresh
    RangeIndex. ``df.attrs["n_baskets"]`` holds the number of baskets.
    """
    if miner not in _MINERS:
        raise ValueError(f"miner must be one of {_MINERS}, got {miner!r}")
    if not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if max_len is not None and max_len < 2:
        raise ValueError(f"max_len must be at least 2 (antecedent + consequent), got {max_len}")
    if miner == "auto":
        miner = "fim" if _fim_available() else "mlxtend"

    basket_codes, item_codes, n_baskets, labels = _encode(baskets, basket_col, item_col)
    if n_baskets == 0 or len(item_codes) == 0:
        out = _empty_rules()
        out.attrs["n_baskets"] = n_baskets
        return out
    min_count = min_count_for_support(min_support, n_baskets)
    if miner == "fim":
        bodies, heads, counts, body_counts, head_counts = _mine_counts_fim(
            basket_codes, item_codes, min_count, min_confidence, max_len
        )
    else:
        bodies, heads, counts, body_counts, head_counts = _mine_counts_mlxtend(
            basket_codes, item_codes, n_baskets, len(labels), min_count, max_len
        )
    out = _rules_frame(bodies, heads, counts, body_counts, head_counts, n_baskets, labels, min_confidence)
    out.attrs["n_baskets"] = n_baskets
    return out


def _rules_frame(
    bodies: list[tuple[int, ...]],
    heads: np.ndarray,
    counts: np.ndarray,
    body_counts: np.ndarray,
    head_counts: np.ndarray,
    n_baskets: int,
    labels: pd.Index,
    min_confidence: float,
) -> pd.DataFrame:
    """Measures from integer counts, exact confidence filter, readable items, deterministic order."""
    if len(heads) == 0:
        return _empty_rules()
    n = float(n_baskets)
    confidence = counts / body_counts
    keep = confidence >= min_confidence
    if not keep.all():
        idx = np.flatnonzero(keep)
        bodies = [bodies[i] for i in idx]
        heads, counts, body_counts, head_counts = heads[idx], counts[idx], body_counts[idx], head_counts[idx]
        confidence = confidence[idx]
        if len(heads) == 0:
            return _empty_rules()
    support = counts / n
    antecedent_support = body_counts / n
    consequent_support = head_counts / n
    lift = confidence / consequent_support
    leverage = support - antecedent_support * consequent_support
    with np.errstate(divide="ignore", invalid="ignore"):
        conviction = np.where(confidence >= 1.0, np.inf, (1.0 - consequent_support) / (1.0 - confidence))

    label_list = labels.tolist()
    text = [str(x) for x in label_list]
    # Items are ordered by their string form so that mixed or numeric ids still sort deterministically.
    rank = np.empty(len(text), dtype=np.int64)
    rank[np.argsort(np.asarray(text, dtype=object), kind="stable")] = np.arange(len(text))
    rank_of = rank.tolist()
    sorted_bodies = [sorted(b, key=rank_of.__getitem__) for b in bodies]
    antecedents = [tuple(label_list[i] for i in b) for b in sorted_bodies]
    antecedent_key = [ITEM_SEPARATOR.join(text[i] for i in b) for b in sorted_bodies]
    head_list = heads.tolist()
    frame = pd.DataFrame(
        {
            "antecedents": pd.Series(antecedents, dtype=object),
            "consequents": pd.Series([(label_list[h],) for h in head_list], dtype=object),
            "consequent": pd.Series([label_list[h] for h in head_list], dtype=object),
            "antecedent_key": antecedent_key,
            "consequent_key": [text[h] for h in head_list],
            "antecedent_len": np.fromiter((len(b) for b in bodies), dtype=np.int64, count=len(bodies)),
            "count": counts,
            "support": support,
            "antecedent_support": antecedent_support,
            "consequent_support": consequent_support,
            "confidence": confidence,
            "lift": lift,
            "leverage": leverage,
            "conviction": conviction,
        }
    )
    frame = frame.sort_values(
        ["lift", "confidence", "support", "antecedent_len", "antecedent_key", "consequent_key"],
        ascending=[False, False, False, True, True, True],
        kind="stable",
        ignore_index=True,
    )
    return frame


def rules_for_export(rules: pd.DataFrame, separator: str = ITEM_SEPARATOR) -> pd.DataFrame:
    """Flat copy of :func:`mine_rules` output for CSV or DuckDB: items as strings, no tuple columns.

    ``antecedents`` and ``consequents`` become the items' string forms joined by ``separator``
    (default :data:`ITEM_SEPARATOR`, ``" | "``); the measures follow unchanged, conviction ``inf`` included.
    """
    columns = [
        "antecedents",
        "consequents",
        "antecedent_len",
        "count",
        "support",
        "antecedent_support",
        "consequent_support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
    ]
    if rules.empty:
        return pd.DataFrame({c: pd.Series(dtype=str if c in columns[:2] else np.float64) for c in columns})
    out = rules[columns[2:]].copy()
    out.insert(0, "antecedents", [separator.join(str(x) for x in a) for a in rules["antecedents"]])
    out.insert(1, "consequents", [separator.join(str(x) for x in c) for c in rules["consequents"]])
    return out


def mine_rules_csv(
    input_csv: str | Path,
    output_csv: str | Path,
    min_support: float,
    min_confidence: float,
    max_len: int | None = None,
    miner: str = "auto",
    separator: str = ITEM_SEPARATOR,
) -> int:
    """Mine a basket file and write its rules as CSV; returns the number of rules. Backs ``ecrm rules``.

    Command line::

        ecrm rules INPUT.csv --min-support S --min-confidence C [--max-len K]
                   [--miner auto|fim|mlxtend] --out OUTPUT.csv

    ``INPUT.csv`` is a long CSV with a header and the columns ``basket_id,item`` (other columns are
    ignored), one line per item in a basket; both are read as text, exactly as written (no NA
    guessing, no whitespace stripping), and a repeated item counts once. Support counts every basket
    id in the file, including a basket whose only line has an empty item. ``OUTPUT.csv`` has the columns of :func:`rules_for_export`: ``antecedents`` and
    ``consequents`` as items joined by ``" | "``, then ``antecedent_len, count, support,
    antecedent_support, consequent_support, confidence, lift, leverage, conviction``, sorted by lift
    descending. This is the one function here that touches files, so the CLI stays a thin wrapper.
    """
    baskets = pd.read_csv(
        input_csv,
        usecols=["basket_id", "item"],
        dtype={"basket_id": str, "item": str},
        keep_default_na=False,
        na_filter=False,
    )
    # An empty item cell is no item, but its basket still counts towards support.
    baskets["item"] = baskets["item"].mask(baskets["item"] == "")
    rules = mine_rules(baskets, min_support, min_confidence, max_len=max_len, miner=miner)
    rules_for_export(rules, separator=separator).to_csv(output_csv, index=False)
    return len(rules)


def baskets_to_categories(
    baskets: pd.DataFrame,
    item_categories: pd.DataFrame,
    *,
    basket_col: str = "basket_id",
    item_col: str = "item",
    category_col: str = "category",
) -> pd.DataFrame:
    """Lift a long basket table from items to their categories, for category-level rules.

    ``item_categories`` maps ``item_col`` to ``category_col``. Items without a category are dropped,
    and a category bought twice in one basket counts once. Returns ``basket_col, item_col`` with the
    category in ``item_col``, ready for :func:`mine_rules`; baskets with no mapped item are kept with a
    missing item so that support still counts them.
    """
    mapping = item_categories[[item_col, category_col]].drop_duplicates(item_col)
    merged = baskets[[basket_col, item_col]].merge(mapping, on=item_col, how="left")
    out = merged[[basket_col, category_col]].rename(columns={category_col: item_col})
    out = out.drop_duplicates(ignore_index=True)
    has_item = out[item_col].notna()
    # A basket whose items all lack a category keeps one row with a missing item: mine_rules skips
    # the item but still counts the basket.
    covered = out.loc[has_item, basket_col].unique()
    empty = out.loc[~has_item & ~out[basket_col].isin(covered)].drop_duplicates(basket_col)
    return pd.concat([out[has_item], empty], ignore_index=True)


def suggest_bundles(
    rules: pd.DataFrame,
    products: pd.DataFrame,
    *,
    min_lift: float = 1.5,
    min_count: int = 10,
    min_margin_kept: float = 0.5,
    max_discount_pct: float = 0.2,
    discount_step: float = 0.01,
    active_only: bool = True,
    top_n: int | None = None,
) -> pd.DataFrame:
    """Product pairs bought together more than chance, priced as a bundle that keeps most of its margin.

    Parameters
    ----------
    rules
        :func:`mine_rules` output on product baskets. Only one-item antecedents are used; mine with
        ``max_len=2`` and a low ``min_confidence`` (0 keeps every frequent pair) so that pairs whose
        confidence is low in both directions are not lost. Both directions of a pair are merged.
    products
        ``product_id, list_price, unit_cost`` and optionally ``is_active`` (inactive products are
        skipped when ``active_only``). Pairs with a product missing here are dropped.
    min_lift, min_count
        A pair qualifies with ``lift >= min_lift`` and at least ``min_count`` baskets holding both.
    min_margin_kept, max_discount_pct, discount_step
        The discount rule: with list price ``P`` and unit cost ``C`` of the pair, the margin is
        ``M = P - C``; the discount is the largest multiple of ``discount_step`` (as a share of ``P``)
        that is at most ``max_discount_pct`` and leaves ``bundle_price - C >= min_margin_kept * M``,
        i.e. it gives away at most ``(1 - min_margin_kept)`` of the pair's margin. Pairs with no
        positive margin get no discount (0).
    top_n
        Keep only the best ``top_n`` pairs (by lift, then count).

    Returns
    -------
    DataFrame ``product_a, product_b`` (a before b by string form), ``count, support, lift,
    confidence_a_to_b, confidence_b_to_a, combined_list_price, combined_unit_cost, combined_margin,
    suggested_discount_pct, bundle_price, bundle_margin, margin_kept``, sorted by lift then count.
    """
    if not 0 <= min_margin_kept <= 1:
        raise ValueError(f"min_margin_kept must be in [0, 1], got {min_margin_kept}")
    if not 0 <= max_discount_pct < 1:
        raise ValueError(f"max_discount_pct must be in [0, 1), got {max_discount_pct}")
    columns = [
        "product_a",
        "product_b",
        "count",
        "support",
        "lift",
        "confidence_a_to_b",
        "confidence_b_to_a",
        "combined_list_price",
        "combined_unit_cost",
        "combined_margin",
        "suggested_discount_pct",
        "bundle_price",
        "bundle_margin",
        "margin_kept",
    ]
    pairs = rules.loc[rules["antecedent_len"] == 1]
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    left = pairs["antecedents"].map(lambda a: a[0])
    right = pairs["consequent"]
    a_first = left.map(str) <= right.map(str)
    directed = pd.DataFrame(
        {
            "product_a": left.where(a_first, right),
            "product_b": right.where(a_first, left),
            "a_to_b": a_first,
            "count": pairs["count"],
            "support": pairs["support"],
            "lift": pairs["lift"],
            "confidence": pairs["confidence"],
        }
    )
    directed["product_a"] = directed["product_a"].astype(object)
    directed["product_b"] = directed["product_b"].astype(object)
    directed = directed[(directed["lift"] >= min_lift) & (directed["count"] >= min_count)]
    if directed.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    # Lift and support are symmetric in a pair; confidence is kept per direction (NaN when a direction
    # fell below the rules' confidence threshold).
    grouped = directed.groupby(["product_a", "product_b"], sort=False)
    bundle = grouped[["count", "support", "lift"]].first()
    conf_ab = directed[directed["a_to_b"]].groupby(["product_a", "product_b"])["confidence"].first()
    conf_ba = directed[~directed["a_to_b"]].groupby(["product_a", "product_b"])["confidence"].first()
    bundle["confidence_a_to_b"] = conf_ab.reindex(bundle.index)
    bundle["confidence_b_to_a"] = conf_ba.reindex(bundle.index)
    bundle = bundle.reset_index()

    catalogue = products
    if active_only and "is_active" in catalogue.columns:
        catalogue = catalogue[catalogue["is_active"].fillna(False).astype(bool)]
    catalogue = catalogue[["product_id", "list_price", "unit_cost"]].drop_duplicates("product_id")
    catalogue = catalogue.astype({"product_id": object})
    for side in ("a", "b"):
        bundle = bundle.merge(
            catalogue.rename(
                columns={
                    "product_id": f"product_{side}",
                    "list_price": f"list_price_{side}",
                    "unit_cost": f"unit_cost_{side}",
                }
            ),
            on=f"product_{side}",
            how="inner",
        )
    price = bundle["list_price_a"].astype(float) + bundle["list_price_b"].astype(float)
    cost = bundle["unit_cost_a"].astype(float) + bundle["unit_cost_b"].astype(float)
    margin = price - cost
    # Largest discount share d with P(1 - d) - C >= k M  <=>  d <= (1 - k) M / P.
    with np.errstate(divide="ignore", invalid="ignore"):
        allowed = np.where((margin > 0) & (price > 0), (1.0 - min_margin_kept) * margin / price, 0.0)
    allowed = np.minimum(allowed, max_discount_pct)
    # Floor to the step; the 1e-9 keeps an exact multiple (0.2 / 0.01 = 19.999...) from flooring a step
    # short, and the guard undoes it should that ever push the discount past the allowed share.
    discount = np.round(np.floor(allowed / discount_step + 1e-9) * discount_step, 12)
    discount = np.where(discount > allowed + 1e-12, discount - discount_step, discount)
    discount = np.clip(discount, 0.0, None)
    bundle_price = price * (1.0 - discount)
    bundle_margin = bundle_price - cost
    with np.errstate(divide="ignore", invalid="ignore"):
        kept = np.where(margin > 0, bundle_margin / margin, np.nan)
    bundle = bundle.assign(
        combined_list_price=price,
        combined_unit_cost=cost,
        combined_margin=margin,
        suggested_discount_pct=discount,
        bundle_price=bundle_price,
        bundle_margin=bundle_margin,
        margin_kept=kept,
    )
    bundle["_a"] = bundle["product_a"].map(str)
    bundle["_b"] = bundle["product_b"].map(str)
    bundle = bundle.sort_values(
        ["lift", "count", "_a", "_b"], ascending=[False, False, True, True], ignore_index=True
    )
    if top_n is not None:
        bundle = bundle.head(top_n)
    return bundle[columns].reset_index(drop=True)
