"""Support for the recommendation tests: order lines written out by hand, one figure of an evaluation, and a warehouse holding only the marts
the ``recommendations`` asset reads, from frames a test builds.

The asset reads order lines, orders, the catalogue, each customer's categories and, when the mart exists,
the browsing signals; tests of the asset write small hand-made versions of them here.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from orchestration.warehouse import ensure_ml_tables

# Thresholds no itemset of a small hand-made example reaches (no itemset is in 90 % of the baskets): the rule
# recommender gives only its best-seller fill-up.
NO_RULES = {"min_support": 0.9, "min_confidence": 0.5, "max_len": 2}


def order_lines(rows: list[tuple[str, str, str, str, str, float]]) -> pd.DataFrame:
    """Order lines ``order_id, customer_id, ordered_at, product_id, category, revenue`` from tuples written
    out by hand (times as text)."""
    return pd.DataFrame(
        [(o, c, pd.Timestamp(t), p, cat, rev) for o, c, t, p, cat, rev in rows],
        columns=["order_id", "customer_id", "ordered_at", "product_id", "category", "revenue"],
    )


def metric_value(evaluation: pd.DataFrame, model: str, metric: str, k: int) -> float:
    """The one value of ``evaluate_recommendations``' result for ``model``, ``metric`` and ``k``."""
    row = evaluation[
        (evaluation["model"] == model) & (evaluation["metric"] == metric) & (evaluation["k"] == k)
    ]
    assert len(row) == 1, (model, metric, k)
    return float(row["value"].iloc[0])


def write_recommendation_marts(
    path: Path, lines: pd.DataFrame, catalogue: pd.DataFrame, interest: pd.DataFrame | None = None
) -> None:
    """Create the DuckDB file ``path`` with ``marts.fct_order_lines`` (``lines``), ``marts.fct_orders`` (its
    orders), ``marts.dim_products`` (``catalogue``), ``marts.product__customer_categories`` (each line's
    category as the customer's rank 1), ``marts.product__customer_interest`` (``interest``, when given;
    validity times as timestamps) and the empty ``ml`` tables."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.register("l", lines)
        con.register("p", catalogue)
        con.execute("create table marts.fct_order_lines as select * from l")
        con.execute("create table marts.fct_orders as select distinct order_id, customer_id from l")
        con.execute("create table marts.dim_products as select * from p")
        con.execute(
            "create table marts.product__customer_categories as "
            "select distinct customer_id, category, 1 as category_rank from l"
        )
        if interest is not None:
            con.register("i", interest)
            con.execute(
                "create table marts.product__customer_interest as select * replace "
                "(cast(valid_from as timestamp) as valid_from, cast(valid_to as timestamp) as valid_to) from i"
            )
        ensure_ml_tables(con)
