"""Next-product recommendations from association rules, with best sellers as the fallback.

A rule ``X => {y}`` fires for a customer when every item of ``X`` is in their purchase history
(Agrawal, Imieliński & Swami 1993; used for recommendation as in Sarwar et al. 2000, "Analysis of
recommendation algorithms for e-commerce", ACM EC). The work is vectorised in numpy so that 100,000
customers with a million purchases take seconds, not a Python loop per customer.

Optionally, what a customer showed interest in without buying it (products in a cart, on a wish list, or
viewed; the rows of ``marts.product__customer_interest``) goes ahead of the rules, strongest and most recent
interest first (:func:`interest_scores`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "INTEREST_HALF_LIFE_DAYS",
    "INTEREST_REASONS",
    "INTEREST_WEIGHTS",
    "RECOMMENDATION_COLUMNS",
    "best_sellers_by_segment",
    "interest_as_of",
    "interest_scores",
    "recommend",
]

RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score", "reason", "source"]

# Browsing signals, strongest first: (name, column with the signal's latest time). A cart add says
# more about intent than a wish-list add, which says more than a view.
_SIGNALS = (
    ("cart", "last_carted_at"),
    ("wishlist", "last_wishlisted_at"),
    ("view", "last_viewed_at"),
)
INTEREST_WEIGHTS = {"cart": 3.0, "wishlist": 2.0, "view": 1.0}
# A signal's weight halves every this many days since its latest occurrence.
INTEREST_HALF_LIFE_DAYS = 30.0
INTEREST_REASONS = {"cart": "in your cart", "wishlist": "on your wish list", "view": "you looked at this"}

# Customers are processed in blocks of about this many (customer, antecedent item) matches, which
# bounds the size of the sparse customer x rule count matrix.
_MAX_HITS = 4_000_000


def best_sellers_by_segment(
    purchases: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    active_products: Iterable | None = None,
    *,
    customer_col: str = "customer_id",
    product_col: str = "product_id",
    segment_col: str = "segment",
) -> pd.DataFrame:
    """Products ranked by how many distinct customers bought them, per segment and overall.

    Returns ``segment, product_id, buyers, score`` where ``score = buyers / customers in the segment``
    (the share of the segment that bought the product), sorted by segment, score descending and product.
    The overall ranking has a missing ``segment``. Only active products are listed when
    ``active_products`` is given. Customers without a segment count only towards the overall ranking;
    a customer listed under several segments counts in the first.
    """
    bought = purchases[[customer_col, product_col]].dropna().drop_duplicates()
    if active_products is not None:
        bought = bought[bought[product_col].isin(pd.Index(list(active_products), dtype=object))]
    frames = []
    overall = bought.groupby(product_col, sort=False).size().rename("buyers").reset_index()
    overall["score"] = overall["buyers"] / max(purchases[customer_col].nunique(), 1)
    overall.insert(0, "segment", None)
    frames.append(overall)
    if segments is not None:
        seg = segments[[customer_col, segment_col]].dropna().drop_duplicates(customer_col)
        joined = bought.merge(seg, on=customer_col, how="inner")
        per = joined.groupby([segment_col, product_col], sort=False).size().rename("buyers").reset_index()
        buyers_in_segment = (
            purchases[[customer_col]]
            .drop_duplicates()
            .merge(seg, on=customer_col)
            .groupby(segment_col)
            .size()
        )
        per["score"] = per["buyers"] / per[segment_col].map(buyers_in_segment).clip(lower=1)
        frames.append(per.rename(columns={segment_col: "segment"}))
    out = pd.concat(frames, ignore_index=True)
    out = out.rename(columns={product_col: "product_id"})
    out["segment"] = out["segment"].astype(object)
    out["_seg"] = out["segment"].map(lambda s: "" if s is None or pd.isna(s) else str(s))
    out["_pid"] = out["product_id"].map(str)
    out = out.sort_values(["_seg", "score", "_pid"], ascending=[True, False, True], ignore_index=True)
    return out[["segment", "product_id", "buyers", "score"]]


def recommend(
    purchases: pd.DataFrame,
    rules: pd.DataFrame,
    active_products: Iterable | None = None,
    top_n: int = 3,
    segments: pd.DataFrame | None = None,
    best_sellers: pd.DataFrame | None = None,
    product_names: Mapping | pd.Series | None = None,
    *,
    customer_col: str = "customer_id",
    product_col: str = "product_id",
    segment_col: str = "segment",
    interest: pd.DataFrame | None = None,
    as_of: Any = None,
    interest_weights: Mapping[str, float] | None = None,
    interest_half_life_days: float = INTEREST_HALF_LIFE_DAYS,
    max_interest: int | None = None,
) -> pd.DataFrame:
    """Top-N products per customer from the rules their history fires, topped up with best sellers.

    Parameters
    ----------
    purchases
        Long table ``customer_id, product_id`` (repeats allowed): each customer's purchase history.
    rules
        Output of :func:`orchestration.analytics.basket.mine_rules` mined on product baskets; uses
        ``antecedents``, ``consequent``, ``confidence``, ``lift``, ``support``.
    active_products
        Products still sold; nothing else is recommended. ``None`` treats every product as active.
    top_n
        Recommendations per customer (default 3).
    segments
        Optional ``customer_id, segment``. Customers listed here without purchases also get best sellers.
    best_sellers
        Optional ranking ``segment, product_id, score`` (missing segment = overall ranking), as from
        :func:`best_sellers_by_segment`, which is what is used when this is ``None``.
    product_names
        Optional mapping product id -> display name for the ``reason`` text.
    interest
        Optional browsing signals per customer and product: the rows of ``marts.product__customer_interest``
        valid at the moment the recommendations are made (its current rows, or :func:`interest_as_of` for an
        earlier moment), i.e. ``customer_id, product_id`` and the latest times ``last_carted_at``,
        ``last_wishlisted_at``, ``last_viewed_at`` (empty = never). ``None`` (the default) uses none.
    as_of, interest_weights, interest_half_life_days
        Passed to :func:`interest_scores`: the moment the recommendations are made, from which the signals'
        ages are measured (default: the latest signal in ``interest``); the weights of cart, wish list and
        view; the half-life of a signal in days.
    max_interest
        At most this many browsing recommendations per customer (default: up to ``top_n``).

    Browsing first: with ``interest``, the products a customer carted, wish-listed or viewed and has not
    bought come first, highest :func:`interest_scores` score first (ties by product id as text), with reason
    "in your cart", "on your wish list" or "you looked at this" (the strongest signal the customer gave) and
    ``source`` "browsing". Interest of customers who are neither in ``purchases`` nor in ``segments`` is not
    used (they get no recommendations, as without ``interest``). The rules and best sellers fill the
    remaining places, as follows.

    Scoring: a candidate product's score is the highest confidence among the fired rules predicting it,
    i.e. the estimated probability that a customer with that history buys it (ties broken by lift, then
    support, then the rules' order); its ``reason`` is "bought " plus that rule's antecedent (names from
    ``product_names`` where given, ids otherwise). Products rank by the same keys. Rule items must have
    the same type as ``product_id`` (mine the rules on the same ids) or nothing fires. Products already bought and
    inactive products are never recommended. Customers left with fewer than ``top_n`` get their
    segment's best sellers (reason "best seller in segment <s>", score = share of the segment buying
    it), then the overall best sellers (reason "best seller"), again skipping what they own.

    Returns
    -------
    DataFrame ``customer_id, rank, product_id, score, reason, source`` with ``source`` in
    ``{"browsing", "rule", "best_seller"}`` and ``rank`` from 1, ordered by customer (first appearance) then rank.
    Every customer gets ``top_n`` rows unless fewer active products remain that they have not bought.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    bought = purchases[[customer_col, product_col]].dropna()
    interested = None
    if interest is not None:
        interested = interest_scores(
            interest.rename(columns={customer_col: "customer_id", product_col: "product_id"}),
            as_of,
            weights=interest_weights,
            half_life_days=interest_half_life_days,
        )

    seg_map = None
    if segments is not None:
        seg_map = segments[[customer_col, segment_col]].dropna().drop_duplicates(customer_col)
    customer_values = bought[customer_col]
    if seg_map is not None:
        customer_values = pd.concat([customer_values, seg_map[customer_col]], ignore_index=True)
    cust_codes_all, customers = pd.factorize(customer_values.astype(object))
    n_customers = len(customers)
    if n_customers == 0:
        return _empty()
    cust_of_purchase = cust_codes_all[: len(bought)]

    if best_sellers is None:
        best_sellers = best_sellers_by_segment(
            purchases,
            segments,
            active_products,
            customer_col=customer_col,
            product_col=product_col,
            segment_col=segment_col,
        )

    rule_items = (
        [x for a in rules["antecedents"] for x in a] + list(rules["consequent"]) if len(rules) else []
    )
    pools = [bought[product_col].tolist(), rule_items, best_sellers["product_id"].tolist()]
    if interested is not None:
        pools.append(interested["product_id"].tolist())
    if active_products is not None:
        active_list = list(active_products)
        pools.append(active_list)
    all_products = pd.Index(pd.unique(pd.Series([x for pool in pools for x in pool], dtype=object)))
    n_products = len(all_products)
    if active_products is None:
        is_active = np.ones(n_products, dtype=bool)
    else:
        is_active = np.zeros(n_products, dtype=bool)
        codes = all_products.get_indexer(pd.Index(active_list, dtype=object))
        is_active[codes[codes >= 0]] = True

    prod_of_purchase = all_products.get_indexer(pd.Index(bought[product_col].tolist(), dtype=object))
    owned = _sorted_unique(cust_of_purchase.astype(np.int64) * n_products + prod_of_purchase)

    names = _display_names(all_products, product_names)
    picks = _rule_candidates(owned, n_customers, rules, all_products, is_active, names, top_n)
    if interested is not None:
        cap = top_n if max_interest is None else max(0, min(int(max_interest), top_n))
        browsing = _interest_candidates(interested, owned, customers, all_products, is_active, cap)
        picks = _put_first(browsing, picks, n_customers, n_products, top_n)
    picks = _fill_with_best_sellers(
        picks,
        owned,
        n_customers,
        n_products,
        customers,
        seg_map,
        best_sellers,
        all_products,
        is_active,
        top_n,
        customer_col,
        segment_col,
    )
    if picks["cust"].size == 0:
        return _empty()
    order = np.lexsort((picks["rank"], picks["cust"]))
    out = pd.DataFrame(
        {
            "customer_id": pd.Series(customers.take(picks["cust"][order]), dtype=object),
            "rank": picks["rank"][order].astype(np.int64),
            "product_id": pd.Series(all_products.take(picks["prod"][order]), dtype=object),
            "score": picks["score"][order].astype(np.float64),
            "reason": pd.Series(np.asarray(picks["reason"], dtype=object)[order], dtype=str),
            "source": pd.Series(np.asarray(picks["source"], dtype=object)[order], dtype=str),
        }
    )
    return _restore_types(out, purchases, customer_col, product_col)


