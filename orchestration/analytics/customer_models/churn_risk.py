"""Churn risk: BG/NBD's scores against a classifier on RFM and extra features, compared on the
same labels at a time-based cutoff; the best one scores every customer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchestration.analytics.churn import (
    calibration_table,
    churn_labels,
    compare_churn_models,
    rfm_features,
    train_churn_classifier,
)
from orchestration.analytics.clv import (
    ClvFitError,
    ClvModel,
    _naive_timestamp,
    fit_clv,
)
from orchestration.analytics.customer_models.eligibility import check_eligibility
from orchestration.analytics.customer_models.options import (
    MIN_CLASS_COUNT,
    PIPELINE_SETTINGS,
    FeatureSource,
    Findings,
    PipelineSettings,
    PredictionOptions,
)
from orchestration.analytics.customer_models.orders import purchase_rows, summary_of
from orchestration.analytics.validation import quality_frame


def features_at(source: FeatureSource, cutoff: pd.Timestamp, customer_col: str) -> pd.DataFrame | None:
    """The extra churn features of ``source`` on ``cutoff``'s day, indexed by customer (one row each; the
    first kept), or None when there are none: ``source`` is a callable of the cutoff or a frame with an
    ``as_of`` date column."""
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
    extra = features_at(features, cutoff, customer_col)
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


@dataclass(frozen=True)
class ChurnInputs:
    """What the churn step needs: the purchases, the full-period summary and model, the end of
    observation, the extra features, the settings and options, and the calibration-period model when its
    holdout equals the churn horizon (it is then reused for the evaluation cutoff)."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    model: ClvModel
    end: pd.Timestamp
    features: FeatureSource
    settings: PipelineSettings
    options: PredictionOptions
    stamp: pd.Timestamp
    eval_model: ClvModel | None = None

    @property
    def horizon(self) -> int:
        """The churn horizon in days."""
        return self.options.churn_horizon_days

    @property
    def horizon_units(self) -> float:
        """The churn horizon in the summary's time units."""
        return self.horizon / self.settings.time_unit_days

    def frame(self, cutoff: pd.Timestamp, horizon: int | None) -> pd.DataFrame:
        """The classifier's rows at ``cutoff`` (labels over ``horizon`` days; none when None)."""
        s = self.settings
        return _churn_frame(
            self.rows, s.customer_col, s.datetime_col, s.monetary_col, cutoff, horizon, self.features
        )


def choose_churn_risk(inputs: ChurnInputs) -> tuple[pd.Series, str, Findings]:
    """churn_risk at the end of observation, the name of the model it comes from, and what was found on
    the way (the candidates' AUC, Brier score, calibration and the classifier's feature importance)."""
    found = Findings([], [])
    s, o = inputs.settings, inputs.options
    eval_cutoff = inputs.end - pd.Timedelta(days=inputs.horizon)
    train_cutoff = eval_cutoff - pd.Timedelta(days=inputs.horizon)
    fallback = inputs.model.probability_no_purchase(inputs.summary, inputs.horizon_units).rename("churn_risk")
    first_day = inputs.rows[s.datetime_col].min()
    if eval_cutoff <= first_day:
        found.messages.append(
            "Churn: too little history for a time-based evaluation; churn_risk is BG/NBD's "
            f"P(no purchase in {inputs.horizon} days), unvalidated."
        )
        return fallback, "bgnbd_no_purchase", found

    # Churn labels are by day: the cutoff's whole day is the past, for BG/NBD as for the classifier.
    day_end = pd.Period(eval_cutoff, freq="D").end_time
    eval_rows = inputs.rows.loc[(inputs.rows[s.datetime_col] <= day_end).to_numpy()]
    eval_summary = summary_of(eval_rows, eval_cutoff, s, margin=False)
    eval_model = inputs.eval_model
    if eval_model is None:
        try:
            eval_model = fit_clv(
                eval_summary[["frequency", "recency", "T"]], s.penalizer_coef, time_unit_days=s.time_unit_days
            )
        except ClvFitError as exc:
            found.messages.append(
                f"Churn: BG/NBD could not be fitted at {eval_cutoff.date()} ({exc}); "
                "churn_risk is the full-period BG/NBD score, unvalidated."
            )
            return fallback, "bgnbd_no_purchase", found
    labels = churn_labels(inputs.rows, s.customer_col, s.datetime_col, eval_cutoff, inputs.horizon)
    labels = labels.set_index(s.customer_col)["churned"].reindex(eval_summary.index)
    candidates: dict[str, Any] = {
        "bgnbd_alive": 1.0 - eval_model.probability_alive(eval_summary).to_numpy(),
        "bgnbd_no_purchase": eval_model.probability_no_purchase(
            eval_summary, inputs.horizon_units
        ).to_numpy(),
    }

    classifier = None
    enough_history = (
        o.churn_classifier is not None
        and train_cutoff > first_day
        and check_eligibility(
            eval_summary,
            float((eval_cutoff - first_day) / pd.Timedelta(days=1)),
            o.min_repeat_customers,
            o.min_history_days,
        )[0]
    )
    if enough_history:
        classifier, eval_scores, trained = _train_classifier(inputs, train_cutoff, eval_cutoff)
        found.extend(trained)
        if eval_scores is not None:
            candidates["classifier"] = eval_scores.reindex(labels.index).to_numpy()
    elif o.churn_classifier is not None:
        found.messages.append("Churn classifier not trained: too little history before the training cutoff.")

    best, table = compare_churn_models(labels.to_numpy(dtype=int), candidates)
    found.quality.extend(_churn_quality(table, best, candidates, labels, o, inputs.stamp))
    selected = table.iloc[0]
    found.messages.append(
        f"Churn risk = {best} (holdout AUC {selected['auc']:.3f} at {eval_cutoff.date()}; "
        + ", ".join(f"{r.model} {r.auc:.3f}" for r in table.itertuples(index=False))
        + ")."
    )

    if best == "classifier" and classifier is not None:
        risk = classifier.predict(inputs.frame(inputs.end, None)).reindex(inputs.summary.index)
        return risk.rename("churn_risk"), best, found
    if best == "bgnbd_alive":
        return (1.0 - inputs.model.probability_alive(inputs.summary)).rename("churn_risk"), best, found
    return fallback, best, found


