"""Per-customer predictions in one call: CLV, probability alive, next purchase, churn risk, model quality.

:func:`predict_customers` is what the ``ml.customer_predictions`` / ``ml.model_quality`` assets call.
It chains :mod:`~orchestration.analytics.clv` (BG/NBD + Gamma-Gamma), :mod:`~orchestration.analytics.validation`
(holdout check) and :mod:`~orchestration.analytics.churn` (classifier vs BG/NBD).

DECISION — eligibility. Commercial tools gate predictive CLV on history: Klaviyo shows predictions only
with at least 500 customers who have ordered, 180 days of order history, recent orders and some customers
with 3+ orders. Here a shop needs at least 500 *repeat* customers and 180 days of history, because BG/NBD
learns purchase rates and dropout only from repeat buyers; with fewer its estimates are dominated by noise
and would look more certain than they are. The caller gets an empty frame with the right columns and a
message saying what is missing.

DECISION — next order date. ``expected_next_order_date`` is the date by which the customer is more likely
than not to have ordered again: the median of the time to her next purchase under BG/NBD, solving
P(alive)·(1 − ((α+T)/(α+T+w))^(r+x)) = ½ (an alive customer's next purchase is a Gamma mixture of
exponentials). It is empty (NaT) when P(alive) ≤ ½ (probably gone, so no date is more likely than not) or
when the date is more than ``max_next_order_days`` (365) away.

DECISION — one definition of the customer summary. :data:`PIPELINE_SETTINGS` (a frozen
:class:`PipelineSettings`) holds the summary's columns and time resolution; the ``customer_models`` asset,
the notebooks and the README's example all read orders with :func:`customer_orders`, turn them into a
summary with :func:`customer_summary` and fit it with :func:`fit_customer_model`, so a data scientist gets
the very parameters ``ml.model_quality`` holds for the same warehouse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchestration.analytics.churn import (
    calibration_table,
    churn_labels,
    compare_churn_models,
    rfm_features,
    train_churn_classifier,
)
from orchestration.analytics.clv import (
    ClvFitError,
    ClvModel,
    _naive_datetimes,
    _naive_timestamp,
    calibration_and_holdout_summary,
    choose_purchase_model,
    fit_clv,
    rfm_summary,
    time_unit_days,
)
from orchestration.analytics.clv.likelihood import PURCHASE_MODELS
from orchestration.analytics.validation import (
    holdout_metrics,
    holdout_predictions,
    model_choice_quality,
    quality_frame,
)

__all__ = [
    "CLV_HORIZONS_MONTHS",
    "DEFAULT_ANNUAL_DISCOUNT_RATE",
    "MIN_HISTORY_DAYS",
    "MIN_REPEAT_CUSTOMERS",
    "ORDERS_QUERY",
    "PIPELINE_SETTINGS",
    "PREDICTION_COLUMNS",
    "PipelineSettings",
    "PredictionOptions",
    "check_eligibility",
    "churn_frame",
    "customer_orders",
    "customer_summary",
    "empty_predictions",
    "fit_customer_model",
    "monthly_discount_rate",
    "predict_customers",
    "purchase_rows",
]

MIN_REPEAT_CUSTOMERS = 500
MIN_HISTORY_DAYS = 180
# Below this many customers of each class at a cutoff the classifier is not trained (AUC would be noise).
MIN_CLASS_COUNT = 50
# CLV is discounted at 10 % a year and predicted over 3, 12 and 36 months (see DECISIONLOG.md).
DEFAULT_ANNUAL_DISCOUNT_RATE = 0.10
CLV_HORIZONS_MONTHS = (3, 12, 36)
# The purchase model is chosen on held-out data among these (see DECISIONLOG.md); the comparison is made on
# at most MAX_CHOICE_CUSTOMERS customers drawn at random (seed 0). BG/NBD is then fitted on every customer;
# Pareto/NBD, whose likelihood costs about fifty times more (lifetimes evaluates two hypergeometric functions
# per row), on at most MAX_PARETO_FIT_CUSTOMERS drawn at random, which fixes its four parameters to within
# about 1 %, and predicts for every customer.
PURCHASE_MODEL_CHOICES = ("auto", *PURCHASE_MODELS)
MAX_CHOICE_CUSTOMERS = 20_000
MAX_PARETO_FIT_CUSTOMERS = 100_000
# The holdout validation (ranges' coverage, errors, and the calibration-period model the churn comparison
# reuses) runs on at most this many customers drawn at random (seed 0): a coverage measured on 200,000
# customers has a standard error under 0.1 point, and a shop of a million saves about 20 s.
MAX_VALIDATION_CUSTOMERS = 200_000

PREDICTION_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "probability_alive",
    "expected_purchases_30d",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_order_value",
    "clv_12m",
    "clv_margin_12m",
    "churn_risk",
    "churn_model",
    "expected_next_order_date",
    # 80 % ranges (ClvModel.purchase_interval / value_interval; see DECISIONLOG.md).
    "expected_purchases_90d_low",
    "expected_purchases_90d_high",
    "clv_12m_low",
    "clv_12m_high",
    # Issue 15 items 4 and 5: more horizons, the discount rate they use, churn against the own rhythm.
    "clv_3m",
    "clv_36m",
    "clv_annual_discount_rate",
    "churn_risk_relative",
]

FeatureSource = Callable[[pd.Timestamp], pd.DataFrame] | pd.DataFrame | None


@dataclass(frozen=True)
class PipelineSettings:
    """The columns and time resolution the pipeline builds its customer summary with.

    Time is in weeks at hour resolution (``freq="h", freq_multiplier=168``): two orders placed on the same
    day are two purchases (merging them by day biased α by about 5 % on generated data; see DECISIONLOG.md).
    The column names are those :data:`ORDERS_QUERY` returns.
    """

    customer_col: str = "customer_id"
    datetime_col: str = "ordered_at"
    monetary_col: str | None = "revenue"
    margin_col: str | None = "margin"
    freq: str = "h"
    freq_multiplier: float = 168
    penalizer_coef: float = 0.0

    @property
    def time_unit_days(self) -> float:
        """Length in days of the summary's time unit (7: weeks)."""
        return time_unit_days(self.freq, self.freq_multiplier)

    def predict_arguments(self) -> dict[str, Any]:
        """These settings as keyword arguments of :func:`predict_customers`."""
        return asdict(self)


