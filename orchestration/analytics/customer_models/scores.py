"""Every per-customer prediction of a fitted model: purchases, values, ranges, next order date and
the churn risk relative to the customer's own rhythm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from orchestration.analytics.clv import ClvModel
from orchestration.analytics.customer_models.options import (
    PREDICTION_COLUMNS,
    PipelineSettings,
    PredictionOptions,
)


def empty_predictions() -> pd.DataFrame:
    """A ``customer_predictions`` frame with no rows and the output columns and dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in PREDICTION_COLUMNS})
    frame["customer_id"] = pd.Series(dtype="str")
    frame["churn_model"] = pd.Series(dtype="str")
    frame["expected_next_order_date"] = pd.Series(dtype="datetime64[us]")
    return frame


def customer_scores(
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


def relative_churn_risk(churn_risk: pd.Series, model: ClvModel, summary: pd.DataFrame, t: float) -> pd.Series:
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
