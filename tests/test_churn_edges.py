"""The churn building blocks at their edges, on examples worked out by hand: the horizon's last day, the
default horizon, probabilities outside [0, 1], a single observation, equal band thresholds, nullable
input, ties between candidate models, and the shape of what each function returns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from orchestration.analytics.churn import (
    calibration_table,
    churn_labels,
    churn_metrics,
    compare_churn_models,
    rfm_features,
    train_churn_classifier,
)


def test_the_default_horizon_is_90_days_and_its_last_day_counts():
    """Cutoff 31 March 2024 (read as that day): the horizon is 1 April to 29 June inclusive."""
    orders = pd.DataFrame(
        {
            "customer": ["a", "a", "b", "b", "c", "d"],
            "at": pd.to_datetime(
                [
                    "2024-01-10 09:00",
                    "2024-06-29 23:00",  # day 90 after the cutoff: in the horizon, a is not churned
                    "2024-01-10 09:00",
                    "2024-06-30 00:30",  # day 91: too late, b is churned
                    "2024-03-31 22:00",  # on the cutoff day: c is known, and buys nothing after
                    "2024-04-01 08:00",  # d's first purchase is after the cutoff: not labelled
                ]
            ),
        }
    )
    labels = churn_labels(orders, "customer", "at", "2024-03-31 15:00")
    assert list(labels.columns) == ["customer", "churned"]
    assert labels.set_index("customer")["churned"].to_dict() == {"a": 0, "b": 1, "c": 1}
    assert pd.api.types.is_integer_dtype(labels["churned"])


def test_probabilities_outside_zero_and_one_are_clipped():
    # Clipped to 0 and 1, both predictions are exactly right: no Brier error, no calibration error.
    metrics = churn_metrics([0, 1], [-0.5, 1.5])
    assert metrics["brier"] == 0.0
    assert metrics["ece"] == 0.0
    assert metrics["auc"] == 1.0


def test_metrics_of_a_single_observation_and_of_none():
    # One churner scored 0.25: Brier (0.25 − 1)² = 0.5625, ECE |0.25 − 1| = 0.75, AUC undefined.
    one = churn_metrics([1], [0.25])
    assert one["brier"] == pytest.approx(0.5625)
    assert one["ece"] == pytest.approx(0.75)
    assert math.isnan(one["auc"])
    assert one["base_rate"] == 1.0
    assert one["n"] == 1
    none = churn_metrics([], [])
    assert math.isnan(none["brier"])
    assert math.isnan(none["base_rate"])
    assert none["n"] == 0


def test_calibration_bins_are_integers_from_low_to_high_risk():
    # Scores given highest first: the table still lists bin 1 (the lowest predictions) first.
    table = calibration_table([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], n_bins=2)
    assert table["bin"].tolist() == [1, 2]
    assert pd.api.types.is_integer_dtype(table["bin"])
    np.testing.assert_allclose(table["mean_predicted"], [0.15, 0.85])
    np.testing.assert_allclose(table["observed_rate"], [0.0, 1.0])
    # A single score is the whole top bin: rank 1 of 1 is in bin ceil(1 · 10 / 1) = 10.
    assert calibration_table([0], [0.3])["bin"].tolist() == [10]


def test_model_comparison_passes_the_bins_on_and_keeps_the_order_of_ties():
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.8, 0.9]
    best, table = compare_churn_models(labels, {"first": scores, "second": list(scores)}, n_bins=2)
    assert best == "first"
    assert table["model"].tolist() == ["first", "second"]
    assert list(table.columns) == ["model", "auc", "brier", "ece", "base_rate", "n"]
    assert table.index.tolist() == [0, 1]
    # Two bins of the hand-worked example of test_churn.py: ECE = (3 · 0.05 + 3 · 1/6) / 6.
    assert table["ece"].tolist() == pytest.approx([(0.15 + 0.5) / 6] * 2)
    with pytest.raises(ValueError, match="at least one candidate"):
        compare_churn_models(labels, {})


def _rfm_example() -> pd.DataFrame:
    """Two customers; the cutoff is 31 December 2024 at 08:00, read as the whole day."""
    return pd.DataFrame(
        {
            "customer_id": ["x", "x", "x", "x", "x", "y"],
            "ordered_at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",
                    "2024-10-02 00:00",
                    "2024-12-31 23:00",
                    "2025-01-01 00:00",
                    "2024-06-30 12:00",
                ]
            ),
            "revenue": [10.0, 5.0, 20.0, 7.0, 100.0, 50.0],
        }
    )


def test_rfm_features_at_the_edges_of_their_windows():
    features = rfm_features(_rfm_example(), "customer_id", "ordered_at", "revenue", "2024-12-31 08:00")
    # x: purchase days 1 Jan (10 + 5), 2 Oct (20) and 31 Dec (7, later that day than the cutoff's time,
    # but the cutoff is a whole day); 1 Jan 2025 is after it. 2024 is a leap year: 1 Jan to 31 Dec is
    # 365 days. 2 Oct is exactly 90 days before 31 Dec and 1 Jan exactly 365: windows start after them.
    x = features.loc["x"].to_dict()
    assert x == {
        "n_orders": 3, "tenure_days": 365, "recency_days": 365, "days_since_last_order": 0,
        "total_value": 42, "mean_order_value": 14, "orders_last_90d": 1, "orders_last_365d": 2,
        "value_last_365d": 27, "mean_days_between_orders": 182.5,
    }  # fmt: skip
    # y: one purchase on 30 June, 184 days before the cutoff.
    y = features.loc["y"]
    assert (y["n_orders"], y["tenure_days"], y["recency_days"], y["days_since_last_order"]) == (
        1,
        184,
        0,
        184,
    )
    assert (y["total_value"], y["mean_order_value"], y["value_last_365d"]) == (50, 50, 50)
    assert (y["orders_last_90d"], y["orders_last_365d"]) == (0, 1)
    assert math.isnan(y["mean_days_between_orders"])
    assert list(features.index) == ["x", "y"]
    assert (features.dtypes == "float64").all()


def test_rfm_features_without_values_count_purchases_only():
    example = _rfm_example()
    example.loc[1, "revenue"] = np.nan  # a missing value on a day with another purchase is skipped
    with_gap = rfm_features(example, "customer_id", "ordered_at", "revenue", "2024-12-31")
    assert with_gap.loc["x", "total_value"] == 37
    assert with_gap.loc["x", "mean_order_value"] == pytest.approx(37 / 3)
    counted = rfm_features(example, "customer_id", "ordered_at", None, "2024-12-31")
    values = ["total_value", "mean_order_value", "value_last_365d"]
    assert counted[values].isna().all().all()
    others = [c for c in counted.columns if c not in values]
    pd.testing.assert_frame_equal(counted[others], with_gap[others])


def _logistic_example() -> pd.DataFrame:
    """Two cutoffs of 40 customers: ``gap`` is missing for a quarter of them and skewed (its median is not
    its mean), ``orders`` a count; churn is likelier with a long gap and few orders."""
    rng = np.random.default_rng(7)
    n = 40
    frames = []
    for cutoff in ("2024-06-30", "2024-12-31"):
        gap = rng.exponential(30.0, n) ** 1.5
        orders = rng.integers(1, 9, n).astype(float)
        churned = (rng.random(n) < 1 / (1 + np.exp(-(gap / 150 - orders / 3)))).astype(int)
        gap[rng.random(n) < 0.25] = np.nan
        frames.append(pd.DataFrame({"cutoff": cutoff, "gap": gap, "orders": orders, "churned": churned}))
    return pd.concat(frames, ignore_index=True)


def _logistic_by_hand(train: pd.DataFrame, evaluate: pd.DataFrame) -> np.ndarray:
    """The documented recipe written out: the training rows' medians fill the gaps, each feature is scaled
    by the training rows' mean and (population) standard deviation, then scikit-learn's logistic regression."""
    from sklearn.linear_model import LogisticRegression

    columns = ["gap", "orders"]
    medians = train[columns].median()
    fit = train[columns].fillna(medians)
    mean, std = fit.mean(), fit.std(ddof=0)
    model = LogisticRegression(max_iter=2000).fit(((fit - mean) / std).to_numpy(), train["churned"])
    scaled = (evaluate[columns].fillna(medians) - mean) / std
    return model.predict_proba(scaled.to_numpy())[:, 1]


def test_the_logistic_model_imputes_medians_and_scales_before_the_regression():
    features = _logistic_example()
    result = train_churn_classifier(features, model="logistic", refit=False, importance_repeats=1)
    train, evaluate = (
        features[features["cutoff"] == "2024-06-30"],
        features[features["cutoff"] == "2024-12-31"],
    )
    assert result.feature_cols == ["gap", "orders"]
    assert result.eval_predictions.to_numpy() == pytest.approx(_logistic_by_hand(train, evaluate), abs=1e-9)


def test_training_on_a_sample_uses_distinct_rows():
    """With room for all training rows but one, the model is the hand-made one fitted without exactly one of
    them (a sample drawn with replacement would repeat rows and match none)."""
    features = _logistic_example()
    train, evaluate = (
        features[features["cutoff"] == "2024-06-30"],
        features[features["cutoff"] == "2024-12-31"],
    )
    result = train_churn_classifier(
        features, model="logistic", refit=False, importance_repeats=1, max_train_rows=len(train) - 1
    )
    got = result.eval_predictions.to_numpy()
    matches = [
        j
        for j in range(len(train))
        if np.allclose(_logistic_by_hand(train.drop(index=train.index[j]), evaluate), got, rtol=0, atol=1e-9)
    ]
    assert len(matches) == 1


def test_an_unknown_model_and_no_candidates_are_refused_with_their_message():
    with pytest.raises(ValueError, match=r"^model must be 'hgb' or 'logistic'$"):
        train_churn_classifier(_logistic_example(), model="forest")
    with pytest.raises(ValueError, match=r"^compare_churn_models needs at least one candidate$"):
        compare_churn_models([0, 1], {})


def test_model_comparison_and_metrics_score_calibration_over_deciles_by_default():
    """20 predictions (2i - 1) / 40 with labels 0, 1 alternating: each decile holds two of them, observed
    rate 1/2 and mean prediction (2k - 1) / 20, so ECE = sum_k 2 |(2k - 1) / 20 - 1/2| / 20 = 0.25
    (eleven bins would group them differently)."""
    prob = [(2 * i - 1) / 40 for i in range(1, 21)]
    labels = [i % 2 for i in range(20)]
    _, table = compare_churn_models(labels, {"only": prob})
    assert table["ece"].iloc[0] == pytest.approx(0.25)
    assert churn_metrics(labels, prob)["ece"] == pytest.approx(0.25)
