"""Churn bands relative to the customer's own rhythm, and discounted CLV over 3, 12 and 36 months (issue 15,
items 4 and 5): checked against the generator's truth of who dropped out, and against hand-worked figures."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from pipeline_fixtures import Pipeline, built_pipeline, private_copy, query, run_dbt
from sklearn.metrics import roc_auc_score
from support.scoring import customer_persons

from orchestration.analytics.customer_models import (
    ORDERS_QUERY,
    PIPELINE_SETTINGS,
    monthly_discount_rate,
    predict_customers,
)
from orchestration.warehouse import replace_table


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return built_pipeline(tmp_path_factory)


def _predict(pipeline: Pipeline, **options) -> pd.DataFrame:
    orders = query(pipeline, ORDERS_QUERY)
    predictions, _quality, _model, _messages = predict_customers(
        orders, orders["ordered_at"].max(), **PIPELINE_SETTINGS.predict_arguments(), **options
    )
    return predictions.set_index("customer_id")


@pytest.fixture(scope="module")
def scored(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The pipeline's predictions with each customer's true state at the end (alive or dropped out) and the
    band dbt gives each (``warehouse_churn_band``) once they are written to a copy of the warehouse."""
    predictions = _predict(pipeline)
    own = private_copy(pipeline, tmp_path_factory.mktemp("bands"))
    with duckdb.connect(str(own.warehouse)) as con:
        replace_table(con, "ml", "customer_predictions", predictions.reset_index())
    run_dbt(own, "build", "--select", "stg_ml__customer_predictions", "customer_360")
    bands = query(own, "select customer_id, churn_band, churn_risk_relative from marts.customer_360")
    identity = query(pipeline, "select source, source_id, customer_id from marts.customer_identity_map")
    person_of = customer_persons(identity, pd.read_csv(pipeline.truth / "identity.csv", dtype=str))
    persons = pd.read_csv(pipeline.truth / "persons.csv", dtype={"person_id": str}).set_index("person_id")
    alive = persons["is_alive_at_end"].astype(str).str.lower().eq("true")
    predictions["alive"] = predictions.index.map(person_of).map(alive)
    predictions = predictions.join(bands.set_index("customer_id").add_prefix("warehouse_"))
    return predictions.dropna(subset=["alive"])


def test_monthly_discount_rate_of_ten_percent_a_year():
    # 1.1 ** (1 / 12) = exp(ln 1.1 / 12) = exp(0.0953102 / 12) = exp(0.00794252) = 1.00797414
    assert monthly_discount_rate(0.10) == pytest.approx(0.00797414, abs=1e-8)
    assert monthly_discount_rate(0.0) == 0.0
    # Twelve months at the monthly rate give back the annual one.
    assert (1 + monthly_discount_rate(0.25)) ** 12 == pytest.approx(1.25)
    with pytest.raises(ValueError, match="fraction"):
        monthly_discount_rate(10)


def test_relative_risk_singles_out_the_customers_who_really_left(scored: pd.DataFrame) -> None:
    """The generator knows who dropped out. Against that truth, the risk relative to each customer's own
    rhythm ranks the dropped-out far better than the absolute P(no order in 90 days), which is high for
    every customer who orders a few times a year."""
    gone = ~scored["alive"].astype(bool)
    relative = roc_auc_score(gone, scored["churn_risk_relative"])
    absolute = roc_auc_score(gone, scored["churn_risk"])
    print(f"AUC for dropped out: relative {relative:.3f}, absolute {absolute:.3f}")
    assert relative >= 0.75
    assert relative >= absolute + 0.05

    bands = scored.groupby("warehouse_churn_band")["alive"].agg(["size", "mean"])
    print(bands)
    # "high" is mostly people who left; "low" mostly people still buying.
    assert bands.loc["high", "mean"] <= 0.5
    assert bands.loc["low", "mean"] >= 0.75
    assert bands.loc["low", "mean"] - bands.loc["high", "mean"] >= 0.4
    # Not everyone is "high" any more (the absolute band put 84 % of the demo there).
    assert bands.loc["high", "size"] <= 0.6 * len(scored)