# The one instance the asset, the notebooks and the README's example use.
PIPELINE_SETTINGS = PipelineSettings()

# An order's value net of its own refunds (what the customer really spent) and its margin net of them too
# (see DECISIONLOG.md); the aliases are PIPELINE_SETTINGS' column names.
# In one order whichever engine built the mart (a Spark table's row order is its part files'): the
# models' fits and the churn classifier's validation split depend on the order of their rows.
ORDERS_QUERY = (
    "select customer_id, ordered_at, net_revenue as revenue, "
    "gross_margin - refund_amount as margin from marts.fct_orders "
    "order by customer_id, ordered_at, revenue, margin"
)


def customer_orders(con: Any) -> pd.DataFrame:
    """One row per order from ``marts.fct_orders`` as the customer models read it (:data:`ORDERS_QUERY`);
    ``con`` is a DuckDB connection to the warehouse or its published copy."""
    return con.execute(ORDERS_QUERY).fetch_df()


def _purchase_rows(
    transactions: pd.DataFrame,
    end: pd.Timestamp,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None,
    margin_col: str | None,
    freq: str,
) -> tuple[pd.DataFrame, int]:
    """The rows that count as purchases up to the period of ``end`` and the number of refund rows left out."""
    value_cols = [c for c in (monetary_col, margin_col) if c]
    times = _naive_datetimes(transactions[datetime_col])
    # As in lifetimes, the whole period (day) of observation_end is observed.
    last_moment = pd.Period(end, freq=freq).end_time
    keep = (
        (times <= last_moment).to_numpy()
        & transactions[customer_col].notna().to_numpy()
        & times.notna().to_numpy()
    )
    n_refunds = 0
    if monetary_col:
        value = pd.to_numeric(transactions[monetary_col]).to_numpy(dtype=float)
        n_refunds = int((keep & (value < 0)).sum())
        keep &= ~(value < 0)
    rows = transactions.loc[keep, [customer_col, datetime_col, *value_cols]].reset_index(drop=True)
    rows[datetime_col] = times.to_numpy()[keep]
    return rows, n_refunds


def purchase_rows(
    orders: pd.DataFrame, observation_end: Any = None, settings: PipelineSettings = PIPELINE_SETTINGS
) -> pd.DataFrame:
    """The orders :func:`predict_customers` treats as purchases: up to the period of ``observation_end``
    (default: the last order), with a customer and a time, without stand-alone refunds (negative value);
    times without a time zone (UTC)."""
    end = _observation_end(orders, observation_end, settings)
    rows, _ = _purchase_rows(
        orders, end, settings.customer_col, settings.datetime_col, settings.monetary_col,
        settings.margin_col, settings.freq,
    )  # fmt: skip
    return rows


def _observation_end(orders: pd.DataFrame, observation_end: Any, settings: PipelineSettings) -> pd.Timestamp:
    if observation_end is None:
        if orders[settings.datetime_col].notna().sum() == 0:
            raise ValueError("there are no orders to summarise")
        observation_end = orders[settings.datetime_col].max()
    return _naive_timestamp(observation_end)


def customer_summary(
    orders: pd.DataFrame, observation_end: Any = None, settings: PipelineSettings = PIPELINE_SETTINGS
) -> pd.DataFrame:
    """The customer summary the pipeline fits: lifetimes' ``frequency, recency, T, monetary_value`` (and
    ``margin_value``), one row per customer, in weeks at hour resolution.

    ``orders`` is :func:`customer_orders`' frame (or any frame with ``settings``' columns);
    ``observation_end`` defaults to the last order, as in the ``customer_models`` asset. The rows are those
    of :func:`purchase_rows`, the same :func:`predict_customers` summarises.
    """
    end = _observation_end(orders, observation_end, settings)
    return rfm_summary(
        purchase_rows(orders, end, settings),
        settings.customer_col,
        settings.datetime_col,
        settings.monetary_col,
        observation_end=end,
        freq=settings.freq,
        freq_multiplier=settings.freq_multiplier,
        margin_col=settings.margin_col,
    )


def fit_customer_model(summary: pd.DataFrame, settings: PipelineSettings = PIPELINE_SETTINGS) -> ClvModel:
    """BG/NBD + Gamma-Gamma fitted on :func:`customer_summary`'s frame exactly as the pipeline fits it."""
    return fit_clv(summary, settings.penalizer_coef, time_unit_days=settings.time_unit_days)


