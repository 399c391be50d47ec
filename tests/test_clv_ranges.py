"""Prediction ranges, their holdout coverage, Pareto/NBD and the automatic model choice."""

from __future__ import annotations

import json
import math
import time
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.datasets import load_cdnow_summary, load_cdnow_summary_data_with_monetary_value
from lifetimes.utils import ConvergenceError
from scipy import stats

from orchestration.analytics import clv as clv_module
from orchestration.analytics.clv import (
    ClvFitError,
    ClvModel,
    calibration_and_holdout_summary,
    choose_purchase_model,
    fit_clv,
)
from orchestration.analytics.clv import fit as fit_module
from orchestration.analytics.clv.fit import _finite_params, _gamma_gamma_check, _holdout_errors
from orchestration.analytics.clv_simulation import simulate_transactions
from orchestration.analytics.customer_models import predict_customers
from orchestration.analytics.validation import (
    holdout_metrics,
    holdout_predictions,
    interval_metrics,
    model_choice_quality,
    quality_ok,
)

# Fader, Hardie & Lee (2005) "A note on implementing the Pareto/NBD model in MATLAB" (note 008), CDNOW
# 1/10 sample, weeks: r 0.553, α 10.578, s 0.606, β 11.669, log-likelihood −9,595.0.
PUBLISHED_PARETO_NBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
PUBLISHED_PARETO_LOG_LIKELIHOOD = -9595.0

DATASETS = files("lifetimes") / "datasets"
SIM_TRUTH = {"r": 0.8, "alpha": 8.0, "a": 1.0, "b": 3.0}
SIM_VALUE = {"p": 4.0, "q": 5.0, "v": 100.0}
SIM_END = pd.Timestamp("2024-12-31")
# Parameters chosen by hand (weeks) for the tests that need a model without fitting one.
HAND_BGNBD = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
HAND_GG = {"p": 6.0, "q": 4.0, "v": 15.0}


def _lifetimes_bgnbd(params: dict) -> BetaGeoFitter:
    """lifetimes' own BG/NBD with ``params`` set (no fit)."""
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series({k: params[k] for k in ("r", "alpha", "a", "b")})
    return fitter


def _holdout_frame(summary: pd.DataFrame, frequency_holdout, duration: float = 39.0) -> pd.DataFrame:
    """A calibration/holdout frame whose calibration period is ``summary`` (its ``frequency, recency, T``),
    with the holdout purchases and length given."""
    return (
        summary[["frequency", "recency", "T"]]
        .add_suffix("_cal")
        .assign(frequency_holdout=frequency_holdout, duration_holdout=duration)
    )


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_summary_data_with_monetary_value()


@pytest.fixture(scope="module")
def bgnbd_model(cdnow) -> ClvModel:
    return fit_clv(cdnow)


@pytest.fixture(scope="module")
def pareto_model(cdnow) -> ClvModel:
    return fit_clv(cdnow, model="pareto_nbd")


def _rows(model: ClvModel, summary: pd.DataFrame) -> pd.DataFrame:
    """A handful of contrasting customers: one-timers young and old, heavy buyers, lapsed buyers."""
    picks = [
        summary.index[(summary["frequency"] == 0)][0],
        summary.sort_values("frequency").index[-1],
        summary.index[(summary["frequency"] >= 3) & (summary["recency"] < 0.3 * summary["T"])][0],
        summary.index[(summary["frequency"] == 1) & (summary["recency"] > 0.8 * summary["T"])][0],
        summary.index[(summary["frequency"] == 2)][5],
    ]
    return summary.loc[picks]


# --- Pareto/NBD -----------------------------------------------------------------------------------------


def test_pareto_nbd_reproduces_the_published_cdnow_fit():
    model = fit_clv(load_cdnow_summary(index_col=[0]), model="pareto_nbd")
    assert model.purchase_model == "pareto_nbd"
    errors = {k: model.params[k] / v - 1 for k, v in PUBLISHED_PARETO_NBD.items()}
    assert all(abs(e) < 0.005 for e in errors.values()), errors
    info = model.diagnostics["pareto_nbd"]
    assert info["converged"]
    assert info["n_customers"] == 2357
    assert info["log_likelihood"] == pytest.approx(PUBLISHED_PARETO_LOG_LIKELIHOOD, abs=0.5)
    assert "bgnbd" not in model.diagnostics


def test_pareto_nbd_predictions_match_lifetimes_and_the_note_028_pmf(pareto_model, cdnow):
    fitter = ParetoNBDFitter()
    fitter.params_ = pd.Series({k: pareto_model.params[k] for k in PUBLISHED_PARETO_NBD})
    x, t_x, big_t = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    np.testing.assert_allclose(
        pareto_model.expected_purchases(cdnow, 39),
        fitter.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, big_t),
        rtol=1e-10,
    )
    alive = pareto_model.probability_alive(cdnow)
    np.testing.assert_allclose(alive, fitter.conditional_probability_alive(x, t_x, big_t), rtol=1e-10)
    # Pareto/NBD, unlike BG/NBD: even a one-timer may have left.
    assert (alive[cdnow["frequency"] == 0] < 0.95).all()
    # P(no purchase in t) by quadrature against Fader & Hardie's closed-form conditional PMF at n = 0.
    rows = _rows(pareto_model, cdnow)
    for _, row in rows.iterrows():
        closed = fitter.conditional_probability_of_n_purchases_up_to_time(
            0, 13.0, row["frequency"], row["recency"], row["T"]
        )
        ours = pareto_model.probability_no_purchase(row.to_frame().T, 13.0).iloc[0]
        assert ours == pytest.approx(float(closed), abs=1e-6)


