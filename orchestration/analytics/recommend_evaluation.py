"""Recommendations measured against what customers bought next, beside two simple baselines.

A time split of the shop's own order lines: the rules and recommendations are trained on the lines at
or before a cutoff and judged on the products each customer bought after it (the usual offline
"leave the future out" protocol for top-N recommenders; Cremonesi, Koren & Turrin 2010, "Performance of
recommender algorithms on top-N recommendation tasks", RecSys). Two baselines are computed on the same
split: the overall best sellers not yet bought (popularity) and item-to-item co-occurrence (products
most often in the same orders as the customer's past products; Linden, Smith & York 2003). Given the
customers' browsing signals, a fourth method puts what they carted, wish-listed or viewed before the cutoff
and had not bought ahead of the rule recommendations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from orchestration.analytics import basket, recommend, validation

__all__ = [
    "BROWSING",
    "EVALUATION_COLUMNS",
    "METHODS",
    "evaluate_recommendations",
    "prefers_browsing",
    "recommendation_quality",
    "split_order_lines",
]

EVALUATION_COLUMNS = ["model", "metric", "k", "value", "customers"]
# The pipeline's recommender first, then the baselines.
METHODS = ("rules", "popularity", "cooccurrence")
# The rule recommender with browsing signals first; evaluated when browsing signals are given.
BROWSING = "browsing"
_METRICS = ("hit_rate", "precision", "recall")
# Customers scored at once by the co-occurrence baseline: bounds the dense customer x product block.
_BLOCK_CELLS = 5_000_000


def split_order_lines(
    lines: pd.DataFrame,
    cutoff: Any,
    test_end: Any = None,
    *,
    time_col: str = "ordered_at",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split order lines at ``cutoff``: ``(training, test)`` with no look-ahead.

    Training is every line with ``ordered_at <= cutoff`` (a purchase exactly at the cutoff is history,
    known when the recommendations are made); test is every line with ``cutoff < ordered_at``, and
    ``ordered_at <= test_end`` when ``test_end`` is given. Lines without a timestamp are dropped.
    """
    when = pd.to_datetime(lines[time_col])
    cut = pd.Timestamp(cutoff)
    train = lines.loc[when <= cut]
    after = when > cut
    if test_end is not None:
        after &= when <= pd.Timestamp(test_end)
    return train.reset_index(drop=True), lines.loc[after].reset_index(drop=True)