def _train_classifier(
    inputs: ChurnInputs, train_cutoff: pd.Timestamp, eval_cutoff: pd.Timestamp
) -> tuple[Any, pd.Series | None, Findings]:
    """The churn classifier trained on the training and evaluation cutoffs' rows, its scores at the
    evaluation cutoff, and its permutation importance (None and a message when it cannot be trained)."""
    found = Findings([], [])
    frames = [inputs.frame(cutoff, inputs.horizon) for cutoff in (train_cutoff, eval_cutoff)]
    counts = [np.bincount(f["churned"].to_numpy(dtype=int), minlength=2) for f in frames]
    if min(c.min() for c in counts) < MIN_CLASS_COUNT:
        found.messages.append(
            f"Churn classifier not trained: fewer than {MIN_CLASS_COUNT} customers in a class."
        )
        return None, None, found
    labelled = pd.concat(frames)
    feature_cols = [c for c in labelled.columns if c not in ("churned", "cutoff")]
    try:
        classifier = train_churn_classifier(
            labelled.reset_index(drop=True),
            "churned",
            feature_cols,
            model=inputs.options.churn_classifier,
            random_state=inputs.options.random_state,
        )
    except ValueError as exc:
        found.messages.append(f"Churn classifier not trained: {exc}")
        return None, None, found
    scores = pd.Series(classifier.eval_predictions.to_numpy(), index=frames[1].index)
    found.quality.append(
        pd.concat(
            [
                quality_frame(
                    "churn_classifier",
                    {"permutation_importance": row.importance_mean},
                    segment=f"feature={row.feature}",
                    computed_at=inputs.stamp,
                )
                for row in classifier.importance.itertuples(index=False)
            ],
            ignore_index=True,
        )
    )
    return classifier, scores, found


def _churn_quality(
    table: pd.DataFrame,
    best: str,
    candidates: Mapping[str, Any],
    labels: pd.Series,
    options: PredictionOptions,
    stamp: pd.Timestamp,
) -> list[pd.DataFrame]:
    """``ml.model_quality`` rows of the churn comparison: each candidate's AUC, Brier score, ECE and
    calibration deciles, and the selected model's figures as ``churn_risk``."""
    frames = []
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
        frames.append(quality_frame(f"churn_{row.model}", metrics, thresholds=no_bounds, computed_at=stamp))
    selected = table.iloc[0]
    frames.append(
        quality_frame(
            "churn_risk",
            {"auc": selected["auc"], "brier": selected["brier"], "ece": selected["ece"]},
            thresholds=options.thresholds,
            computed_at=stamp,
        )
    )
    for name, scores in candidates.items():
        calib = calibration_table(labels.to_numpy(dtype=int), scores)
        for c in calib.itertuples(index=False):
            frames.append(
                quality_frame(
                    f"churn_{name}",
                    {"mean_predicted": c.mean_predicted, "observed_rate": c.observed_rate, "n": float(c.n)},
                    segment=f"decile={c.bin}",
                    computed_at=stamp,
                )
            )
    return frames