def test_pareto_nbd_pmf_equals_the_note_028_closed_form(pareto_model, cdnow):
    fitter = ParetoNBDFitter()
    fitter.params_ = pd.Series({k: pareto_model.params[k] for k in PUBLISHED_PARETO_NBD})
    rows = _rows(pareto_model, cdnow)
    x, _, big_t = (rows[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    p_alive = pareto_model.probability_alive(rows).to_numpy()
    pmfs = clv_module._pareto_alive_pmfs(pareto_model.params, x, big_t, 39.0)
    for n in range(6):
        ours = (1 - p_alive) * (n == 0) + p_alive * next(pmfs)
        for i, (_, row) in enumerate(rows.iterrows()):
            closed = fitter.conditional_probability_of_n_purchases_up_to_time(
                n, 39.0, row["frequency"], row["recency"], row["T"]
            )
            assert ours[i] == pytest.approx(float(closed), abs=2e-6), (n, row.to_dict())


def test_every_prediction_method_works_for_pareto_nbd(pareto_model, cdnow):
    wait = pareto_model.next_purchase_wait(cdnow)
    finite = np.isfinite(wait.to_numpy())
    assert 0 < finite.sum() < len(cdnow)
    # At the median wait the probability of having bought is exactly one half.
    at_wait = cdnow.loc[finite]
    no_buy = pareto_model.probability_no_purchase(at_wait, wait[finite].to_numpy())
    np.testing.assert_allclose(no_buy, 0.5, atol=1e-6)
    values = pareto_model.clv(cdnow)
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    ranges = pareto_model.purchase_interval(cdnow, 13)
    assert (ranges["low"] <= ranges["high"]).all()
    restored = ClvModel.from_dict(json.loads(json.dumps(pareto_model.to_dict())))
    assert restored.purchase_model == "pareto_nbd"
    np.testing.assert_allclose(
        restored.expected_purchases(cdnow, 13), pareto_model.expected_purchases(cdnow, 13)
    )


# --- purchase ranges ------------------------------------------------------------------------------------


def _brute_force_bgnbd_pmf(params, x, big_t, t, k):
    """P(min(N, G) = k | alive) by numerical integration over λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x).

    Both integrals are taken over the quantiles (midpoint rule on 4,000 × 4,000 probability points), with
    N ~ Poisson(λt) and G ~ Geometric(p) evaluated directly.
    """
    r, alpha, a, b = (params[c] for c in ("r", "alpha", "a", "b"))
    grid = (np.arange(4000) + 0.5) / 4000
    lam = stats.gamma.ppf(grid, r + x, scale=1 / (alpha + big_t))[:, None]
    p = stats.beta.ppf(grid, a, b + x)[None, :]
    count = stats.poisson(lam * t)
    if k == 0:
        inner = count.pmf(0) * np.ones_like(p)
    else:
        inner = count.pmf(k) * (1 - p) ** (k - 1) + p * (1 - p) ** (k - 1) * count.sf(k)
    return float(inner.mean())


def test_bgnbd_pmf_equals_brute_force_integration(bgnbd_model, cdnow):
    rows = _rows(bgnbd_model, cdnow).iloc[:4]
    x, _, big_t = (rows[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    pmfs = clv_module._bgnbd_alive_pmfs(bgnbd_model.params, x, big_t, 39.0)
    for k in range(4):
        ours = next(pmfs)
        for i in range(len(rows)):
            assert ours[i] == pytest.approx(
                _brute_force_bgnbd_pmf(bgnbd_model.params, x[i], big_t[i], 39.0, k), abs=2e-3
            ), (k, i)


@pytest.mark.parametrize("model_name", ["bgnbd", "pareto_nbd"])
def test_simulated_posterior_mean_equals_the_closed_form_expectation(
    model_name, bgnbd_model, pareto_model, cdnow
):
    model = bgnbd_model if model_name == "bgnbd" else pareto_model
    draws = model.sample_purchases(cdnow, 39, n_samples=4000, seed=3)
    expected = model.expected_purchases(cdnow, 39).to_numpy()
    standard_error = draws.std(axis=1) / np.sqrt(draws.shape[1])
    z = (draws.mean(axis=1) - expected) / np.where(standard_error > 0, standard_error, 1)
    assert np.abs(z).max() < 5  # 2,357 rows: a max |z| of 5 is a real discrepancy
    assert abs(z.mean()) < 0.1
    assert draws.mean() == pytest.approx(expected.mean(), rel=0.01)


@pytest.mark.parametrize("model_name", ["bgnbd", "pareto_nbd"])
def test_purchase_interval_is_the_central_range_of_the_simulated_posterior(
    model_name, bgnbd_model, pareto_model, cdnow
):
    model = bgnbd_model if model_name == "bgnbd" else pareto_model
    ranges = model.purchase_interval(cdnow, 39, level=0.8)
    assert list(ranges.columns) == ["low", "high"]
    assert ranges.index.equals(cdnow.index)
    assert ranges.dtypes.map(pd.api.types.is_integer_dtype).all()
    draws = model.sample_purchases(cdnow, 39, n_samples=4000, seed=5)
    low, high = ranges["low"].to_numpy()[:, None], ranges["high"].to_numpy()[:, None]
    below = (draws < low).mean(axis=1)
    above = (draws > high).mean(axis=1)
    tolerance = 4 * np.sqrt(0.1 * 0.9 / 4000)
    assert below.max() <= 0.1 + tolerance
    assert above.max() <= 0.1 + tolerance
    # Minimality: widening is not needed, narrowing by one at the top would leave more than 10 % above.
    above_minus_one = (draws > high - 1).mean(axis=1)[ranges["high"].to_numpy() > 0]
    assert above_minus_one.min() >= 0.1 - tolerance


def test_a_dead_looking_customer_gets_a_zero_range_and_an_active_one_does_not(bgnbd_model):
    summary = pd.DataFrame(
        {"frequency": [20.0, 20.0], "recency": [1.0, 70.0], "T": [70.0, 70.0]}, index=["gone", "active"]
    )
    ranges = bgnbd_model.purchase_interval(summary, 39)
    assert tuple(ranges.loc["gone"]) == (0, 0)
    assert ranges.loc["active", "high"] >= 5


def test_level_must_be_a_probability(bgnbd_model, cdnow):
    with pytest.raises(ValueError, match="level"):
        bgnbd_model.purchase_interval(cdnow, 39, level=80)


# --- value ranges ---------------------------------------------------------------------------------------


def test_value_interval_brackets_the_clv_and_covers_realised_holdout_spend(cdnow_master):
    holdout, model = holdout_predictions(
        cdnow_master, "customer_id", "date", "dollar_value", "1997-09-30", "1998-06-30"
    )
    summary = holdout.rename(columns=lambda c: c.removesuffix("_cal"))[
        ["frequency", "recency", "T", "monetary_value"]
    ]
    duration = float(holdout["duration_holdout"].iloc[0])
    # One "month" of exactly the holdout length, undiscounted: the range of the holdout spend.
    ranges = model.value_interval(summary, months=1, periods_per_month=duration, discount_rate=0.0)
    spend = holdout["actual_value"].to_numpy()
    inside = (spend >= ranges["low"].to_numpy() - 1e-9) & (spend <= ranges["high"].to_numpy() + 1e-9)
    assert 0.8 <= inside.mean() <= 0.97
    twelve = model.value_interval(summary, months=12)
    clv = model.clv(summary, months=12)
    assert (twelve["low"] <= twelve["high"]).all()
    assert ((clv >= twelve["low"]) & (clv <= twelve["high"])).mean() > 0.9


# --- honest ranges on the CDNOW holdout -----------------------------------------------------------------


def test_cdnow_39_39_week_ranges_are_honest_and_too_wide_ones_show(cdnow_master):
    holdout, _ = holdout_predictions(
        cdnow_master, "customer_id", "date", None, "1997-09-30", "1998-06-30", interval_level=0.8
    )
    assert len(holdout) == 23570
    assert holdout["duration_holdout"].iloc[0] == 39
    quality = holdout_metrics(holdout, computed_at="2025-01-01")
    figures = quality.set_index(["metric", "segment"])["value"]
    coverage, width = figures["interval_coverage_80", "all"], figures["interval_mean_width_80", "all"]
    # Independent count of the same figure.
    assert coverage == pytest.approx(
        np.mean(
            (holdout["frequency_holdout"] >= holdout["purchases_low"])
            & (holdout["frequency_holdout"] <= holdout["purchases_high"])
        )
    )
    assert 0.80 <= coverage <= 0.96
    assert width < 3
    assert ("interval_coverage_80", "frequency_cal=0") in figures.index
    assert quality_ok(quality)[0]  # (no spend was given, so spearman_value is "not computed")

    wide, _ = holdout_predictions(
        cdnow_master, "customer_id", "date", None, "1997-09-30", "1998-06-30", interval_level=0.99
    )
    # The 99 % ranges passed off as 80 % ones: too wide shows up as coverage above 0.96 and more width.
    judged = interval_metrics(wide, level=0.8)
    assert judged["interval_coverage_80"] > 0.96
    assert judged["interval_mean_width_80"] > width + 1

    # A 30 % range passed off as an 80 % one is too narrow and fails the stored lower bound of the check.
    narrow, _ = holdout_predictions(
        cdnow_master, "customer_id", "date", None, "1997-09-30", "1998-06-30", interval_level=0.3
    )
    narrow["interval_level"] = 0.8
    ok, messages = quality_ok(holdout_metrics(narrow))
    assert not ok
    assert any(m.startswith("clv.interval_coverage_80") for m in messages)
    # The model's own probability of the ranges is what the realised coverage is measured against.
    expected = figures["interval_expected_coverage_80", "all"]
    assert expected == pytest.approx(holdout["purchases_range_probability"].mean())
    assert expected >= 0.8
    assert figures["interval_coverage_gap_80", "all"] == pytest.approx(coverage - expected)
    assert figures["interval_coverage_gap_80", "all"] > -0.05


# --- automatic model choice ------------------------------------------------------------------------------


def test_auto_choice_picks_bgnbd_on_bgnbd_data_and_records_the_comparison():
    transactions, _ = simulate_transactions(
        20_000, **SIM_TRUTH, **SIM_VALUE, observation_end=SIM_END, history_days=1095, seed=21
    )
    calibration_end = SIM_END - pd.Timedelta(days=182)
    holdout = calibration_and_holdout_summary(
        transactions, "customer_id", "ordered_at", calibration_end, SIM_END, freq="D", freq_multiplier=7
    )
    summary = clv_module.rfm_summary(
        transactions,
        "customer_id",
        "ordered_at",
        "revenue",
        observation_end=SIM_END,
        freq="D",
        freq_multiplier=7,
    )
    model = fit_clv(summary, model="auto", holdout=holdout)
    choice = model.diagnostics["model_choice"]
    assert choice["chosen"] == "bgnbd" == model.purchase_model
    candidates = choice["candidates"]
    assert set(candidates) == {"bgnbd", "pareto_nbd"}
    # The criterion recomputed independently from the candidates' calibration parameters.
    cal = holdout[["frequency_cal", "recency_cal", "T_cal"]].set_axis(["frequency", "recency", "T"], axis=1)
    for name, info in candidates.items():
        refit = ClvModel(params=info["params_cal"], purchase_model=name)
        predicted = refit.expected_purchases(cal, float(holdout["duration_holdout"].iloc[0]))
        assert info["holdout_mae"] == pytest.approx(np.mean(np.abs(predicted - holdout["frequency_holdout"])))
    assert candidates["bgnbd"]["holdout_mae"] < candidates["pareto_nbd"]["holdout_mae"]
    rows = model_choice_quality(model, computed_at="2025-01-01").set_index(["model", "metric"])["value"]
    assert rows["bgnbd", "model_choice"] == 1.0
    assert rows["pareto_nbd", "model_choice"] == 0.0
    assert rows["bgnbd", "holdout_mae"] == pytest.approx(candidates["bgnbd"]["holdout_mae"])
    # The chosen model is refitted on the full period and recovers the generator's parameters.
    for key, truth in SIM_TRUTH.items():
        assert model.params[key] == pytest.approx(truth, rel=0.15), key


def test_auto_needs_a_holdout_and_default_stays_bgnbd(cdnow):
    with pytest.raises(
        ValueError, match=r'^fit_clv\(model="auto"\) needs a calibration/holdout frame in holdout=$'
    ):
        fit_clv(cdnow, model="auto")
    with pytest.raises(
        ValueError, match=r"^model must be 'auto' or one of \['bgnbd', 'pareto_nbd'\], got 'weibull'$"
    ):
        fit_clv(cdnow, model="weibull")
    started = time.perf_counter()
    model = fit_clv(cdnow)
    elapsed = time.perf_counter() - started
    assert model.purchase_model == "bgnbd"
    assert model_choice_quality(model).empty
    assert "model_choice" not in model.diagnostics
    # Each fit records how long it took, measured around the call here.
    for seconds in (model.diagnostics["seconds"], model.diagnostics["bgnbd"]["seconds"]):
        assert 0 < seconds <= elapsed
    assert model.diagnostics["gamma_gamma"]["seconds"] <= model.diagnostics["seconds"]


# --- through the pipeline function -----------------------------------------------------------------------


def test_predict_customers_carries_ranges_and_their_holdout_coverage():
    transactions, truth = simulate_transactions(
        8_000, **SIM_TRUTH, **SIM_VALUE, observation_end=SIM_END, history_days=1095, seed=5
    )
    predictions, quality, model, _ = predict_customers(
        transactions, SIM_END, churn_classifier=None, computed_at="2025-01-01"
    )
    assert model is not None
    for column in ("expected_purchases_90d", "clv_12m"):
        assert (predictions[f"{column}_low"] <= predictions[f"{column}_high"]).all()
    # Integer ranges need not contain the (fractional) mean: 0.03 expected purchases has the range [0, 0].
    whole = np.floor(predictions["expected_purchases_90d"])
    assert (
        (whole >= predictions["expected_purchases_90d_low"])
        & (whole <= predictions["expected_purchases_90d_high"])
    ).mean() > 0.99
    # Likewise a customer who will most likely not buy (P(no purchase) >= 0.9) has the value range [0, 0]
    # and a small positive CLV; the others' ranges contain their CLV.
    positive = predictions.loc[predictions["clv_12m_high"] > 0]
    inside = (positive["clv_12m"] >= positive["clv_12m_low"]) & (
        positive["clv_12m"] <= positive["clv_12m_high"]
    )
    assert inside.mean() > 0.9
    assert (predictions["expected_purchases_90d_low"] % 1 == 0).all()
    figures = quality.set_index(["model", "metric", "segment"])["value"]
    coverage = figures["clv_holdout", "interval_coverage_80", "all"]
    assert 0.80 <= coverage <= 0.96
    assert figures["clv_holdout", "interval_mean_width_80", "all"] < 3
    # The value ranges are honest on the holdout spend too (0.927 on 20,000 of these customers).
    assert 0.85 <= figures["clv_holdout", "value_interval_coverage_80", "all"] <= 0.97
    # Customers the generator dropped get lower ranges than those it kept alive (repeat buyers).
    scored = predictions.set_index("customer_id").join(truth[["alive"]])
    repeat = scored.loc[scored["frequency"] > 0]
    assert (
        repeat.loc[~repeat["alive"], "expected_purchases_90d_high"].mean()
        < repeat.loc[repeat["alive"], "expected_purchases_90d_high"].mean()
    )


def test_holdout_validation_runs_on_a_random_sample_of_whole_customers(monkeypatch):
    """Large shops validate on at most MAX_VALIDATION_CUSTOMERS customers: every row of each drawn
    customer and none of the others, while every customer is still scored."""
    from orchestration.analytics.customer_models import fitting

    # Hand-built: customer k has k + 1 rows; a sample of 4 of the 10 keeps 4 whole customers.
    rows = pd.DataFrame({"customer_id": np.repeat(np.arange(10), np.arange(1, 11))})
    sample = fitting.customer_sample(rows, "customer_id", 4)
    sizes = sample["customer_id"].value_counts()
    assert len(sizes) == 4
    assert (sizes == sizes.index + 1).all()
    assert fitting.customer_sample(rows, "customer_id", 10) is rows

    transactions, _ = simulate_transactions(
        4_000, **SIM_TRUTH, **SIM_VALUE, observation_end=SIM_END, history_days=1095, seed=5
    )
    monkeypatch.setattr(fitting, "MAX_VALIDATION_CUSTOMERS", 1_500)
    predictions, quality, _, messages = predict_customers(
        transactions, SIM_END, churn_classifier=None, computed_at="2025-01-01"
    )
    assert "Holdout validation on 1,500 customers drawn at random." in messages
    assert len(predictions) == transactions["customer_id"].nunique()
    figures = quality.set_index(["model", "metric", "segment"])["value"]
    # Customers with a purchase before the holdout, among the 1,500 drawn (all 4,000 bought by then
    # except the few who first bought in the last 90 days).
    assert 1_300 < figures["clv_holdout", "n_customers", "all"] <= 1_500
    assert 0.80 <= figures["clv_holdout", "interval_coverage_80", "all"] <= 0.96


def test_value_range_coverage_and_width_on_a_hand_worked_holdout():
    """value_interval_coverage_80 counts the customers whose holdout spend lies in their value range
    (bounds included; spending nothing is inside [0, 0]) and the width is the mean of high − low."""
    holdout = pd.DataFrame(
        {
            "purchases_low": [0, 0, 1, 0],
            "purchases_high": [0, 2, 3, 1],
            "frequency_holdout": [0, 1, 2, 3],
            "interval_level": 0.8,
            "actual_value": [0.0, 50.0, 120.0, 10.0],
            "value_low": [0.0, 10.0, 20.0, 0.0],
            "value_high": [0.0, 50.0, 100.0, 30.0],
        }
    )
    metrics = interval_metrics(holdout)
    # Inside: customer 1 ([0, 0] and 0), customer 2 (50 at the upper bound), customer 4 (10 in [0, 30]);
    # customer 3 spent 120 above 100.
    assert metrics["value_interval_coverage_80"] == pytest.approx(3 / 4)
    assert metrics["value_interval_mean_width_80"] == pytest.approx((0 + 40 + 80 + 30) / 4)
    assert metrics["interval_coverage_80"] == pytest.approx(3 / 4)


def test_a_saved_model_keeps_its_time_unit_missing_parameters_and_diagnostics():
    """The JSON of a day-unit model written out by hand: NumPy scalars become plain numbers (also inside
    lists), a NaN parameter becomes null and comes back as NaN; a file written before the time unit, the
    model name and the diagnostics were stored reads as a weekly BG/NBD model without diagnostics."""
    params = {**HAND_BGNBD, **HAND_GG}
    diagnostics = {
        "bgnbd": {"converged": np.bool_(True), "ll": np.float64(-1.5), "path": [np.float64(1.0), np.int64(2)]}
    }
    model = ClvModel(params={**params, "p_margin": math.nan}, diagnostics=diagnostics, time_unit_days=1.0)
    stored = json.loads(json.dumps(model.to_dict()))
    assert stored == {
        "model": "bgnbd+gamma_gamma",
        "params": {**params, "p_margin": None},
        "diagnostics": {"bgnbd": {"converged": True, "ll": -1.5, "path": [1.0, 2]}},
        "time_unit_days": 1.0,
    }
    restored = ClvModel.from_dict(stored)
    assert (restored.time_unit_days, restored.purchase_model) == (1.0, "bgnbd")
    assert {k: v for k, v in restored.params.items() if k != "p_margin"} == params
    assert math.isnan(restored.params["p_margin"])
    assert restored.diagnostics == stored["diagnostics"]
    pareto = ClvModel.from_dict({**stored, "model": "pareto_nbd+gamma_gamma"})
    assert pareto.purchase_model == "pareto_nbd"
    old = ClvModel.from_dict({"params": params})
    assert (old.time_unit_days, old.purchase_model, old.diagnostics) == (7.0, "bgnbd", {})


def _weekly_and_daily_models() -> tuple[ClvModel, ClvModel, pd.DataFrame, pd.DataFrame]:
    """One BG/NBD + Gamma-Gamma model (parameters chosen by hand) in weeks and the same model in days (α,
    a rate's scale, times 7), with four customers' summaries in each unit (T in whole weeks)."""
    params = {**HAND_BGNBD, **HAND_GG}
    margin = {f"{k}_margin": v for k, v in HAND_GG.items()}  # the margin fit equals the revenue fit
    weekly = ClvModel(params={**params, **margin}, time_unit_days=7.0)
    daily = ClvModel(params={**params, **margin, "alpha": 28.0}, time_unit_days=1.0)
    weeks = pd.DataFrame(
        {
            "frequency": [0.0, 1.0, 3.0, 8.0],
            "recency": [0.0, 10.0, 20.5, 30.0],
            "T": [35.0, 36.0, 38.0, 40.0],
            "monetary_value": [0.0, 20.0, 35.0, 50.0],
        }
    )
    weeks["margin_value"] = weeks["monetary_value"]
    days = weeks.assign(recency=weeks["recency"] * 7, T=weeks["T"] * 7)
    return weekly, daily, weeks, days


def test_value_interval_is_the_same_in_days_and_in_weeks():
    """The model is the same in either unit: a day-unit model reads a month as 30.4375 days and must give
    the weekly model's ranges at 30.4375 / 7 weeks a month (same seed, same draws)."""
    weekly, daily, weeks, days = _weekly_and_daily_models()
    expected = weekly.value_interval(weeks, periods_per_month=30.4375 / 7)
    got = daily.value_interval(days)
    assert (expected["high"] > expected["low"]).any()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_margin_ranges_use_the_margin_fit_and_count_a_loss_as_nothing():
    """With margin parameters equal to the revenue ones and margins equal to revenue, the margin ranges are
    the revenue ranges; a negative mean margin (a customer who costs money) gives the range of a zero
    one. Twelve months is the default horizon."""
    weekly, _, weeks, _ = _weekly_and_daily_models()
    revenue = weekly.value_interval(weeks)
    pd.testing.assert_frame_equal(revenue, weekly.value_interval(weeks, months=12))
    pd.testing.assert_frame_equal(weekly.value_interval(weeks, value="margin"), revenue)
    loss = weeks.assign(margin_value=[0.0, -20.0, 35.0, 50.0])
    zero = weeks.assign(margin_value=[0.0, 0.0, 35.0, 50.0])
    pd.testing.assert_frame_equal(
        weekly.value_interval(loss, value="margin"), weekly.value_interval(zero, value="margin")
    )
    with pytest.raises(KeyError, match="value_interval\\('margin'\\) needs a 'margin_value' column"):
        weekly.value_interval(weeks.drop(columns="margin_value"), value="margin")


def test_a_customer_most_likely_gone_has_a_range_of_nothing():
    """Eight purchases in the first two weeks, then 38 silent weeks: lifetimes' own BG/NBD gives P(alive)
    below 0.1 at these parameters, so more than 90% of her value distribution is the point mass at 0 and
    the central 80% range is [0, 0]; her neighbour, as frequent but recent, has a range above 0."""
    weekly, _, _, _ = _weekly_and_daily_models()
    summary = pd.DataFrame(
        {"frequency": [8.0, 8.0], "recency": [2.0, 39.0], "T": [40.0, 40.0], "monetary_value": [50.0, 50.0]}
    )
    fitter = _lifetimes_bgnbd(weekly.params)
    alive = fitter.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    assert alive[0] < 0.1 < 0.5 < alive[1]
    ranges = weekly.value_interval(summary)
    assert ranges.iloc[0].tolist() == [0.0, 0.0]
    assert ranges["high"].iloc[1] > 0


def test_auto_choice_takes_the_model_with_the_smaller_holdout_error():
    """CDNOW's first 39 weeks as calibration, with holdout purchases replaced by what lifetimes' own
    Pareto/NBD predicts from the calibration fit of the first choice: Pareto/NBD then predicts the holdout
    exactly (error 0) and must be chosen although BG/NBD comes first; the recorded errors are those of
    each model's predictions."""
    summary = load_cdnow_summary()
    holdout = _holdout_frame(summary, 0.0)
    first = choose_purchase_model(holdout)
    pareto = ParetoNBDFitter()
    pareto.params_ = pd.Series(first["candidates"]["pareto_nbd"]["params_cal"])[["r", "alpha", "s", "beta"]]
    predicted = pareto.conditional_expected_number_of_purchases_up_to_time(
        39.0, summary["frequency"], summary["recency"], summary["T"]
    )
    choice = choose_purchase_model(holdout.assign(frequency_holdout=np.asarray(predicted, dtype=float)))
    assert choice["chosen"] == "pareto_nbd"
    exact, other = choice["candidates"]["pareto_nbd"], choice["candidates"]["bgnbd"]
    assert exact["holdout_mae"] == pytest.approx(0.0, abs=1e-6)
    assert exact["holdout_relative_aggregate_error"] == pytest.approx(0.0, abs=1e-6)
    assert exact["holdout_predicted_mean"] == pytest.approx(exact["holdout_actual_mean"], rel=1e-6)
    bg = ClvModel(params=other["params_cal"]).expected_purchases(summary, 39.0).to_numpy()
    error = bg - np.asarray(predicted, dtype=float)
    assert other["holdout_mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-9)
    assert other["holdout_mae"] > 0.01
    assert other["holdout_rmse"] == pytest.approx(np.sqrt(np.mean(error**2)), rel=1e-9)
    assert other["holdout_relative_aggregate_error"] == pytest.approx(
        error.sum() / np.sum(predicted), rel=1e-9
    )
    assert set(other) >= {"log_likelihood_cal", "params_cal"}


def test_a_fit_with_a_parameter_that_is_not_positive_and_finite_is_refused():
    """What a fit must satisfy before its parameters are used, on fitted-looking objects made by hand:
    every parameter finite and above 0, a finite log-likelihood, and for Gamma-Gamma q above 1 (the mean
    order value v·p/(q − 1) exists only then)."""
    from types import SimpleNamespace

    def fitter(nll: float = 10.0, **params: float) -> SimpleNamespace:
        return SimpleNamespace(params_=pd.Series(params, dtype=float), _negative_log_likelihood_=nll)

    assert _finite_params(fitter(r=0.2, alpha=4.0)) is None
    for bad in (fitter(r=0.0, alpha=4.0), fitter(r=-0.1, alpha=4.0), fitter(r=np.nan, alpha=4.0)):
        assert _finite_params(bad).startswith("non-finite or non-positive parameters {'r': ")
    assert _finite_params(fitter(np.inf, r=0.2, alpha=4.0)) == "non-finite log-likelihood"
    assert _gamma_gamma_check(fitter(p=6.0, q=4.0, v=15.0)) is None
    assert _gamma_gamma_check(fitter(p=6.0, q=1.5, v=15.0)) is None  # any q above 1 will do
    assert _gamma_gamma_check(fitter(p=6.0, q=1.0, v=15.0)) == (
        "q = 1 <= 1, so the population mean order value is undefined"
    )
    assert _gamma_gamma_check(fitter(p=np.inf, q=4.0, v=15.0)).startswith("non-finite or non-positive")


def test_value_interval_is_the_central_range_of_an_independent_spend_simulation():
    """The value range against a simulation written here: purchase counts from sample_purchases (checked
    against the closed-form expectation above), then per draw the customer's Gamma-Gamma rate
    ν ~ Gamma(p·x + q, rate v + x·m̄) and her spend over K orders ~ Gamma(p·K, rate ν), with numpy's
    generator. Without discounting, value_interval's low and high are that spend's 10% and 90% quantiles.
    The heavy buyer almost surely buys (her low is above 0); the others test the point mass at 0."""
    weekly, _, _, _ = _weekly_and_daily_models()
    summary = pd.DataFrame(
        {
            "frequency": [20.0, 3.0, 1.0],
            "recency": [39.5, 30.0, 10.0],
            "T": [40.0, 38.0, 36.0],
            "monetary_value": [50.0, 35.0, 20.0],
        }
    )
    ranges = weekly.value_interval(
        summary, months=1, periods_per_month=39.0, discount_rate=0.0, n_samples=20_000, seed=11
    )
    counts = weekly.sample_purchases(summary, 39.0, n_samples=40_000, seed=12)
    rng = np.random.default_rng(13)
    p, q, v = (weekly.params[k] for k in ("p", "q", "v"))
    x, m = summary["frequency"].to_numpy()[:, None], summary["monetary_value"].to_numpy()[:, None]
    rate = rng.gamma(p * x + q, 1.0 / (v + x * m), size=counts.shape)
    spend = np.where(counts > 0, rng.gamma(np.maximum(p * counts, 1e-12), 1.0) / rate, 0.0)
    low, high = np.quantile(spend, 0.1, axis=1), np.quantile(spend, 0.9, axis=1)
    assert low[0] > 0
    np.testing.assert_allclose(ranges["low"].to_numpy(), low, rtol=0.04, atol=1e-9)
    np.testing.assert_allclose(ranges["high"].to_numpy(), high, rtol=0.04)


def _eight_customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 20.0, 4.0],
            "recency": [0.0, 10.0, 30.0, 20.5, 35.0, 39.0, 39.5, 12.0],
            "T": [35.0, 36.0, 38.0, 38.0, 40.0, 40.0, 40.0, 39.0],
            "monetary_value": [0.0, 20.0, 30.0, 35.0, 40.0, 50.0, 60.0, 25.0],
        }
    )


def test_results_do_not_depend_on_the_chunk_size(monkeypatch):
    """Ranges and probabilities are computed per unique customer row in chunks of 50,000 rows; with chunks
    of three rows (eight customers in chunks of 3, 3 and 2) every figure is the same."""
    from orchestration.analytics.clv import distributions

    models = [
        ClvModel(params={**HAND_BGNBD, **HAND_GG}),
        ClvModel(params={**PUBLISHED_PARETO_NBD, **HAND_GG}, purchase_model="pareto_nbd"),
    ]
    summary = _eight_customers()

    def figures(model: ClvModel) -> list:
        return [
            model.purchase_interval(summary, 39, with_probability=True),
            model.probability_no_purchase(summary, 13),
            model.next_purchase_wait(summary),
        ]

    whole = [figures(model) for model in models]
    monkeypatch.setattr(distributions, "_CHUNK_ROWS", 3)
    for model, expected in zip(models, whole, strict=True):
        for got, want in zip(figures(model), expected, strict=True):
            if isinstance(want, pd.DataFrame):
                pd.testing.assert_frame_equal(got, want)
            else:
                pd.testing.assert_series_equal(got, want)


def test_discounted_purchases_by_hand_with_lifetimes_expectations():
    """Σᵢ (E[X(i·4.345 weeks)] − E[X((i − 1)·4.345 weeks)]) / 1.01ⁱ with lifetimes' own BG/NBD expectation, for
    horizons 3 and 1 (columns in the order asked); the default monthly discount is 1%. Horizons must be
    whole months from 1."""
    model = ClvModel(params={**HAND_BGNBD, **HAND_GG})
    summary = _eight_customers()
    fitter = _lifetimes_bgnbd(model.params)

    def expected(t: float) -> np.ndarray:
        if t == 0:
            return np.zeros(len(summary))
        return np.asarray(
            fitter.conditional_expected_number_of_purchases_up_to_time(
                t, summary["frequency"], summary["recency"], summary["T"]
            ),
            dtype=float,
        )

    by_month = [expected(i * 4.345) for i in range(4)]
    hand = {h: sum((by_month[i] - by_month[i - 1]) / 1.01**i for i in range(1, h + 1)) for h in (1, 3)}
    got = model.discounted_purchases(summary, [3, 1])
    assert list(got.columns) == [3, 1]
    np.testing.assert_allclose(got[3], hand[3], rtol=1e-9)
    np.testing.assert_allclose(got[1], hand[1], rtol=1e-9)
    for bad in ([], [0, 3]):
        with pytest.raises(ValueError, match=r"^horizons must be whole months >= 1, got "):
            model.discounted_purchases(summary, bad)


def test_value_interval_defaults_and_its_scale_and_discount():
    """value_interval's documented defaults (4.345 weeks a month, 500 draws, seed 0); ranges scale with
    v + x·m̄ (a loss counts as a mean margin of 0, so her margin range is her revenue range times
    15 / (15 + 20)); and a monthly discount scales each customer's range by her CLV with that discount over
    her CLV without (the discount is applied at her expected timing of purchases)."""
    weekly, _, weeks, _ = _weekly_and_daily_models()
    ranges = weekly.value_interval(weeks)
    pd.testing.assert_frame_equal(
        ranges, weekly.value_interval(weeks, periods_per_month=4.345, n_samples=500, seed=0)
    )
    loss = weeks.assign(margin_value=[0.0, -20.0, 35.0, 50.0])
    margin = weekly.value_interval(loss, value="margin")
    np.testing.assert_allclose(
        margin.iloc[1].to_numpy(), ranges.iloc[1].to_numpy() * 15 / (15 + 20), rtol=1e-12
    )
    plain = weekly.value_interval(weeks, discount_rate=0.0)
    discounted = weekly.value_interval(weeks, discount_rate=0.05)
    ratio = (weekly.clv(weeks, 12, 0.05) / weekly.clv(weeks, 12, 0.0)).to_numpy()
    buyers = weeks["frequency"].to_numpy() > 0
    assert (ratio[buyers] < 1).all()
    np.testing.assert_allclose(
        discounted.to_numpy()[buyers], plain.to_numpy()[buyers] * ratio[buyers, None], rtol=1e-9
    )


def test_range_probabilities_levels_and_a_gamma_gamma_without_buyers(cdnow):
    """A purchase range's probability is the share of the posterior inside it (20,000 draws of
    sample_purchases, 4 standard errors); levels 0 and 1 (and beyond) name no central range; Gamma-Gamma
    refuses to fit on two repeat buyers with a positive value."""
    model = ClvModel(params={**HAND_BGNBD, **HAND_GG})
    summary = _eight_customers()
    ranges = model.purchase_interval(summary, 39, with_probability=True)
    draws = model.sample_purchases(summary, 39, n_samples=20_000, seed=4)
    inside = ((draws >= ranges[["low"]].to_numpy()) & (draws <= ranges[["high"]].to_numpy())).mean(axis=1)
    assert (ranges["low"] > 0).any()
    np.testing.assert_allclose(ranges["probability"].to_numpy(), inside, atol=4 * np.sqrt(0.25 / 20_000))
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"^level must lie strictly between 0 and 1, got {level}$"):
            model.purchase_interval(summary, 39, level=level)
    few = cdnow.copy()
    repeat = few.index[few["frequency"] > 0]
    few.loc[repeat[2:], "monetary_value"] = 0.0
    with pytest.raises(
        ClvFitError, match=r"^Gamma-Gamma needs repeat buyers with a positive monetary_value; found 2\.$"
    ):
        fit_clv(few)


def test_rfm_summary_counts_calendar_weeks_by_default(cdnow_master):
    """Without ``freq`` the summary is in calendar weeks (lifetimes' own default is days)."""
    weeks = clv_module.rfm_summary(cdnow_master, "customer_id", "date", "dollar_value", freq="W")
    pd.testing.assert_frame_equal(
        clv_module.rfm_summary(cdnow_master, "customer_id", "date", "dollar_value"), weeks
    )
    assert weeks["T"].max() < 80  # 18 months of purchases: at most 78 weeks


def test_gamma_gamma_keeps_order_values_below_one_and_is_free_of_the_currency_unit(cdnow):
    """Gamma-Gamma's scale is v alone: CDNOW's values in hundreds of dollars (96% of the mean order values
    fall below 1) give the same p and q and v / 100, on the same 946 repeat buyers."""
    dollars = fit_clv(cdnow)
    hundreds = fit_clv(cdnow.assign(monetary_value=cdnow["monetary_value"] / 100))
    assert hundreds.diagnostics["gamma_gamma"]["n_customers"] == 946
    assert hundreds.params["p"] == pytest.approx(dollars.params["p"], rel=1e-6)
    assert hundreds.params["q"] == pytest.approx(dollars.params["q"], rel=1e-6)
    assert hundreds.params["v"] == pytest.approx(dollars.params["v"] / 100, rel=1e-6)


def test_gamma_gamma_fits_three_buyers_and_leaves_independence_open_when_frequency_is_constant(cdnow):
    """Three repeat buyers with a value are enough to fit, and the fit is lifetimes' own. When every buyer
    left has the same frequency (values kept only for the 439 one-repeat buyers) the frequency-value
    correlation is undefined, so independence is neither confirmed nor refuted (None); the fit is again
    lifetimes' GammaGammaFitter on the same buyers (with the penalizer the fit fell back to, if any)."""
    repeat = cdnow.index[cdnow["frequency"] > 0]
    three = cdnow.copy()
    three.loc[repeat[3:], "monetary_value"] = 0.0
    once = cdnow.copy()
    once.loc[once["frequency"] > 1, "monetary_value"] = 0.0
    for summary, n in ((three, 3), (once, 439)):
        model = fit_clv(summary)
        info = model.diagnostics["gamma_gamma"]
        buyers = summary.loc[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        assert info["n_customers"] == len(buyers) == n
        reference = (
            GammaGammaFitter(info["penalizer_coef"])
            .fit(buyers["frequency"], buyers["monetary_value"])
            .params_
        )
        for key in ("p", "q", "v"):
            assert model.params[key] == pytest.approx(reference[key], rel=1e-4), (n, key)
    assert math.isnan(info["corr_frequency_value_spearman"])
    assert info["independence_ok"] is None


@pytest.mark.parametrize(("model", "label"), [("bgnbd", "BG/NBD"), ("pareto_nbd", "Pareto/NBD")])
def test_a_model_that_never_converges_is_refused_with_every_attempt(monkeypatch, model, label):
    """With every attempt refused, the error names the model, the number of customers, the penalizers
    tried and each attempt's reason, in order."""
    summary = load_cdnow_summary(index_col=[0]).iloc[:300]
    monkeypatch.setattr(fit_module, "_finite_params", lambda fitter: "refused by the test")
    with pytest.raises(ClvFitError) as caught:
        fit_clv(summary, model=model, fallback_penalizers=(0.01,))
    assert str(caught.value) == (
        f"{label} did not converge on 300 customers even with penalizers [0.0, 0.01]: "
        "penalizer 0: refused by the test; penalizer 0.01: refused by the test"
    )


def test_gamma_gamma_that_never_converges_is_refused_with_every_attempt(monkeypatch, cdnow):
    monkeypatch.setattr(fit_module, "_gamma_gamma_check", lambda fitter: "refused by the test")
    with pytest.raises(ClvFitError) as caught:
        fit_clv(cdnow, fallback_penalizers=(0.01,))
    assert str(caught.value) == (
        "Gamma-Gamma on monetary_value did not converge even with penalizers [0.0, 0.01]: "
        "penalizer 0: refused by the test; penalizer 0.01: refused by the test"
    )


def test_what_the_optimiser_prints_on_failure_is_kept_in_the_reason_not_printed(monkeypatch, capsys, cdnow):
    """lifetimes prints scipy's result when a fit fails: the words go into the fallback reason (spaces
    collapsed), and nothing reaches standard output."""
    original = BetaGeoFitter.fit

    def failing_once(self, *args, **kwargs):
        if self.penalizer_coef == 0:
            print("message:   precision\n  loss")
            raise ConvergenceError("did not\n converge")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BetaGeoFitter, "fit", failing_once)
    model = fit_clv(cdnow)
    assert model.diagnostics["bgnbd"]["fallback_reason"] == (
        "penalizer 0: ConvergenceError: did not converge (message: precision loss)"
    )
    assert capsys.readouterr().out == ""


def test_holdout_errors_by_hand_with_a_single_holdout_purchase():
    """Two customers, one holdout purchase between them: the relative aggregate error is (sum of lifetimes'
    expectations - 1) / 1, the MAE and RMSE those of the two expectations against 1 and 0."""
    cal = pd.DataFrame({"frequency": [2.0, 0.0], "recency": [20.0, 0.0], "T": [30.0, 30.0]})
    holdout = _holdout_frame(cal, [1.0, 0.0], duration=10.0)
    expected = _lifetimes_bgnbd(HAND_BGNBD).conditional_expected_number_of_purchases_up_to_time(
        10.0, cal["frequency"], cal["recency"], cal["T"]
    )
    expected = np.asarray(expected, dtype=float)
    errors = _holdout_errors(ClvModel(params=HAND_BGNBD), holdout, cal, 10.0)
    error = expected - [1.0, 0.0]
    assert errors["holdout_relative_aggregate_error"] == pytest.approx(expected.sum() - 1.0, rel=1e-9)
    assert errors["holdout_mae"] == pytest.approx(np.abs(error).mean(), rel=1e-9)
    assert errors["holdout_rmse"] == pytest.approx(np.sqrt((error**2).mean()), rel=1e-9)
    assert errors["holdout_actual_mean"] == 0.5


def test_an_unknown_candidate_is_refused_with_the_choices(cdnow):
    holdout = _holdout_frame(cdnow, 0.0)
    with pytest.raises(
        ValueError, match=r"^unknown candidate 'weibull'; choose from \['bgnbd', 'pareto_nbd'\]$"
    ):
        choose_purchase_model(holdout, candidates=("weibull",))


@pytest.mark.parametrize("model_name", ["bgnbd", "pareto_nbd"])
def test_value_ranges_of_either_model_are_discounted_like_its_clv(
    bgnbd_model, pareto_model, cdnow, model_name
):
    """For BG/NBD and Pareto/NBD alike, a monthly discount scales each buyer's range by her CLV with that
    discount over her CLV without, both computed by :meth:`clv` of the same model. (The ranges read T to the
    nearest day and CDNOW's T is rounded to 0.01 week, so T is put on whole days first.)"""
    model = bgnbd_model if model_name == "bgnbd" else pareto_model
    rows = _rows(model, cdnow)
    summary = rows.assign(
        T=np.round(rows["T"] * 7) / 7, recency=np.minimum(rows["recency"], np.round(rows["T"] * 7) / 7)
    )
    plain = model.value_interval(summary, discount_rate=0.0)
    discounted = model.value_interval(summary, discount_rate=0.05)
    ratio = (model.clv(summary, 12, 0.05) / model.clv(summary, 12, 0.0)).to_numpy()
    assert (ratio < 1).all()
    positive = plain["high"].to_numpy() > 0
    np.testing.assert_allclose(
        discounted.to_numpy()[positive], plain.to_numpy()[positive] * ratio[positive, None], rtol=1e-9
    )


def test_documented_defaults_of_clv_and_of_the_purchase_draws(bgnbd_model, cdnow):
    """``clv`` defaults to 12 months at 1% a month; ``sample_purchases`` to 1,000 draws with seed 0; and
    every per-customer prediction is a Series named after what it holds."""
    summary = _rows(bgnbd_model, cdnow)
    pd.testing.assert_series_equal(
        bgnbd_model.clv(summary), bgnbd_model.clv(summary, months=12, discount_rate=0.01)
    )
    draws = bgnbd_model.sample_purchases(summary, 39)
    assert draws.shape == (len(summary), 1000)
    np.testing.assert_array_equal(draws, bgnbd_model.sample_purchases(summary, 39, n_samples=1000, seed=0))
    assert bgnbd_model.next_purchase_wait(summary).name == "next_purchase_wait"
    assert bgnbd_model.probability_no_purchase(summary, 4).name == "probability_no_purchase"


def test_clv_by_margin_rate_and_by_margin_fit_worked_out_by_hand():
    """``clv(margin=0.3)`` is 30% of the revenue CLV; ``value="margin"`` puts the margin fit and the
    ``margin_value`` column into note 025's equation (5), worked out here by hand for a margin fit with
    p = 3, q = 5, v = 4: a customer with x = 2 and mean margin 10 expects
    weight p·x / (p·x + q − 1) = 6/10, so (1 − 0.6)·(4·3/4) + 0.6·10 = 1.2 + 6 = 7.2 per order; the day-unit model gives the weekly one's
    figures (a month is 30.4375 days, as 4.345 weeks is lifetimes' month)."""
    weekly, daily, weeks, days = _weekly_and_daily_models()
    revenue = weekly.clv(weeks)
    assert revenue.name == "clv"
    np.testing.assert_allclose(weekly.clv(weeks, margin=0.3), 0.3 * revenue, rtol=1e-12)
    model = ClvModel(params={**HAND_BGNBD, **HAND_GG, "p_margin": 3.0, "q_margin": 5.0, "v_margin": 4.0})
    summary = pd.DataFrame(
        {"frequency": [2.0], "recency": [20.0], "T": [30.0], "monetary_value": [50.0], "margin_value": [10.0]}
    )
    assert model.expected_order_value(summary, value="margin").iloc[0] == pytest.approx(7.2, rel=1e-12)
    np.testing.assert_allclose(
        model.clv(summary, value="margin"), 7.2 * model.discounted_purchases(summary, [12])[12], rtol=1e-12
    )
    np.testing.assert_allclose(
        daily.discounted_purchases(days, [1, 12]).to_numpy(),
        weekly.discounted_purchases(weeks, [1, 12], periods_per_month=30.4375 / 7).to_numpy(),
        rtol=1e-9,
    )


def test_a_value_without_a_fit_is_refused_with_its_message():
    model = ClvModel(params={**HAND_BGNBD, **HAND_GG})
    summary = _eight_customers().assign(margin_value=1.0)
    with pytest.raises(ValueError, match=r"^value must be 'revenue' or 'margin'$"):
        model.expected_order_value(summary, value="profit")
    with pytest.raises(
        ValueError, match=r"^no Gamma-Gamma fit for 'margin'; fit_clv needs the matching summary column$"
    ):
        model.clv(summary, value="margin")


def test_a_summary_without_the_value_column_is_refused_with_its_message():
    model = ClvModel(params={**HAND_BGNBD, **HAND_GG, **{f"{k}_margin": v for k, v in HAND_GG.items()}})
    summary = _eight_customers()  # monetary_value but no margin_value
    for method in (model.expected_order_value, model.value_interval):
        with pytest.raises(KeyError) as caught:
            method(summary, value="margin")
        assert caught.value.args[0] == (
            f"{method.__name__}('margin') needs a 'margin_value' column in the summary"
        )


def test_model_choice_records_a_failed_candidate_and_scores_the_others(monkeypatch):
    """With BG/NBD made to fail, the choice records its error, still fits Pareto/NBD and picks it; the
    result names its criterion, the holdout length and the number of customers. By default the candidates
    are fitted without a penalizer: Pareto/NBD's calibration parameters are note 008's published ones."""

    def never(self, *args, **kwargs):
        raise ConvergenceError("forced by the test")

    monkeypatch.setattr(BetaGeoFitter, "fit", never)
    summary = load_cdnow_summary()
    holdout = _holdout_frame(summary, 0.0)
    choice = choose_purchase_model(holdout, fallback_penalizers=(0.01,))
    assert choice["chosen"] == "pareto_nbd"
    assert (choice["criterion"], choice["holdout_length"], choice["n_customers"]) == (
        "holdout_mae",
        39.0,
        2357,
    )
    assert choice["candidates"]["bgnbd"] == {
        "fit_error": "BG/NBD did not converge on 2357 customers even with penalizers [0.0, 0.01]: "
        "penalizer 0: ConvergenceError: forced by the test; penalizer 0.01: ConvergenceError: forced by the test"
    }
    params = choice["candidates"]["pareto_nbd"]["params_cal"]
    for key, published in PUBLISHED_PARETO_NBD.items():
        assert params[key] == pytest.approx(published, rel=0.01), key
    with pytest.raises(
        ValueError,
        match=r"^the holdout frame needs \['frequency_cal', 'recency_cal', 'T_cal', 'frequency_holdout', "
        r"'duration_holdout'\]; missing \['duration_holdout'\]$",
    ):
        choose_purchase_model(holdout.drop(columns="duration_holdout"))


def test_independence_holds_up_to_and_including_the_threshold(cdnow):
    """``independence_ok`` is |Spearman ρ| <= the threshold: True at exactly |ρ|, False just below it."""
    rho = abs(fit_clv(cdnow).diagnostics["gamma_gamma"]["corr_frequency_value_spearman"])
    assert (
        fit_clv(cdnow, max_independence_correlation=rho).diagnostics["gamma_gamma"]["independence_ok"] is True
    )
    below = fit_clv(cdnow, max_independence_correlation=rho * 0.999)
    assert below.diagnostics["gamma_gamma"]["independence_ok"] is False


def test_calibration_and_holdout_summary_ends_at_the_last_purchase_by_default():
    """Without ``observation_end`` the holdout runs to the last transaction (5 March: 33 days after
    1 February); a split with nothing after the calibration end is refused with its message."""
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "date": pd.to_datetime(["2024-01-01", "2024-03-05", "2024-01-20"]),
        }
    )
    split = calibration_and_holdout_summary(transactions, "customer_id", "date", "2024-02-01", freq="D")
    pd.testing.assert_frame_equal(
        split,
        calibration_and_holdout_summary(
            transactions, "customer_id", "date", "2024-02-01", "2024-03-05", freq="D", freq_multiplier=1
        ),
    )
    assert split["duration_holdout"].iloc[0] == 33.0
    with pytest.raises(
        ValueError,
        match=r"^There is no holdout data: no transaction falls in \(calibration_end, observation_end\]\.$",
    ):
        calibration_and_holdout_summary(transactions, "customer_id", "date", "2024-03-05", freq="D")


