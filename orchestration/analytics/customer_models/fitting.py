"""The purchase and spend models fitted on the whole history (with the purchase model chosen on
held-out days), their quality rows, and the holdout validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from orchestration.analytics.clv import (
    ClvFitError,
    ClvModel,
    calibration_and_holdout_summary,
    choose_purchase_model,
    fit_clv,
)
from orchestration.analytics.clv.likelihood import PURCHASE_MODELS
from orchestration.analytics.customer_models.options import (
    MAX_PARETO_FIT_CUSTOMERS,
    MAX_VALIDATION_CUSTOMERS,
    Findings,
    PipelineSettings,
    PredictionOptions,
)
from orchestration.analytics.validation import (
    holdout_metrics,
    holdout_predictions,
    model_choice_quality,
    quality_frame,
)


def fit_models(
    summary: pd.DataFrame,
    rows: pd.DataFrame,
    end: pd.Timestamp,
    settings: PipelineSettings,
    options: PredictionOptions,
    stamp: pd.Timestamp,
    can_hold_out: bool,
) -> tuple[ClvModel, Findings]:
    """The purchase and spend models fitted on the whole history: with ``purchase_model="auto"`` the
    purchase model is the one of BG/NBD and Pareto/NBD with the lower per-customer holdout error (on at
    most ``max_choice_customers`` customers), and the comparison is returned as quality rows.
    ``can_hold_out`` says whether the history before the holdout would make the shop eligible."""
    found = Findings([], [])
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


def fit_warnings(model: ClvModel) -> list[str]:
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


def fit_quality(model: ClvModel, computed_at: Any) -> list[pd.DataFrame]:
    """``ml.model_quality`` rows of every fit in ``model.diagnostics`` (its parameters, standard errors,
    log-likelihood, sizes, time, whether it converged or needed the fallback penalizer); the model choice has
    its own rows (:func:`fit_models`)."""
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


def holdout_validation(
    rows: pd.DataFrame,
    end: pd.Timestamp,
    settings: PipelineSettings,
    options: PredictionOptions,
    stamp: pd.Timestamp,
    purchase_model: str,
    can_hold_out: bool,
) -> tuple[ClvModel | None, Findings]:
    """The CLV model's holdout validation: the last ``holdout_days`` held out, ``purchase_model`` refitted
    on the rest, on at most :data:`MAX_VALIDATION_CUSTOMERS` customers drawn at random.

    Returns the calibration-period model (None when the history before the holdout is too short
    (``can_hold_out`` false) or the fit fails) and the ``clv_holdout`` quality rows or the reason they are
    missing."""
    found = Findings([], [])
    calibration_end = end - pd.Timedelta(days=options.holdout_days)
    if not can_hold_out:
        found.messages.append(
            f"Holdout validation skipped: too little history before {calibration_end.date()}."
        )
        return None, found
    sample = customer_sample(rows, settings.customer_col, MAX_VALIDATION_CUSTOMERS)
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


def customer_sample(rows: pd.DataFrame, customer_col: str, n: int) -> pd.DataFrame:
    """The rows of ``n`` customers drawn at random (seed 0), or ``rows`` itself when it has no more;
    customer ids are the codes of :func:`coded_customers`."""
    codes = rows[customer_col].to_numpy()
    n_customers = int(codes.max()) + 1 if len(codes) else 0
    if n_customers <= n:
        return rows
    chosen = np.zeros(n_customers, dtype=bool)
    chosen[np.random.default_rng(0).choice(n_customers, size=n, replace=False)] = True
    return rows.loc[chosen[codes]].reset_index(drop=True)
