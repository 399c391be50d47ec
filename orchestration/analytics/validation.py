"""Model quality: holdout validation of the CLV model and the tidy ``model_quality`` table with its check.

Holdout validation follows Fader, Hardie & Lee (2005): fit on a calibration period, predict each customer's
purchases in the holdout period, compare with what happened. Every figure is one row of a tidy frame
(``QUALITY_COLUMNS``) so the same table holds CLV, churn and eligibility figures, and the asset check reads
it with :func:`quality_ok`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from orchestration.analytics.clv import ClvModel, calibration_and_holdout_summary, fit_clv, time_unit_days
from orchestration.analytics.clv.summary import _naive_datetimes, _naive_timestamp

__all__ = [
    "DEFAULT_THRESHOLDS",
    "QUALITY_COLUMNS",
    "empty_quality_frame",
    "holdout_metrics",
    "holdout_predictions",
    "holdout_validation",
    "interval_metrics",
    "model_choice_quality",
    "quality_frame",
    "quality_ok",
    "spearman",
]

QUALITY_COLUMNS = [
    "model",
    "metric",
    "segment",
    "value",
    "lower_bound",
    "upper_bound",
    "passed",
    "computed_at",
]

# (lower, upper) bounds a metric must stay within; None leaves a side open. The defaults warn about a
# model clearly worse than a usable one, they are not targets: on CDNOW (Fader, Hardie & Lee's 2,357
# customers, 39 + 39 weeks at day resolution) BG/NBD predicts 1,653 holdout purchases for 1,882 actual
# (−12 %), with an MAE skill of about 0.2 over the naive rate.
DEFAULT_THRESHOLDS: dict[str, tuple[float | None, float | None]] = {
    # (Σ predicted − Σ actual) / Σ actual holdout purchases.
    "relative_aggregate_purchase_error": (-0.25, 0.25),
    # 1 − MAE(model) / MAE(naive: calibration repeat rate × holdout length); < 0 means the naive rate wins.
    "purchases_mae_skill": (0.0, None),
    # Spearman correlation of predicted and actual holdout spend.
    "spearman_value": (0.2, None),
    # ROC AUC of the churn score kept as churn_risk.
    "auc": (0.6, None),
    # Gamma-Gamma assumes frequency and order value are independent.
    "corr_frequency_value_spearman": (-0.3, 0.3),
    # Share of customers whose holdout purchases fall inside their 80 % range: below 0.8 the ranges are
    # too narrow (dishonest). Counts are discrete, so a correct model covers more than 0.8 (≈ 0.92 on CDNOW).
    "interval_coverage_80": (0.8, None),
    # Realised minus model-expected coverage of the 80 % ranges: the sharper honesty check, since discrete
    # ranges can cover 0.8 even at a lower nominal level. On CDNOW 39/39: −0.024 (BG/NBD), −0.039 (Pareto/NBD).
    "interval_coverage_gap_80": (-0.05, None),
    # Share of customers whose holdout spend lies inside their 80 % value range (≈ 0.93 on generated data:
    # a customer who buys nothing is inside [0, ·] whatever the range).
    "value_interval_coverage_80": (0.8, None),
}

FREQUENCY_BUCKETS = 7  # calibration frequencies 0..6 and "7+"


def empty_quality_frame() -> pd.DataFrame:
    """A ``model_quality`` frame with no rows and the right columns and dtypes."""
    return pd.DataFrame(
        {
            "model": pd.Series(dtype="str"),
            "metric": pd.Series(dtype="str"),
            "segment": pd.Series(dtype="str"),
            "value": pd.Series(dtype="float64"),
            "lower_bound": pd.Series(dtype="float64"),
            "upper_bound": pd.Series(dtype="float64"),
            "passed": pd.Series(dtype="boolean"),
            "computed_at": pd.Series(dtype="datetime64[us, UTC]"),
        }
    )


def quality_frame(
    model: str,
    metrics: Mapping[str, float],
    segment: str = "all",
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    computed_at: Any = None,
) -> pd.DataFrame:
    """Rows of ``model_quality`` for ``metrics`` of one model and segment, with bounds and pass flags.

    ``thresholds`` defaults to :data:`DEFAULT_THRESHOLDS`; bounds apply only to ``segment == "all"`` rows.
    ``passed`` is NA for metrics without bounds or with a NaN value. ``computed_at`` defaults to now (UTC).
    """
    thresholds = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    stamp = pd.Timestamp.now(tz="UTC") if computed_at is None else pd.Timestamp(computed_at)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    rows = []
    for metric, raw in metrics.items():
        value = float(raw) if raw is not None else math.nan
        low, high = thresholds.get(metric, (None, None)) if segment == "all" else (None, None)
        passed: bool | None = None
        if (low is not None or high is not None) and math.isfinite(value):
            passed = (low is None or value >= low) and (high is None or value <= high)
        rows.append(
            {
                "model": model,
                "metric": metric,
                "segment": segment,
                "value": value,
                "lower_bound": math.nan if low is None else float(low),
                "upper_bound": math.nan if high is None else float(high),
                "passed": passed,
                "computed_at": stamp,
            }
        )
    if not rows:
        return empty_quality_frame()
    frame = pd.DataFrame(rows, columns=QUALITY_COLUMNS)
    frame["passed"] = frame["passed"].astype("boolean")
    frame["computed_at"] = frame["computed_at"].astype("datetime64[us, UTC]")
    return frame


def spearman(left, right) -> float:
    """Spearman rank correlation, NaN (rather than a warning) when either side is constant or too short."""
    a = np.asarray(left, dtype=float)
    b = np.asarray(right, dtype=float)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def holdout_predictions(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None,
    calibration_end: Any,
    observation_end: Any,
    *,
    freq: str = "D",
    freq_multiplier: float = 7,
    penalizer_coef: float = 0.0,
    model: str = "bgnbd",
    interval_level: float | None = None,
) -> tuple[pd.DataFrame, ClvModel]:
    """Fit on ``(.., calibration_end]`` and predict ``(calibration_end, observation_end]`` per customer.

    Returns the calibration/holdout summary (see
    :func:`~orchestration.analytics.clv.calibration_and_holdout_summary`) with ``predicted_purchases``,
    ``naive_purchases`` (calibration repeat rate × holdout length), ``actual_value`` (holdout spend from
    the rows) and ``predicted_value`` (predicted purchases × expected order value, undiscounted), and the
    calibration model. ``model`` is the purchase model (``"bgnbd"`` or ``"pareto_nbd"``). With
    ``interval_level`` (e.g. 0.8), ``purchases_low`` and ``purchases_high`` hold each customer's range of
    holdout purchases (:meth:`~orchestration.analytics.clv.ClvModel.purchase_interval`) and
    ``purchases_range_probability`` the model's own probability of the range, and ``interval_level`` the
    level, which :func:`holdout_metrics` turns into coverage and width; with ``monetary_col`` also
    ``value_low`` and ``value_high``, the range of holdout spend
    (:meth:`~orchestration.analytics.clv.ClvModel.value_interval` over the holdout, undiscounted).

    ``freq, freq_multiplier`` default to weeks at day resolution (``"D"``, 7), the resolution of data with
    dates only such as CDNOW; the pipeline (``customer_models.predict_customers`` with
    ``PIPELINE_SETTINGS``) passes its own, weeks at hour resolution (``"h"``, 168).
    """
    cal = calibration_and_holdout_summary(
        transactions,
        customer_col,
        datetime_col,
        calibration_end,
        observation_end,
        freq=freq,
        freq_multiplier=freq_multiplier,
        monetary_col=monetary_col,
    )
    summary = cal.rename(columns=lambda c: c.removesuffix("_cal"))[
        ["frequency", "recency", "T", *(["monetary_value"] if monetary_col else [])]
    ]
    model = fit_clv(
        summary, penalizer_coef, model=model, time_unit_days=time_unit_days(freq, freq_multiplier)
    )
    duration = float(cal["duration_holdout"].iloc[0])
    out = cal.copy()
    out["predicted_purchases"] = model.expected_purchases(summary, duration)
    if interval_level is not None:
        ranges = model.purchase_interval(summary, duration, level=interval_level, with_probability=True)
        out["purchases_low"] = ranges["low"]
        out["purchases_high"] = ranges["high"]
        out["purchases_range_probability"] = ranges["probability"]
        out["interval_level"] = float(interval_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(summary["T"] > 0, summary["frequency"] / summary["T"], 0.0)
    out["naive_purchases"] = rate * duration
    if monetary_col:
        spend = _holdout_spend(
            transactions, customer_col, datetime_col, monetary_col, calibration_end, observation_end
        )
        out["actual_value"] = spend.reindex(out.index).fillna(0.0).to_numpy()
        out["predicted_value"] = out["predicted_purchases"] * model.expected_order_value(summary)
        if interval_level is not None:
            # The holdout as one "month" of its own length, undiscounted: the range of holdout spend.
            spend_range = model.value_interval(
                summary, months=1, level=interval_level, discount_rate=0.0, periods_per_month=duration
            )
            out["value_low"], out["value_high"] = spend_range["low"], spend_range["high"]
    return out, model


def _holdout_spend(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str,
    calibration_end: Any,
    observation_end: Any,
) -> pd.Series:
    """Each customer's total value of the rows in ``(calibration_end, observation_end]``."""
    times = _naive_datetimes(transactions[datetime_col])
    cal_end, obs_end = _naive_timestamp(calibration_end), _naive_timestamp(observation_end)
    mask = ((times > cal_end) & (times <= obs_end)).to_numpy()
    return (
        pd.Series(
            pd.to_numeric(transactions[monetary_col]).to_numpy(dtype=float)[mask],
            index=transactions[customer_col].to_numpy()[mask],
        )
        .groupby(level=0)
        .sum()
    )