def test_fit_records_lifetimes_standard_errors_convergence_and_the_weekly_unit(cdnow):
    """The Gamma-Gamma standard errors are lifetimes' own for the same buyers; the fit reports converged
    when every part did, counts CDNOW's 2,357 customers, 946 repeat buyers and its distinct
    (frequency, recency, T) rows, and keeps the week as its time unit unless told otherwise."""
    model = fit_clv(cdnow)
    buyers = cdnow.loc[cdnow["frequency"] > 0]
    reference = GammaGammaFitter().fit(buyers["frequency"], buyers["monetary_value"]).standard_errors_
    errors = model.diagnostics["gamma_gamma"]["standard_errors"]
    assert model.diagnostics["gamma_gamma"]["value_column"] == "monetary_value"
    assert set(errors) == {"p", "q", "v"}
    for key in ("p", "q", "v"):
        assert errors[key] == pytest.approx(reference[key], rel=1e-3), key
    assert model.diagnostics["converged"] is True
    assert model.time_unit_days == 7.0
    info = model.diagnostics["bgnbd"]
    assert (info["n_customers"], info["n_repeat_customers"]) == (2357, 946)
    assert info["n_unique_rows"] == len(cdnow[["frequency", "recency", "T"]].drop_duplicates())
    assert fit_clv(cdnow, time_unit_days=1.0).time_unit_days == 1.0