def test_the_warehouse_bands_cut_the_relative_risk_at_0_3_and_0_7(scored: pd.DataFrame) -> None:
    # What dbt read back is what was written.
    np.testing.assert_allclose(
        scored["warehouse_churn_risk_relative"], scored["churn_risk_relative"], atol=1e-9
    )
    risk = scored["warehouse_churn_risk_relative"]
    assert risk.between(0, 1).all()
    expected = np.where(risk < 0.3, "low", np.where(risk >= 0.7, "high", "medium"))
    assert (scored["warehouse_churn_band"].astype(str).to_numpy() == expected).all()


def test_relative_risk_is_one_minus_probability_alive_for_the_bgnbd_score(pipeline: Pipeline) -> None:
    """P(none in t) = 1 − P(alive)·(1 − P(none in t | alive)) (Fader, Hardie & Lee 2005), so measured
    against the rhythm of a customer still alive, BG/NBD's own churn score leaves exactly 1 − P(alive)."""
    predictions = _predict(pipeline, churn_classifier=None)
    bgnbd = predictions[predictions["churn_model"] == "bgnbd_no_purchase"]
    assert len(bgnbd) == len(predictions)
    np.testing.assert_allclose(bgnbd["churn_risk_relative"], 1 - bgnbd["probability_alive"], atol=1e-9)


def test_clv_horizons_are_discounted_month_by_month(pipeline: Pipeline, scored: pd.DataFrame) -> None:
    """clv_Hm = Σ_m expected order value × expected purchases in month m / (1 + monthly)^m, with the
    monthly rate of the annual one: undiscounted, the 12-month value is expected purchases in 365 days ×
    expected order value; discounting at 10 % a year costs between 0 % and 8 % of it."""
    assert (scored["clv_annual_discount_rate"] == 0.10).all()
    assert (scored["clv_3m"] <= scored["clv_12m"] + 1e-9).all()
    assert (scored["clv_12m"] <= scored["clv_36m"] + 1e-9).all()

    flat = _predict(pipeline, annual_discount_rate=0.0, churn_classifier=None)
    # Undiscounted, the monthly sum telescopes: 12 months of 4.345 weeks are 365 days of purchases.
    np.testing.assert_allclose(
        flat["clv_12m"], flat["expected_purchases_365d"] * flat["expected_order_value"], rtol=2e-4
    )
    ratio = (scored["clv_12m"] / flat.loc[scored.index, "clv_12m"]).dropna()
    # Purchases spread over the year: the mean discount factor lies between month 1's and month 12's.
    month_1, month_12 = 1 / (1 + monthly_discount_rate(0.1)), 1 / 1.1
    assert ratio.between(month_12 - 1e-9, month_1 + 1e-9).all()
    # For a customer buying at a constant rate the factor is the mean over the 12 months (0.9500:
    # 1.1 ** (-6.5 / 12) = 0.9497 at the mean month, a little more for the mean of the convex factors);
    # purchases slow down as customers drop out, so the real factor is a little above it.
    constant_rate = np.mean([(1 + monthly_discount_rate(0.1)) ** -m for m in range(1, 13)])
    assert constant_rate == pytest.approx(0.9500, abs=1e-4)
    assert ratio.median() == pytest.approx(constant_rate, abs=0.01)


def test_the_pipeline_chooses_bgnbd_on_data_the_generator_simulates_with_bgnbd(pipeline: Pipeline) -> None:
    """The generator draws purchases from BG/NBD: the automatic choice (the pipeline's default) must keep
    it, record both candidates' holdout error, and predict with it."""
    orders = query(pipeline, ORDERS_QUERY)
    _predictions, quality, model, messages = predict_customers(
        orders, orders["ordered_at"].max(), **PIPELINE_SETTINGS.predict_arguments(), churn_classifier=None
    )
    assert model.purchase_model == "bgnbd"
    choice = quality[quality["metric"] == "model_choice"].set_index("model")["value"]
    assert choice.to_dict() == {"bgnbd": 1.0, "pareto_nbd": 0.0}
    mae = quality[quality["metric"] == "holdout_mae"].set_index("model")["value"]
    assert mae["bgnbd"] <= mae["pareto_nbd"]
    assert any(m.startswith("Purchase model = bgnbd") for m in messages)
    # Fixing the model skips the comparison.
    _, fixed_quality, fixed, _ = predict_customers(
        orders, orders["ordered_at"].max(), **PIPELINE_SETTINGS.predict_arguments(), churn_classifier=None,
        purchase_model="pareto_nbd",
    )  # fmt: skip
    assert fixed.purchase_model == "pareto_nbd"
    assert "model_choice" not in set(fixed_quality["metric"])