def evaluate_recommendations(
    lines: pd.DataFrame,
    cutoff: Any,
    *,
    test_end: Any = None,
    ks: Iterable[int] = (3, 10),
    active_products: Iterable | None = None,
    rule_params: Mapping[str, Any] | None = None,
    customer_col: str = "customer_id",
    product_col: str = "product_id",
    order_col: str = "order_id",
    time_col: str = "ordered_at",
    category_col: str = "category",
    revenue_col: str = "revenue",
    interest: pd.DataFrame | None = None,
    interest_params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Hit rate, precision and recall at each ``k`` of the rule recommender and two baselines.

    Parameters
    ----------
    lines
        Order lines ``customer_id, order_id, product_id, ordered_at`` and, for the favourite-category
        fill-up, ``category`` and ``revenue`` (as in ``marts.fct_order_lines``). A basket is an order,
        as for the pipeline's rules; without ``order_id`` a basket is a customer's purchases at one instant.
    cutoff, test_end
        The split of :func:`split_order_lines`: lines at or before ``cutoff`` train, lines strictly after
        it (up to ``test_end`` inclusive when given) test.
    ks
        Lengths of the recommendation lists judged (default 3 and 10).
    active_products
        Products that may be recommended (the pipeline passes the ones still sold); ``None`` allows every
        product. The same restriction applies to all three methods. This is the one piece of today's
        knowledge the split uses: the catalogue as it is now, as the recommender sees it.
    rule_params
        ``mine_rules`` thresholds; default :data:`basket.PIPELINE_PRODUCT_RULES`, the pipeline's.
    interest
        Optional browsing signals, the rows of ``marts.product__customer_interest`` (``customer_id,
        product_id, valid_from, valid_to`` and the ``last_carted_at``, ``last_wishlisted_at``,
        ``last_viewed_at`` times). Only the rows valid at the cutoff are used
        (:func:`recommend.interest_as_of`), and within them no signal later than the cutoff, so nothing
        after the cutoff is seen. Adds the ``browsing`` method.
    interest_params
        Keyword arguments for :func:`recommend.recommend`'s browsing part (``interest_weights``,
        ``interest_half_life_days``, ``max_interest``); default its defaults.

    Methods (``model`` column), all trained on the training lines only:

    - ``rules``: exactly what the ``recommendations`` asset does, on the training period (one call with
      ``top_n`` = the largest ``k``; its first 3 are the asset's 3, the ranking does not depend on ``top_n``):
      :func:`basket.mine_rules` on the training orders, then :func:`recommend.recommend` with the
      customers' training purchases, filled up with the best sellers of their favourite category (the
      category with the most training revenue, ties by category name, as in
      ``product__customer_categories``) and then overall best sellers.
    - ``popularity``: products ranked by distinct training buyers (ties by product id as text), the
      first ``k`` the customer has not bought.
    - ``cooccurrence``: a product's score is the number of training orders holding it together with
      each of the customer's past products, summed over those products; highest first, ties and
      products with score 0 in popularity order (so every method fills ``k`` slots).
    - ``browsing`` (only with ``interest``): ``rules`` with the customer's browsing signals at the cutoff
      first: :func:`recommend.recommend` with ``interest`` and ``as_of = cutoff``, i.e. the products
      carted, wish-listed or viewed and not bought by the cutoff, scored by :func:`recommend.interest_scores`,
      then the rule recommendations and the fill-up as in ``rules``.

    Judged customers are those with a training purchase who buy, after the cutoff, at least one product
    they had not bought before (the recommenders never suggest owned products, so repeat purchases cannot
    be hits). For such a customer with recommended list ``R_k`` (first ``k``) and new products ``T``:
    ``hit = |R_k ∩ T| > 0``, ``precision = |R_k ∩ T| / k``, ``recall = |R_k ∩ T| / |T|``; each metric is
    the mean over judged customers.

    Returns
    -------
    Tidy DataFrame ``model, metric, k, value, customers`` (``customers`` = number judged), one row per
    method, metric and ``k``; ``attrs`` holds ``cutoff``, ``test_end``, ``n_rules`` and ``n_train_customers``.
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    max_k = ks[-1]
    params = dict(basket.PIPELINE_PRODUCT_RULES if rule_params is None else rule_params)
    train, test = split_order_lines(lines, cutoff, test_end, time_col=time_col)
    train = train.dropna(subset=[customer_col, product_col])
    test = test.dropna(subset=[customer_col, product_col])

    owned = train[[customer_col, product_col]].drop_duplicates()
    owned.columns = ["customer_id", "product_id"]
    truth = test[[customer_col, product_col]].drop_duplicates()
    truth.columns = ["customer_id", "product_id"]
    truth = truth[truth["customer_id"].isin(owned["customer_id"])]
    truth = truth.merge(owned, how="left", indicator=True)
    truth = truth.loc[truth["_merge"] == "left_only", ["customer_id", "product_id"]]
    judged = pd.Index(truth["customer_id"].unique())

    if order_col in train.columns:
        baskets = train[[order_col, product_col]].drop_duplicates()
    else:
        baskets = train[[customer_col, time_col, product_col]].drop_duplicates()
        baskets = baskets.assign(
            _basket=pd.factorize(pd.MultiIndex.from_frame(baskets[[customer_col, time_col]]))[0]
        )
        baskets = baskets[["_basket", product_col]]
    baskets.columns = ["basket_id", "item"]
    rules = basket.mine_rules(baskets, **params)

    active = None if active_products is None else list(active_products)
    segments = _favourite_categories(train, customer_col, category_col, revenue_col)
    methods = METHODS if interest is None else (*METHODS, BROWSING)
    lists: dict[str, pd.DataFrame] = {}
    if len(judged):
        recs = recommend.recommend(owned, rules, active_products=active, top_n=max_k, segments=segments)
        lists["rules"] = recs.loc[recs["customer_id"].isin(judged), ["customer_id", "rank", "product_id"]]
        if interest is not None:
            seen = _interest_at(interest, cutoff, customer_col, product_col)
            recs = recommend.recommend(
                owned,
                rules,
                active_products=active,
                top_n=max_k,
                segments=segments,
                interest=seen[seen["customer_id"].isin(judged)],
                as_of=cutoff,
                **dict(interest_params or {}),
            )
            lists[BROWSING] = recs.loc[
                recs["customer_id"].isin(judged), ["customer_id", "rank", "product_id"]
            ]
        judged_owned = owned[owned["customer_id"].isin(judged)]
        lists["popularity"], lists["cooccurrence"] = _baseline_lists(
            judged_owned, baskets, owned, active, max_k
        )

    rows = []
    n_judged = len(judged)
    relevant = truth.groupby("customer_id").size()
    for model in methods:
        if n_judged == 0:
            # Nobody to judge (no training purchases, or no new product bought after the cutoff).
            rows.extend((model, metric, k, float("nan"), 0) for k in ks for metric in _METRICS)
            continue
        per = lists[model].merge(truth.assign(_hit=1), on=["customer_id", "product_id"], how="left")
        per["_hit"] = per["_hit"].fillna(0)
        for k in ks:
            hits = per.loc[per["rank"] <= k].groupby("customer_id")["_hit"].sum()
            hits = hits.reindex(judged, fill_value=0).astype(float)
            values = {
                "hit_rate": (hits > 0).mean(),
                "precision": (hits / k).mean(),
                "recall": (hits / relevant.reindex(judged)).mean(),
            }
            rows.extend((model, metric, k, float(values[metric]), n_judged) for metric in _METRICS)
    out = pd.DataFrame(rows, columns=EVALUATION_COLUMNS)
    out["k"] = out["k"].astype("int64")
    out["customers"] = out["customers"].astype("int64")
    out.attrs.update(
        cutoff=pd.Timestamp(cutoff),
        test_end=None if test_end is None else pd.Timestamp(test_end),
        n_rules=len(rules),
        n_train_customers=int(owned["customer_id"].nunique()),
    )
    return out


