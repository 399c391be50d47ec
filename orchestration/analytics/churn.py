"""Churn risk: labels, RFM features, a supervised classifier with a time-based split, and model choice.

DECISION — what churn means. A customer has *churned at a cutoff* when she bought on or before the cutoff
and made no purchase in the ``horizon_days`` after it (90 by default). This is observable, so it can be
labelled and a classifier can be trained and scored on it. BG/NBD's "dead" is a latent state: a customer
can be alive and still not buy within 90 days, so 1 − P(alive) and the churn label differ. Two BG/NBD
scores are therefore compared with the classifier on the same labels: ``bgnbd_alive`` = 1 − P(alive),
and ``bgnbd_no_purchase`` = P(no purchase in the horizon) = 1 − P(alive)·(1 − ((α+T)/(α+T+h))^(r+x)),
which is BG/NBD's own probability of the label. The score with the best holdout AUC becomes
``churn_risk``; its calibration is reported alongside, since AUC says nothing about it.

DECISION — time-based split. Features are computed at a cutoff from data up to the cutoff only; the
classifier is trained on the earliest cutoff(s) and evaluated on the latest (labels from the period after
it), so no customer's future leaks into training. After evaluation it is refitted on every labelled cutoff
to score the present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from orchestration.analytics.clv import _naive_datetimes, _naive_timestamp

__all__ = [
    "RFM_FEATURES",
    "ChurnClassifierResult",
    "calibration_table",
    "churn_labels",
    "churn_metrics",
    "compare_churn_models",
    "rfm_features",
    "train_churn_classifier",
]

RFM_FEATURES = [
    "n_orders",
    "tenure_days",
    "recency_days",
    "days_since_last_order",
    "total_value",
    "mean_order_value",
    "orders_last_90d",
    "orders_last_365d",
    "value_last_365d",
    "mean_days_between_orders",
]


def _purchase_days(transactions: pd.DataFrame, customer_col: str, datetime_col: str) -> pd.DataFrame:
    days = _naive_datetimes(transactions[datetime_col]).dt.floor("D")
    return pd.DataFrame({customer_col: transactions[customer_col].to_numpy(), "_day": days.to_numpy()})


def churn_labels(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    cutoff: Any,
    horizon_days: int = 90,
) -> pd.DataFrame:
    """``customer_col, churned``: 1 when a customer who bought on or before ``cutoff`` did not buy in
    ``(cutoff, cutoff + horizon_days]``, else 0. Times are read at day resolution (UTC days)."""
    end = _naive_timestamp(cutoff).floor("D")
    days = _purchase_days(transactions, customer_col, datetime_col)
    known = pd.Index(days.loc[days["_day"] <= end, customer_col].unique(), name=customer_col)
    window = days.loc[(days["_day"] > end) & (days["_day"] <= end + pd.Timedelta(days=horizon_days))]
    bought = pd.Index(window[customer_col].unique())
    labels = pd.DataFrame({customer_col: known.sort_values()})
    labels["churned"] = (~labels[customer_col].isin(bought)).astype(int)
    return labels


def rfm_features(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None,
    cutoff: Any,
) -> pd.DataFrame:
    """RFM features at ``cutoff`` from purchases on or before it, one row per customer (``RFM_FEATURES``).

    Orders are counted as distinct purchase days (two orders on one day are one purchase here, while the
    pipeline's BG/NBD summary, at hour resolution, counts them as two); values are summed per day. The
    cutoff is a whole UTC day, and the 90- and 365-day windows start after the day that many days before
    it. ``mean_days_between_orders`` is NaN for one-time buyers (the classifier handles NaN); value
    features are NaN without ``monetary_col``.
    """
    end = _naive_timestamp(cutoff).floor("D")
    days = _purchase_days(transactions, customer_col, datetime_col)
    days["_value"] = (
        pd.to_numeric(transactions[monetary_col]).to_numpy(dtype=float) if monetary_col else np.nan
    )
    days = days.loc[days["_day"] <= end]
    per_day = days.groupby([customer_col, "_day"], sort=True)["_value"].sum(min_count=1).reset_index()
    grouped = per_day.groupby(customer_col, sort=True)
    first, last = grouped["_day"].min(), grouped["_day"].max()
    one_day = pd.Timedelta(days=1)
    out = pd.DataFrame(index=first.index)
    out["n_orders"] = grouped.size().astype(float)
    out["tenure_days"] = (end - first) / one_day
    out["recency_days"] = (last - first) / one_day
    out["days_since_last_order"] = (end - last) / one_day
    out["total_value"] = grouped["_value"].sum(min_count=1)
    out["mean_order_value"] = grouped["_value"].mean()
    for window in (90, 365):
        recent = per_day.loc[per_day["_day"] > end - pd.Timedelta(days=window)]
        counts = recent.groupby(customer_col).size()
        out[f"orders_last_{window}d"] = counts.reindex(out.index).fillna(0).astype(float)
        if window == 365:
            out["value_last_365d"] = (
                recent.groupby(customer_col)["_value"].sum(min_count=1).reindex(out.index)
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mean_days_between_orders"] = np.where(
            out["n_orders"] > 1, out["recency_days"] / (out["n_orders"] - 1), np.nan
        )
    return out[RFM_FEATURES].astype(float)


def calibration_table(y_true, y_prob, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate by bin of predicted probability (deciles by default).

    Bins are quantiles of the prediction; tied predictions can merge bins, so there may be fewer rows.
    Columns: ``bin`` (1 = lowest risk), ``n``, ``mean_predicted``, ``observed_rate``.
    """
    y = np.asarray(y_true, dtype=float)
    prob = np.asarray(y_prob, dtype=float)
    ranks = pd.Series(prob).rank(method="first").to_numpy()
    bins = np.ceil(ranks * n_bins / max(len(prob), 1)).astype(int) if len(prob) else np.array([], dtype=int)
    frame = pd.DataFrame({"bin": bins, "y": y, "p": prob})
    table = (
        frame.groupby("bin", sort=True)
        .agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
        .reset_index()
    )
    table["n"] = table["n"].astype(int)
    return table


def churn_metrics(y_true, y_prob, n_bins: int = 10) -> dict[str, float]:
    """``auc``, ``brier``, ``ece`` (expected calibration error over deciles), ``base_rate``, ``n``."""
    y = np.asarray(y_true, dtype=int)
    prob = np.clip(np.asarray(y_prob, dtype=float), 0.0, 1.0)
    if len(np.unique(y)) < 2:
        auc = math.nan
    else:
        auc = float(roc_auc_score(y, prob))
    table = calibration_table(y, prob, n_bins)
    ece = float(
        np.sum(table["n"] * np.abs(table["mean_predicted"] - table["observed_rate"])) / max(len(y), 1)
    )
    return {
        "auc": auc,
        "brier": float(brier_score_loss(y, prob)) if len(y) else math.nan,
        "ece": ece,
        "base_rate": float(y.mean()) if len(y) else math.nan,
        "n": float(len(y)),
    }


def compare_churn_models(y_true, candidates: Mapping[str, Any], n_bins: int = 10) -> tuple[str, pd.DataFrame]:
    """Score every candidate churn probability on the same labels; return the best-AUC name and a table.

    The table has one row per candidate (``model, auc, brier, ece, base_rate, n``), best first. Ties in
    AUC keep the order of ``candidates``; candidates with a NaN AUC are never chosen unless all are NaN.
    """
    rows = [{"model": name, **churn_metrics(y_true, scores, n_bins)} for name, scores in candidates.items()]
    if not rows:
        raise ValueError("compare_churn_models needs at least one candidate")
    table = pd.DataFrame(rows)
    table["_order"] = np.arange(len(table))
    table = table.sort_values(["auc", "_order"], ascending=[False, True], na_position="last")
    table = table.drop(columns="_order").reset_index(drop=True)
    return str(table["model"].iloc[0]), table


# ---------------------------------------------------------------------------------------------------------
# Classifier
# ---------------------------------------------------------------------------------------------------------


def _make_estimator(kind: str, random_state: int):
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        # Shallow, regularised trees: churn features are few and noisy; NaN (one-time buyers' gaps,
        # missing engagement) is handled natively.
        return HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.1,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=10,
            random_state=random_state,
        )
    if kind == "logistic":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=2000),
        )
    raise ValueError("model must be 'hgb' or 'logistic'")


