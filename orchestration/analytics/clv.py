"""Customer lifetime value: RFM summaries, BG/NBD + Gamma-Gamma fits and closed-form predictions.

Models
------
* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to the
  Pareto/NBD model", Marketing Science 24(2), 275-284): while alive a customer buys as a Poisson process
  with rate λ ~ Gamma(r, α); after every *repeat* purchase she drops out with probability p ~ Beta(a, b).
* **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer base
  analysis", JMR 42(4), 415-430; Fader & Hardie 2013, note 025): the value of a customer's transactions
  is Gamma(p, ν) with ν ~ Gamma(q, v), independent of the transaction process.

* **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987; Fader & Hardie's notes 008, 009, 028), the
  alternative purchase model: dropout at an Exp(μ) time, μ ~ Gamma(s, β), at any moment rather than only
  after a purchase. ``fit_clv(summary, model="pareto_nbd")``; ``model="auto"`` keeps whichever of the two
  predicts a holdout period better (lowest per-customer MAE of purchases, see :func:`choose_purchase_model`).

All are fitted with ``lifetimes`` (0.11.3), the reference implementation; predictions are closed-form
from the parameters (Pareto/NBD's no-purchase probability by quadrature), so a fitted :class:`ClvModel` is
saved as JSON (parameters + diagnostics) and needs no pickle.

Ranges
------
:meth:`ClvModel.purchase_interval` gives the central 80 % (``level``) range of each customer's purchases
in the next ``t`` from her exact posterior-predictive distribution (closed form for BG/NBD, quadrature over
the dropout time for Pareto/NBD); :meth:`ClvModel.value_interval` the range of her value, by Monte Carlo
over purchases, her Gamma-Gamma mean order value and the order-to-order variation. Both take the fitted
parameters as known: the uncertainty of the fitted parameters (their standard errors) is not included.

Conventions (lifetimes')
------------------------
* ``frequency`` = number of *repeat* purchase periods (purchases in the same period count once, their
  values are summed); ``recency`` = time from the first to the last purchase; ``T`` = time from the first
  purchase to the end of observation; ``monetary_value`` = mean value of the repeat periods, 0 for
  customers without a repeat purchase.
* Time is in weeks throughout the project: ``freq="W"`` (calendar weeks) or, preferably,
  ``freq="D", freq_multiplier=7`` (day resolution expressed in weeks, which keeps two purchases in the same
  week apart).

Returns, refunds and non-positive values
----------------------------------------
Gamma-Gamma is defined for positive values only (lifetimes rejects ``monetary_value <= 0``). The input of
:func:`rfm_summary` should be one row per order carrying the order's value net of its own refunds (or its
margin: revenue − cost − refunds). Then:

* a customer whose mean repeat value is ``<= 0`` (all repeat orders refunded, or sold at a loss when the
  value is a margin) is left out of the Gamma-Gamma *fit* and counted in the diagnostics;
* her expected order value is the Gamma-Gamma posterior mean in the limit ``m → 0⁺``, i.e. the population
  mean shrunk by her number of repeat orders: ``(1 − w)·E[Z]`` with ``w = p·x / (p·x + q − 1)``. It is
  never negative, and it is small for a customer with many loss-making repeat orders, which is the point;
* whether a zero-value order counts as a purchase *event* for BG/NBD is the caller's choice of rows:
  :func:`orchestration.analytics.customer_models.predict_customers` drops rows with a negative value
  (stand-alone refunds are not purchases) and keeps zero-value orders (the customer did transact).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betainc, betaln, gammaln
from scipy.stats import spearmanr

__all__ = [
    "BGNBD_PARAMS",
    "GAMMA_GAMMA_PARAMS",
    "PARETO_NBD_PARAMS",
    "PURCHASE_MODELS",
    "ClvFitError",
    "ClvModel",
    "bgnbd_log_likelihood",
    "calibration_and_holdout_summary",
    "choose_purchase_model",
    "fit_clv",
    "gamma_gamma_log_likelihood",
    "pareto_nbd_log_likelihood",
    "rfm_summary",
    "time_unit_days",
]

BGNBD_PARAMS = ("r", "alpha", "a", "b")
PARETO_NBD_PARAMS = ("r", "alpha", "s", "beta")
# Purchase models fit_clv knows, with their parameter names; "auto" chooses among them on a holdout.
PURCHASE_MODELS = {"bgnbd": BGNBD_PARAMS, "pareto_nbd": PARETO_NBD_PARAMS}

# Gauss-Legendre nodes and weights on [0, 1] for the Pareto/NBD integrals over the dropout time.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(32)
_GL_NODES, _GL_WEIGHTS = (_GL_NODES + 1) / 2, _GL_WEIGHTS / 2

# Rows processed at once by the vectorised interval and quadrature code (bounds memory at ~100 MB).
_CHUNK_ROWS = 50_000
GAMMA_GAMMA_PARAMS = ("p", "q", "v")

# Length of one unit of numpy/pandas' period codes that make sense for purchase data.
_FREQ_UNITS = {"D": np.timedelta64(1, "D"), "W": np.timedelta64(7, "D"), "h": np.timedelta64(1, "h")}

# lifetimes' _customer_lifetime_value steps months of 4.345 weeks; kept so CLV matches lifetimes exactly.
WEEKS_PER_MONTH = 4.345

# Penalizers tried, in order, after an unpenalised fit fails (lifetimes' own advice on ConvergenceError).
DEFAULT_FALLBACK_PENALIZERS = (0.001, 0.01)

# |Spearman correlation| between frequency and mean repeat value above which the Gamma-Gamma
# independence assumption is flagged (Fader & Hardie's CDNOW example shows ≈ 0.11).
MAX_INDEPENDENCE_CORRELATION = 0.3


class ClvFitError(RuntimeError):
    """Raised when BG/NBD or Gamma-Gamma cannot be fitted even with the fallback penalizers."""


# ---------------------------------------------------------------------------------------------------------
# RFM summaries
# ---------------------------------------------------------------------------------------------------------


def _naive_datetimes(values: pd.Series) -> pd.Series:
    """Datetimes without a time zone; tz-aware input is read in UTC (purchase days are UTC days)."""
    out = pd.to_datetime(values)
    if out.dt.tz is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def _naive_timestamp(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _period_start(values: pd.Series, freq: str) -> pd.Series:
    # Same result as .dt.to_period(freq).dt.start_time (weeks are pandas' W-SUN periods, starting on
    # Monday), several times faster on millions of rows.
    if freq == "W":
        days = values.dt.floor("D")
        return days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    return values.dt.floor(freq)


def _check_freq(freq: str) -> np.timedelta64:
    if freq not in _FREQ_UNITS:
        raise ValueError(f"freq must be one of {sorted(_FREQ_UNITS)}, got {freq!r}")
    return _FREQ_UNITS[freq]


def time_unit_days(freq: str, freq_multiplier: float = 1) -> float:
    """Length in days of the time unit of a summary built with ``freq`` and ``freq_multiplier``."""
    return float(_check_freq(freq) / np.timedelta64(1, "D")) * freq_multiplier


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None = None,
    observation_end: Any = None,
    freq: str = "W",
    freq_multiplier: float = 1,
    margin_col: str | None = None,
) -> pd.DataFrame:
    """One row per customer with lifetimes' ``frequency, recency, T [, monetary_value]``.

    A vectorised equivalent of ``lifetimes.utils.summary_data_from_transaction_data`` (identical output,
    checked on CDNOW_master in the tests) that is fast on millions of rows: timestamps are floored to
    periods of ``freq`` (``"D"``, ``"W"`` = Monday-based weeks, ``"h"``), purchases in the same period are
    one purchase whose value is their sum, rows after the period of ``observation_end`` are ignored, and
    times are in periods divided by ``freq_multiplier``: ``freq="D", freq_multiplier=7`` gives weeks at day
    resolution, the project's default. Time-zone-aware timestamps are read in UTC.

    ``monetary_value`` is the mean value of the repeat periods (0 without a repeat purchase). With
    ``margin_col``, a ``margin_value`` column is computed the same way from that column. The index holds
    the customer ids (named ``customer_col``), sorted.
    """
    unit_ns = _check_freq(freq) / np.timedelta64(1, "ns")
    periods = _period_start(_naive_datetimes(transactions[datetime_col]), freq)
    if observation_end is None:
        end = periods.max()
    else:
        end = pd.Period(_naive_timestamp(observation_end), freq=freq).start_time
    keep = (periods <= end).to_numpy()
    # Sort by (customer, period) once and work on runs: much faster than groupby on string ids.
    codes, customers = transactions[customer_col].iloc[np.flatnonzero(keep)].factorize(sort=True)
    stamps = periods.to_numpy()[keep].astype("datetime64[ns]").view("i8")
    order = np.lexsort((stamps, codes))
    codes, stamps = codes[order], stamps[order]
    new_period = np.ones(codes.size, dtype=bool)
    new_period[1:] = (codes[1:] != codes[:-1]) | (stamps[1:] != stamps[:-1])
    period_starts = np.flatnonzero(new_period)
    period_codes, period_stamps = codes[period_starts], stamps[period_starts]
    new_customer = np.ones(period_starts.size, dtype=bool)
    new_customer[1:] = period_codes[1:] != period_codes[:-1]
    customer_starts = np.flatnonzero(new_customer)
    customer_ends = np.append(customer_starts[1:], period_starts.size) - 1
    first, last = period_stamps[customer_starts], period_stamps[customer_ends]
    end_ns = np.datetime64(end, "ns").astype("i8")

    frequency = (customer_ends - customer_starts).astype(float)
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first) / unit_ns / freq_multiplier,
            "T": (end_ns - first) / unit_ns / freq_multiplier,
        },
        index=pd.Index(customers, name=customer_col),
    )
    for col, name in ((monetary_col, "monetary_value"), (margin_col, "margin_value")):
        if not col:
            continue
        # Missing values count as 0 in a period's sum, as in lifetimes (pandas' sum skips NaN).
        values = np.nan_to_num(pd.to_numeric(transactions[col]).to_numpy(dtype=float)[keep][order])
        period_sums = np.add.reduceat(values, period_starts) if values.size else values
        totals = np.add.reduceat(period_sums, customer_starts) if values.size else values
        repeat_sums = totals - period_sums[customer_starts] if values.size else values
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(frequency > 0, repeat_sums / np.maximum(frequency, 1), 0.0)
    return out.astype(float)


def calibration_and_holdout_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    calibration_end: Any,
    observation_end: Any = None,
    freq: str = "W",
    freq_multiplier: float = 1,
    monetary_col: str | None = None,
) -> pd.DataFrame:
    """Calibration summary plus what each customer did in the holdout period.

    Same output as ``lifetimes.utils.calibration_and_holdout_data`` (vectorised; equality is tested):
    ``frequency_cal, recency_cal, T_cal [, monetary_value_cal], frequency_holdout
    [, monetary_value_holdout], duration_holdout``, one row per customer who bought on or before
    ``calibration_end``. ``frequency_holdout`` counts the distinct periods with a purchase in
    ``(calibration_end, observation_end]``; ``monetary_value_holdout`` is lifetimes' mean over the holdout
    *rows*; ``duration_holdout`` is the holdout length in periods / ``freq_multiplier``.
    """
    _check_freq(freq)
    times = _naive_datetimes(transactions[datetime_col])
    cal_end = _naive_timestamp(calibration_end)
    obs_end = times.max() if observation_end is None else _naive_timestamp(observation_end)

    in_cal = (times <= cal_end).to_numpy()
    cal = rfm_summary(
        transactions.loc[in_cal],
        customer_col,
        datetime_col,
        monetary_col,
        observation_end=cal_end,
        freq=freq,
        freq_multiplier=freq_multiplier,
    )
    cal.columns = [f"{c}_cal" for c in cal.columns]

    in_holdout = ((times > cal_end) & (times <= obs_end)).to_numpy()
    if not in_holdout.any():
        raise ValueError(
            "There is no holdout data: no transaction falls in (calibration_end, observation_end]."
        )
    holdout = pd.DataFrame(
        {
            customer_col: transactions[customer_col].to_numpy()[in_holdout],
            "_period": _period_start(times.loc[in_holdout], freq).to_numpy(),
        }
    )
    out = cal.copy()
    out["frequency_holdout"] = (
        holdout.drop_duplicates().groupby(customer_col).size().reindex(out.index).fillna(0).astype(float)
    )
    if monetary_col:
        holdout[monetary_col] = pd.to_numeric(transactions[monetary_col]).to_numpy(dtype=float)[in_holdout]
        out["monetary_value_holdout"] = (
            holdout.groupby(customer_col)[monetary_col].mean().reindex(out.index).fillna(0.0)
        )
    n_periods = (pd.Period(obs_end, freq=freq) - pd.Period(cal_end, freq=freq)).n
    out["duration_holdout"] = n_periods / freq_multiplier
    return out


# ---------------------------------------------------------------------------------------------------------
# Likelihoods (for diagnostics in the original time unit; lifetimes fits in rescaled time)
# ---------------------------------------------------------------------------------------------------------


def bgnbd_log_likelihood(params: Mapping[str, float], frequency, recency, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, equation (6) of Fader, Hardie & Lee (2005)."""
    r, alpha, a, b = (float(params[k]) for k in BGNBD_PARAMS)
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(T, dtype=float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + big_t)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
    return a1 + a2 + np.where(x > 0, np.logaddexp(a3, a4), a3)