def holdout_metrics(
    holdout: pd.DataFrame,
    model_name: str = "clv",
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    computed_at: Any = None,
) -> pd.DataFrame:
    """The holdout figures of :func:`holdout_predictions` as ``model_quality`` rows.

    Overall (segment ``all``): ``purchases_mae``, ``purchases_rmse``, ``purchases_mae_naive``,
    ``purchases_mae_skill``, ``predicted_total_purchases``, ``actual_total_purchases``,
    ``relative_aggregate_purchase_error``, ``spearman_value`` (predicted vs actual holdout spend),
    ``n_customers``, ``holdout_length``; with the ``purchases_low/high`` columns of
    :func:`holdout_predictions` also the :func:`interval_metrics` (``interval_coverage_80``, …). Per
    calibration frequency 0..6 and 7+ (segment ``frequency_cal=k``): ``mean_predicted_purchases``,
    ``mean_actual_purchases``, ``n_customers`` (and ``interval_coverage_<level>``).
    """
    predicted = holdout["predicted_purchases"].to_numpy(dtype=float)
    actual = holdout["frequency_holdout"].to_numpy(dtype=float)
    naive = holdout["naive_purchases"].to_numpy(dtype=float)
    mae = float(np.mean(np.abs(predicted - actual)))
    mae_naive = float(np.mean(np.abs(naive - actual)))
    total_actual = float(actual.sum())
    metrics = {
        "purchases_mae": mae,
        "purchases_rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
        "purchases_mae_naive": mae_naive,
        "purchases_mae_skill": 1.0 - mae / mae_naive if mae_naive > 0 else math.nan,
        "predicted_total_purchases": float(predicted.sum()),
        "actual_total_purchases": total_actual,
        "relative_aggregate_purchase_error": (
            (float(predicted.sum()) - total_actual) / total_actual if total_actual > 0 else math.nan
        ),
        "spearman_value": (
            spearman(holdout["predicted_value"], holdout["actual_value"])
            if "predicted_value" in holdout
            else math.nan
        ),
        "n_customers": float(len(holdout)),
        "holdout_length": float(holdout["duration_holdout"].iloc[0]) if len(holdout) else math.nan,
    }
    has_ranges = "purchases_low" in holdout and "purchases_high" in holdout
    if has_ranges:
        metrics.update(interval_metrics(holdout))
    frames = [quality_frame(model_name, metrics, thresholds=thresholds, computed_at=computed_at)]
    stamp = frames[0]["computed_at"].iloc[0]
    bucket = np.minimum(holdout["frequency_cal"].to_numpy(dtype=int), FREQUENCY_BUCKETS)
    for k in range(FREQUENCY_BUCKETS + 1):
        chosen = bucket == k
        if not chosen.any():
            continue
        label = f"{k}+" if k == FREQUENCY_BUCKETS else str(k)
        frames.append(
            quality_frame(
                model_name,
                {
                    "mean_predicted_purchases": float(predicted[chosen].mean()),
                    "mean_actual_purchases": float(actual[chosen].mean()),
                    "n_customers": float(chosen.sum()),
                    **(
                        {
                            k: v
                            for k, v in interval_metrics(holdout.loc[chosen]).items()
                            if k.startswith("interval_coverage")
                        }
                        if has_ranges
                        else {}
                    ),
                },
                segment=f"frequency_cal={label}",
                thresholds=thresholds,
                computed_at=stamp,
            )
        )
    return pd.concat(frames, ignore_index=True)