def interest_as_of(
    interest: pd.DataFrame,
    at: Any,
    *,
    from_col: str = "valid_from",
    to_col: str = "valid_to",
) -> pd.DataFrame:
    """The rows of a ``product__customer_interest`` history valid at ``at``: ``valid_from <= at`` and
    ``valid_to`` empty or later than ``at``. Each row holds the running figures up to its ``valid_from``, so
    the result shows every customer and product as known at ``at``, with nothing later (no look-ahead)."""
    start = pd.to_datetime(interest[from_col])
    end = pd.to_datetime(interest[to_col])
    t = pd.Timestamp(at)
    return interest.loc[(start <= t) & (end.isna() | (end > t))].reset_index(drop=True)


def interest_scores(
    interest: pd.DataFrame,
    as_of: Any = None,
    *,
    weights: Mapping[str, float] | None = None,
    half_life_days: float = INTEREST_HALF_LIFE_DAYS,
) -> pd.DataFrame:
    """Score each customer's interest in each product from the latest cart add, wish-list add and view.

    ``interest`` has ``customer_id, product_id`` and the times ``last_carted_at``, ``last_wishlisted_at``,
    ``last_viewed_at`` (empty = never; a missing column counts as never). With ``a_s`` the age in days of
    signal ``s`` at ``as_of`` (default: the latest signal in ``interest``; signals after ``as_of`` are
    ignored):

        score = sum over the signals present of  weight_s * 0.5 ** (a_s / half_life_days)

    with the weights of :data:`INTEREST_WEIGHTS` (cart 3, wish list 2, view 1) unless ``weights`` is given
    (a weight of 0 switches a signal off; negative weights are refused).
    So a cart add outweighs a wish-list add or a view of the same age, a cart add counts as much as a view
    log2(3) ≈ 1.6 half-lives younger, and old interest fades. The ``reason`` is the strongest signal present: "in your
    cart", "on your wish list", "you looked at this" (:data:`INTEREST_REASONS`).

    Returns ``customer_id, product_id, score, reason`` for every pair with at least one signal, one row per
    pair (duplicate pairs keep the latest times of each signal).
    """
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    w = {**INTEREST_WEIGHTS, **(weights or {})}
    if unknown := set(w) - set(INTEREST_WEIGHTS):
        raise ValueError(f"unknown interest signals {sorted(unknown)}; known: {sorted(INTEREST_WEIGHTS)}")
    if any(v < 0 for v in w.values()):
        raise ValueError(f"interest weights must not be negative, got {w}")
    frame = interest[["customer_id", "product_id"]].copy()
    times = {}
    for name, col in _SIGNALS:
        if col in interest.columns:
            times[name] = pd.to_datetime(interest[col]).astype("datetime64[us]")
        else:
            times[name] = pd.Series(pd.NaT, index=interest.index, dtype="datetime64[us]")
    if as_of is None:
        latest = [t.max() for t in times.values() if t.notna().any()]
        as_of = max(latest) if latest else pd.Timestamp(0)
    t0 = pd.Timestamp(as_of)
    for name, t in times.items():
        frame[name] = t.where(t <= t0)
    frame = frame.dropna(subset=["customer_id", "product_id"])
    frame = frame.groupby(["customer_id", "product_id"], as_index=False, sort=False).max()
    score = np.zeros(len(frame))
    reason = np.full(len(frame), None, dtype=object)
    # Weakest first, so the strongest signal present writes the reason last.
    for name, _ in reversed(_SIGNALS):
        t = frame[name]
        # A signal with weight 0 is switched off: it neither scores nor makes a pair a candidate.
        present = t.notna().to_numpy() & (float(w[name]) > 0)
        age = ((t0 - t).dt.total_seconds() / 86_400.0).to_numpy(np.float64)
        score += np.where(
            present, float(w[name]) * np.power(0.5, np.where(present, age, 0.0) / half_life_days), 0
        )
        reason[present] = INTEREST_REASONS[name]
    keep = pd.notna(reason)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy()[keep],
            "product_id": frame["product_id"].to_numpy()[keep],
            "score": score[keep],
            "reason": reason[keep].astype(str),
        }
    )


