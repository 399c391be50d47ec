"""Whether a shop has enough history for customer predictions (see the package docstring)."""

from __future__ import annotations

import pandas as pd

from orchestration.analytics.customer_models.options import (
    MIN_HISTORY_DAYS,
    MIN_REPEAT_CUSTOMERS,
    Findings,
    PipelineSettings,
    PredictionOptions,
)
from orchestration.analytics.customer_models.orders import days_of_history, summary_of
from orchestration.analytics.validation import quality_frame


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


def eligibility_findings(
    summary: pd.DataFrame,
    rows: pd.DataFrame,
    end: pd.Timestamp,
    settings: PipelineSettings,
    options: PredictionOptions,
    stamp: pd.Timestamp,
) -> tuple[bool, Findings]:
    """Whether the shop is eligible, with its ``eligibility`` quality rows and message."""
    history_days = days_of_history(rows, end, settings)
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
    return eligible, Findings([quality], [message])


def calibration_eligible(
    rows: pd.DataFrame, calibration_end: pd.Timestamp, settings: PipelineSettings, options: PredictionOptions
) -> bool:
    """Whether the history up to ``calibration_end`` alone would make the shop eligible."""
    cal_rows = rows.loc[(rows[settings.datetime_col] <= calibration_end).to_numpy()]
    return (
        len(cal_rows) > 0
        and check_eligibility(
            summary_of(cal_rows, calibration_end, settings, margin=False),
            days_of_history(rows, calibration_end, settings),
            options.min_repeat_customers,
            options.min_history_days,
        )[0]
    )