def _level_suffix(level: float) -> str:
    return f"{level * 100:g}".replace(".", "_")


def interval_metrics(holdout: pd.DataFrame, level: float | None = None) -> dict[str, float]:
    """Coverage and width of the holdout purchase ranges of :func:`holdout_predictions`.

    ``interval_coverage_<L>``: share of customers with ``purchases_low <= frequency_holdout <=
    purchases_high``; ``interval_mean_width_<L>``: mean of ``high − low`` (in purchases);
    ``interval_share_zero_width_<L>``: share of ranges [k, k] (mostly [0, 0]). With ``value_low``,
    ``value_high`` and ``actual_value`` (holdout spend), ``value_interval_coverage_<L>`` (share of customers
    whose holdout spend lies in their value range) and ``value_interval_mean_width_<L>`` (in currency). With the
    ``purchases_range_probability`` column also ``interval_expected_coverage_<L>`` (the mean model
    probability of the ranges: what the model itself expects the coverage to be, above the level because
    counts are discrete) and ``interval_coverage_gap_<L>`` = realised − expected coverage, which is
    negative when the ranges are over-confident. ``<L>`` is the level in percent (``80`` for 0.8), read
    from the ``interval_level`` column unless ``level`` is given.
    """
    if level is None:
        level = float(holdout["interval_level"].iloc[0]) if len(holdout) else 0.8
    low = holdout["purchases_low"].to_numpy(dtype=float)
    high = holdout["purchases_high"].to_numpy(dtype=float)
    actual = holdout["frequency_holdout"].to_numpy(dtype=float)
    suffix = _level_suffix(level)
    if not len(actual):
        return {f"interval_coverage_{suffix}": math.nan, f"interval_mean_width_{suffix}": math.nan}
    coverage = float(np.mean((actual >= low) & (actual <= high)))
    out = {
        f"interval_coverage_{suffix}": coverage,
        f"interval_mean_width_{suffix}": float(np.mean(high - low)),
        f"interval_share_zero_width_{suffix}": float(np.mean(high == low)),
    }
    if "purchases_range_probability" in holdout:
        expected = float(holdout["purchases_range_probability"].mean())
        out[f"interval_expected_coverage_{suffix}"] = expected
        out[f"interval_coverage_gap_{suffix}"] = coverage - expected
    if "value_low" in holdout and "value_high" in holdout and "actual_value" in holdout:
        spent = holdout["actual_value"].to_numpy(dtype=float)
        value_low = holdout["value_low"].to_numpy(dtype=float)
        value_high = holdout["value_high"].to_numpy(dtype=float)
        # A small tolerance: a customer who buys nothing has the range [0, 0] and spends exactly 0.
        inside = (spent >= value_low - 1e-9) & (spent <= value_high + 1e-9)
        out[f"value_interval_coverage_{suffix}"] = float(np.mean(inside))
        out[f"value_interval_mean_width_{suffix}"] = float(np.mean(value_high - value_low))
    return out