def _interest_candidates(
    interested: pd.DataFrame,
    owned: np.ndarray,
    customers: pd.Index,
    all_products: pd.Index,
    is_active: np.ndarray,
    cap: int,
) -> dict:
    """The ``cap`` best-scored products each customer showed interest in, not owned and still sold."""
    picks = {"cust": [], "prod": [], "score": [], "rank": [], "reason": [], "source": []}
    if cap == 0 or interested.empty:
        return _stack(picks)
    n_products = len(all_products)
    cust = customers.get_indexer(pd.Index(interested["customer_id"].tolist(), dtype=object))
    prod = all_products.get_indexer(pd.Index(interested["product_id"].tolist(), dtype=object))
    ok = (cust >= 0) & (prod >= 0)
    ok[ok] &= is_active[prod[ok]]
    ok[ok] &= ~_contains(owned, cust[ok].astype(np.int64) * n_products + prod[ok])
    cust, prod = cust[ok].astype(np.int64), prod[ok].astype(np.int64)
    score = interested["score"].to_numpy(np.float64)[ok]
    reasons = interested["reason"].to_numpy(object)[ok]
    if cust.size == 0:
        return _stack(picks)
    names = np.asarray([str(p) for p in all_products], dtype=object)[prod]
    order = np.lexsort((names, -score, cust))
    cust, prod, score, reasons = cust[order], prod[order], score[order], reasons[order]
    starts = np.r_[True, cust[1:] != cust[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(cust.size), 0))
    rank = np.arange(cust.size) - group_start + 1
    top = rank <= cap
    picks["cust"].append(cust[top])
    picks["prod"].append(prod[top])
    picks["score"].append(score[top])
    picks["rank"].append(rank[top])
    picks["reason"].extend(reasons[top].tolist())
    picks["source"].extend(["browsing"] * int(top.sum()))
    return _stack(picks)