def _design_matrix(frame: pd.DataFrame, feature_cols: Sequence[str]) -> pd.DataFrame:
    X = frame[list(feature_cols)].copy()
    for col in X.columns:
        if not (pd.api.types.is_numeric_dtype(X[col]) or pd.api.types.is_bool_dtype(X[col])):
            # Category codes learnt on one cutoff would not line up with another's; encode upstream.
            raise ValueError(f"churn features must be numeric or boolean; {col!r} is {X[col].dtype}")
        X[col] = X[col].astype(float)
    return X


def _sample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, limit, replace=False))


# scikit-learn's OpenMP code (gradient boosting) runs on one thread in training and scoring. Measured inside
# the customer-models step at a million customers on two busy cores: fitting on 100,000 rows took 39 s with
# two OpenMP threads and 1.2 s with one (the threads wait on each other at every split while other work
# holds a core); the whole step fell from 175 s to 80 s. On a quiet machine two threads save under a
# second here, so one is the safe default.
_ONE_OPENMP_THREAD = threadpool_limits.wrap(limits=1, user_api="openmp")


@dataclass
class ChurnClassifierResult:
    """A trained churn classifier with its time-based evaluation.

    ``auc``, ``brier``, ``ece`` and ``calibration`` come from the latest cutoff, which training never saw;
    ``importance`` is the permutation importance (drop in AUC) on that evaluation set;
    ``eval_predictions`` holds its predicted probabilities (index of the evaluation rows).
    ``estimator`` is refitted on all labelled cutoffs when ``refit=True``.
    """

    estimator: Any
    feature_cols: list[str]
    kind: str
    train_cutoffs: list[Any]
    eval_cutoff: Any
    n_train: int
    n_eval: int
    auc: float
    brier: float
    ece: float
    calibration: pd.DataFrame
    importance: pd.DataFrame
    eval_predictions: pd.Series = field(repr=False)

    @_ONE_OPENMP_THREAD
    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Probability of churn (label 1) for each row of ``features``."""
        X = _design_matrix(features, self.feature_cols)
        return pd.Series(
            self.estimator.predict_proba(X)[:, 1], index=features.index, name="churn_probability"
        )


@_ONE_OPENMP_THREAD
def train_churn_classifier(
    features: pd.DataFrame,
    label_col: str = "churned",
    feature_cols: Sequence[str] | None = None,
    *,
    cutoff_col: str = "cutoff",
    model: str = "hgb",
    refit: bool = True,
    random_state: int = 0,
    importance_repeats: int = 3,
    importance_max_rows: int = 5_000,
    max_train_rows: int = 100_000,
    n_bins: int = 10,
) -> ChurnClassifierResult:
    """Train on the earlier cutoffs of ``features``, evaluate on the latest one.

    ``features`` has one row per customer and cutoff: ``cutoff_col``, the label (1 = churned) and the
    features, all computed from data up to that cutoff (see :func:`rfm_features`, :func:`churn_labels`).
    ``feature_cols`` defaults to every other column; columns without a single value in the training rows are
    left out (``feature_cols`` of the result lists those used). ``model`` is ``"hgb"`` (scikit-learn's
    HistGradientBoostingClassifier, NaN handled natively) or ``"logistic"`` (median imputation, scaling,
    logistic regression). Features must be numeric or boolean (encode categories upstream). To stay quick
    on large shops, training uses a random sample of at most ``max_train_rows`` rows and permutation
    importance at most ``importance_max_rows`` evaluation rows.
    """
    from sklearn.inspection import permutation_importance

    cutoffs = sorted(pd.unique(features[cutoff_col]))
    if len(cutoffs) < 2:
        raise ValueError(
            f"a time-based split needs at least two values of {cutoff_col!r}; got {len(cutoffs)}"
        )
    if feature_cols is None:
        feature_cols = [c for c in features.columns if c not in (label_col, cutoff_col)]
    eval_cutoff = cutoffs[-1]
    train = features.loc[features[cutoff_col] != eval_cutoff]
    evaluate = features.loc[features[cutoff_col] == eval_cutoff]
    y_train = train[label_col].to_numpy(dtype=int)
    y_eval = evaluate[label_col].to_numpy(dtype=int)
    for name, y in (("training", y_train), ("evaluation", y_eval)):
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"the {name} cutoff has a single churn class; cannot train or score a classifier"
            )

    rng = np.random.default_rng(random_state)
    estimator = _make_estimator(model, random_state)
    fit_rows = _sample(len(train), max_train_rows, rng)
    # A feature with no value in the rows trained on (reviews in a shop that exports none) carries nothing to
    # learn, and gradient boosting cannot bin it: leave it out rather than fail the whole classifier.
    fit_frame = train.iloc[fit_rows]
    feature_cols = [c for c in feature_cols if fit_frame[c].notna().any()]
    estimator.fit(_design_matrix(fit_frame, feature_cols), y_train[fit_rows])
    X_eval = _design_matrix(evaluate, feature_cols)
    prob = estimator.predict_proba(X_eval)[:, 1]
    metrics = churn_metrics(y_eval, prob, n_bins)

    sample = _sample(len(X_eval), importance_max_rows, rng)
    if len(np.unique(y_eval[sample])) > 1:
        result = permutation_importance(
            estimator,
            X_eval.iloc[sample],
            y_eval[sample],
            scoring="roc_auc",
            n_repeats=importance_repeats,
            random_state=random_state,
            n_jobs=1,
        )
        importance = pd.DataFrame(
            {
                "feature": feature_cols,
                "importance_mean": result.importances_mean,
                "importance_std": result.importances_std,
            }
        )
    else:
        importance = pd.DataFrame(
            {"feature": feature_cols, "importance_mean": np.nan, "importance_std": np.nan}
        )
    importance = importance.sort_values("importance_mean", ascending=False, ignore_index=True)

    if refit:
        estimator = _make_estimator(model, random_state)
        refit_rows = _sample(len(features), max_train_rows, rng)
        estimator.fit(
            _design_matrix(features.iloc[refit_rows], feature_cols),
            features[label_col].to_numpy(dtype=int)[refit_rows],
        )
    return ChurnClassifierResult(
        estimator=estimator,
        feature_cols=feature_cols,
        kind=model,
        train_cutoffs=cutoffs[:-1],
        eval_cutoff=eval_cutoff,
        n_train=len(train),
        n_eval=len(evaluate),
        auc=metrics["auc"],
        brier=metrics["brier"],
        ece=metrics["ece"],
        calibration=calibration_table(y_eval, prob, n_bins),
        importance=importance,
        eval_predictions=pd.Series(prob, index=evaluate.index, name="churn_probability"),
    )