def model_choice_quality(model: ClvModel, computed_at: Any = None) -> pd.DataFrame:
    """``model_quality`` rows of the holdout comparison made by ``fit_clv(..., model="auto")``.

    Per candidate (model ``bgnbd`` / ``pareto_nbd``): ``holdout_mae`` (the criterion), ``holdout_rmse``,
    ``holdout_relative_aggregate_error``, ``holdout_predicted_mean``, ``holdout_actual_mean`` and a
    ``model_choice`` row whose value is 1 for the chosen model and 0 for the others. Empty when the model
    was not chosen automatically.
    """
    choice = model.diagnostics.get("model_choice")
    if not choice:
        return empty_quality_frame()
    frames = []
    stamp = computed_at
    for name, info in choice["candidates"].items():
        metrics = {k: v for k, v in info.items() if k.startswith("holdout_")}
        metrics["model_choice"] = 1.0 if name == choice["chosen"] else 0.0
        frame = quality_frame(name, metrics, computed_at=stamp)
        stamp = frame["computed_at"].iloc[0]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def holdout_validation(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None,
    calibration_end: Any,
    observation_end: Any,
    *,
    freq: str = "D",
    freq_multiplier: float = 7,
    penalizer_coef: float = 0.0,
    model: str = "bgnbd",
    interval_level: float | None = 0.8,
    model_name: str = "clv",
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    computed_at: Any = None,
) -> pd.DataFrame:
    """Split at ``calibration_end``, fit, predict the holdout and return the ``model_quality`` rows.

    See :func:`holdout_predictions` for the split and :func:`holdout_metrics` for the figures. Customers
    whose first purchase falls in the holdout are not scored (BG/NBD knows nothing about them).
    ``model`` is the purchase model; ``interval_level`` (default 0.8, None to skip) adds the coverage
    and width of the purchase ranges (``interval_coverage_80``, ``interval_mean_width_80``). ``freq`` and
    ``freq_multiplier`` default to weeks at day resolution, as in :func:`holdout_predictions`; pass
    ``"h"``, 168 to validate at the pipeline's hour resolution.
    """
    holdout, _ = holdout_predictions(
        transactions,
        customer_col,
        datetime_col,
        monetary_col,
        calibration_end,
        observation_end,
        freq=freq,
        freq_multiplier=freq_multiplier,
        penalizer_coef=penalizer_coef,
        model=model,
        interval_level=interval_level,
    )
    return holdout_metrics(holdout, model_name=model_name, thresholds=thresholds, computed_at=computed_at)


def quality_ok(
    model_quality: pd.DataFrame,
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> tuple[bool, list[str]]:
    """Decide the asset check: ``(ok, messages)`` over the segment-``all`` rows.

    With ``thresholds`` (metric → (lower, upper)) every matching row is tested against them; without,
    the bounds stored in the frame are used. A NaN value for a bounded metric is reported but does not
    fail the check (a metric that could not be computed, e.g. no holdout spend, is not a degradation).
    """
    messages: list[str] = []
    ok = True
    rows = model_quality.loc[model_quality["segment"] == "all"]
    for row in rows.itertuples(index=False):
        if thresholds is not None:
            if row.metric not in thresholds:
                continue
            low, high = thresholds[row.metric]
        else:
            low = None if pd.isna(row.lower_bound) else row.lower_bound
            high = None if pd.isna(row.upper_bound) else row.upper_bound
        if low is None and high is None:
            continue
        if pd.isna(row.value):
            messages.append(f"{row.model}.{row.metric}: not computed")
            continue
        if (low is not None and row.value < low) or (high is not None and row.value > high):
            ok = False
            bounds = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
            messages.append(f"{row.model}.{row.metric} = {row.value:.4g} outside {bounds}")
    return ok, messages