def _put_first(first: dict, then: dict, n_customers: int, n_products: int, top_n: int) -> dict:
    """``first`` ranked ahead of ``then`` per customer: ``then``'s picks of a product already in ``first`` go,
    the rest move down behind ``first`` and are cut at ``top_n``."""
    if first["cust"].size == 0:
        return then
    taken = _sorted_unique(first["cust"] * n_products + first["prod"])
    keep = ~_contains(taken, then["cust"] * n_products + then["prod"])
    cust, rank = then["cust"][keep], then["rank"][keep]
    # Re-rank the surviving picks 1, 2, ... within each customer (in their old order), behind ``first``.
    order = np.lexsort((rank, cust))
    idx = np.flatnonzero(keep)[order]
    cust = cust[order]
    starts = np.r_[True, cust[1:] != cust[:-1]] if cust.size else np.empty(0, dtype=bool)
    group_start = np.maximum.accumulate(np.where(starts, np.arange(cust.size), 0)) if cust.size else starts
    new_rank = (
        np.bincount(first["cust"], minlength=n_customers)[cust] + np.arange(cust.size) - group_start + 1
    )
    fits = new_rank <= top_n
    idx, new_rank = idx[fits], new_rank[fits]
    reasons = np.asarray(then["reason"], dtype=object)
    sources = np.asarray(then["source"], dtype=object)
    return {
        "cust": np.concatenate([first["cust"], then["cust"][idx]]),
        "prod": np.concatenate([first["prod"], then["prod"][idx]]),
        "score": np.concatenate([first["score"], then["score"][idx]]),
        "rank": np.concatenate([first["rank"], new_rank.astype(np.int64)]),
        "reason": list(first["reason"]) + reasons[idx].tolist(),
        "source": list(first["source"]) + sources[idx].tolist(),
    }


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "rank": pd.Series(dtype=np.int64),
            "product_id": pd.Series(dtype=object),
            "score": pd.Series(dtype=np.float64),
            "reason": pd.Series(dtype=str),
            "source": pd.Series(dtype=str),
        }
    )