def prefers_browsing(evaluation: pd.DataFrame, k: int = 3) -> bool:
    """Whether the browsing signals help: the ``browsing`` method's hit rate at ``k`` is higher than the
    rule recommender's on the same split (False when either is missing, e.g. nobody to judge)."""
    rows = evaluation[(evaluation["metric"] == "hit_rate") & (evaluation["k"] == k)]
    at_k = rows.set_index("model")["value"]
    if BROWSING not in at_k.index or "rules" not in at_k.index:
        return False
    browsing, rules = at_k[BROWSING], at_k["rules"]
    return bool(pd.notna(browsing) and pd.notna(rules) and browsing > rules)


def recommendation_quality(evaluation: pd.DataFrame, computed_at: Any = None) -> pd.DataFrame:
    """``ml.model_quality`` rows (model ``recommendations``, segment ``all``) of an evaluation frame.

    Metric names are ``<metric>_at_<k>`` for the rule recommender (``hit_rate_at_3``, ``precision_at_10``,
    …) and ``<metric>_at_<k>_<method>`` for the baselines and the browsing method (``hit_rate_at_3_popularity``,
    ``recall_at_10_cooccurrence``, ``hit_rate_at_3_browsing``, …), plus ``customers_evaluated``, and, when
    the browsing method was evaluated, ``uses_browsing`` (1 when :func:`prefers_browsing` at k = 3, the
    pipeline's choice, else 0). No bounds are set.
    """
    metrics: dict[str, float] = {}
    for row in evaluation.itertuples(index=False):
        suffix = "" if row.model == "rules" else f"_{row.model}"
        metrics[f"{row.metric}_at_{row.k}{suffix}"] = float(row.value)
    if len(evaluation):
        metrics["customers_evaluated"] = float(evaluation["customers"].iloc[0])
    if (evaluation["model"] == BROWSING).any():
        metrics["uses_browsing"] = float(prefers_browsing(evaluation))
    return validation.quality_frame("recommendations", metrics, thresholds={}, computed_at=computed_at)


def _interest_at(interest: pd.DataFrame, cutoff: Any, customer_col: str, product_col: str) -> pd.DataFrame:
    """Browsing signals as known at the cutoff: the history rows valid then (when the frame is a history
    with ``valid_from``/``valid_to``); ``recommend`` further ignores any signal time after ``as_of``."""
    seen = interest.rename(columns={customer_col: "customer_id", product_col: "product_id"})
    if {"valid_from", "valid_to"} <= set(seen.columns):
        seen = recommend.interest_as_of(seen, cutoff)
    return seen


