"""Churn: labels, RFM features, the time-split classifier, model choice and bands."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from orchestration.analytics.churn import (
    RFM_FEATURES,
    calibration_table,
    churn_labels,
    churn_metrics,
    compare_churn_models,
    rfm_features,
    train_churn_classifier,
)
from orchestration.analytics.clv_simulation import simulate_transactions
from orchestration.analytics.customer_models import predict_customers

END = pd.Timestamp("2024-12-31")


@pytest.fixture
def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c", "d"],
            "ordered_at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",
                    "2024-03-01 00:00",
                    "2024-02-15 00:00",
                    "2024-06-01 00:00",
                    "2024-03-31 12:00",
                    "2024-04-02 00:00",
                ]
            ),
            "revenue": [10.0, 5.0, 30.0, 20.0, 40.0, 8.0, 99.0],
        }
    )


def test_churn_labels_mark_customers_without_a_purchase_in_the_horizon(orders):
    labels = churn_labels(orders, "customer_id", "ordered_at", "2024-03-31", horizon_days=90)
    # d first bought after the cutoff: not labelled. b bought again on 06-01 (62 days later); c's only
    # purchase is on the cutoff day itself, which belongs to the past.
    assert labels.set_index("customer_id")["churned"].to_dict() == {"a": 1, "b": 0, "c": 1}
    short = churn_labels(orders, "customer_id", "ordered_at", "2024-03-31", horizon_days=60)
    assert short.set_index("customer_id")["churned"].to_dict() == {"a": 1, "b": 1, "c": 1}


def test_rfm_features_at_a_cutoff(orders):
    features = rfm_features(orders, "customer_id", "ordered_at", "revenue", "2024-03-31")
    assert list(features.columns) == RFM_FEATURES
    a = features.loc["a"]
    # Two orders on 01-01 are one purchase day worth 15; the second day is 03-01 (60 days later).
    assert a["n_orders"] == 2
    assert a["recency_days"] == 60
    assert a["tenure_days"] == 90
    assert a["days_since_last_order"] == 30
    assert a["total_value"] == 45
    assert a["mean_order_value"] == 22.5
    assert a["orders_last_90d"] == 1
    assert a["orders_last_365d"] == 2
    assert a["mean_days_between_orders"] == 60
    assert math.isnan(features.loc["c", "mean_days_between_orders"])
    assert "d" not in features.index  # not a customer yet at the cutoff


def _pairwise_auc(labels, scores) -> float:
    """AUC as the share of (churned, stayed) pairs the score ranks correctly, ties half (Mann-Whitney's U
    from mid-ranks): computed here without scikit-learn, which the code under test calls."""
    y = np.asarray(labels, dtype=bool)
    ranks = rankdata(np.asarray(scores, dtype=float))  # ties get the mean of their ranks
    n_pos, n_neg = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_metrics_of_a_hand_worked_example():
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.8, 0.9]
    metrics = churn_metrics(labels, scores)
    # AUC: 3 churned x 3 stayed = 9 pairs. Churned 0.35 beats 0.1 only (1); churned 0.8 beats 0.1 and 0.4
    # and ties the stayed 0.8 (2.5); churned 0.9 beats all three (3). (1 + 2.5 + 3) / 9 = 6.5 / 9.
    assert metrics["auc"] == pytest.approx(6.5 / 9, abs=1e-12)
    assert _pairwise_auc(labels, scores) == pytest.approx(6.5 / 9, abs=1e-12)
    # Brier: (0.1² + 0.4² + 0.65² + 0.8² + 0.2² + 0.1²) / 6 = (0.01 + 0.16 + 0.4225 + 0.64 + 0.04 + 0.01) / 6.
    assert metrics["brier"] == pytest.approx(1.2825 / 6, abs=1e-12)
    assert metrics["base_rate"] == 0.5
    assert metrics["n"] == 6
    # Ten bins for six scores: one score a bin, so ECE is the mean |score − label|:
    # (0.1 + 0.4 + 0.65 + 0.8 + 0.2 + 0.1) / 6 = 2.25 / 6.
    assert metrics["ece"] == pytest.approx(2.25 / 6, abs=1e-12)
    # Two bins by rank (the tied 0.8s split by position): {0.1, 0.35, 0.4} predicts 0.85/3 and holds one
    # churner (1/3), {0.8, 0.8, 0.9} predicts 2.5/3 and holds two (2/3): ECE = (3·0.05 + 3·(1/6)) / 6.
    assert churn_metrics(labels, scores, n_bins=2)["ece"] == pytest.approx((0.15 + 0.5) / 6, abs=1e-12)
    table = calibration_table(labels, scores, n_bins=2)
    assert table["n"].tolist() == [3, 3]
    np.testing.assert_allclose(table["mean_predicted"], [0.85 / 3, 2.5 / 3])
    np.testing.assert_allclose(table["observed_rate"], [1 / 3, 2 / 3])


def test_calibration_and_metrics_of_a_calibrated_score():
    rng = np.random.default_rng(0)
    prob = rng.uniform(size=50_000)
    y = (rng.uniform(size=prob.size) < prob).astype(int)
    metrics = churn_metrics(y, prob)
    # With p ~ U(0, 1) and y ~ Bernoulli(p), churners' scores have density 2p and the others' 2(1 − p):
    # AUC = ∫∫_{p>q} 2p · 2(1 − q) dq dp = 4 ∫ p (p − p²/2) dp = 4 (1/3 − 1/8) = 5/6 (standard error ~0.002).
    assert metrics["auc"] == pytest.approx(5 / 6, abs=0.01)
    assert metrics["auc"] == pytest.approx(_pairwise_auc(y, prob), abs=1e-9)
    # Brier of a calibrated uniform score: E[p(1 − p)] = 1/2 − 1/3 = 1/6.
    assert metrics["brier"] == pytest.approx(1 / 6, abs=0.005)
    assert metrics["ece"] < 0.02
    assert metrics["n"] == 50_000
    table = calibration_table(y, prob)
    assert len(table) == 10
    assert table["n"].sum() == 50_000
    np.testing.assert_allclose(table["observed_rate"], table["mean_predicted"], atol=0.03)
    # A score that is right in rank but badly calibrated keeps its AUC and loses on ECE.
    squashed = churn_metrics(y, prob**3)
    assert squashed["auc"] == pytest.approx(metrics["auc"])
    assert squashed["ece"] > 0.15
    assert math.isnan(churn_metrics(np.zeros(10, dtype=int), prob[:10])["auc"])


def test_compare_churn_models_keeps_the_best_auc():
    rng = np.random.default_rng(1)
    signal = rng.normal(size=5000)
    y = (rng.uniform(size=signal.size) < 1 / (1 + np.exp(-2 * signal))).astype(int)
    best, table = compare_churn_models(
        y,
        {
            "noise": rng.uniform(size=signal.size),
            "good": 1 / (1 + np.exp(-2 * signal)),
            "weak": 1 / (1 + np.exp(-(signal + rng.normal(scale=2, size=signal.size)))),
        },
    )
    assert best == "good"
    assert table["model"].tolist() == ["good", "weak", "noise"]
    assert table["auc"].is_monotonic_decreasing


def _labelled_cutoffs(seed: int, n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for cutoff in pd.to_datetime(["2024-06-30", "2024-09-30"]):
        signal = rng.normal(size=n)
        frames.append(
            pd.DataFrame(
                {
                    "cutoff": cutoff,
                    "signal": signal,
                    "noise": rng.normal(size=n),
                    "flag": rng.uniform(size=n) < 0.5,
                    "churned": (rng.uniform(size=n) < 1 / (1 + np.exp(-2.5 * signal))).astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("kind", ["hgb", "logistic"])
def test_classifier_trains_on_the_past_and_is_scored_on_the_latest_cutoff(kind):
    features = _labelled_cutoffs(seed=2)
    result = train_churn_classifier(features, "churned", ["signal", "noise", "flag"], model=kind)
    assert result.eval_cutoff == pd.Timestamp("2024-09-30")
    assert result.train_cutoffs == [pd.Timestamp("2024-06-30")]
    assert result.n_train == result.n_eval == 4000
    assert (result.eval_predictions.index == features.index[features["cutoff"] == result.eval_cutoff]).all()
    # The best possible AUC here is about 0.87 (logit 2.5·signal).
    assert result.auc > 0.8
    assert result.ece < 0.05
    assert result.importance["feature"].iloc[0] == "signal"
    assert result.importance.set_index("feature").loc["signal", "importance_mean"] > 0.2
    assert abs(result.importance.set_index("feature").loc["noise", "importance_mean"]) < 0.02
    assert len(result.calibration) == 10
    scores = result.predict(features.iloc[:5])
    assert scores.between(0, 1).all()
    assert list(scores.index) == list(range(5))


@pytest.mark.parametrize("kind", ["hgb", "logistic"])
def test_a_feature_never_observed_is_left_out_instead_of_failing_the_classifier(kind):
    # A shop without reviews: the review feature is empty at every cutoff (gradient boosting cannot bin it).
    features = _labelled_cutoffs(seed=4, n=1000).assign(mean_review_score=np.nan)
    result = train_churn_classifier(features, "churned", model=kind)
    assert result.feature_cols == ["signal", "noise", "flag"]
    assert result.auc > 0.8
    assert result.predict(features.iloc[:3]).between(0, 1).all()


def test_classifier_input_errors():
    features = _labelled_cutoffs(seed=3, n=300)
    with pytest.raises(ValueError, match="at least two values"):
        train_churn_classifier(features.loc[features["cutoff"] == features["cutoff"].max()], "churned")
    with pytest.raises(ValueError, match="numeric or boolean"):
        train_churn_classifier(features.assign(segment="vip"), "churned")
    with pytest.raises(ValueError, match="single churn class"):
        train_churn_classifier(features.assign(churned=1), "churned")


def test_engagement_features_let_the_classifier_win():
    transactions, truth = simulate_transactions(
        8000,
        r=0.6,
        alpha=10.0,
        a=0.8,
        b=3.0,
        p=4.0,
        q=5.0,
        v=100.0,
        observation_end=END,
        history_days=1095,
        seed=5,
    )
    # An engagement signal that sees the latent state: sessions only for customers still alive at the end
    # (so alive at every earlier cutoff too), in proportion to their purchase rate. BG/NBD cannot see it.
    rng = np.random.default_rng(6)
    sessions = rng.poisson(40 * truth["lam"].to_numpy() * truth["alive"].to_numpy())
    engagement = pd.concat(
        [
            pd.DataFrame({"customer_id": truth.index, "as_of": as_of, "web_sessions_30d": sessions})
            for as_of in (END - pd.Timedelta(days=180), END - pd.Timedelta(days=90), END)
        ]
    )
    predictions, quality, _, messages = predict_customers(
        transactions, END, features=engagement, computed_at="2025-01-01", random_state=0
    )
    auc = quality.loc[quality["metric"].eq("auc") & quality["segment"].eq("all")].set_index("model")["value"]
    assert auc["churn_classifier"] > auc["churn_bgnbd_no_purchase"] + 0.02
    assert auc["churn_risk"] == auc["churn_classifier"]
    assert (predictions["churn_model"] == "classifier").all()
    importance = quality.loc[quality["metric"] == "permutation_importance"].set_index("segment")["value"]
    assert importance.idxmax() == "feature=web_sessions_30d"
    # Customers the signal marks as gone should mostly land in the high band, those alive mostly in low
    # (the bands are relative to each customer's rhythm: measured 72 % and 81 %; banding the absolute
    # risk put 97 % of the gone but also 68 % of the alive in "high").
    scored = predictions.set_index("customer_id").join(truth[["alive"]])
    # (The bands are cut in dbt at 0.3 and 0.7 of churn_risk_relative, var churn_band_thresholds.)
    assert (scored.loc[~scored["alive"], "churn_risk_relative"] >= 0.7).mean() > 0.65
    assert (scored.loc[scored["alive"], "churn_risk_relative"] >= 0.7).mean() < 0.1
    assert (scored.loc[scored["alive"], "churn_risk_relative"] < 0.3).mean() > 0.75
    assert any(m.startswith("Churn risk = classifier") for m in messages)


def test_bgnbd_scores_are_kept_when_there_is_no_classifier():
    horizon = 90
    # Simulate 90 days past the cutoff, then hide them: the hidden days say who really bought again.
    transactions, _ = simulate_transactions(
        4000,
        r=0.6,
        alpha=10.0,
        a=0.8,
        b=3.0,
        p=4.0,
        q=5.0,
        v=100.0,
        observation_end=END + pd.Timedelta(days=horizon),
        history_days=1095 + horizon,
        seed=7,
    )
    first = transactions.groupby("customer_id")["ordered_at"].min()
    known = transactions["customer_id"].isin(first.index[first <= END])
    past = transactions.loc[known & (transactions["ordered_at"] <= END)]
    bought_again = set(transactions.loc[known & (transactions["ordered_at"] > END), "customer_id"])
    predictions, quality, model, _ = predict_customers(
        past, END, churn_classifier=None, min_repeat_customers=100, computed_at="2025-01-01"
    )
    models = set(quality.loc[quality["metric"] == "auc", "model"])
    assert models == {"churn_bgnbd_alive", "churn_bgnbd_no_purchase", "churn_risk"}
    scored = predictions.set_index("customer_id")
    assert len(scored) == first.le(END).sum()

    # Fader, Hardie & Lee (2005), equation (11) and the BG/NBD no-purchase probability, written out here
    # (time in weeks): P(alive) = 1 / (1 + [x > 0] · a / (b + x − 1) · ((α + T) / (α + t_x))^(r + x)),
    # P(no purchase in h) = 1 − P(alive) · (1 − ((α + T) / (α + T + h))^(r + x)).
    r, alpha, a, b = (model.params[k] for k in ("r", "alpha", "a", "b"))
    x, t_x, big_t = scored["frequency"], scored["recency"], scored["T"]
    odds_dead = np.where(
        x > 0, a / (b + x - 1).where(x > 0, 1.0) * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0
    )
    p_alive = 1 / (1 + odds_dead)
    p_no_purchase = 1 - p_alive * (1 - ((alpha + big_t) / (alpha + big_t + horizon / 7)) ** (r + x))
    np.testing.assert_allclose(scored["probability_alive"], p_alive, rtol=1e-9)
    chosen = scored["churn_model"].iloc[0]
    assert chosen in ("bgnbd_alive", "bgnbd_no_purchase")
    expected = 1 - p_alive if chosen == "bgnbd_alive" else p_no_purchase
    np.testing.assert_allclose(scored["churn_risk"], expected, rtol=1e-9)

    # Against what the hidden 90 days say: the no-purchase probability is calibrated on average (the data
    # are BG/NBD's own story) and the churn risk ranks the customers who did not come back first.
    no_purchase = ~scored.index.isin(bought_again)
    assert p_no_purchase.mean() == pytest.approx(no_purchase.mean(), abs=0.03)
    assert _pairwise_auc(no_purchase, scored["churn_risk"]) > 0.75