def _restore_types(
    out: pd.DataFrame, purchases: pd.DataFrame, customer_col: str, product_col: str
) -> pd.DataFrame:
    """Give the id columns the dtype they had in ``purchases`` when every value fits it."""
    for col, src in (("customer_id", customer_col), ("product_id", product_col)):
        try:
            out[col] = out[col].astype(purchases[src].dtype)
        except (TypeError, ValueError):
            pass
    return out


def _display_names(all_products: pd.Index, product_names: Mapping | pd.Series | None) -> list[str]:
    if product_names is None:
        return [str(p) for p in all_products]
    lookup = product_names if isinstance(product_names, Mapping) else product_names.to_dict()
    return [str(lookup.get(p, p)) for p in all_products]


def _rule_candidates(
    owned: np.ndarray,
    n_customers: int,
    rules: pd.DataFrame,
    all_products: pd.Index,
    is_active: np.ndarray,
    names: list[str],
    top_n: int,
) -> dict:
    """Best ``top_n`` rule recommendations per customer as parallel arrays.

    ``owned`` holds the sorted distinct keys ``customer * n_products + product`` of the histories.
    """
    from scipy import sparse

    picks = {"cust": [], "prod": [], "score": [], "rank": [], "reason": [], "source": []}
    if len(rules) == 0 or len(owned) == 0:
        return _stack(picks)
    n_products = len(all_products)
    consequent = all_products.get_indexer(pd.Index(rules["consequent"].tolist(), dtype=object))
    usable = is_active[consequent]
    confidence = rules["confidence"].to_numpy(np.float64)[usable]
    lift = rules["lift"].to_numpy(np.float64)[usable]
    support = rules["support"].to_numpy(np.float64)[usable]
    # Rules renumbered strongest first (confidence, lift, support, then mine_rules' own order), so that
    # "best rule" and "best product" below are plain integer minima.
    strength = np.lexsort((np.arange(len(confidence)), -support, -lift, -confidence))
    kept = np.flatnonzero(usable)[strength]
    n_rules = len(kept)
    if n_rules == 0:
        return _stack(picks)
    consequent, confidence = consequent[kept], confidence[strength]
    antecedents = rules["antecedents"].to_numpy()[kept]
    lengths = np.fromiter((len(a) for a in antecedents), dtype=np.int64, count=n_rules)
    flat = all_products.get_indexer(pd.Index([x for a in antecedents for x in a], dtype=object))
    bounds = np.r_[0, np.cumsum(lengths)].tolist()
    flat_list = flat.tolist()
    reasons = [
        "bought " + ", ".join(names[c] for c in flat_list[bounds[r] : bounds[r + 1]]) for r in range(n_rules)
    ]
    # products x rules incidence of antecedents; (owned products) @ (incidence) counts, for every
    # customer and rule, how many antecedent items the customer owns. The rule fires at its full length.
    incidence = sparse.csr_matrix(
        (np.ones(len(flat), dtype=np.int32), (flat, np.repeat(np.arange(n_rules), lengths))),
        shape=(n_products, n_rules),
    )
    per_product = np.diff(incidence.indptr)
    owned_cust, owned_prod = owned // n_products, owned % n_products
    hits = np.bincount(owned_cust, weights=per_product[owned_prod], minlength=n_customers)
    cum = np.cumsum(hits)
    # Blocks of customers with at most ~_MAX_HITS matched (customer, antecedent item) pairs bound memory.
    targets = np.arange(_MAX_HITS, cum[-1], _MAX_HITS) if cum[-1] > _MAX_HITS else np.empty(0)
    edges = np.unique(np.r_[0, np.searchsorted(cum, targets, side="right"), n_customers]).tolist()
    owned_bounds = np.searchsorted(owned_cust, edges).tolist()
    for k, (lo, hi) in enumerate(pairwise(edges)):
        a, b = owned_bounds[k], owned_bounds[k + 1]
        if a == b:
            continue
        owns = sparse.csr_matrix(
            (np.ones(b - a, dtype=np.int32), (owned_cust[a:b] - lo, owned_prod[a:b])),
            shape=(hi - lo, n_products),
        )
        matched = (owns @ incidence).tocsr()
        row = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(matched.indptr))
        fired = matched.data == lengths[matched.indices]
        f_cust, f_rule = row[fired], matched.indices[fired].astype(np.int64)
        f_prod = consequent[f_rule]
        fresh = ~_contains(owned, (f_cust + lo) * n_products + f_prod)
        f_cust, f_rule, f_prod = f_cust[fresh], f_rule[fresh], f_prod[fresh]
        if f_cust.size == 0:
            continue
        # Strongest rules first within each customer; a product keeps only its first (strongest) rule,
        # which also orders the products, since each rule has a single consequent.
        o = np.argsort(f_cust * n_rules + f_rule)
        f_cust, f_rule, f_prod = f_cust[o], f_rule[o], f_prod[o]
        o = np.argsort(f_cust * n_products + f_prod, kind="stable")
        pair = (f_cust * n_products + f_prod)[o]
        first = o[np.r_[True, pair[1:] != pair[:-1]]]
        first.sort()
        f_cust, f_rule, f_prod = f_cust[first], f_rule[first], f_prod[first]
        starts = np.r_[True, f_cust[1:] != f_cust[:-1]]
        group_start = np.maximum.accumulate(np.where(starts, np.arange(f_cust.size), 0))
        rank = np.arange(f_cust.size) - group_start + 1
        top = rank <= top_n
        picks["cust"].append(f_cust[top] + lo)
        picks["prod"].append(f_prod[top])
        picks["score"].append(confidence[f_rule[top]])
        picks["rank"].append(rank[top])
        picks["reason"].extend(reasons[r] for r in f_rule[top].tolist())
        picks["source"].extend(["rule"] * int(top.sum()))
    return _stack(picks)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct integers; np.unique's hash path is far slower on millions of int64 keys."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Membership of ``keys`` in the sorted array ``sorted_keys`` by binary search."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys


def _stack(picks: dict) -> dict:
    out = {}
    for k in ("cust", "prod", "rank"):
        out[k] = np.concatenate(picks[k]).astype(np.int64) if picks[k] else np.empty(0, np.int64)
    out["score"] = np.concatenate(picks["score"]).astype(np.float64) if picks["score"] else np.empty(0)
    out["reason"] = list(picks["reason"])
    out["source"] = list(picks["source"])
    return out


def _fill_with_best_sellers(
    picks: dict,
    owned: np.ndarray,
    n_customers: int,
    n_products: int,
    customers: pd.Index,
    seg_map: pd.DataFrame | None,
    best_sellers: pd.DataFrame,
    all_products: pd.Index,
    is_active: np.ndarray,
    top_n: int,
    customer_col: str,
    segment_col: str,
) -> dict:
    """Top up customers short of ``top_n`` from their segment's ranking, then the overall one."""
    have = np.bincount(picks["cust"], minlength=n_customers)
    taken = _sorted_unique(np.concatenate([owned, picks["cust"] * n_products + picks["prod"]]))
    segment_of = np.full(n_customers, -1, dtype=np.int64)
    seg_labels: list = []
    if seg_map is not None and len(seg_map):
        seg_codes, seg_labels_index = pd.factorize(seg_map[segment_col].astype(object))
        seg_labels = list(seg_labels_index)
        cust_idx = customers.get_indexer(pd.Index(seg_map[customer_col].astype(object)))
        segment_of[cust_idx[cust_idx >= 0]] = seg_codes[cust_idx >= 0]

    ranking = best_sellers.copy()
    ranking["_prod"] = all_products.get_indexer(pd.Index(ranking["product_id"].tolist(), dtype=object))
    ranking = ranking[(ranking["_prod"] >= 0)]
    ranking = ranking[is_active[ranking["_prod"].to_numpy()]]
    seg_col = ranking["segment"] if "segment" in ranking.columns else pd.Series(None, index=ranking.index)
    is_overall = seg_col.isna().to_numpy()
    seg_index = pd.Index(seg_labels, dtype=object)
    ranking["_seg"] = np.where(is_overall, -1, seg_index.get_indexer(pd.Index(seg_col.astype(object))))
    ranking = ranking[is_overall | (ranking["_seg"] >= 0)]
    if "score" not in ranking.columns:
        ranking["score"] = 0.0
    ranking = ranking.sort_values(["_seg", "score"], ascending=[True, False], kind="stable")

    new = {"cust": [], "prod": [], "score": [], "rank": [], "reason": [], "source": []}
    # Segment rankings first (each customer's own segment), then the overall ranking (segment -1) for all.
    passes = [(s, f"best seller in segment {seg_labels[s]}") for s in range(len(seg_labels))]
    passes.append((-1, "best seller"))
    for seg, reason in passes:
        rows = ranking[ranking["_seg"] == seg]
        if rows.empty:
            continue
        cand_prod = rows["_prod"].to_numpy(np.int64)
        cand_score = rows["score"].to_numpy(np.float64)
        members = (
            np.flatnonzero(have < top_n)
            if seg == -1
            else np.flatnonzero((segment_of == seg) & (have < top_n))
        )
        window = 2 * top_n
        while members.size:
            m = min(window, cand_prod.size)
            c = np.repeat(members, m)
            p = np.tile(cand_prod[:m], members.size)
            s = np.tile(cand_score[:m], members.size)
            free = ~_contains(taken, c * n_products + p)
            # Position among this customer's free candidates; keep as many as they still need.
            pos = np.cumsum(free.reshape(members.size, m), axis=1).ravel()
            need = np.repeat(top_n - have[members], m)
            keep = free & (pos <= need)
            c, p, s = c[keep], p[keep], s[keep]
            rank = have[c] + pos[keep]
            new["cust"].append(c)
            new["prod"].append(p)
            new["score"].append(s)
            new["rank"].append(rank)
            new["reason"].extend([reason] * c.size)
            new["source"].extend(["best_seller"] * c.size)
            np.add.at(have, c, 1)
            taken = _sorted_unique(np.concatenate([taken, c * n_products + p]))
            if m == cand_prod.size:
                break
            # Customers still short had bought most of the window: widen it for them only.
            members = members[have[members] < top_n]
            window *= 4
    combined = {
        k: [picks[k], *new[k]] if k in ("cust", "prod", "score", "rank") else picks[k] + new[k] for k in new
    }
    return _stack(combined)
