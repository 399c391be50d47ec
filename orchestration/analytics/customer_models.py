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
    churn_bands,
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
    fit_clv,
    rfm_summary,
    time_unit_days,
)
from orchestration.analytics.validation import (
    holdout_metrics,
    holdout_predictions,
    quality_frame,
)

__all__ = [
    "MIN_HISTORY_DAYS",
    "MIN_REPEAT_CUSTOMERS",
    "ORDERS_QUERY",
    "PIPELINE_SETTINGS",
    "PREDICTION_COLUMNS",
    "PipelineSettings",
    "check_eligibility",
    "churn_frame",
    "customer_orders",
    "customer_summary",
    "empty_predictions",
    "fit_customer_model",
    "predict_customers",
    "purchase_rows",
]

MIN_REPEAT_CUSTOMERS = 500
MIN_HISTORY_DAYS = 180
# Below this many customers of each class at a cutoff the classifier is not trained (AUC would be noise).
MIN_CLASS_COUNT = 50

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
    "churn_band",
    "churn_model",
    "expected_next_order_date",
    # 80 % ranges (ClvModel.purchase_interval / value_interval; see DECISIONLOG.md).
    "expected_purchases_90d_low",
    "expected_purchases_90d_high",
    "clv_12m_low",
    "clv_12m_high",
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
ORDERS_QUERY = (
    "select customer_id, ordered_at, net_revenue as revenue, "
    "gross_margin - refund_amount as margin from marts.fct_orders"
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
    frame["churn_band"] = pd.Categorical([], categories=["low", "medium", "high"], ordered=True)
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
        if not isinstance(info, dict):
            continue
        suffix = name.removeprefix("gamma_gamma")
        keys = ("r", "alpha", "a", "b") if name == "bgnbd" else tuple(f"{k}{suffix}" for k in ("p", "q", "v"))
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
    clv_months: int = 12,
    discount_rate: float = 0.01,
    holdout_days: int = 90,
    churn_horizon_days: int = 90,
    churn_band_thresholds: Sequence[float] = (0.3, 0.7),
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
    Time is in weeks at day resolution (``freq="D", freq_multiplier=7``).

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
    messages: list[str] = []
    stamp = pd.Timestamp.now(tz="UTC") if computed_at is None else pd.Timestamp(computed_at)
    end = _naive_timestamp(observation_end)
    unit_days = time_unit_days(freq, freq_multiplier)

    rows, n_refunds = _purchase_rows(
        transactions, end, customer_col, datetime_col, monetary_col, margin_col, freq
    )
    if n_refunds:
        messages.append(
            f"{n_refunds} rows with a negative {monetary_col} were treated as refunds, not "
            "purchases, and left out."
        )

    summary = rfm_summary(
        rows,
        customer_col,
        datetime_col,
        monetary_col,
        observation_end=end,
        freq=freq,
        freq_multiplier=freq_multiplier,
        margin_col=margin_col,
    )
    history_days = float((end - rows[datetime_col].min()) / pd.Timedelta(days=1)) if len(rows) else 0.0
    eligible, message = check_eligibility(summary, history_days, min_repeat_customers, min_history_days)
    messages.append(message)
    quality = [
        quality_frame(
            "eligibility",
            {
                "n_repeat_customers": float((summary["frequency"] > 0).sum()),
                "history_days": history_days,
                "n_customers": float(len(summary)),
            },
            thresholds={
                "n_repeat_customers": (min_repeat_customers, None),
                "history_days": (min_history_days, None),
            },
            computed_at=stamp,
        )
    ]
    stamp = quality[0]["computed_at"].iloc[0]
    if not eligible:
        return empty_predictions(), pd.concat(quality, ignore_index=True), None, messages

    try:
        model = fit_clv(summary, penalizer_coef, time_unit_days=unit_days)
    except ClvFitError as exc:
        messages.append(f"No customer predictions: {exc}")
        return empty_predictions(), pd.concat(quality, ignore_index=True), None, messages
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
    quality.extend(_model_quality_from_fit(model, stamp))

    out = pd.DataFrame(index=summary.index)
    out[["frequency", "recency", "T"]] = summary[["frequency", "recency", "T"]]
    out["monetary_value"] = summary["monetary_value"] if monetary_col else math.nan
    out["probability_alive"] = model.probability_alive(summary)
    for days in (30, 90, 365):
        out[f"expected_purchases_{days}d"] = model.expected_purchases(summary, days / unit_days)
    purchase_range = model.purchase_interval(summary, 90 / unit_days, level=0.8)
    out["expected_purchases_90d_low"] = purchase_range["low"].astype(float)
    out["expected_purchases_90d_high"] = purchase_range["high"].astype(float)
    if monetary_col:
        out["expected_order_value"] = model.expected_order_value(summary)
        out["clv_12m"] = model.clv(summary, months=clv_months, discount_rate=discount_rate)
        value_range = model.value_interval(summary, clv_months, 0.8, discount_rate=discount_rate)
        out["clv_12m_low"], out["clv_12m_high"] = value_range["low"], value_range["high"]
    else:
        out["expected_order_value"] = math.nan
        out["clv_12m"] = math.nan
        out["clv_12m_low"] = out["clv_12m_high"] = math.nan
    out["clv_margin_12m"] = (
        model.clv(summary, months=clv_months, discount_rate=discount_rate, value="margin")
        if margin_col
        else math.nan
    )
    wait_days = model.next_purchase_wait(summary).to_numpy() * unit_days
    reachable = np.isfinite(wait_days) & (wait_days <= max_next_order_days)
    start = pd.Period(end, freq=freq).start_time
    next_dates = start + pd.to_timedelta(np.where(reachable, wait_days, 0.0), unit="D")
    out["expected_next_order_date"] = pd.Series(next_dates.floor("D"), index=out.index).where(reachable)

    # Holdout validation of the CLV model.
    calibration_end = end - pd.Timedelta(days=holdout_days)
    cal_model: ClvModel | None = None
    cal_rows = rows.loc[(rows[datetime_col] <= calibration_end).to_numpy()]
    cal_summary_ok = (
        len(cal_rows) > 0
        and check_eligibility(
            rfm_summary(
                cal_rows,
                customer_col,
                datetime_col,
                freq=freq,
                freq_multiplier=freq_multiplier,
                observation_end=calibration_end,
            ),
            float((calibration_end - rows[datetime_col].min()) / pd.Timedelta(days=1)),
            min_repeat_customers,
            min_history_days,
        )[0]
    )
    if cal_summary_ok:
        try:
            holdout, cal_model = holdout_predictions(
                rows,
                customer_col,
                datetime_col,
                monetary_col,
                calibration_end,
                end,
                freq=freq,
                freq_multiplier=freq_multiplier,
                penalizer_coef=penalizer_coef,
                interval_level=0.8,
            )
            quality.append(
                holdout_metrics(holdout, model_name="clv_holdout", thresholds=thresholds, computed_at=stamp)
            )
        except (ClvFitError, ValueError) as exc:
            messages.append(f"Holdout validation skipped: {exc}")
    else:
        messages.append(f"Holdout validation skipped: too little history before {calibration_end.date()}.")

    # Churn risk: BG/NBD scores vs a classifier, compared on the same labels at the latest cutoff.
    out["churn_risk"], out["churn_model"] = _churn(
        rows=rows,
        summary=summary,
        model=model,
        eval_model=cal_model if holdout_days == churn_horizon_days else None,
        end=end,
        customer_col=customer_col,
        datetime_col=datetime_col,
        monetary_col=monetary_col,
        features=features,
        freq=freq,
        freq_multiplier=freq_multiplier,
        penalizer_coef=penalizer_coef,
        horizon=churn_horizon_days,
        classifier_kind=churn_classifier,
        min_repeat_customers=min_repeat_customers,
        min_history_days=min_history_days,
        random_state=random_state,
        thresholds=thresholds,
        stamp=stamp,
        quality=quality,
        messages=messages,
    )
    out["churn_band"] = churn_bands(out["churn_risk"], churn_band_thresholds)

    predictions = out.rename_axis(customer_col).reset_index().rename(columns={customer_col: "customer_id"})
    predictions = predictions[PREDICTION_COLUMNS]
    return predictions, pd.concat(quality, ignore_index=True), model, messages


def _churn(
    *,
    rows,
    summary,
    model,
    eval_model,
    end,
    customer_col,
    datetime_col,
    monetary_col,
    features,
    freq,
    freq_multiplier,
    penalizer_coef,
    horizon,
    classifier_kind,
    min_repeat_customers,
    min_history_days,
    random_state,
    thresholds,
    stamp,
    quality,
    messages,
) -> tuple[pd.Series, str]:
    """churn_risk at ``end`` and the name of the model it comes from; appends quality rows and messages."""
    horizon_units = horizon / time_unit_days(freq, freq_multiplier)
    eval_cutoff = end - pd.Timedelta(days=horizon)
    train_cutoff = eval_cutoff - pd.Timedelta(days=horizon)
    fallback = model.probability_no_purchase(summary, horizon_units).rename("churn_risk")
    first_day = rows[datetime_col].min()
    if eval_cutoff <= first_day:
        messages.append(
            "Churn: too little history for a time-based evaluation; churn_risk is BG/NBD's "
            f"P(no purchase in {horizon} days), unvalidated."
        )
        return fallback, "bgnbd_no_purchase"

    # Churn labels are by day: the cutoff's whole day is the past, for BG/NBD as for the classifier.
    eval_rows = rows.loc[(rows[datetime_col] <= pd.Period(eval_cutoff, freq="D").end_time).to_numpy()]
    eval_summary = rfm_summary(
        eval_rows,
        customer_col,
        datetime_col,
        monetary_col,
        observation_end=eval_cutoff,
        freq=freq,
        freq_multiplier=freq_multiplier,
    )
    if eval_model is None:
        try:
            eval_model = fit_clv(
                eval_summary[["frequency", "recency", "T"]],
                penalizer_coef,
                time_unit_days=time_unit_days(freq, freq_multiplier),
            )
        except ClvFitError as exc:
            messages.append(
                f"Churn: BG/NBD could not be fitted at {eval_cutoff.date()} ({exc}); "
                "churn_risk is the full-period BG/NBD score, unvalidated."
            )
            return fallback, "bgnbd_no_purchase"
    labels = churn_labels(rows, customer_col, datetime_col, eval_cutoff, horizon).set_index(customer_col)[
        "churned"
    ]
    labels = labels.reindex(eval_summary.index)
    candidates: dict[str, Any] = {
        "bgnbd_alive": 1.0 - eval_model.probability_alive(eval_summary).to_numpy(),
        "bgnbd_no_purchase": eval_model.probability_no_purchase(eval_summary, horizon_units).to_numpy(),
    }

    classifier = None
    enough_history = (
        classifier_kind is not None
        and train_cutoff > first_day
        and check_eligibility(
            eval_summary,
            float((eval_cutoff - first_day) / pd.Timedelta(days=1)),
            min_repeat_customers,
            min_history_days,
        )[0]
    )
    if enough_history:
        frames = [
            _churn_frame(rows, customer_col, datetime_col, monetary_col, cutoff, horizon, features)
            for cutoff in (train_cutoff, eval_cutoff)
        ]
        counts = [np.bincount(f["churned"].to_numpy(dtype=int), minlength=2) for f in frames]
        if min(c.min() for c in counts) >= MIN_CLASS_COUNT:
            labelled = pd.concat(frames)
            feature_cols = [c for c in labelled.columns if c not in ("churned", "cutoff")]
            try:
                classifier = train_churn_classifier(
                    labelled.reset_index(drop=True),
                    "churned",
                    feature_cols,
                    model=classifier_kind,
                    random_state=random_state,
                )
            except ValueError as exc:
                messages.append(f"Churn classifier not trained: {exc}")
            else:
                eval_frame = frames[1]
                classifier_scores = pd.Series(classifier.eval_predictions.to_numpy(), index=eval_frame.index)
                candidates["classifier"] = classifier_scores.reindex(labels.index).to_numpy()
                quality.append(
                    pd.concat(
                        [
                            quality_frame(
                                "churn_classifier",
                                {"permutation_importance": row.importance_mean},
                                segment=f"feature={row.feature}",
                                computed_at=stamp,
                            )
                            for row in classifier.importance.itertuples(index=False)
                        ],
                        ignore_index=True,
                    )
                )
        else:
            messages.append(
                f"Churn classifier not trained: fewer than {MIN_CLASS_COUNT} customers in a class."
            )
    elif classifier_kind is not None:
        messages.append("Churn classifier not trained: too little history before the training cutoff.")

    best, table = compare_churn_models(labels.to_numpy(dtype=int), candidates)
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
        quality.append(quality_frame(f"churn_{row.model}", metrics, thresholds=no_bounds, computed_at=stamp))
    selected = table.iloc[0]
    quality.append(
        quality_frame(
            "churn_risk",
            {"auc": selected["auc"], "brier": selected["brier"], "ece": selected["ece"]},
            thresholds=thresholds,
            computed_at=stamp,
        )
    )
    table_rows = []
    for name, scores in candidates.items():
        calib = calibration_table(labels.to_numpy(dtype=int), scores)
        for c in calib.itertuples(index=False):
            table_rows.append(
                quality_frame(
                    f"churn_{name}",
                    {"mean_predicted": c.mean_predicted, "observed_rate": c.observed_rate, "n": float(c.n)},
                    segment=f"decile={c.bin}",
                    computed_at=stamp,
                )
            )
    quality.extend(table_rows)
    messages.append(
        f"Churn risk = {best} (holdout AUC {selected['auc']:.3f} at {eval_cutoff.date()}; "
        + ", ".join(f"{r.model} {r.auc:.3f}" for r in table.itertuples(index=False))
        + ")."
    )

    if best == "classifier" and classifier is not None:
        current = _churn_frame(rows, customer_col, datetime_col, monetary_col, end, None, features)
        risk = classifier.predict(current).reindex(summary.index)
        return risk.rename("churn_risk"), best
    if best == "bgnbd_alive":
        return (1.0 - model.probability_alive(summary)).rename("churn_risk"), best
    return fallback, best
