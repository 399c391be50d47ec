"""Customer lifetime value: RFM summaries, BG/NBD + Gamma-Gamma fits and closed-form predictions.

Models
------
* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to the
  Pareto/NBD model", Marketing Science 24(2), 275-284): while alive a customer buys as a Poisson process
  with rate λ ~ Gamma(r, α); after every *repeat* purchase she drops out with probability p ~ Beta(a, b).
* **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer base
  analysis", JMR 42(4), 415-430; Fader & Hardie 2013, note 025): the value of a customer's transactions
  is Gamma(p, ν) with ν ~ Gamma(q, v), independent of the transaction process.

Both are fitted with ``lifetimes`` (0.11.3), the reference implementation; predictions are closed-form
from the seven parameters, so a fitted :class:`ClvModel` is saved as JSON (parameters + diagnostics) and
needs no pickle.

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
from scipy.special import gammaln
from scipy.stats import spearmanr

__all__ = [
    "BGNBD_PARAMS",
    "GAMMA_GAMMA_PARAMS",
    "ClvFitError",
    "ClvModel",
    "bgnbd_log_likelihood",
    "calibration_and_holdout_summary",
    "fit_clv",
    "gamma_gamma_log_likelihood",
    "rfm_summary",
    "time_unit_days",
]

BGNBD_PARAMS = ("r", "alpha", "a", "b")
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


@dataclass
class ClvModel:
    """A fitted BG/NBD + Gamma-Gamma model.

    ``params`` holds ``r, alpha, a, b`` (BG/NBD, α in the summary's time unit) and ``p, q, v``
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

    # --- BG/NBD ------------------------------------------------------------------------------------------

    def _bgnbd(self):
        from lifetimes import BetaGeoFitter

        fitter = BetaGeoFitter()
        fitter.params_ = pd.Series({k: float(self.params[k]) for k in BGNBD_PARAMS})
        return fitter

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """Expected number of purchases in the next ``t`` time units, equation (10) of Fader et al. (2005)."""
        x, t_x, big_t = _columns(summary)
        # lifetimes evaluates 2F1 and falls back to an equivalent form where it overflows to inf.
        with np.errstate(all="ignore"):
            values = self._bgnbd().conditional_expected_number_of_purchases_up_to_time(t, x, t_x, big_t)
        return pd.Series(np.asarray(values, dtype=float), index=summary.index, name="expected_purchases")

    def probability_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive | x, t_x, T): 1 for customers without a repeat purchase (Fader, Hardie & Lee 2008, note 021)."""
        x, t_x, big_t = _columns(summary)
        with np.errstate(all="ignore"):
            values = self._bgnbd().conditional_probability_alive(x, t_x, big_t)
        return pd.Series(np.asarray(values, dtype=float), index=summary.index, name="probability_alive")

    def _posterior_rate(self, summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        # Given alive at T, λ | data ~ Gamma(r + x, α + T): an alive customer has had no purchase in
        # (t_x, T], and dropout happens only right after a purchase, so her next purchase is Exp(λ).
        x, _, big_t = _columns(summary)
        return self.params["r"] + x, self.params["alpha"] + big_t

    def probability_no_purchase(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """P(no purchase in the next ``t`` time units) = 1 − P(alive)·(1 − ((α+T)/(α+T+t))^(r+x)).

        The BG/NBD probability of the churn label "no purchase in the next t": exact under the model,
        because an alive customer's next purchase time is a Gamma mixture of exponentials (Lomax).
        ``t`` may also be an array with one horizon per customer.
        """
        shape, scale = self._posterior_rate(summary)
        p_alive = self.probability_alive(summary).to_numpy()
        buys = -np.expm1(-shape * np.log1p(t / scale))
        return pd.Series(1.0 - p_alive * buys, index=summary.index, name="probability_no_purchase")

    def next_purchase_wait(self, summary: pd.DataFrame, quantile: float = 0.5) -> pd.Series:
        """Time until the next purchase is more likely than not (for ``quantile=0.5``), in time units.

        Solves P(alive)·(1 − ((α+T)/(α+T+w))^(r+x)) = quantile for w: the unconditional ``quantile`` of
        the time to the next purchase under BG/NBD. It is ``inf`` when P(alive) ≤ quantile: a customer
        who is more likely gone than not has no "next order" date.
        """
        shape, scale = self._posterior_rate(summary)
        p_alive = self.probability_alive(summary).to_numpy()
        with np.errstate(all="ignore"):
            ratio = np.where(p_alive > quantile, quantile / p_alive, np.nan)
            wait = scale * np.expm1(-np.log1p(-ratio) / shape)
        wait = np.where(np.isfinite(wait), wait, np.inf)
        return pd.Series(wait, index=summary.index, name="next_purchase_wait")

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
                "model": "bgnbd+gamma_gamma",
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
    except (AttributeError, np.linalg.LinAlgError):
        return {}


def _fit_bgnbd(
    summary: pd.DataFrame, penalizers: Sequence[float], use_unique_rows: bool, tol: float
) -> tuple[dict[str, float], dict[str, Any]]:
    from lifetimes import BetaGeoFitter

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
    fitter, info = _attempt_fit(BetaGeoFitter, fit_args, penalizers, _finite_params)
    info.update(
        {
            "n_customers": len(summary),
            "n_unique_rows": len(rows),
            "n_repeat_customers": int((summary["frequency"] > 0).sum()),
        }
    )
    if fitter is None:
        info["seconds"] = time.perf_counter() - started
        raise ClvFitError(
            f"BG/NBD did not converge on {len(summary)} customers even with penalizers "
            f"{list(penalizers)}: {info['fallback_reason']}"
        )
    params = {k: float(fitter.params_[k]) for k in BGNBD_PARAMS}
    info["log_likelihood"] = float(
        np.sum(
            rows["weight"].to_numpy()
            * bgnbd_log_likelihood(params, rows["frequency"], rows["recency"], rows["T"])
        )
    )
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


def fit_clv(
    summary: pd.DataFrame,
    penalizer_coef: float = 0.0,
    *,
    fallback_penalizers: Sequence[float] = DEFAULT_FALLBACK_PENALIZERS,
    use_unique_rows: bool = True,
    time_unit_days: float = 7.0,
    tol: float = 1e-7,
    max_independence_correlation: float = MAX_INDEPENDENCE_CORRELATION,
) -> ClvModel:
    """Fit BG/NBD on ``frequency, recency, T`` and Gamma-Gamma on the summary's value columns.

    * BG/NBD is fitted on the unique ``(frequency, recency, T)`` rows weighted by their counts (lifetimes'
      ``weights``): the likelihood is the same, so are the parameters (tested), and a million weekly
      customers collapse to a few thousand rows.
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
    penalizers = [penalizer_coef, *[p for p in fallback_penalizers if p > penalizer_coef]]
    started = time.perf_counter()
    params, bgnbd_info = _fit_bgnbd(summary, penalizers, use_unique_rows, tol)
    diagnostics: dict[str, Any] = {"bgnbd": bgnbd_info}
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
    diagnostics["seconds"] = time.perf_counter() - started
    return ClvModel(params=params, diagnostics=diagnostics, time_unit_days=time_unit_days)
