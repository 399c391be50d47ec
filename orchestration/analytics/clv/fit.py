"""Fitting: BG/NBD or Pareto/NBD and Gamma-Gamma with lifetimes, fallback penalizers, and model choice.

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2),
  275-284) and **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987) are fitted with lifetimes'
  ``BetaGeoFitter`` / ``ParetoNBDFitter`` on the unique ``(frequency, recency, T)`` rows of a summary,
  weighted by their counts (same likelihood, same parameters, far fewer rows).
* **Gamma-Gamma** (``GammaGammaFitter``) is fitted on repeat buyers with a positive mean repeat value:
  the model is defined for positive values only (lifetimes rejects ``monetary_value <= 0``), so customers
  whose repeat orders were all refunded or sold at a loss are left out of the fit and counted in the
  diagnostics (``n_excluded_nonpositive``).
* A fit that fails (``ConvergenceError``, non-finite parameters, q ≤ 1) is retried with larger penalizers
  (lifetimes' own advice); every failure is recorded, and :class:`ClvFitError` is raised when none works.
* :func:`choose_purchase_model` compares the purchase models on a calibration/holdout split;
  ``fit_clv(model="auto")`` keeps the winner.

The result is a :class:`~orchestration.analytics.clv.model.ClvModel`.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ConstantInputWarning, spearmanr

from orchestration.analytics.clv.likelihood import (
    GAMMA_GAMMA_PARAMS,
    PURCHASE_MODELS,
    bgnbd_log_likelihood,
    gamma_gamma_log_likelihood,
    pareto_nbd_log_likelihood,
)
from orchestration.analytics.clv.model import ClvModel
from orchestration.analytics.clv.summary import _columns

__all__ = [
    "DEFAULT_FALLBACK_PENALIZERS",
    "MAX_INDEPENDENCE_CORRELATION",
    "ClvFitError",
    "choose_purchase_model",
    "fit_clv",
]

# Penalizers tried, in order, after an unpenalised fit fails (lifetimes' own advice on ConvergenceError).
DEFAULT_FALLBACK_PENALIZERS = (0.001, 0.01)

# |Spearman correlation| between frequency and mean repeat value above which the Gamma-Gamma
# independence assumption is flagged (Fader & Hardie's CDNOW example shows ≈ 0.11).
MAX_INDEPENDENCE_CORRELATION = 0.3


class ClvFitError(RuntimeError):
    """Raised when BG/NBD or Gamma-Gamma cannot be fitted even with the fallback penalizers."""


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
    if model == "pareto_nbd":
        # lifetimes minimises the Pareto/NBD likelihood with Nelder-Mead by default; BFGS reaches the same
        # optimum (CDNOW to 4 decimals) in a quarter of the time on 100,000 customers (13 s against 59 s).
        fit_args["fit_method"] = "BFGS"
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
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # With one frequency (or one value) among all buyers there is no correlation: it is recorded as NaN
        # and independence_ok as None, which says what scipy's warning would.
        warnings.simplefilter("ignore", ConstantInputWarning)
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

    ``holdout`` is a :func:`~orchestration.analytics.clv.summary.calibration_and_holdout_summary` frame
    (``frequency_cal, recency_cal, T_cal, frequency_holdout, duration_holdout``). The criterion is the **mean absolute error per customer** of
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
      (a :func:`~orchestration.analytics.clv.summary.calibration_and_holdout_summary` frame of the same
      customers' history split at an earlier date) is required: every model of ``candidates`` is fitted on its calibration period and the one
      with the lowest per-customer holdout MAE of purchases is kept (see :func:`choose_purchase_model`),
      then refitted on ``summary``. The comparison is kept in ``diagnostics["model_choice"]``.
    * The purchase model is fitted on the unique ``(frequency, recency, T)`` rows weighted by their counts
      (lifetimes' ``weights``): the likelihood is the same, so are the parameters (tested). The saving
      depends on the resolution: of 100,000 customers simulated over three years as in
      ``benchmarks/clv.py``, about 41,000 rows are unique in calendar weeks, 77,000 at day resolution and
      92,000 at the pipeline's hour resolution. Its diagnostics are under the model's name
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
    * ``time_unit_days`` is the length in days of the summary's time unit, kept on the model (7 for any
      summary in weeks, whatever its resolution: ``time_unit_days(freq, freq_multiplier)``).
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