def pareto_nbd_log_likelihood(params: Mapping[str, float], frequency, recency, T) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood (Fader & Hardie 2005, note 009, equation (18), as in lifetimes)."""
    from lifetimes import ParetoNBDFitter

    values = [float(params[k]) for k in PARETO_NBD_PARAMS]
    x, t_x, big_t = (np.asarray(c, dtype=float) for c in (frequency, recency, T))
    with np.errstate(all="ignore"):
        return np.asarray(ParetoNBDFitter._conditional_log_likelihood(values, x, t_x, big_t), dtype=float)


def gamma_gamma_log_likelihood(params: Mapping[str, float], frequency, monetary_value) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean repeat value (Fader & Hardie 2013, note 025)."""
    p, q, v = (float(params[k]) for k in GAMMA_GAMMA_PARAMS)
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


# ---------------------------------------------------------------------------------------------------------
# The fitted model
# ---------------------------------------------------------------------------------------------------------


def _columns(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        summary["frequency"].to_numpy(dtype=float),
        summary["recency"].to_numpy(dtype=float),
        summary["T"].to_numpy(dtype=float),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")


def _unique_rows(columns: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of equal-length float columns and, per original row, the index of its unique row."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    unique, codes = np.unique(stacked, axis=0, return_inverse=True)
    return [unique[:, i] for i in range(unique.shape[1])], codes.reshape(-1)


def _unique_apply(func, columns: Sequence[np.ndarray], chunk: bool = False) -> np.ndarray:
    """``func`` evaluated once per unique row of ``columns`` (in chunks of rows), broadcast back."""
    keys, codes = _unique_rows(columns)
    n = len(keys[0])
    step = _CHUNK_ROWS if chunk else max(n, 1)
    out = np.empty(n)
    for start in range(0, n, step):
        out[start : start + step] = func([k[start : start + step] for k in keys])
    return out[codes]


def _log_nbinom(k: int, shape: np.ndarray, log_rho: np.ndarray, log_one_minus_rho: np.ndarray) -> np.ndarray:
    """log P(N = k) of a Gamma(shape, rate A)-Poisson(λt) mixture, ρ = A/(A+t)."""
    head = gammaln(shape + k) - gammaln(shape) - gammaln(k + 1.0) + shape * log_rho
    return head if k == 0 else head + k * log_one_minus_rho


def _bgnbd_alive_pmfs(params: Mapping[str, float], x: np.ndarray, big_t: np.ndarray, t: float):
    """P(X = k | alive), k = 0, 1, …: X = min(N, G), N ~ NB(r+x, (α+T)/(α+T+t)), G ~ Geom(p), p ~ Beta(a, b+x).

    min(N, G) = k ⇔ (N = k and G ≥ k) or (G = k and N > k); λ and p are independent given alive, so
    P = P(N=k)·E[(1−p)^(k−1)] + E[p(1−p)^(k−1)]·P(N > k) with Beta integrals B(·,·)/B(a, b+x).
    """
    r, alpha, a, b = (float(params[k]) for k in BGNBD_PARAMS)
    shape = r + x
    scale = alpha + big_t
    log_rho = -np.log1p(t / scale)
    log_one_minus_rho = np.log(t) - np.log(scale + t)
    one_minus_rho = t / (scale + t)
    b_post = b + x
    log_beta0 = betaln(a, b_post)
    yield np.exp(_log_nbinom(0, shape, log_rho, log_one_minus_rho))
    k = 1
    while True:
        stay = np.exp(betaln(a, b_post + k - 1) - log_beta0)
        drop = np.exp(betaln(a + 1, b_post + k - 1) - log_beta0)
        more = betainc(k + 1.0, shape, one_minus_rho)  # P(N > k)
        yield np.exp(_log_nbinom(k, shape, log_rho, log_one_minus_rho)) * stay + drop * more
        k += 1


def _pareto_nodes(params: Mapping[str, float], big_t: np.ndarray, t) -> tuple[np.ndarray, ...]:
    """Dropout-time quadrature for Pareto/NBD given alive at T: τ ~ Lomax(s, β+T) = Exp(μ), μ ~ Gamma(s, β+T).

    Returns the probability of surviving the whole horizon, the nodes τⱼ in (0, t) and their weights, the
    integral being taken over u = F(τ) ∈ (0, F(t)) so that ∫₀ᵗ f(τ)g(τ)dτ = Σⱼ wⱼ g(τⱼ).
    """
    s, beta = float(params["s"]), float(params["beta"])
    scale = beta + np.asarray(big_t, dtype=float)
    t = np.broadcast_to(np.asarray(t, dtype=float), scale.shape)
    survive = np.exp(-s * np.log1p(t / scale))
    dies = 1.0 - survive
    u = dies[:, None] * _GL_NODES[None, :]
    tau = scale[:, None] * np.expm1(-np.log1p(-u) / s)
    return survive, tau, dies[:, None] * _GL_WEIGHTS[None, :]


def _pareto_no_purchase_given_alive(params: Mapping[str, float], x, big_t, t) -> np.ndarray:
    """E[exp(−λ·min(τ, t))] given alive: no purchase before the horizon or before dropping out."""
    r, alpha = float(params["r"]), float(params["alpha"])
    shape = r + np.asarray(x, dtype=float)
    scale = alpha + np.asarray(big_t, dtype=float)
    t = np.broadcast_to(np.asarray(t, dtype=float), scale.shape)
    survive, tau, weights = _pareto_nodes(params, big_t, t)
    full = np.exp(-shape * np.log1p(t / scale))
    partial = np.exp(-shape[:, None] * np.log1p(tau / scale[:, None]))
    return survive * full + (weights * partial).sum(axis=1)


def _pareto_wait(params: Mapping[str, float], x, big_t, p_alive, quantile: float) -> np.ndarray:
    """Solve P(alive)·(1 − P(no purchase in w | alive)) = quantile for w by bisection on log w."""
    x, big_t, p_alive = (np.asarray(c, dtype=float) for c in (x, big_t, p_alive))
    ever = 1.0 - _pareto_no_purchase_given_alive(params, x, big_t, 1e12)
    reachable = p_alive * ever > quantile
    lo = np.full(x.shape, -12.0)
    hi = np.full(x.shape, 12.0 * np.log(10))
    for _ in range(60):
        mid = (lo + hi) / 2
        bought = p_alive * (1.0 - _pareto_no_purchase_given_alive(params, x, big_t, np.exp(mid)))
        below = bought < quantile
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.where(reachable, np.exp((lo + hi) / 2), np.inf)


def _pareto_alive_pmfs(params: Mapping[str, float], x: np.ndarray, big_t: np.ndarray, t: float):
    """P(X = k | alive), k = 0, 1, …, Pareto/NBD: X ~ NB mixture of Poisson(λ·min(τ, t)) over the dropout τ."""
    r, alpha = float(params["r"]), float(params["alpha"])
    shape = r + x
    scale = alpha + big_t
    survive, tau, weights = _pareto_nodes(params, big_t, t)
    # Horizon column first (the customer outlives the horizon), then the quadrature nodes.
    spans = np.column_stack([np.full(x.shape, float(t)), tau])
    mass = np.column_stack([survive, weights])
    shape2, scale2 = shape[:, None], scale[:, None]
    log_rho = -np.log1p(spans / scale2)
    with np.errstate(divide="ignore"):
        log_one_minus_rho = np.log(spans) - np.log(scale2 + spans)
    k = 0
    while True:
        yield (mass * np.exp(_log_nbinom(k, shape2, log_rho, log_one_minus_rho))).sum(axis=1)
        k += 1


def _count_quantiles(
    pmfs, x: np.ndarray, big_t: np.ndarray, p_alive: np.ndarray, t: float, level: float, max_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central-``level`` quantiles of (1 − P(alive))·δ₀ + P(alive)·P(· | alive), per row, and their mass.

    ``pmfs(x, T, t)`` yields the alive-conditional PMF for k = 0, 1, …; it is evaluated once per unique
    (x, T) (the alive-conditional distribution does not depend on recency) in chunks, and only until every
    row has reached its upper quantile. Returns ``(low, high, probability)`` where ``probability`` is
    P(low ≤ X ≤ high) under the model (≥ level; more for discrete counts).
    """
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    tol = 1e-12
    low = np.full(x.shape, -1, dtype=np.int64)
    high = np.full(x.shape, -1, dtype=np.int64)
    below = np.zeros(x.shape)
    upto = np.zeros(x.shape)
    keys, codes = _unique_rows((x, big_t))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(0, len(keys[0]) + _CHUNK_ROWS, _CHUNK_ROWS))
    for chunk, start in enumerate(range(0, len(keys[0]), _CHUNK_ROWS)):
        rows = order[bounds[chunk] : bounds[chunk + 1]]
        local = codes[rows] - start
        dead = 1.0 - p_alive[rows]
        alive = p_alive[rows]
        cdf = np.zeros(min(_CHUNK_ROWS, len(keys[0]) - start))
        row_low, row_high = low[rows], high[rows]
        row_below, row_upto = below[rows], upto[rows]
        previous = np.zeros(len(rows))
        for k, pmf in enumerate(
            pmfs(keys[0][start : start + _CHUNK_ROWS], keys[1][start : start + _CHUNK_ROWS], t)
        ):
            cdf += pmf
            total = dead + alive * cdf[local]
            reached = (row_low < 0) & (total >= lo_q - tol)
            row_low[reached] = k
            row_below[reached] = previous[reached]
            reached = (row_high < 0) & (total >= hi_q - tol)
            row_high[reached] = k
            row_upto[reached] = total[reached]
            if (row_high >= 0).all():
                break
            if k >= max_k:
                raise RuntimeError(f"purchase range needs more than {max_k} purchases; raise max_purchases")
            previous = total
        low[rows], high[rows], below[rows], upto[rows] = row_low, row_high, row_below, row_upto
    return low, high, np.clip(upto - below, 0.0, 1.0)


def _simulate_counts(
    params: Mapping[str, float],
    purchase_model: str,
    x: np.ndarray,
    big_t: np.ndarray,
    p_alive: np.ndarray,
    t: float,
    n_samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Posterior-predictive draws of the purchases in the next ``t``, shape (rows, n_samples)."""
    size = (len(x), n_samples)
    shape = float(params["r"]) + x[:, None]
    rate = float(params["alpha"]) + big_t[:, None]
    alive = rng.random(size) < p_alive[:, None]
    lam = rng.gamma(np.broadcast_to(shape, size)) / rate
    if purchase_model == "bgnbd":
        p = rng.beta(float(params["a"]), np.broadcast_to(float(params["b"]) + x[:, None], size))
        counts = np.minimum(rng.poisson(lam * t), rng.geometric(p))
    else:
        mu = rng.gamma(float(params["s"]), 1.0, size) / (float(params["beta"]) + big_t[:, None])
        lifetime = rng.standard_exponential(size) / mu
        counts = rng.poisson(lam * np.minimum(lifetime, t))
    return np.where(alive, counts, 0)


@dataclass
class ClvModel:
    """A fitted BG/NBD (or Pareto/NBD) + Gamma-Gamma model.

    ``purchase_model`` is ``"bgnbd"`` or ``"pareto_nbd"``. ``params`` holds ``r, alpha, a, b`` (BG/NBD, α
    in the summary's time unit) or ``r, alpha, s, beta`` (Pareto/NBD, α and β in the time unit) and ``p, q, v``
    (Gamma-Gamma on ``monetary_value``; NaN when no monetary value was given), plus ``p_margin, q_margin,
    v_margin`` when a margin was fitted. ``diagnostics`` records, per sub-model, convergence, the
    log-likelihood, customers and unique rows used, the penalizer, any fallback reason and the seconds
    taken. ``time_unit_days`` is the length of the summary's time unit (7 for weeks).

    Every prediction method takes a summary with ``frequency, recency, T`` (and ``monetary_value`` /
    ``margin_value`` for values) and returns a Series aligned with its index.
    """

    params: dict[str, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    time_unit_days: float = 7.0
    purchase_model: str = "bgnbd"

    # --- purchase model (BG/NBD or Pareto/NBD) -----------------------------------------------------------

    def _bgnbd(self):
        from lifetimes import BetaGeoFitter

        fitter = BetaGeoFitter()
        fitter.params_ = pd.Series({k: float(self.params[k]) for k in BGNBD_PARAMS})
        return fitter

    def _pareto(self):
        from lifetimes import ParetoNBDFitter

        fitter = ParetoNBDFitter()
        fitter.params_ = pd.Series({k: float(self.params[k]) for k in PARETO_NBD_PARAMS})
        return fitter

    def _fitter(self):
        if self.purchase_model == "pareto_nbd":
            return self._pareto()
        if self.purchase_model == "bgnbd":
            return self._bgnbd()
        raise ValueError(f"unknown purchase model {self.purchase_model!r}")

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """Expected number of purchases in the next ``t`` time units given each customer's history.

        BG/NBD: equation (10) of Fader et al. (2005); Pareto/NBD: equation (41) of Fader & Hardie's note 009
        (both as implemented by lifetimes).
        """
        x, t_x, big_t = _columns(summary)
        # lifetimes evaluates 2F1 and falls back to an equivalent form where it overflows to inf.
        with np.errstate(all="ignore"):
            values = self._fitter().conditional_expected_number_of_purchases_up_to_time(t, x, t_x, big_t)
        return pd.Series(np.asarray(values, dtype=float), index=summary.index, name="expected_purchases")

    def probability_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive | x, t_x, T).

        BG/NBD: 1 for customers without a repeat purchase (Fader, Hardie & Lee 2008, note 021); Pareto/NBD:
        equations (36)-(37) of note 009, below 1 for everyone (dropout may happen at any time).
        """
        x, t_x, big_t = _columns(summary)
        with np.errstate(all="ignore"):
            values = self._fitter().conditional_probability_alive(x, t_x, big_t)
        return pd.Series(np.asarray(values, dtype=float), index=summary.index, name="probability_alive")

    def _posterior_rate(self, summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        # Given alive at T, λ | data ~ Gamma(r + x, α + T) in both models: an alive customer has had no
        # purchase in (t_x, T]. Under BG/NBD dropout happens only right after a purchase, so her next
        # purchase is Exp(λ); under Pareto/NBD it competes with an Exp(μ) dropout time.
        x, _, big_t = _columns(summary)
        return self.params["r"] + x, self.params["alpha"] + big_t

    def _no_purchase_given_alive(self, x: np.ndarray, big_t: np.ndarray, t) -> np.ndarray:
        """P(no purchase in the next t | alive at T), per customer (``t`` scalar or per customer)."""
        shape = self.params["r"] + x
        scale = self.params["alpha"] + big_t
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
        if self.purchase_model == "bgnbd":
            return np.exp(-shape * np.log1p(t / scale))
        return _unique_apply(
            lambda cols: _pareto_no_purchase_given_alive(self.params, *cols), (x, big_t, t), chunk=True
        )

    def probability_no_purchase(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """P(no purchase in the next ``t`` time units) = 1 − P(alive)·(1 − P(no purchase in t | alive)).

        The probability of the churn label "no purchase in the next t", exact under the model. BG/NBD:
        P(no purchase in t | alive) = ((α+T)/(α+T+t))^(r+x), because an alive customer's next purchase
        time is a Gamma mixture of exponentials (Lomax). Pareto/NBD: the next purchase must come before
        the Exp(μ) dropout, μ ~ Gamma(s, β+T): E[exp(−λ·min(τ, t))], integrated over τ by Gauss-Legendre
        quadrature (32 nodes on the dropout-time CDF). ``t`` may also be an array with one horizon per
        customer.
        """
        x, _, big_t = _columns(summary)
        p_alive = self.probability_alive(summary).to_numpy()
        none_alive = self._no_purchase_given_alive(x, big_t, t)
        return pd.Series(
            1.0 - p_alive * (1.0 - none_alive), index=summary.index, name="probability_no_purchase"
        )

    def next_purchase_wait(self, summary: pd.DataFrame, quantile: float = 0.5) -> pd.Series:
        """Time until the next purchase is more likely than not (for ``quantile=0.5``), in time units.

        Solves P(alive)·(1 − P(no purchase in w | alive)) = quantile for w: the unconditional ``quantile``
        of the time to the next purchase. BG/NBD in closed form, (α+T)·(((1 − quantile/P(alive))^(−1/(r+x))
        − 1); Pareto/NBD by bisection on log w. It is ``inf`` when the model never reaches ``quantile``
        (P(alive) ≤ quantile, or under Pareto/NBD when dropout before the next purchase is too likely): a
        customer who is more likely gone than not has no "next order" date.
        """
        shape, scale = self._posterior_rate(summary)
        p_alive = self.probability_alive(summary).to_numpy()
        if self.purchase_model == "bgnbd":
            with np.errstate(all="ignore"):
                ratio = np.where(p_alive > quantile, quantile / p_alive, np.nan)
                wait = scale * np.expm1(-np.log1p(-ratio) / shape)
        else:
            x, _, big_t = _columns(summary)
            wait = _unique_apply(
                lambda cols: _pareto_wait(self.params, *cols, quantile), (x, big_t, p_alive), chunk=True
            )
        wait = np.where(np.isfinite(wait), wait, np.inf)
        return pd.Series(wait, index=summary.index, name="next_purchase_wait")

    # --- ranges ------------------------------------------------------------------------------------------

    def _alive_pmfs(self, x: np.ndarray, big_t: np.ndarray, t: float):
        """Yield P(k purchases in the next t | alive at T) for k = 0, 1, 2, … per row of (x, T)."""
        if self.purchase_model == "bgnbd":
            yield from _bgnbd_alive_pmfs(self.params, x, big_t, t)
        else:
            yield from _pareto_alive_pmfs(self.params, x, big_t, t)

    def purchase_interval(
        self,
        summary: pd.DataFrame,
        t: float,
        level: float = 0.8,
        max_purchases: int = 10_000,
        with_probability: bool = False,
    ) -> pd.DataFrame:
        """Integer ``low`` and ``high`` of the central ``level`` range of purchases in the next ``t``.

        The range is read off the customer's *posterior predictive* distribution of the number of
        purchases X in (T, T + t] given her history (x, t_x, T), with the fitted parameters taken as known:
        P(X = k) = (1 − P(alive))·[k = 0] + P(alive)·P(X = k | alive), where given alive
        λ ~ Gamma(r + x, α + T) and, for BG/NBD, p ~ Beta(a, b + x) with X = min(N, G), N ~ Poisson(λt),
        G ~ Geometric(p) on {1, 2, …} (P(X = k | alive) in closed form: a negative binomial times Beta
        integrals); for Pareto/NBD μ ~ Gamma(s, β + T), τ ~ Exp(μ), X ~ Poisson(λ·min(τ, t)) (integrated over
        the dropout time by quadrature). ``low`` is the smallest k with P(X ≤ k) ≥ (1 − level)/2 and
        ``high`` the smallest k with P(X ≤ k) ≥ (1 + level)/2, so each tail outside holds at most
        (1 − level)/2 and the range covers at least ``level`` (counts are discrete: many customers get
        [0, 0]). Computed once per unique (frequency, recency, T) row; deterministic (no sampling).
        ``with_probability=True`` adds ``probability`` = P(low ≤ X ≤ high) under the model, the coverage
        the model itself expects of the range (the honest benchmark for the realised coverage).
        """
        _check_level(level)
        x, t_x, big_t = _columns(summary)
        keys, codes = _unique_rows((x, t_x, big_t))
        ux, _, ut = keys
        p_alive = self.probability_alive(pd.DataFrame({"frequency": ux, "recency": keys[1], "T": ut}))
        low, high, mass = _count_quantiles(
            self._alive_pmfs, ux, ut, p_alive.to_numpy(), t, level, max_purchases
        )
        out = pd.DataFrame({"low": low[codes], "high": high[codes]}, index=summary.index)
        if with_probability:
            out["probability"] = mass[codes]
        return out

    def sample_purchases(
        self, summary: pd.DataFrame, t: float, n_samples: int = 1000, seed: int | None = 0
    ) -> np.ndarray:
        """Draws of the number of purchases in the next ``t`` per customer, shape (customers, n_samples).

        A direct simulation of the generative story from each customer's posterior (see
        :meth:`purchase_interval`): alive with probability P(alive | x, t_x, T), then λ, p (BG/NBD) or λ, μ
        (Pareto/NBD) from their posteriors given alive, then the purchases. Dead customers make 0.
        """
        x, _, big_t = _columns(summary)
        p_alive = self.probability_alive(summary).to_numpy()
        return _simulate_counts(
            self.params, self.purchase_model, x, big_t, p_alive, t, n_samples, np.random.default_rng(seed)
        )

    def value_interval(
        self,
        summary: pd.DataFrame,
        months: int = 12,
        level: float = 0.8,
        *,
        discount_rate: float = 0.01,
        value: str = "revenue",
        periods_per_month: float | None = None,
        n_samples: int = 500,
        seed: int | None = 0,
    ) -> pd.DataFrame:
        """``low`` and ``high`` of the central ``level`` range of the customer's value over ``months``.

        Monte Carlo from the individual posterior with ``n_samples`` draws and a fixed ``seed``. In every
        draw: the number of purchases K from the exact posterior-predictive distribution of
        :meth:`purchase_interval` (inverse-CDF sampling), the customer's Gamma-Gamma rate
        ν | x, m̄ ~ Gamma(p·x + q, v + x·m̄) (her mean order value is p/ν), and the spend of her K orders,
        which given ν is Gamma(p·K, ν). So the range includes the uncertainty of how many orders she places,
        of her mean order value and the order-to-order variation of values; not the uncertainty of the
        fitted parameters. Because spend = (v + x·m̄)·Gamma(p·K, 1)/Gamma(p·x + q, 1), the draws are made
        once per unique (frequency, recency, T) row and scaled per customer.

        Discounting as in :meth:`clv`: every draw is multiplied by the customer's ratio of the discounted
        expected value (:meth:`clv`) to the undiscounted one (expected purchases over the horizon ×
        expected order value), i.e. the discount is applied at the customer's expected timing of purchases
        (the ratio does not depend on m̄). The mean of the draws is therefore :meth:`clv` (within
        Monte-Carlo error). ``value="margin"`` uses the margin fit and the ``margin_value`` column.
        """
        _check_level(level)
        p, q, v = self._gg_params(value)
        column = "monetary_value" if value == "revenue" else "margin_value"
        if column not in summary:
            raise KeyError(f"value_interval({value!r}) needs a {column!r} column in the summary")
        if periods_per_month is None:
            periods_per_month = WEEKS_PER_MONTH if self.time_unit_days == 7 else 30.4375 / self.time_unit_days
        horizon = months * periods_per_month
        x, t_x, big_t = _columns(summary)
        m = np.clip(summary[column].to_numpy(dtype=float), 0.0, None)
        keys, codes = _unique_rows((x, t_x, big_t))
        ux, ut = keys[0], keys[2]
        rows = pd.DataFrame({"frequency": ux, "recency": keys[1], "T": ut})
        # The discount ratio, with a unit order value (it cancels).
        unit = ClvModel(
            params={**self.params, "p": 1.0, "q": 2.0, "v": 1.0},
            time_unit_days=self.time_unit_days,
            purchase_model=self.purchase_model,
        )
        rows["monetary_value"] = 1.0
        expected = unit.expected_purchases(rows, horizon).to_numpy()
        discounted = unit.clv(rows, months, discount_rate, periods_per_month=periods_per_month).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(expected > 0, discounted / expected, 1.0)
        p_alive = self.probability_alive(rows).to_numpy()
        rng = np.random.default_rng(seed)
        lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
        low = np.empty(len(rows))
        high = np.empty(len(rows))
        step = max(1, _CHUNK_ROWS * 40 // max(n_samples, 1))
        # Chunks of similar customers: the PMF is walked up to the largest count a chunk needs.
        by_rate = np.argsort(expected, kind="stable")
        for start in range(0, len(rows), step):
            part = by_rate[start : start + step]
            counts = self._draw_counts(ux[part], ut[part], p_alive[part], horizon, n_samples, rng)
            spend = np.zeros(counts.shape)
            buyers = counts > 0
            shape = np.broadcast_to((p * ux[part] + q)[:, None], counts.shape)
            spend[buyers] = rng.standard_gamma(p * counts[buyers]) / rng.standard_gamma(shape[buyers])
            low[part], high[part] = np.quantile(spend, [lo_q, hi_q], axis=1)
        scale = (v + x * m) * ratio[codes]
        return pd.DataFrame({"low": low[codes] * scale, "high": high[codes] * scale}, index=summary.index)

    def _draw_counts(
        self, x: np.ndarray, big_t: np.ndarray, p_alive: np.ndarray, t: float, n_samples: int, rng
    ) -> np.ndarray:
        """Inverse-CDF draws of the purchases in the next t from the exact posterior predictive PMF."""
        u = rng.random((len(x), n_samples))
        largest = u.max(axis=1)
        counts = np.zeros(u.shape, dtype=np.int64)
        cdf = 1.0 - p_alive
        for k, pmf in enumerate(self._alive_pmfs(x, big_t, t)):
            if k:
                active = np.flatnonzero(largest > cdf)
                counts[active] += u[active] > cdf[active, None]
            cdf = cdf + p_alive * pmf
            if (largest <= cdf + 1e-12).all() or k > 100_000:
                break
        return counts

    # --- Gamma-Gamma -------------------------------------------------------------------------------------

    def _gg_params(self, value: str) -> tuple[float, float, float]:
        suffix = "" if value == "revenue" else "_margin"
        if value not in ("revenue", "margin"):
            raise ValueError("value must be 'revenue' or 'margin'")
        keys = [f"{k}{suffix}" for k in GAMMA_GAMMA_PARAMS]
        if not all(k in self.params for k in keys):
            raise ValueError(f"no Gamma-Gamma fit for {value!r}; fit_clv needs the matching summary column")
        p, q, v = (float(self.params[k]) for k in keys)
        return p, q, v

    def expected_order_value(self, summary: pd.DataFrame, value: str = "revenue") -> pd.Series:
        """E[value of a future order | x, m], equation (5) of Fader & Hardie's note 025.

        ``value="margin"`` uses the margin fit and the ``margin_value`` column. Customers without a repeat
        purchase get the population mean ``v·p/(q−1)``; a non-positive mean repeat value is replaced by
        its limit 0⁺ (see the module docstring), so the result is never negative.
        """
        p, q, v = self._gg_params(value)
        column = "monetary_value" if value == "revenue" else "margin_value"
        if column not in summary:
            raise KeyError(f"expected_order_value({value!r}) needs a {column!r} column in the summary")
        x = summary["frequency"].to_numpy(dtype=float)
        m = np.clip(summary[column].to_numpy(dtype=float), 0.0, None)
        weight = p * x / (p * x + q - 1)
        population_mean = v * p / (q - 1)
        values = (1 - weight) * population_mean + weight * m
        return pd.Series(values, index=summary.index, name="expected_order_value")

    def clv(
        self,
        summary: pd.DataFrame,
        months: int = 12,
        discount_rate: float = 0.01,
        margin: float | None = None,
        value: str = "revenue",
        periods_per_month: float | None = None,
    ) -> pd.Series:
        """Discounted value of the next ``months`` months: Σᵢ E[order value]·ΔE[purchases in month i]/(1+d)ⁱ.

        The same sum as ``lifetimes``' ``customer_lifetime_value`` (``discount_rate`` is monthly).
        ``value="margin"`` uses the margin Gamma-Gamma fit (margin-based CLV); ``margin`` multiplies the
        result by a constant margin rate for shops that only know revenue. ``periods_per_month`` defaults to
        lifetimes' 4.345 weeks for weekly summaries, 30.4375 / ``time_unit_days`` otherwise.
        """
        if periods_per_month is None:
            periods_per_month = WEEKS_PER_MONTH if self.time_unit_days == 7 else 30.4375 / self.time_unit_days
        order_value = self.expected_order_value(summary, value=value).to_numpy()
        total = np.zeros(len(summary))
        previous = np.zeros(len(summary))
        for month in range(1, months + 1):
            cumulative = self.expected_purchases(summary, month * periods_per_month).to_numpy()
            total += order_value * (cumulative - previous) / (1 + discount_rate) ** month
            previous = cumulative
        if margin is not None:
            total = total * margin
        return pd.Series(total, index=summary.index, name="clv")

    # --- persistence -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Parameters, diagnostics and time unit as plain JSON-ready values."""
        return _jsonable(
            {
                "model": f"{self.purchase_model}+gamma_gamma",
                "params": self.params,
                "diagnostics": self.diagnostics,
                "time_unit_days": self.time_unit_days,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClvModel:
        """Inverse of :meth:`to_dict`; missing (null) parameters come back as NaN."""
        params = {k: (math.nan if v is None else float(v)) for k, v in data["params"].items()}
        return cls(
            params=params,
            diagnostics=dict(data.get("diagnostics", {})),
            time_unit_days=float(data.get("time_unit_days", 7.0)),
            purchase_model=str(data.get("model", "bgnbd+gamma_gamma")).split("+")[0],
        )

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (predictions are closed-form, so parameters are the whole model)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ClvModel:
        """Read a model written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------------------


def _attempt_fit(
    make_fitter, fit_args: dict[str, Any], penalizers: Sequence[float], check
) -> tuple[Any, dict]:
    """Fit with each penalizer in turn until ``check(fitter)`` returns None; record every failure."""
    from lifetimes.utils import ConvergenceError

    failures: list[str] = []
    for penalizer in penalizers:
        fitter = make_fitter(penalizer)
        captured = io.StringIO()
        reason = None
        try:
            # Overflow inside the optimiser's line search is expected and handled by it; lifetimes prints
            # scipy's result on failure, which is captured as the reason instead of going to stdout.
            with contextlib.redirect_stdout(captured), np.errstate(all="ignore"), _quiet_runtime_warnings():
                fitter.fit(**fit_args)
            reason = check(fitter)
        except (ConvergenceError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            detail = " ".join(captured.getvalue().split())
            message = " ".join(str(exc).split())
            reason = f"{type(exc).__name__}: {message}" + (f" ({detail[:300]})" if detail else "")
        if reason is None:
            return fitter, {
                "converged": True,
                "penalizer_coef": penalizer,
                "fallback_reason": "; ".join(failures) or None,
            }
        failures.append(f"penalizer {penalizer:g}: {reason}")
    return None, {"converged": False, "fallback_reason": "; ".join(failures)}


@contextlib.contextmanager
def _quiet_runtime_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _finite_params(fitter) -> str | None:
    values = np.asarray(fitter.params_, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        return f"non-finite or non-positive parameters {dict(fitter.params_.round(6))}"
    if not np.isfinite(fitter._negative_log_likelihood_):
        return "non-finite log-likelihood"
    return None


def _standard_errors(fitter) -> dict[str, float]:
    try:
        with np.errstate(all="ignore"):
            errors = fitter.standard_errors_
        return {k: float(v) for k, v in errors.items()}
    except (AttributeError, TypeError, ValueError, np.linalg.LinAlgError):
        # lifetimes' ParetoNBDFitter keeps no Hessian, so it has no standard errors.
        return {}


def _fit_purchase_model(
    summary: pd.DataFrame, model: str, penalizers: Sequence[float], use_unique_rows: bool, tol: float
) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit BG/NBD (``BetaGeoFitter``) or Pareto/NBD (``ParetoNBDFitter``) on unique rows with weights."""
    from lifetimes import BetaGeoFitter, ParetoNBDFitter

    started = time.perf_counter()
    rows = summary[["frequency", "recency", "T"]].astype(float)
    if use_unique_rows:
        rows = rows.groupby(["frequency", "recency", "T"], sort=False).size().rename("weight").reset_index()
    else:
        rows = rows.reset_index(drop=True).assign(weight=1)
    fit_args = {
        "frequency": rows["frequency"].to_numpy(),
        "recency": rows["recency"].to_numpy(),
        "T": rows["T"].to_numpy(),
        "weights": rows["weight"].to_numpy(dtype=float),
        "tol": tol,
    }
    make_fitter = BetaGeoFitter if model == "bgnbd" else ParetoNBDFitter
    fitter, info = _attempt_fit(make_fitter, fit_args, penalizers, _finite_params)
    info.update(
        {
            "n_customers": len(summary),
            "n_unique_rows": len(rows),
            "n_repeat_customers": int((summary["frequency"] > 0).sum()),
        }
    )
    label = "BG/NBD" if model == "bgnbd" else "Pareto/NBD"
    if fitter is None:
        info["seconds"] = time.perf_counter() - started
        raise ClvFitError(
            f"{label} did not converge on {len(summary)} customers even with penalizers "
            f"{list(penalizers)}: {info['fallback_reason']}"
        )
    params = {k: float(fitter.params_[k]) for k in PURCHASE_MODELS[model]}
    if model == "bgnbd":
        per_row = bgnbd_log_likelihood(params, rows["frequency"], rows["recency"], rows["T"])
    else:
        per_row = pareto_nbd_log_likelihood(params, rows["frequency"], rows["recency"], rows["T"])
    info["log_likelihood"] = float(np.sum(rows["weight"].to_numpy() * per_row))
    info["standard_errors"] = _standard_errors(fitter)
    info["seconds"] = time.perf_counter() - started
    return params, info


def _gamma_gamma_check(fitter) -> str | None:
    problem = _finite_params(fitter)
    if problem is None and fitter.params_["q"] <= 1:
        # E[Z] = v·p/(q−1) is undefined for q ≤ 1: the fit is unusable for CLV.
        problem = f"q = {fitter.params_['q']:.4g} <= 1, so the population mean order value is undefined"
    return problem


def _fit_gamma_gamma(
    summary: pd.DataFrame,
    column: str,
    penalizers: Sequence[float],
    use_unique_rows: bool,
    tol: float,
    max_correlation: float,
) -> tuple[dict[str, float], dict[str, Any]]:
    from lifetimes import GammaGammaFitter

    started = time.perf_counter()
    repeat = summary.loc[summary["frequency"] > 0, ["frequency", column]].astype(float)
    usable = repeat.loc[repeat[column] > 0]
    info: dict[str, Any] = {
        "value_column": column,
        "n_customers": len(usable),
        "n_excluded_nonpositive": int(len(repeat) - len(usable)),
    }
    if len(usable) < 3:
        raise ClvFitError(f"Gamma-Gamma needs repeat buyers with a positive {column}; found {len(usable)}.")
    with np.errstate(all="ignore"):
        pearson = float(np.corrcoef(usable["frequency"], usable[column])[0, 1])
        spearman = float(spearmanr(usable["frequency"], usable[column]).statistic)
    info.update(
        {
            "corr_frequency_value_pearson": pearson,
            "corr_frequency_value_spearman": spearman,
            "independence_ok": bool(abs(spearman) <= max_correlation) if math.isfinite(spearman) else None,
        }
    )
    if use_unique_rows:
        rows = usable.groupby(["frequency", column], sort=False).size().rename("weight").reset_index()
    else:
        rows = usable.reset_index(drop=True).assign(weight=1)
    info["n_unique_rows"] = len(rows)
    fit_args = {
        "frequency": rows["frequency"].to_numpy(),
        "monetary_value": rows[column].to_numpy(),
        "weights": rows["weight"].to_numpy(dtype=float),
        "tol": tol,
    }
    fitter, attempt = _attempt_fit(GammaGammaFitter, fit_args, penalizers, _gamma_gamma_check)
    info.update(attempt)
    if fitter is None:
        raise ClvFitError(
            f"Gamma-Gamma on {column} did not converge even with penalizers {list(penalizers)}: "
            f"{attempt['fallback_reason']}"
        )
    params = {k: float(fitter.params_[k]) for k in GAMMA_GAMMA_PARAMS}
    info["log_likelihood"] = float(
        np.sum(
            rows["weight"].to_numpy() * gamma_gamma_log_likelihood(params, rows["frequency"], rows[column])
        )
    )
    info["standard_errors"] = _standard_errors(fitter)
    info["seconds"] = time.perf_counter() - started
    return params, info


def _check_summary(summary: pd.DataFrame) -> None:
    """Reject malformed summaries up front, so that a retry with a penalizer is only for numerical trouble."""
    missing = [c for c in ("frequency", "recency", "T") if c not in summary]
    if missing:
        raise ValueError(f"the summary needs columns frequency, recency, T; missing {missing}")
    if summary.empty:
        raise ValueError("the summary has no customers")
    x, t_x, big_t = _columns(summary)
    problem = None
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(big_t).all()):
        problem = "missing or infinite values"
    elif (x < 0).any() or (x != np.round(x)).any():
        problem = "frequency must be a whole number >= 0"
    elif (t_x < 0).any() or (t_x > big_t + 1e-9).any():
        problem = "recency must lie in [0, T]"
    elif (t_x[x == 0] != 0).any():
        problem = "recency must be 0 when frequency is 0"
    if problem:
        raise ValueError(f"invalid RFM summary: {problem}")


def _holdout_errors(
    model: ClvModel, holdout: pd.DataFrame, summary_cal: pd.DataFrame, duration: float
) -> dict[str, float]:
    predicted = model.expected_purchases(summary_cal, duration).to_numpy()
    actual = holdout["frequency_holdout"].to_numpy(dtype=float)
    total = float(actual.sum())
    return {
        "holdout_mae": float(np.mean(np.abs(predicted - actual))),
        "holdout_rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
        "holdout_relative_aggregate_error": (float(predicted.sum()) - total) / total
        if total > 0
        else math.nan,
        "holdout_predicted_mean": float(predicted.mean()),
        "holdout_actual_mean": float(actual.mean()),
    }


def choose_purchase_model(
    holdout: pd.DataFrame,
    candidates: Sequence[str] = tuple(PURCHASE_MODELS),
    penalizer_coef: float = 0.0,
    *,
    fallback_penalizers: Sequence[float] = DEFAULT_FALLBACK_PENALIZERS,
    use_unique_rows: bool = True,
    time_unit_days: float = 7.0,
    tol: float = 1e-7,
) -> dict[str, Any]:
    """Fit every candidate purchase model on the calibration period and score it on the holdout.

    ``holdout`` is a :func:`calibration_and_holdout_summary` frame (``frequency_cal, recency_cal, T_cal,
    frequency_holdout, duration_holdout``). The criterion is the **mean absolute error per customer** of
    the holdout purchases, MAE = mean |E[X_holdout | calibration history] − x_holdout|; the candidate with
    the lowest MAE wins, ties going to the earlier candidate (BG/NBD first: the simpler and the default).
    RMSE and the relative aggregate error are recorded too. A candidate that cannot be fitted is recorded
    with its error and left out. Returns ``{"chosen", "criterion", "candidates": {name: metrics}}``.
    """
    needed = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    missing = [c for c in needed if c not in holdout]
    if missing:
        raise ValueError(f"the holdout frame needs {needed}; missing {missing}")
    summary_cal = holdout[["frequency_cal", "recency_cal", "T_cal"]].rename(columns=lambda c: c[:-4])
    _check_summary(summary_cal)
    duration = float(holdout["duration_holdout"].iloc[0])
    penalizers = [penalizer_coef, *[p for p in fallback_penalizers if p > penalizer_coef]]
    results: dict[str, dict[str, Any]] = {}
    for name in candidates:
        if name not in PURCHASE_MODELS:
            raise ValueError(f"unknown candidate {name!r}; choose from {sorted(PURCHASE_MODELS)}")
        try:
            params, info = _fit_purchase_model(summary_cal, name, penalizers, use_unique_rows, tol)
        except ClvFitError as exc:
            results[name] = {"fit_error": str(exc)}
            continue
        fitted = ClvModel(params=params, time_unit_days=time_unit_days, purchase_model=name)
        results[name] = {
            **_holdout_errors(fitted, holdout, summary_cal, duration),
            "log_likelihood_cal": info["log_likelihood"],
            "params_cal": params,
        }
    scored = [name for name in candidates if "holdout_mae" in results[name]]
    if not scored:
        raise ClvFitError(f"no candidate purchase model could be fitted: {results}")
    chosen = min(scored, key=lambda name: results[name]["holdout_mae"])
    return {
        "chosen": chosen,
        "criterion": "holdout_mae",
        "holdout_length": duration,
        "n_customers": len(holdout),
        "candidates": results,
    }


def fit_clv(
    summary: pd.DataFrame,
    penalizer_coef: float = 0.0,
    *,
    model: str = "bgnbd",
    holdout: pd.DataFrame | None = None,
    candidates: Sequence[str] = tuple(PURCHASE_MODELS),
    fallback_penalizers: Sequence[float] = DEFAULT_FALLBACK_PENALIZERS,
    use_unique_rows: bool = True,
    time_unit_days: float = 7.0,
    tol: float = 1e-7,
    max_independence_correlation: float = MAX_INDEPENDENCE_CORRELATION,
) -> ClvModel:
    """Fit a purchase model on ``frequency, recency, T`` and Gamma-Gamma on the summary's value columns.

    * ``model`` is ``"bgnbd"`` (default), ``"pareto_nbd"`` or ``"auto"``. With ``"auto"``, ``holdout``
      (a :func:`calibration_and_holdout_summary` frame of the same customers' history split at an earlier
      date) is required: every model of ``candidates`` is fitted on its calibration period and the one
      with the lowest per-customer holdout MAE of purchases is kept (see :func:`choose_purchase_model`),
      then refitted on ``summary``. The comparison is kept in ``diagnostics["model_choice"]``.
    * The purchase model is fitted on the unique ``(frequency, recency, T)`` rows weighted by their counts
      (lifetimes' ``weights``): the likelihood is the same, so are the parameters (tested), and a million
      weekly customers collapse to a few thousand rows. Its diagnostics are under the model's name
      (``diagnostics["bgnbd"]`` or ``diagnostics["pareto_nbd"]``).
    * Gamma-Gamma is fitted on repeat buyers with a positive ``monetary_value`` (and, if the summary has a
      ``margin_value`` column, separately on positive margins → ``p_margin, q_margin, v_margin``), on
      unique ``(frequency, value)`` rows with weights. Without a ``monetary_value`` column ``p, q, v`` are
      NaN. The Spearman correlation of frequency and value (the model assumes independence) is recorded,
      with ``independence_ok`` when ``|ρ| <= max_independence_correlation``.
    * When a fit raises lifetimes' ``ConvergenceError`` or gives non-finite parameters (or q ≤ 1 for
      Gamma-Gamma) it is retried with each larger penalizer of ``fallback_penalizers``; the failures are
      kept in ``diagnostics[...]["fallback_reason"]``. If every attempt fails, :class:`ClvFitError`.
      A malformed summary (negative or fractional frequency, recency outside [0, T], NaN) raises
      ``ValueError`` at once.
    """
    _check_summary(summary)
    choice = None
    if model == "auto":
        if holdout is None:
            raise ValueError('fit_clv(model="auto") needs a calibration/holdout frame in holdout=')
        choice = choose_purchase_model(
            holdout,
            candidates,
            penalizer_coef,
            fallback_penalizers=fallback_penalizers,
            use_unique_rows=use_unique_rows,
            time_unit_days=time_unit_days,
            tol=tol,
        )
        model = choice["chosen"]
    if model not in PURCHASE_MODELS:
        raise ValueError(f"model must be 'auto' or one of {sorted(PURCHASE_MODELS)}, got {model!r}")
    penalizers = [penalizer_coef, *[p for p in fallback_penalizers if p > penalizer_coef]]
    started = time.perf_counter()
    params, purchase_info = _fit_purchase_model(summary, model, penalizers, use_unique_rows, tol)
    diagnostics: dict[str, Any] = {model: purchase_info}
    for column, suffix in (("monetary_value", ""), ("margin_value", "_margin")):
        if column not in summary:
            if not suffix:
                params.update(dict.fromkeys(GAMMA_GAMMA_PARAMS, math.nan))
            continue
        gg_params, gg_info = _fit_gamma_gamma(
            summary, column, penalizers, use_unique_rows, tol, max_independence_correlation
        )
        params.update({f"{k}{suffix}": v for k, v in gg_params.items()})
        diagnostics[f"gamma_gamma{suffix}"] = gg_info
    diagnostics["converged"] = all(
        d.get("converged", False) for d in diagnostics.values() if isinstance(d, dict)
    )
    if choice is not None:
        diagnostics["model_choice"] = choice
    diagnostics["seconds"] = time.perf_counter() - started
    return ClvModel(
        params=params, diagnostics=diagnostics, time_unit_days=time_unit_days, purchase_model=model
    )
