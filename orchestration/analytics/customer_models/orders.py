"""The orders the customer models read and the customer summary they fit, as the pipeline makes them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from orchestration.analytics.clv import (
    ClvModel,
    _naive_datetimes,
    _naive_timestamp,
    fit_clv,
    rfm_summary,
)
from orchestration.analytics.customer_models.options import PIPELINE_SETTINGS, PipelineSettings

# An order's value net of its own refunds (what the customer really spent) and its margin net of them too
# (see DECISIONLOG.md); the aliases are PIPELINE_SETTINGS' column names.
# In one order whichever engine built the mart (a Spark table's row order is its part files'): the
# models' fits and the churn classifier's validation split depend on the order of their rows.
ORDERS_QUERY = (
    "select customer_id, ordered_at, net_revenue as revenue, net_margin as margin from marts.fct_orders "
    "order by customer_id, ordered_at, revenue, margin"
)


def customer_orders(con: Any) -> pd.DataFrame:
    """One row per order from ``marts.fct_orders`` as the customer models read it (:data:`ORDERS_QUERY`);
    ``con`` is a DuckDB connection to the warehouse or its published copy."""
    return con.execute(ORDERS_QUERY).fetch_df()


def purchase_rows_and_refunds(
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
    end = observation_end_of(orders, observation_end, settings)
    rows, _ = purchase_rows_and_refunds(
        orders, end, settings.customer_col, settings.datetime_col, settings.monetary_col,
        settings.margin_col, settings.freq,
    )  # fmt: skip
    return rows


def observation_end_of(
    orders: pd.DataFrame, observation_end: Any, settings: PipelineSettings
) -> pd.Timestamp:
    """``observation_end`` as a naive UTC timestamp; the last order's time when None (ValueError without
    orders)."""
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
    end = observation_end_of(orders, observation_end, settings)
    return summary_of(purchase_rows(orders, end, settings), end, settings, margin=True)


def fit_customer_model(summary: pd.DataFrame, settings: PipelineSettings = PIPELINE_SETTINGS) -> ClvModel:
    """BG/NBD + Gamma-Gamma fitted on :func:`customer_summary`'s frame exactly as the pipeline fits it."""
    return fit_clv(summary, settings.penalizer_coef, time_unit_days=settings.time_unit_days)


def summary_of(
    rows: pd.DataFrame, end: pd.Timestamp, settings: PipelineSettings, margin: bool
) -> pd.DataFrame:
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


def days_of_history(rows: pd.DataFrame, end: pd.Timestamp, settings: PipelineSettings) -> float:
    """Days from the first purchase in ``rows`` to ``end`` (0 without purchases)."""
    if not len(rows):
        return 0.0
    return float((end - rows[settings.datetime_col].min()) / pd.Timedelta(days=1))