def _favourite_categories(
    train: pd.DataFrame, customer_col: str, category_col: str, revenue_col: str
) -> pd.DataFrame | None:
    """Each customer's category with the most training revenue (ties by category), as ``segment``."""
    if category_col not in train.columns:
        return None
    lines = train.dropna(subset=[category_col])
    if revenue_col in lines.columns:
        by = lines.groupby([customer_col, category_col], as_index=False)[revenue_col].sum()
    else:
        by = lines.groupby([customer_col, category_col], as_index=False).size()
        by = by.rename(columns={"size": revenue_col})
    by = by.sort_values([customer_col, revenue_col, category_col], ascending=[True, False, True])
    fav = by.drop_duplicates(customer_col)[[customer_col, category_col]]
    fav.columns = ["customer_id", "segment"]
    return fav.reset_index(drop=True)


def _baseline_lists(
    judged_owned: pd.DataFrame,
    baskets: pd.DataFrame,
    owned: pd.DataFrame,
    active: list | None,
    max_k: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Top ``max_k`` lists ``customer_id, rank, product_id`` of the popularity and co-occurrence baselines."""
    from scipy import sparse

    products = pd.Index(pd.unique(pd.concat([owned["product_id"], baskets["item"]], ignore_index=True)))
    if active is not None:
        products = products.append(pd.Index(active).difference(products))
    n_products = len(products)
    allowed = np.ones(n_products, dtype=bool) if active is None else products.isin(active)

    # Popularity: distinct training buyers, ties by product id as text; rank 0 is the best seller.
    buyers = owned.groupby("product_id").size().reindex(products, fill_value=0).to_numpy()
    order = np.lexsort((products.map(str).to_numpy(), -buyers))
    pop_rank = np.empty(n_products, dtype=np.int64)
    pop_rank[order] = np.arange(n_products)

    b_codes, _ = pd.factorize(baskets["basket_id"])
    incidence = sparse.csr_matrix(
        (np.ones(len(baskets), dtype=np.float64), (b_codes, products.get_indexer(baskets["item"]))),
        shape=(int(b_codes.max()) + 1 if len(b_codes) else 0, n_products),
    )
    incidence.data[:] = 1.0
    together = (incidence.T @ incidence).tocsr()
    together.setdiag(0)
    together.eliminate_zeros()

    cust_codes, customers = pd.factorize(judged_owned["customer_id"])
    prod_codes = products.get_indexer(judged_owned["product_id"])
    n_customers = len(customers)
    empty = pd.DataFrame({"customer_id": [], "rank": [], "product_id": []})
    if n_customers == 0 or n_products == 0:
        return empty, empty.copy()
    owns = sparse.csr_matrix(
        (np.ones(len(cust_codes)), (cust_codes, prod_codes)), shape=(n_customers, n_products)
    )
    # Larger score first, then popularity: key = score * (n + 1) + (n - popularity rank), exact in float64.
    tie = (n_products - pop_rank).astype(np.float64)
    k = min(max_k, n_products)
    block = max(1, _BLOCK_CELLS // n_products)
    frames: dict[str, list[pd.DataFrame]] = {"popularity": [], "cooccurrence": []}
    for lo in range(0, n_customers, block):
        hi = min(lo + block, n_customers)
        own = owns[lo:hi]
        blocked = own.toarray().astype(bool) | ~allowed
        scores = {
            "popularity": np.zeros((hi - lo, n_products)),
            "cooccurrence": (own @ together).toarray(),
        }
        for name, score in scores.items():
            key = score * (n_products + 1) + tie
            key[blocked] = -np.inf
            top = np.argsort(-key, axis=1, kind="stable")[:, :k]
            valid = np.take_along_axis(key, top, axis=1) > -np.inf
            rows, ranks = np.nonzero(valid)
            frames[name].append(
                pd.DataFrame(
                    {
                        "customer_id": customers.take(rows + lo),
                        "rank": ranks + 1,
                        "product_id": products.take(top[rows, ranks]),
                    }
                )
            )
    return tuple(pd.concat(frames[n], ignore_index=True) for n in ("popularity", "cooccurrence"))
