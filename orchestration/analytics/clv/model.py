"""The fitted CLV model, :class:`ClvModel`: predictions, ranges and saving it as JSON.

A :class:`ClvModel` is the parameters of a purchase model (BG/NBD or Pareto/NBD) and of Gamma-Gamma, plus
the fit's diagnostics; it is built by :func:`.fit.fit_clv` and needs no lifetimes fitter object or pickle:
every prediction is closed-form from the parameters (Pareto/NBD's no-purchase probability by quadrature),
so :meth:`ClvModel.save` writes JSON and :meth:`ClvModel.load` reads it back.

Ranges
------
:meth:`ClvModel.purchase_interval` gives the central 80 % (``level``) range of each customer's purchases
in the next ``t`` from her exact posterior-predictive distribution (closed form for BG/NBD, quadrature over
the dropout time for Pareto/NBD, see :mod:`.distributions`); :meth:`ClvModel.value_interval` the range of
her value, by Monte Carlo over purchases, her Gamma-Gamma mean order value and the order-to-order
variation. Both take the fitted parameters as known: the uncertainty of the fitted parameters (their
standard errors) is not included.

Non-positive order values
-------------------------
Gamma-Gamma is defined for positive values only, so a customer whose mean repeat value is ``<= 0`` (all
repeat orders refunded, or sold at a loss when the value is a margin) is left out of its fit
(:func:`.fit.fit_clv`). Her expected order value here is the Gamma-Gamma posterior mean in the limit
``m → 0⁺``, i.e. the population mean shrunk by her number of repeat orders: ``(1 − w)·E[Z]`` with
``w = p·x / (p·x + q − 1)``. It is never negative, and it is small for a customer with many loss-making
repeat orders, which is the point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestration.analytics.clv.distributions import (
    _CHUNK_ROWS,
    _bgnbd_alive_pmfs,
    _count_quantiles,
    _pareto_alive_pmfs,
    _pareto_no_purchase_given_alive,
    _pareto_wait,
    _simulate_counts,
    _unique_apply,
    _unique_rows,
    bgnbd_expected_purchases,
)
from orchestration.analytics.clv.likelihood import BGNBD_PARAMS, GAMMA_GAMMA_PARAMS, PARETO_NBD_PARAMS
from orchestration.analytics.clv.summary import _columns

__all__ = ["WEEKS_PER_MONTH", "ClvModel"]

# lifetimes' _customer_lifetime_value steps months of 4.345 weeks; kept so CLV matches lifetimes exactly.
WEEKS_PER_MONTH = 4.345


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
        (values,) = self._expected_purchases_at(summary, [t])
        return pd.Series(values, index=summary.index, name="expected_purchases")

    def _expected_purchases_at(self, summary: pd.DataFrame, ts: Sequence[float]):
        """Yield :meth:`expected_purchases` for each horizon of ``ts`` (arrays), sharing the work."""
        x, t_x, big_t = _columns(summary)
        if self.purchase_model == "bgnbd":
            yield from bgnbd_expected_purchases(self.params, x, t_x, big_t, ts)
            return
        fitter = self._fitter()
        keys, codes = _unique_rows((x, t_x, big_t))
        for t in ts:
            # lifetimes evaluates 2F1 and falls back to an equivalent form where it overflows to inf.
            with np.errstate(all="ignore"):
                values = fitter.conditional_expected_number_of_purchases_up_to_time(t, *keys)
            yield np.asarray(values, dtype=float)[codes]

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
        fitted parameters. Because spend = (v + x·m̄)·Gamma(p·K, 1)/Gamma(p·x + q, 1), and because a customer
        who has left spends 0 while one still alive has a distribution that depends on (x, T) only, the
        draws are made once per (frequency, T to the nearest day) from the alive-only distribution; each
        customer's range is read off the mixture with the point mass 1 − P(alive) at 0 and scaled. At a
        million customers that is tens of thousands of draw rows instead of hundreds of thousands.

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
        p_alive = self.probability_alive(
            pd.DataFrame({"frequency": ux, "recency": keys[1], "T": ut})
        ).to_numpy()
        # Written by hand (no library has it): the value is 0 for a customer who has left, and given alive
        # its distribution depends on (x, T) only (recency enters through P(alive) alone). So the draws are
        # made once per (x, T) from the alive-only PMF, with T to the nearest day (a shift of at most half
        # a day in α + T), and each customer's quantile is read off the mixture with the point mass
        # 1 − P(alive) at 0.
        day = 1.0 / self.time_unit_days
        alive_keys, alive_codes = _unique_rows((ux, np.round(ut / day) * day))
        ax, at = alive_keys
        # The discount ratio, with a unit order value (it cancels). Expected purchases are P(alive) times
        # the expectation given alive, so the ratio depends on (x, T) only: computed with recency = T.
        unit = ClvModel(
            params={**self.params, "p": 1.0, "q": 2.0, "v": 1.0},
            time_unit_days=self.time_unit_days,
            purchase_model=self.purchase_model,
        )
        alive_rows = pd.DataFrame({"frequency": ax, "recency": np.where(ax > 0, at, 0.0), "T": at})
        alive_rows["monetary_value"] = 1.0
        expected = unit.expected_purchases(alive_rows, horizon).to_numpy()
        discounted = unit.clv(
            alive_rows, months, discount_rate, periods_per_month=periods_per_month
        ).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(expected > 0, discounted / expected, 1.0)
        rng = np.random.default_rng(seed)
        draws = np.empty((len(ax), n_samples))
        # Small chunks of similar customers: the PMF is walked up to the largest count a chunk needs, so
        # the few heavy buyers do not make everyone's walk long.
        step = max(1, min(2_048, _CHUNK_ROWS * 40 // max(n_samples, 1)))
        by_rate = np.argsort(expected, kind="stable")
        for start in range(0, len(ax), step):
            part = by_rate[start : start + step]
            counts = self._draw_counts(ax[part], at[part], np.ones(len(part)), horizon, n_samples, rng)
            spend = np.zeros(counts.shape)
            buyers = counts > 0
            shape = np.broadcast_to((p * ax[part] + q)[:, None], counts.shape)
            spend[buyers] = rng.standard_gamma(p * counts[buyers]) / rng.standard_gamma(shape[buyers])
            draws[part] = np.sort(spend, axis=1)
        lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
        low = _mixture_quantile(draws, alive_codes, p_alive, lo_q)
        high = _mixture_quantile(draws, alive_codes, p_alive, hi_q)
        scale = (v + x * m) * ratio[alive_codes][codes]
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
        months: int | Sequence[int] = 12,
        discount_rate: float = 0.01,
        margin: float | None = None,
        value: str = "revenue",
        periods_per_month: float | None = None,
    ) -> pd.Series:
        """Discounted value of the next ``months`` months: Σᵢ E[order value]·ΔE[purchases in month i]/(1+d)ⁱ.

        The same sum as ``lifetimes``' ``customer_lifetime_value`` (``discount_rate`` is monthly).
        ``value="margin"`` uses the margin Gamma-Gamma fit (margin-based CLV); ``margin`` multiplies the
        result by a constant margin rate for shops that only know revenue. ``periods_per_month`` defaults to
        lifetimes' 4.345 weeks when the time unit is a week (``time_unit_days == 7``, at any resolution),
        30.4375 / ``time_unit_days`` otherwise. With a sequence of ``months`` it returns a DataFrame with
        one column ``clv_<h>m`` per horizon, computed in one pass (:meth:`discounted_purchases`).
        """
        single = isinstance(months, int | np.integer)
        horizons = [int(months)] if single else [int(m) for m in months]
        order_value = self.expected_order_value(summary, value=value).to_numpy()
        purchases = self.discounted_purchases(summary, horizons, discount_rate, periods_per_month)
        out = purchases.mul(order_value * (1.0 if margin is None else margin), axis=0)
        if single:
            return out[horizons[0]].rename("clv")
        return out.rename(columns=lambda m: f"clv_{m}m")

    def discounted_purchases(
        self,
        summary: pd.DataFrame,
        months: Sequence[int],
        discount_rate: float = 0.01,
        periods_per_month: float | None = None,
    ) -> pd.DataFrame:
        """Σᵢ ΔE[purchases in month i]/(1+d)ⁱ over i = 1 … h for every horizon h of ``months`` (one column
        per horizon, named by it): the purchase part of :meth:`clv`, computed in one pass over the months
        for all horizons. ``discount_rate`` is monthly; ``periods_per_month`` as in :meth:`clv`."""
        if periods_per_month is None:
            periods_per_month = WEEKS_PER_MONTH if self.time_unit_days == 7 else 30.4375 / self.time_unit_days
        horizons = sorted({int(m) for m in months})
        if not horizons or horizons[0] < 1:
            raise ValueError(f"horizons must be whole months >= 1, got {list(months)!r}")
        out = {}
        total = np.zeros(len(summary))
        previous = np.zeros(len(summary))
        times = [month * periods_per_month for month in range(1, horizons[-1] + 1)]
        for month, cumulative in enumerate(self._expected_purchases_at(summary, times), start=1):
            total += (cumulative - previous) / (1 + discount_rate) ** month
            previous = cumulative
            if month in horizons:
                out[month] = total.copy()
        return pd.DataFrame(out, index=summary.index)[[int(m) for m in dict.fromkeys(months)]]

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


def _mixture_quantile(
    sorted_draws: np.ndarray, codes: np.ndarray, p_alive: np.ndarray, q: float
) -> np.ndarray:
    """The ``q`` quantile of (1 − P(alive))·δ₀ + P(alive)·(the alive draws of row ``codes``), per row.

    F(v) = 1 − P(alive) + P(alive)·F_alive(v) for v ≥ 0, so the quantile is 0 when q ≤ 1 − P(alive) and
    otherwise the alive draws' quantile at (q − 1 + P(alive)) / P(alive), interpolated linearly between
    order statistics as ``numpy.quantile`` does.
    """
    n = sorted_draws.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.clip((q - 1.0 + p_alive) / p_alive, 0.0, 1.0)
    position = level * (n - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    weight = position - below
    value = (1 - weight) * sorted_draws[codes, below] + weight * sorted_draws[codes, above]
    return np.where((p_alive > 0) & (q > 1.0 - p_alive), value, 0.0)