def empty_predictions() -> pd.DataFrame:
    """A ``customer_predictions`` frame with no rows and the output columns and dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in PREDICTION_COLUMNS})
    frame["customer_id"] = pd.Series(dtype="str")
    frame["churn_model"] = pd.Series(dtype="str")
    frame["expected_next_order_date"] = pd.Series(dtype="datetime64[us]")
    return frame


def check_eligibility(
    summary: pd.DataFrame,
    history_days: float,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
    min_history_days: int = MIN_HISTORY_DAYS,
) -> tuple[bool, str]:
    """Whether a shop has enough history for predictions, and a message saying why (not).

    ``summary`` is an RFM summary (``frequency`` > 0 marks a repeat customer); ``history_days`` is the time
    from the first order to the end of observation.
    """
    repeat = int((summary["frequency"] > 0).sum()) if len(summary) else 0
    problems = []
    if repeat < min_repeat_customers:
        problems.append(f"{repeat} repeat customers (at least {min_repeat_customers} needed)")
    if history_days < min_history_days:
        problems.append(f"{history_days:.0f} days of order history (at least {min_history_days} needed)")
    if problems:
        return False, (
            "Not enough history for customer predictions: "
            + " and ".join(problems)
            + ". Predictions start once the shop has more repeat customers and a longer order history."
        )
    return True, (
        f"Eligible for customer predictions: {repeat} repeat customers, {history_days:.0f} days of history."
    )


def _features_at(source: FeatureSource, cutoff: pd.Timestamp, customer_col: str) -> pd.DataFrame | None:
    if source is None:
        return None
    if callable(source):
        extra = source(cutoff)
    else:
        as_of = pd.to_datetime(source["as_of"])
        if as_of.dt.tz is not None:
            as_of = as_of.dt.tz_convert("UTC").dt.tz_localize(None)
        extra = source.loc[(as_of.dt.floor("D") == cutoff.floor("D")).to_numpy()].drop(columns="as_of")
    if extra is None or len(extra) == 0:
        return None
    return extra.drop_duplicates(customer_col).set_index(customer_col)


def _churn_frame(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None,
    cutoff: pd.Timestamp,
    horizon_days: int | None,
    features: FeatureSource,
) -> pd.DataFrame:
    frame = rfm_features(transactions, customer_col, datetime_col, monetary_col, cutoff)
    extra = _features_at(features, cutoff, customer_col)
    if extra is not None:
        extra = extra.drop(columns=[c for c in extra.columns if c in frame.columns])
        frame = frame.join(extra, how="left")
    if horizon_days is not None:
        labels = churn_labels(transactions, customer_col, datetime_col, cutoff, horizon_days)
        frame["churned"] = labels.set_index(customer_col)["churned"].reindex(frame.index)
    frame["cutoff"] = cutoff
    return frame


def churn_frame(
    orders: pd.DataFrame,
    cutoff: Any,
    horizon_days: int | None,
    features: FeatureSource = None,
    settings: PipelineSettings = PIPELINE_SETTINGS,
) -> pd.DataFrame:
    """The churn classifier's rows at ``cutoff``, built as :func:`predict_customers` builds them: one row per
    customer who had ordered by then (index ``settings.customer_col``), the RFM features of
    :func:`~orchestration.analytics.churn.rfm_features`, the extra ``features`` of that day (e.g.
    ``marts.customer_churn_features``), ``churned`` (no order in the ``horizon_days`` after the cutoff; left
    out when None) and ``cutoff``."""
    rows = purchase_rows(orders, None, settings)
    return _churn_frame(
        rows, settings.customer_col, settings.datetime_col, settings.monetary_col, _naive_timestamp(cutoff),
        horizon_days, features,
    )  # fmt: skip


def _model_quality_from_fit(model: ClvModel, computed_at: Any) -> list[pd.DataFrame]:
    frames = []
    stamp = computed_at
    for name, info in model.diagnostics.items():
        if not isinstance(info, dict) or name == "model_choice":
            continue
        suffix = name.removeprefix("gamma_gamma")
        keys = PURCHASE_MODELS.get(name) or tuple(f"{k}{suffix}" for k in ("p", "q", "v"))
        metrics: dict[str, float] = {f"param_{k}": model.params[k] for k in keys}
        metrics.update({f"se_{k}": v for k, v in info.get("standard_errors", {}).items()})
        for key in (
            "log_likelihood",
            "n_customers",
            "n_unique_rows",
            "penalizer_coef",
            "seconds",
            "n_excluded_nonpositive",
            "corr_frequency_value_pearson",
            "corr_frequency_value_spearman",
        ):
            if key in info and info[key] is not None:
                metrics[key] = float(info[key])
        metrics["converged"] = 1.0 if info.get("converged") else 0.0
        metrics["used_fallback"] = 1.0 if info.get("fallback_reason") else 0.0
        frame = quality_frame(name, metrics, computed_at=stamp)
        stamp = frame["computed_at"].iloc[0]
        frames.append(frame)
    return frames


@dataclass(frozen=True)
class PredictionOptions:
    """What :func:`predict_customers` predicts beyond the summary's columns and time resolution.

    ``annual_discount_rate`` discounts every CLV (10 % a year by default; the monthly rate is
    (1 + annual)^(1/12) − 1), over each horizon of ``clv_horizons_months`` (3, 12 and 36 months: the columns
    ``clv_3m``, ``clv_12m``, ``clv_36m``). The churn band (low / medium / high) is cut from
    ``churn_risk_relative`` in dbt (``stg_ml__customer_predictions``, var ``churn_band_thresholds``).
    ``purchase_model`` is ``"auto"`` (BG/NBD and Pareto/NBD fitted on all but the last ``holdout_days``, the
    one with the lower per-customer holdout error kept), ``"bgnbd"`` or ``"pareto_nbd"``.
    """

    def __post_init__(self) -> None:
        if self.purchase_model not in PURCHASE_MODEL_CHOICES:
            raise ValueError(
                f"purchase_model must be one of {PURCHASE_MODEL_CHOICES}, got {self.purchase_model!r}"
            )

    annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE
    clv_horizons_months: tuple[int, ...] = CLV_HORIZONS_MONTHS
    purchase_model: str = "auto"
    max_choice_customers: int = MAX_CHOICE_CUSTOMERS
    holdout_days: int = 90
    churn_horizon_days: int = 90
    churn_classifier: str | None = "hgb"
    max_next_order_days: int = 365
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS
    min_history_days: int = MIN_HISTORY_DAYS
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None
    random_state: int = 0

    @property
    def monthly_discount_rate(self) -> float:
        """The monthly rate equivalent to ``annual_discount_rate`` (what lifetimes' CLV sum discounts by)."""
        return monthly_discount_rate(self.annual_discount_rate)


def monthly_discount_rate(annual_rate: float) -> float:
    """The monthly discount rate equivalent to ``annual_rate``: (1 + annual)^(1/12) − 1 (10 % → 0.797 %)."""
    if not 0 <= annual_rate < 10:
        raise ValueError(f"annual_discount_rate must be a fraction such as 0.1, got {annual_rate!r}")
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


@dataclass
class _Findings:
    """What a prediction step found besides its result: ``ml.model_quality`` rows and messages."""

    quality: list[pd.DataFrame]
    messages: list[str]

    def extend(self, other: _Findings) -> None:
        self.quality.extend(other.quality)
        self.messages.extend(other.messages)


def predict_customers(
    transactions: pd.DataFrame,
    observation_end: Any,
    customer_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_col: str | None = "revenue",
    margin_col: str | None = None,
    features: FeatureSource = None,
    *,
    freq: str = "D",
    freq_multiplier: float = 7,
    penalizer_coef: float = 0.0,
    annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE,
    clv_horizons_months: Sequence[int] = CLV_HORIZONS_MONTHS,
    purchase_model: str = "auto",
    max_choice_customers: int = MAX_CHOICE_CUSTOMERS,
    holdout_days: int = 90,
    churn_horizon_days: int = 90,
    churn_classifier: str | None = "hgb",
    max_next_order_days: int = 365,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
    min_history_days: int = MIN_HISTORY_DAYS,
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    computed_at: Any = None,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, ClvModel | None, list[str]]:
    """Fit the customer models on ``transactions`` up to ``observation_end`` and score every customer.

    ``transactions`` is one row per order: ``customer_col``, ``datetime_col`` and the order's value in
    ``monetary_col`` (net of its own refunds), optionally its margin in ``margin_col``. Rows with a
    negative value are stand-alone refunds, not purchases: they are dropped (and counted in the messages).
    The keyword defaults fit weeks at day resolution (``freq="D", freq_multiplier=7``); the pipeline passes
    :data:`PIPELINE_SETTINGS` (weeks at hour resolution) instead. The other keywords are those of
    :class:`PredictionOptions`.

    ``churn_classifier`` is ``"hgb"``, ``"logistic"`` or None (BG/NBD scores only). ``features`` adds
    churn features beyond RFM (web engagement, service, marketing): a callable
    ``cutoff -> DataFrame[customer_col, ...]`` or a DataFrame with an ``as_of`` date column, evaluated at
    each churn cutoff (observation_end − 2·horizon, − horizon, and observation_end); numeric columns only.

    Returns ``(predictions, model_quality, model, messages)``: ``predictions`` has one row per customer and
    ``PREDICTION_COLUMNS`` (``clv_margin_12m`` is NaN without ``margin_col``, every value column is NaN
    without ``monetary_col``); ``model_quality`` is the tidy
    table of :mod:`~orchestration.analytics.validation` (fit diagnostics, holdout errors, churn AUC and
    calibration per candidate, permutation importance, eligibility); ``model`` is the full-period
    :class:`ClvModel` or None. An ineligible shop (or a fit that fails even with the fallback
    penalizers) gives an empty ``predictions`` and the reason in ``messages``.
    """
    settings = PipelineSettings(
        customer_col=customer_col, datetime_col=datetime_col, monetary_col=monetary_col, margin_col=margin_col,
        freq=freq, freq_multiplier=freq_multiplier, penalizer_coef=penalizer_coef,
    )  # fmt: skip
    options = PredictionOptions(
        annual_discount_rate=annual_discount_rate, clv_horizons_months=tuple(clv_horizons_months),
        purchase_model=purchase_model, max_choice_customers=max_choice_customers, holdout_days=holdout_days,
        churn_horizon_days=churn_horizon_days, churn_classifier=churn_classifier,
        max_next_order_days=max_next_order_days, min_repeat_customers=min_repeat_customers,
        min_history_days=min_history_days, thresholds=thresholds, random_state=random_state,
    )  # fmt: skip
    return _predict(transactions, _naive_timestamp(observation_end), features, settings, options, computed_at)


def _predict(
    transactions: pd.DataFrame,
    end: pd.Timestamp,
    features: FeatureSource,
    settings: PipelineSettings,
    options: PredictionOptions,
    computed_at: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, ClvModel | None, list[str]]:
    """:func:`predict_customers` on its settings and options: summary, fit, scores, holdout, churn."""
    found = _Findings([], [])
    stamp = pd.Timestamp.now(tz="UTC") if computed_at is None else pd.Timestamp(computed_at)
    rows, n_refunds = _purchase_rows(
        transactions, end, settings.customer_col, settings.datetime_col, settings.monetary_col,
        settings.margin_col, settings.freq,
    )  # fmt: skip
    if n_refunds:
        found.messages.append(
            f"{n_refunds} rows with a negative {settings.monetary_col} were treated as refunds, not "
            "purchases, and left out."
        )
    rows, ids = _coded_customers(rows, settings.customer_col)
    features = _coded_features(features, ids, settings.customer_col)
    summary = _summary(rows, end, settings, margin=True)
    eligible, eligibility = _eligibility(summary, rows, end, settings, options, stamp)
    found.extend(eligibility)
    stamp = eligibility.quality[0]["computed_at"].iloc[0]
    if not eligible:
        return empty_predictions(), pd.concat(found.quality, ignore_index=True), None, found.messages

    calibration_end = end - pd.Timedelta(days=options.holdout_days)
    can_hold_out = _calibration_eligible(rows, calibration_end, settings, options)
    try:
        model, choice = _fit(summary, rows, end, settings, options, stamp, can_hold_out)
    except ClvFitError as exc:
        found.messages.append(f"No customer predictions: {exc}")
        return empty_predictions(), pd.concat(found.quality, ignore_index=True), None, found.messages
    found.extend(choice)
    found.messages.extend(_fit_warnings(model))
    found.quality.extend(_model_quality_from_fit(model, stamp))

    out = _scores(model, summary, end, settings, options)
    cal_model, holdout = _holdout(rows, end, settings, options, stamp, model.purchase_model, can_hold_out)
    found.extend(holdout)

    # Churn risk: BG/NBD scores vs a classifier, compared on the same labels at the latest cutoff.
    churn = _ChurnInputs(
        rows=rows, summary=summary, model=model, end=end, features=features, settings=settings,
        options=options, stamp=stamp,
        eval_model=cal_model if options.holdout_days == options.churn_horizon_days else None,
    )  # fmt: skip
    risk, churn_model, churn_found = _churn(churn)
    found.extend(churn_found)
    out["churn_risk"], out["churn_model"] = risk, churn_model
    out["churn_risk_relative"] = _relative_churn_risk(
        out["churn_risk"], model, summary, options.churn_horizon_days / settings.time_unit_days
    )

    out.index = ids[out.index.to_numpy()]
    predictions = out.rename_axis(settings.customer_col).reset_index()
    predictions = predictions.rename(columns={settings.customer_col: "customer_id"})[PREDICTION_COLUMNS]
    return predictions, pd.concat(found.quality, ignore_index=True), model, found.messages


def _coded_customers(rows: pd.DataFrame, customer_col: str) -> tuple[pd.DataFrame, pd.Index]:
    """``rows`` with each customer id replaced by its position in the sorted ids, and the ids.

    Every step groups, joins and filters by customer several times; on integers that is several times
    faster than on string ids (a million customers: about 40 s less). Sorted, so the order of the
    customers, and with it every result, is the same as with the ids themselves."""
    codes, ids = pd.factorize(rows[customer_col], sort=True)
    return rows.assign(**{customer_col: codes}), pd.Index(ids)


def _coded_features(source: FeatureSource, ids: pd.Index, customer_col: str) -> FeatureSource:
    """``source`` with its customer ids replaced by the codes of :func:`_coded_customers` (rows of
    customers without purchases are left out: they get no churn row anyway)."""
    if source is None:
        return None

    def coded(cutoff: pd.Timestamp) -> pd.DataFrame | None:
        extra = _features_at(source, cutoff, customer_col)
        if extra is None:
            return None
        positions = ids.get_indexer(extra.index)
        known = positions >= 0
        return extra.loc[known].set_axis(positions[known]).rename_axis(customer_col).reset_index()

    return coded


def _summary(rows: pd.DataFrame, end: pd.Timestamp, settings: PipelineSettings, margin: bool) -> pd.DataFrame:
    """lifetimes' summary of ``rows`` up to ``end`` in ``settings``' columns and time resolution."""
    return rfm_summary(
        rows,
        settings.customer_col,
        settings.datetime_col,
        settings.monetary_col,
        observation_end=end,
        freq=settings.freq,
        freq_multiplier=settings.freq_multiplier,
        margin_col=settings.margin_col if margin else None,
    )


def _history_days(rows: pd.DataFrame, end: pd.Timestamp, settings: PipelineSettings) -> float:
    """Days from the first purchase in ``rows`` to ``end`` (0 without purchases)."""
    if not len(rows):
        return 0.0
    return float((end - rows[settings.datetime_col].min()) / pd.Timedelta(days=1))


def _eligibility(
    summary: pd.DataFrame,
    rows: pd.DataFrame,
    end: pd.Timestamp,
    settings: PipelineSettings,
    options: PredictionOptions,
    stamp: pd.Timestamp,
) -> tuple[bool, _Findings]:
    """Whether the shop is eligible, with its ``eligibility`` quality rows and message."""
    history_days = _history_days(rows, end, settings)
    eligible, message = check_eligibility(
        summary, history_days, options.min_repeat_customers, options.min_history_days
    )
    quality = quality_frame(
        "eligibility",
        {
            "n_repeat_customers": float((summary["frequency"] > 0).sum()),
            "history_days": history_days,
            "n_customers": float(len(summary)),
        },
        thresholds={
            "n_repeat_customers": (options.min_repeat_customers, None),
            "history_days": (options.min_history_days, None),
        },
        computed_at=stamp,
    )
    return eligible, _Findings([quality], [message])


def _fit_warnings(model: ClvModel) -> list[str]:
    """Messages about fits that needed a penalizer or whose Gamma-Gamma assumption is weak."""
    messages = []
    for name, info in model.diagnostics.items():
        if isinstance(info, dict) and info.get("fallback_reason"):
            messages.append(
                f"{name} needed a penalizer of {info['penalizer_coef']:g}: {info['fallback_reason']}"
            )
        if isinstance(info, dict) and info.get("independence_ok") is False:
            messages.append(
                f"{name}: frequency and order value are correlated (Spearman "
                f"{info['corr_frequency_value_spearman']:.2f}); the Gamma-Gamma independence assumption is weak."
            )
    return messages


def _scores(
    model: ClvModel,
    summary: pd.DataFrame,
    end: pd.Timestamp,
    settings: PipelineSettings,
    options: PredictionOptions,
) -> pd.DataFrame:
    """Every per-customer prediction of the fitted ``model`` except churn: purchases, values, ranges and
    the next order date, indexed like ``summary``."""
    unit_days = settings.time_unit_days
    discount = options.monthly_discount_rate
    out = pd.DataFrame(index=summary.index)
    out[["frequency", "recency", "T"]] = summary[["frequency", "recency", "T"]]
    out["monetary_value"] = summary["monetary_value"] if settings.monetary_col else math.nan
    out["probability_alive"] = model.probability_alive(summary)
    for days in (30, 90, 365):
        out[f"expected_purchases_{days}d"] = model.expected_purchases(summary, days / unit_days)
    purchase_range = model.purchase_interval(summary, 90 / unit_days, level=0.8)
    out["expected_purchases_90d_low"] = purchase_range["low"].astype(float)
    out["expected_purchases_90d_high"] = purchase_range["high"].astype(float)
    out["expected_order_value"] = model.expected_order_value(summary) if settings.monetary_col else math.nan
    horizons = sorted({*options.clv_horizons_months, 12})
    clv_columns = [f"clv_{months}m" for months in horizons]
    if settings.monetary_col:
        out[clv_columns] = model.clv(summary, months=horizons, discount_rate=discount)
        value_range = model.value_interval(summary, 12, 0.8, discount_rate=discount)
        out["clv_12m_low"], out["clv_12m_high"] = value_range["low"], value_range["high"]
    else:
        out[[*clv_columns, "clv_12m_low", "clv_12m_high"]] = math.nan
    out["clv_margin_12m"] = (
        model.clv(summary, months=12, discount_rate=discount, value="margin")
        if settings.margin_col
        else math.nan
    )
    out["clv_annual_discount_rate"] = options.annual_discount_rate
    wait_days = model.next_purchase_wait(summary).to_numpy() * unit_days
    reachable = np.isfinite(wait_days) & (wait_days <= options.max_next_order_days)
    start = pd.Period(end, freq=settings.freq).start_time
    next_dates = start + pd.to_timedelta(np.where(reachable, wait_days, 0.0), unit="D")
    out["expected_next_order_date"] = pd.Series(next_dates.floor("D"), index=out.index).where(reachable)
    return out


def _customer_sample(rows: pd.DataFrame, customer_col: str, n: int) -> pd.DataFrame:
    """The rows of ``n`` customers drawn at random (seed 0), or ``rows`` itself when it has no more;
    customer ids are the codes of :func:`_coded_customers`."""
    codes = rows[customer_col].to_numpy()
    n_customers = int(codes.max()) + 1 if len(codes) else 0
    if n_customers <= n:
        return rows
    chosen = np.zeros(n_customers, dtype=bool)
    chosen[np.random.default_rng(0).choice(n_customers, size=n, replace=False)] = True
    return rows.loc[chosen[codes]].reset_index(drop=True)


def _calibration_eligible(
    rows: pd.DataFrame, calibration_end: pd.Timestamp, settings: PipelineSettings, options: PredictionOptions
) -> bool:
    """Whether the history up to ``calibration_end`` alone would make the shop eligible."""
    cal_rows = rows.loc[(rows[settings.datetime_col] <= calibration_end).to_numpy()]
    return (
        len(cal_rows) > 0
        and check_eligibility(
            _summary(cal_rows, calibration_end, settings, margin=False),
            _history_days(rows, calibration_end, settings),
            options.min_repeat_customers,
            options.min_history_days,
        )[0]
    )


def _fit(
    summary: pd.DataFrame,
    rows: pd.DataFrame,
    end: pd.Timestamp,
    settings: PipelineSettings,
    options: PredictionOptions,
    stamp: pd.Timestamp,
    can_hold_out: bool,
) -> tuple[ClvModel, _Findings]:
    """The purchase and spend models fitted on the whole history: with ``purchase_model="auto"`` the
    purchase model is the one of BG/NBD and Pareto/NBD with the lower per-customer holdout error (on at
    most ``max_choice_customers`` customers), and the comparison is returned as quality rows.
    ``can_hold_out`` says whether the history before the holdout would make the shop eligible."""
    found = _Findings([], [])
    model_name, holdout = options.purchase_model, None
    calibration_end = end - pd.Timedelta(days=options.holdout_days)
    if model_name == "auto":
        if can_hold_out:
            holdout = calibration_and_holdout_summary(
                rows, settings.customer_col, settings.datetime_col, calibration_end, end,
                freq=settings.freq, freq_multiplier=settings.freq_multiplier,
            )  # fmt: skip
            if len(holdout) > options.max_choice_customers:
                holdout = holdout.sample(n=options.max_choice_customers, random_state=0)
                found.messages.append(
                    f"Purchase model chosen on {options.max_choice_customers:,} customers drawn at random."
                )
        else:
            model_name = "bgnbd"
            found.messages.append(
                f"Purchase model: BG/NBD without a comparison (too little history before {calibration_end.date()})."
            )
    choice = None
    if holdout is not None:
        choice = choose_purchase_model(
            holdout, penalizer_coef=settings.penalizer_coef, time_unit_days=settings.time_unit_days
        )
        model_name = choice["chosen"]
    fit_on = summary
    if model_name == "pareto_nbd" and len(summary) > MAX_PARETO_FIT_CUSTOMERS:
        fit_on = summary.sample(n=MAX_PARETO_FIT_CUSTOMERS, random_state=0)
        found.messages.append(f"Pareto/NBD fitted on {MAX_PARETO_FIT_CUSTOMERS:,} customers drawn at random.")
    model = fit_clv(fit_on, settings.penalizer_coef, model=model_name, time_unit_days=settings.time_unit_days)
    if choice is not None:
        model.diagnostics["model_choice"] = choice
        found.quality.append(model_choice_quality(model, computed_at=stamp))
        found.messages.append(
            f"Purchase model = {model.purchase_model} (holdout MAE per customer: "
            + ", ".join(
                f"{name} {info['holdout_mae']:.4f}"
                for name, info in choice["candidates"].items()
                if "holdout_mae" in info
            )
            + ")."
        )
    return model, found


def _holdout(
    rows: pd.DataFrame,
    end: pd.Timestamp,
    settings: PipelineSettings,
    options: PredictionOptions,
    stamp: pd.Timestamp,
    purchase_model: str,
    can_hold_out: bool,
) -> tuple[ClvModel | None, _Findings]:
    """The CLV model's holdout validation: the last ``holdout_days`` held out, ``purchase_model`` refitted
    on the rest, on at most :data:`MAX_VALIDATION_CUSTOMERS` customers drawn at random.

    Returns the calibration-period model (None when the history before the holdout is too short
    (``can_hold_out`` false) or the fit fails) and the ``clv_holdout`` quality rows or the reason they are
    missing."""
    found = _Findings([], [])
    calibration_end = end - pd.Timedelta(days=options.holdout_days)
    if not can_hold_out:
        found.messages.append(
            f"Holdout validation skipped: too little history before {calibration_end.date()}."
        )
        return None, found
    sample = _customer_sample(rows, settings.customer_col, MAX_VALIDATION_CUSTOMERS)
    if sample is not rows:
        found.messages.append(
            f"Holdout validation on {MAX_VALIDATION_CUSTOMERS:,} customers drawn at random."
        )
    try:
        holdout, cal_model = holdout_predictions(
            sample,
            settings.customer_col,
            settings.datetime_col,
            settings.monetary_col,
            calibration_end,
            end,
            freq=settings.freq,
            freq_multiplier=settings.freq_multiplier,
            penalizer_coef=settings.penalizer_coef,
            model=purchase_model,
            interval_level=0.8,
        )
    except (ClvFitError, ValueError) as exc:
        found.messages.append(f"Holdout validation skipped: {exc}")
        return None, found
    found.quality.append(
        holdout_metrics(holdout, model_name="clv_holdout", thresholds=options.thresholds, computed_at=stamp)
    )
    return cal_model, found


def _relative_churn_risk(
    churn_risk: pd.Series, model: ClvModel, summary: pd.DataFrame, t: float
) -> pd.Series:
    """``churn_risk`` measured against the customer's own purchase rhythm (see DECISIONLOG.md).

    1 − P(order within t) / P(order within t | still a customer): the share of the chance she would
    normally have of ordering in the churn horizon that is gone. P(order within t | alive) comes from the
    purchase model's posterior rate, so a customer who orders twice a year is not at risk merely because 90
    days pass without an order. With BG/NBD's own churn score this equals 1 − P(alive) exactly; clipped to
    [0, 1] for the classifier's scores.
    """
    p_alive = model.probability_alive(summary).to_numpy()
    p_none = model.probability_no_purchase(summary, t).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        # P(no purchase in t | alive), from P(none) = 1 − P(alive)·(1 − P(none | alive)).
        order_if_alive = np.where(p_alive > 0, (1.0 - p_none) / p_alive, 0.0)
        relative = np.where(
            order_if_alive > 0, 1.0 - (1.0 - churn_risk.to_numpy(dtype=float)) / order_if_alive, 1.0
        )
    relative = np.where(np.isnan(churn_risk.to_numpy(dtype=float)), np.nan, np.clip(relative, 0.0, 1.0))
    return pd.Series(relative, index=churn_risk.index, name="churn_risk_relative")


@dataclass(frozen=True)
class _ChurnInputs:
    """What the churn step needs: the purchases, the full-period summary and model, the end of
    observation, the extra features, the settings and options, and the calibration-period model when its
    holdout equals the churn horizon (it is then reused for the evaluation cutoff)."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    model: ClvModel
    end: pd.Timestamp
    features: FeatureSource
    settings: PipelineSettings
    options: PredictionOptions
    stamp: pd.Timestamp
    eval_model: ClvModel | None = None

    @property
    def horizon(self) -> int:
        return self.options.churn_horizon_days

    @property
    def horizon_units(self) -> float:
        return self.horizon / self.settings.time_unit_days

    def frame(self, cutoff: pd.Timestamp, horizon: int | None) -> pd.DataFrame:
        """The classifier's rows at ``cutoff`` (labels over ``horizon`` days; none when None)."""
        s = self.settings
        return _churn_frame(
            self.rows, s.customer_col, s.datetime_col, s.monetary_col, cutoff, horizon, self.features
        )


def _churn(inputs: _ChurnInputs) -> tuple[pd.Series, str, _Findings]:
    """churn_risk at the end of observation, the name of the model it comes from, and what was found on
    the way (the candidates' AUC, Brier score, calibration and the classifier's feature importance)."""
    found = _Findings([], [])
    s, o = inputs.settings, inputs.options
    eval_cutoff = inputs.end - pd.Timedelta(days=inputs.horizon)
    train_cutoff = eval_cutoff - pd.Timedelta(days=inputs.horizon)
    fallback = inputs.model.probability_no_purchase(inputs.summary, inputs.horizon_units).rename("churn_risk")
    first_day = inputs.rows[s.datetime_col].min()
    if eval_cutoff <= first_day:
        found.messages.append(
            "Churn: too little history for a time-based evaluation; churn_risk is BG/NBD's "
            f"P(no purchase in {inputs.horizon} days), unvalidated."
        )
        return fallback, "bgnbd_no_purchase", found

    # Churn labels are by day: the cutoff's whole day is the past, for BG/NBD as for the classifier.
    day_end = pd.Period(eval_cutoff, freq="D").end_time
    eval_rows = inputs.rows.loc[(inputs.rows[s.datetime_col] <= day_end).to_numpy()]
    eval_summary = _summary(eval_rows, eval_cutoff, s, margin=False)
    eval_model = inputs.eval_model
    if eval_model is None:
        try:
            eval_model = fit_clv(
                eval_summary[["frequency", "recency", "T"]], s.penalizer_coef, time_unit_days=s.time_unit_days
            )
        except ClvFitError as exc:
            found.messages.append(
                f"Churn: BG/NBD could not be fitted at {eval_cutoff.date()} ({exc}); "
                "churn_risk is the full-period BG/NBD score, unvalidated."
            )
            return fallback, "bgnbd_no_purchase", found
    labels = churn_labels(inputs.rows, s.customer_col, s.datetime_col, eval_cutoff, inputs.horizon)
    labels = labels.set_index(s.customer_col)["churned"].reindex(eval_summary.index)
    candidates: dict[str, Any] = {
        "bgnbd_alive": 1.0 - eval_model.probability_alive(eval_summary).to_numpy(),
        "bgnbd_no_purchase": eval_model.probability_no_purchase(
            eval_summary, inputs.horizon_units
        ).to_numpy(),
    }

    classifier = None
    enough_history = (
        o.churn_classifier is not None
        and train_cutoff > first_day
        and check_eligibility(
            eval_summary,
            float((eval_cutoff - first_day) / pd.Timedelta(days=1)),
            o.min_repeat_customers,
            o.min_history_days,
        )[0]
    )
    if enough_history:
        classifier, eval_scores, trained = _train_classifier(inputs, train_cutoff, eval_cutoff)
        found.extend(trained)
        if eval_scores is not None:
            candidates["classifier"] = eval_scores.reindex(labels.index).to_numpy()
    elif o.churn_classifier is not None:
        found.messages.append("Churn classifier not trained: too little history before the training cutoff.")

    best, table = compare_churn_models(labels.to_numpy(dtype=int), candidates)
    found.quality.extend(_churn_quality(table, best, candidates, labels, o, inputs.stamp))
    selected = table.iloc[0]
    found.messages.append(
        f"Churn risk = {best} (holdout AUC {selected['auc']:.3f} at {eval_cutoff.date()}; "
        + ", ".join(f"{r.model} {r.auc:.3f}" for r in table.itertuples(index=False))
        + ")."
    )

    if best == "classifier" and classifier is not None:
        risk = classifier.predict(inputs.frame(inputs.end, None)).reindex(inputs.summary.index)
        return risk.rename("churn_risk"), best, found
    if best == "bgnbd_alive":
        return (1.0 - inputs.model.probability_alive(inputs.summary)).rename("churn_risk"), best, found
    return fallback, best, found


def _train_classifier(
    inputs: _ChurnInputs, train_cutoff: pd.Timestamp, eval_cutoff: pd.Timestamp
) -> tuple[Any, pd.Series | None, _Findings]:
    """The churn classifier trained on the training and evaluation cutoffs' rows, its scores at the
    evaluation cutoff, and its permutation importance (None and a message when it cannot be trained)."""
    found = _Findings([], [])
    frames = [inputs.frame(cutoff, inputs.horizon) for cutoff in (train_cutoff, eval_cutoff)]
    counts = [np.bincount(f["churned"].to_numpy(dtype=int), minlength=2) for f in frames]
    if min(c.min() for c in counts) < MIN_CLASS_COUNT:
        found.messages.append(
            f"Churn classifier not trained: fewer than {MIN_CLASS_COUNT} customers in a class."
        )
        return None, None, found
    labelled = pd.concat(frames)
    feature_cols = [c for c in labelled.columns if c not in ("churned", "cutoff")]
    try:
        classifier = train_churn_classifier(
            labelled.reset_index(drop=True),
            "churned",
            feature_cols,
            model=inputs.options.churn_classifier,
            random_state=inputs.options.random_state,
        )
    except ValueError as exc:
        found.messages.append(f"Churn classifier not trained: {exc}")
        return None, None, found
    scores = pd.Series(classifier.eval_predictions.to_numpy(), index=frames[1].index)
    found.quality.append(
        pd.concat(
            [
                quality_frame(
                    "churn_classifier",
                    {"permutation_importance": row.importance_mean},
                    segment=f"feature={row.feature}",
                    computed_at=inputs.stamp,
                )
                for row in classifier.importance.itertuples(index=False)
            ],
            ignore_index=True,
        )
    )
    return classifier, scores, found


def _churn_quality(
    table: pd.DataFrame,
    best: str,
    candidates: Mapping[str, Any],
    labels: pd.Series,
    options: PredictionOptions,
    stamp: pd.Timestamp,
) -> list[pd.DataFrame]:
    """``ml.model_quality`` rows of the churn comparison: each candidate's AUC, Brier score, ECE and
    calibration deciles, and the selected model's figures as ``churn_risk``."""
    frames = []
    no_bounds: dict[str, tuple[float | None, float | None]] = {}
    for row in table.itertuples(index=False):
        metrics = {
            "auc": row.auc,
            "brier": row.brier,
            "ece": row.ece,
            "base_rate": row.base_rate,
            "n": row.n,
            "selected": 1.0 if row.model == best else 0.0,
        }
        frames.append(quality_frame(f"churn_{row.model}", metrics, thresholds=no_bounds, computed_at=stamp))
    selected = table.iloc[0]
    frames.append(
        quality_frame(
            "churn_risk",
            {"auc": selected["auc"], "brier": selected["brier"], "ece": selected["ece"]},
            thresholds=options.thresholds,
            computed_at=stamp,
        )
    )
    for name, scores in candidates.items():
        calib = calibration_table(labels.to_numpy(dtype=int), scores)
        for c in calib.itertuples(index=False):
            frames.append(
                quality_frame(
                    f"churn_{name}",
                    {"mean_predicted": c.mean_predicted, "observed_rate": c.observed_rate, "n": float(c.n)},
                    segment=f"decile={c.bin}",
                    computed_at=stamp,
                )
            )
    return frames