def test_a_summary_with_margins_only_gets_the_margin_fit(cdnow):
    """Without a ``monetary_value`` column the revenue parameters are NaN, and a ``margin_value`` column
    still gets its own Gamma-Gamma fit (here CDNOW's values as margins: the published 6.25, 3.74, 15.44)."""
    margins = cdnow.rename(columns={"monetary_value": "margin_value"})
    model = fit_clv(margins)
    assert all(math.isnan(model.params[k]) for k in ("p", "q", "v"))
    assert "gamma_gamma" not in model.diagnostics
    assert model.diagnostics["gamma_gamma_margin"]["value_column"] == "margin_value"
    for key, published in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert model.params[f"{key}_margin"] == pytest.approx(published, rel=0.005), key
    summary = clv_module.rfm_summary(
        pd.DataFrame(
            {
                "c": ["b", "b", "a"],
                "t": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-02"]),
                "m": [1.0, 4.0, 2.0],
            }
        ),
        "c",
        "t",
        margin_col="m",
        freq="D",
    )
    assert summary.index.tolist() == ["a", "b"]  # sorted, whatever the order of the rows
    assert summary["margin_value"].tolist() == [0.0, 4.0]
    assert "monetary_value" not in summary


def test_auto_choice_fits_its_candidates_with_the_penalizer_asked_for(cdnow):
    """``fit_clv(model="auto", penalizer_coef=0.01)`` compares the candidates fitted with that penalizer:
    its recorded comparison is :func:`choose_purchase_model`'s at 0.01, whose BG/NBD parameters differ
    from the unpenalised ones."""
    summary = load_cdnow_summary()
    holdout = _holdout_frame(summary, summary["frequency"] / 2)
    model = fit_clv(summary, 0.01, model="auto", holdout=holdout, fallback_penalizers=())
    expected = choose_purchase_model(holdout, penalizer_coef=0.01, fallback_penalizers=())
    recorded = model.diagnostics["model_choice"]["candidates"]
    for name in ("bgnbd", "pareto_nbd"):
        assert recorded[name]["params_cal"] == pytest.approx(
            expected["candidates"][name]["params_cal"], rel=1e-4
        )
    plain = choose_purchase_model(holdout, candidates=("bgnbd",))["candidates"]["bgnbd"]["params_cal"]
    assert recorded["bgnbd"]["params_cal"]["a"] < 0.9 * plain["a"]


def test_an_unknown_purchase_model_is_refused_with_its_name():
    model = ClvModel(params={**HAND_BGNBD, **HAND_GG}, purchase_model="weibull")
    with pytest.raises(ValueError, match=r"^unknown purchase model 'weibull'$"):
        model.probability_alive(_eight_customers())
