"""Python model assets: customer predictions, basket rules, recommendations, bundles, and publishing.

Each asset reads marts, calls plain functions from ``orchestration.analytics`` and writes an ``ml`` table
that dbt reads back as a source.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration import settings
from orchestration.analytics import basket, recommend, recommend_evaluation
from orchestration.assets.dbt import dbt_model_marts
from orchestration.landing_watch import landing_state, run_key_for
from orchestration.resources import LandingResource, WarehouseResource
from orchestration.warehouse import ensure_ml_tables, publish, replace_table

PRODUCT_RULES = basket.PIPELINE_PRODUCT_RULES
CATEGORY_RULES = basket.PIPELINE_CATEGORY_RULES
RECOMMENDATIONS_PER_CUSTOMER = 3
# The recommendations are measured on the last this-many days of orders, trained on everything before.
RECOMMENDATION_TEST_DAYS = 180
# Used only when the warehouse has no orders (no cutoffs in marts.customer_churn_features); dbt's
# ``churn_horizon_days`` is the one setting.
CHURN_HORIZON_DAYS = 90

ML = "ml"


def ml_key(name: str) -> dg.AssetKey:
    """Asset key of a table the Python models write (dbt's source ``ml``)."""
    return dg.AssetKey([ML, name])


MART = {
    name: dg.AssetKey(["marts", name])
    for name in (
        "fct_orders",
        "fct_order_lines",
        "dim_products",
        "customer_churn_features",
        "product__customer_categories",
        "product__customer_interest",
    )
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ml_key("customer_predictions"),
            deps=[MART["fct_orders"], MART["customer_churn_features"]],
            kinds={"python", "duckdb"},
            description="Per customer: probability alive, churn risk and band, expected purchases "
            "over 30/90/365 days, expected next order date, revenue- and margin-based 12-month CLV, CLV over 3 "
            "and 36 months, churn risk relative to the customer's own purchase rhythm.",
        ),
        dg.AssetSpec(
            ml_key("model_quality"),
            deps=[MART["fct_orders"], MART["customer_churn_features"]],
            kinds={"python", "duckdb"},
            description="Holdout validation and fit diagnostics of the customer models.",
        ),
    ],
    group_name="models",
)
def customer_models(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """BG/NBD + Gamma-Gamma (lifetimes) and the churn classifier, fitted on ``marts.fct_orders``."""
    from orchestration.analytics.customer_models import PIPELINE_SETTINGS, customer_orders, predict_customers

    eligibility = settings.model_eligibility()
    with warehouse.connect() as con:
        # Net of each order's own refunds: what the customer really spent (see DECISIONLOG.md).
        orders = customer_orders(con)
        observation_end = orders["ordered_at"].max() if len(orders) else None
        features, horizon = _churn_features(con)
        predictions, quality, _model, messages = predict_customers(
            orders, observation_end=observation_end, features=features, churn_horizon_days=horizon,
            # Columns and time resolution (weeks at hour resolution) shared with the notebooks and the
            # README's example, so their fits give ml.model_quality's parameters.
            **PIPELINE_SETTINGS.predict_arguments(),
            min_repeat_customers=eligibility["min_repeat_customers"],
            min_history_days=eligibility["min_history_days"],
            annual_discount_rate=settings.clv_annual_discount_rate(),
            purchase_model=settings.purchase_model(),
        )  # fmt: skip
        predictions = predictions.assign(predicted_at=datetime.now(UTC))
        # One threshold column for readers that want a single number: the bound the metric must respect.
        quality = quality.assign(threshold=quality["upper_bound"].fillna(quality["lower_bound"]))
        n_pred = replace_table(con, ML, "customer_predictions", predictions)
        n_quality = replace_table(con, ML, "model_quality", quality)
    for message in messages:
        context.log.info(message)
    yield dg.MaterializeResult(
        asset_key=ml_key("customer_predictions"),
        metadata={"dagster/row_count": n_pred, "messages": "\n".join(messages) or "eligible"},
    )
    yield dg.MaterializeResult(asset_key=ml_key("model_quality"), metadata={"dagster/row_count": n_quality})


def _churn_features(con) -> tuple[pd.DataFrame, int]:
    """The churn features of ``marts.customer_churn_features`` (defined in dbt), shaped for
    ``predict_customers``: one row per customer and cutoff with an ``as_of`` day, and the churn horizon in
    days that separates the cutoffs (dbt's ``churn_horizon_days``), so the classifier's cutoffs are dbt's."""
    features = con.execute(
        "select * exclude (cutoff_role, as_of_date), cast(as_of_date as timestamp) as as_of "
        # One row order on every engine: the classifier's early-stopping split depends on it.
        "from marts.customer_churn_features order by customer_id, as_of_date"
    ).fetch_df()
    cutoffs = con.execute(
        "select cutoff_role, min(as_of_date) as day from marts.customer_churn_features group by 1"
    ).fetch_df()
    days = dict(zip(cutoffs["cutoff_role"], pd.to_datetime(cutoffs["day"]), strict=True))
    if {"score", "evaluate"} <= days.keys():
        horizon = int((days["score"] - days["evaluate"]) / pd.Timedelta(days=1))
    else:
        horizon = CHURN_HORIZON_DAYS
    return features, horizon


@dg.asset_check(asset=ml_key("model_quality"), name="holdout_error_within_threshold")
def holdout_error_within_threshold(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Warns when a holdout metric of the customer models degrades past its threshold.

    A shop whose history is too short for the models (the eligibility rows) has no holdout to judge: that
    is reported in the metadata and in the run summary, not as a degraded model.
    """
    with warehouse.connect(read_only=True) as con:
        quality = con.execute("select * from ml.model_quality").fetch_df()
    eligibility = quality["model"].eq("eligibility")
    failed = quality[~eligibility & quality["passed"].eq(False)]
    short = quality[eligibility & quality["passed"].eq(False)]
    return dg.AssetCheckResult(
        passed=failed.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "metrics": int((~eligibility).sum()),
            "failed": ", ".join(f"{r.model}.{r.metric}={r.value:.3g}" for r in failed.itertuples()) or "none",
            "not eligible": ", ".join(
                f"{r.metric} {r.value:.0f} < {r.threshold:.0f}" for r in short.itertuples()
            )
            or "no",
        },
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ml_key("association_rules"),
            deps=[MART["fct_order_lines"], MART["dim_products"]],
            kinds={"python", "duckdb"},
            description="Association rules between products and between categories (a basket = an order).",
        ),
        dg.AssetSpec(
            ml_key("bundles"),
            deps=[MART["fct_order_lines"], MART["dim_products"]],
            kinds={"python", "duckdb"},
            description="Product pairs to sell as a bundle, with a discount that keeps most of the margin.",
        ),
    ],
    group_name="models",
)
def basket_rules(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Mine product- and category-level rules on orders; suggest bundles from the product rules."""
    with warehouse.connect() as con:
        lines = con.execute(
            "select distinct l.order_id as basket_id, l.product_id as item, p.category "
            "from marts.fct_order_lines l join marts.dim_products p using (product_id)"
        ).fetch_df()
        products = con.execute("select * from marts.dim_products").fetch_df()
        product_rules = basket.mine_rules(lines[["basket_id", "item"]], **PRODUCT_RULES)
        category_baskets = lines[["basket_id", "category"]].rename(columns={"category": "item"})
        category_rules = basket.mine_rules(category_baskets, **CATEGORY_RULES)
        rules = pd.concat(
            [_rules_table(product_rules, "product"), _rules_table(category_rules, "category")],
            ignore_index=True,
        )
        n_rules = replace_table(con, ML, "association_rules", rules)
        bundles = basket.suggest_bundles(product_rules, products)
        n_bundles = replace_table(con, ML, "bundles", bundles)
    context.log.info(f"{len(product_rules)} product rules, {len(category_rules)} category rules")
    yield dg.MaterializeResult(
        asset_key=ml_key("association_rules"),
        metadata={"dagster/row_count": n_rules, "product_rules": len(product_rules),
                  "category_rules": len(category_rules), **{f"product_{k}": v for k, v in PRODUCT_RULES.items()}},
    )  # fmt: skip
    yield dg.MaterializeResult(asset_key=ml_key("bundles"), metadata={"dagster/row_count": n_bundles})


def _rules_table(rules: pd.DataFrame, level: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "level": level,
            "antecedents": rules["antecedent_key"].astype(str),
            "consequents": rules["consequent_key"].astype(str),
            "n_items": (rules["antecedent_len"] + 1).astype("int32"),
            "support": rules["support"],
            "confidence": rules["confidence"],
            "lift": rules["lift"],
            "leverage": rules["leverage"],
            "conviction": rules["conviction"],
        }
    )


@dg.asset(
    key=ml_key("recommendations"),
    deps=[
        ml_key("association_rules"),
        # Runs after customer_models, which replaces ml.model_quality; this asset adds its own rows.
        ml_key("model_quality"),
        MART["fct_order_lines"],
        MART["dim_products"],
        MART["product__customer_categories"],
        MART["product__customer_interest"],
    ],
    group_name="models",
    kinds={"python", "duckdb"},
)
def recommendations(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Top products per customer from the product rules their purchases fire, excluding what they already
    bought and products no longer sold, filled up with best sellers of their favourite category. Also
    measures them on the last ``RECOMMENDATION_TEST_DAYS`` days of orders (``ml.model_quality``), with and
    without the browsing signals of ``product__customer_interest``; what customers carted, wish-listed or
    viewed and did not buy goes first only when that measure says it helps (``uses_browsing``)."""
    with warehouse.connect() as con:
        purchases = con.execute(
            "select distinct o.customer_id, l.product_id from marts.fct_order_lines l "
            "join marts.fct_orders o using (order_id)"
        ).fetch_df()
        # The favourite category is defined once, in dbt (most revenue; customer_360 shows the same).
        segments = con.execute(
            "select customer_id, category as segment from marts.product__customer_categories "
            "where category_rank = 1"
        ).fetch_df()
        products = con.execute(
            "select product_id, product_name, is_active from marts.dim_products"
        ).fetch_df()
        rules = con.execute("select * from ml.association_rules where level = 'product'").fetch_df()
        product_rules = _rules_from_table(rules)
        # Measured first: the browsing signals are used only when they beat the rules on held-out orders.
        evaluated = _measure_recommendations(con, products.loc[products["is_active"], "product_id"])
        interest = _interest_rows(con) if evaluated.get("uses_browsing") else None
        recs = recommend.recommend(
            purchases, product_rules, active_products=products.loc[products["is_active"], "product_id"],
            top_n=RECOMMENDATIONS_PER_CUSTOMER, segments=segments,
            product_names=products.set_index("product_id")["product_name"], interest=interest,
        )  # fmt: skip
        n = replace_table(con, ML, "recommendations", recs)
        customers = recs["customer_id"].nunique() if len(recs) else 0
    return dg.MaterializeResult(metadata={"dagster/row_count": n, "customers": int(customers), **evaluated})


def _measure_recommendations(con, active_products: pd.Series) -> dict:
    """Hit rate, precision and recall of the recommender and its baselines on the last
    ``RECOMMENDATION_TEST_DAYS`` days of orders, written to ``ml.model_quality`` as model ``recommendations``."""
    lines = con.execute(
        "select customer_id, order_id, product_id, ordered_at, category, revenue from marts.fct_order_lines"
    ).fetch_df()
    ensure_ml_tables(con)
    con.execute("delete from ml.model_quality where model = 'recommendations'")
    if lines.empty:
        return {"evaluated_customers": 0}
    cutoff = pd.Timestamp(lines["ordered_at"].max()) - pd.Timedelta(days=RECOMMENDATION_TEST_DAYS)
    evaluation = recommend_evaluation.evaluate_recommendations(
        lines, cutoff, ks=(RECOMMENDATIONS_PER_CUSTOMER, 10), active_products=active_products,
        interest=_interest_rows(con, cutoff),
    )  # fmt: skip
    rows = recommend_evaluation.recommendation_quality(evaluation)
    columns = ", ".join(rows.columns)
    con.register("_ecrm_recommendation_quality", rows)
    try:
        con.execute(
            f"insert into ml.model_quality ({columns}) select {columns} from _ecrm_recommendation_quality"
        )
    finally:
        con.unregister("_ecrm_recommendation_quality")
    at_k = evaluation[
        (evaluation["k"] == RECOMMENDATIONS_PER_CUSTOMER) & (evaluation["metric"] == "hit_rate")
    ]
    return {
        "evaluation_cutoff": str(cutoff),
        "evaluated_customers": int(evaluation["customers"].iloc[0]),
        "uses_browsing": recommend_evaluation.prefers_browsing(evaluation, RECOMMENDATIONS_PER_CUSTOMER),
        **{
            f"hit_rate_at_{RECOMMENDATIONS_PER_CUSTOMER}_{r.model}": float(r.value)
            for r in at_k.itertuples()
            if pd.notna(r.value)
        },
    }


def _interest_rows(con, at: pd.Timestamp | None = None) -> pd.DataFrame | None:
    """Rows of ``marts.product__customer_interest`` valid at ``at`` (the current ones when ``None``), or
    ``None`` when the warehouse has no such mart (built before it existed).

    Only products not bought by then (``looked_not_bought``) are read: the recommender leaves out what a
    customer owns anyway. At a cutoff, only customers who order after it (the ones the evaluation judges)."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'product__customer_interest'"
    ).fetchall()[0][0]
    if not exists:
        return None
    columns = (
        "customer_id, product_id, valid_from, valid_to, last_viewed_at, last_wishlisted_at, last_carted_at"
    )
    if at is None:
        return con.execute(
            f"select {columns} from marts.product__customer_interest where is_current and looked_not_bought"
        ).fetch_df()
    return con.execute(
        f"select {columns} from marts.product__customer_interest "
        "where valid_from <= $at and (valid_to is null or valid_to > $at) and looked_not_bought "
        "and customer_id in (select customer_id from marts.fct_order_lines where ordered_at > $at)",
        {"at": at.to_pydatetime()},
    ).fetch_df()


def _rules_from_table(rules: pd.DataFrame) -> pd.DataFrame:
    """Rebuild ``mine_rules``-shaped rules from ``ml.association_rules`` (items joined by the separator)."""
    sep = basket.ITEM_SEPARATOR
    antecedents = rules["antecedents"].str.split(sep, regex=False).map(tuple)
    return pd.DataFrame(
        {
            "antecedents": antecedents,
            "consequents": rules["consequents"].map(lambda c: (c,)),
            "consequent": rules["consequents"],
            "antecedent_key": rules["antecedents"],
            "consequent_key": rules["consequents"],
            "antecedent_len": antecedents.map(len),
            "support": rules["support"],
            "confidence": rules["confidence"],
            "lift": rules["lift"],
            "leverage": rules["leverage"],
            "conviction": rules["conviction"],
        }
    )


@dg.asset(
    key=dg.AssetKey(["published_warehouse"]),
    deps=[dbt_model_marts],
    group_name="serving",
    kinds={"duckdb"},
)
def published_warehouse(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """A read-only copy of the warehouse for dashboards and notebooks (DuckDB allows one writer)."""
    target = publish(Path(warehouse.path), Path(warehouse.published_path))
    return dg.MaterializeResult(metadata={"path": str(target), "bytes": target.stat().st_size})


def new_landing_files_sensor(job) -> dg.SensorDefinition:
    """A sensor that starts ``job`` when landing files are added, changed or removed, once every file has
    settled (unmodified for ``ECRM_LANDING_SETTLE_SECONDS``; see :mod:`orchestration.landing_watch`)."""

    @dg.sensor(job=job, minimum_interval_seconds=60, name="new_landing_files")
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        state = landing_state(Path(landing.path), settings.landing_settle_seconds())
        run_key, reason = run_key_for(state, context.cursor)
        if run_key is None:
            return dg.SkipReason(reason)
        # The cursor holds the fingerprint of the files a run was requested for: unchanged files never
        # start a second run, even after the run key history is cleared.
        context.update_cursor(run_key)
        return dg.RunRequest(run_key=run_key, tags={"ecrm/reason": reason})

    return _sensor


assets = [customer_models, basket_rules, recommendations, published_warehouse]
checks = [holdout_error_within_threshold]
