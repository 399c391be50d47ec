"""Speed of the CLV fit on a million customers, and recovery of known parameters through the pipeline.

Run from the repository root::

    .venv/bin/python benchmarks/clv.py            # both parts, about two minutes on 2 cores
    .venv/bin/python benchmarks/clv.py --quick    # 100,000 customers for the speed part

Part 1 (speed): the orders of 1,000,000 customers acquired over three years are drawn from BG/NBD +
Gamma-Gamma with the vectorised simulator. Timed: the RFM summary (weeks at day resolution; the
pipeline fits at hour resolution), ``fit_clv`` on all rows and on the unique (frequency, recency, T)
rows with weights (the default; with weekly periods for comparison), then the predictions a CLV run writes: P(alive), expected
purchases over 30/90/365 days, expected order value, 12-month CLV and next-order wait. Goal: summary +
fit + predictions under 60 s.

Part 2 (recovery): 50,000 customers are simulated as *transactions* and go through the whole pipeline
(``predict_customers``: day-resolution summary, fit, holdout, churn). Goal: every BG/NBD parameter within
7 % of the truth, and P(alive) separating the truly alive from the dropped-out among repeat buyers with
ROC AUC ≥ 0.85. More seeds are fitted (summary + fit only) to show the spread, and the same customers are
fitted at hour resolution to show how much merging same-day purchases moves α.

Part 3 (ranges): the same kind of 1,000,000 customers; timed: ``purchase_interval`` (80 % range of the
purchases in the next 90 days, exact PMF per unique row) and ``value_interval`` (80 % range of the 12-month
value, Monte Carlo per unique row), for BG/NBD; with ``--pareto`` also the Pareto/NBD fit and ranges. Then
the honesty figures on CDNOW 39/39 weeks (CDNOW_master, day resolution): the share of customers whose holdout
purchases fall inside their 80 % range, its mean width and the model's own expected coverage, for both
models, and the automatic model choice on that split. ``--only-ranges`` runs just this part.

Prints Markdown tables and writes benchmarks/results/clv.json (``--only-ranges``: clv_ranges.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from orchestration.analytics.clv import calibration_and_holdout_summary, fit_clv, rfm_summary
from orchestration.analytics.clv_simulation import simulate_transactions
from orchestration.analytics.customer_models import PIPELINE_SETTINGS, predict_customers
from orchestration.analytics.validation import holdout_metrics, holdout_predictions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "clv.json"

# A plausible online shop: ~5 orders a year while active, mean dropout probability 0.25 per repeat order.
TRUTH = {"r": 0.8, "alpha": 8.0, "a": 1.0, "b": 3.0}
VALUE_TRUTH = {"p": 4.0, "q": 5.0, "v": 100.0}
END = pd.Timestamp("2024-12-31")
HISTORY_DAYS = 1095
SPEED_GOAL_S = 60.0
RECOVERY_GOAL = 0.07
AUC_GOAL = 0.85


def _errors(params: dict[str, float], truth: dict[str, float]) -> dict[str, float]:
    return {k: params[k] / v - 1 for k, v in truth.items()}


def _timed(func, *args, **kwargs):
    started = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - started


def speed(n: int) -> dict:
    (transactions, _), simulate_s = _timed(
        simulate_transactions,
        n,
        **TRUTH,
        **VALUE_TRUTH,
        observation_end=END,
        history_days=HISTORY_DAYS,
        seed=1,
    )
    summary, summary_s = _timed(
        rfm_summary,
        transactions,
        "customer_id",
        "ordered_at",
        "revenue",
        observation_end=END,
        freq="D",
        freq_multiplier=7,
    )
    plain, plain_s = _timed(fit_clv, summary, use_unique_rows=False)
    weighted, weighted_s = _timed(fit_clv, summary)
    weekly = rfm_summary(transactions, "customer_id", "ordered_at", "revenue", observation_end=END, freq="W")
    weekly_model, weekly_s = _timed(fit_clv, weekly)

    started = time.perf_counter()
    predictions = pd.DataFrame(index=summary.index)
    predictions["probability_alive"] = weighted.probability_alive(summary)
    for days in (30, 90, 365):
        predictions[f"expected_purchases_{days}d"] = weighted.expected_purchases(summary, days / 7)
    predictions["expected_order_value"] = weighted.expected_order_value(summary)
    predictions["clv_12m"] = weighted.clv(summary)
    predictions["wait"] = weighted.next_purchase_wait(summary)
    predict_s = time.perf_counter() - started

    same = max(abs(weighted.params[k] / plain.params[k] - 1) for k in plain.params)
    total = summary_s + weighted_s + predict_s
    return {
        "customers": n,
        "orders": len(transactions),
        "simulate_s": simulate_s,
        "rfm_summary_s": summary_s,
        "fit_all_rows_s": plain_s,
        "fit_unique_rows_s": weighted_s,
        "unique_rows": weighted.diagnostics["bgnbd"]["n_unique_rows"],
        "fit_unique_rows_weekly_s": weekly_s,
        "unique_rows_weekly": weekly_model.diagnostics["bgnbd"]["n_unique_rows"],
        "predict_s": predict_s,
        "clv_total_s": total,
        "max_relative_param_difference_unique_vs_all": same,
        "params": weighted.params,
        "param_errors": _errors(weighted.params, {**TRUTH, **VALUE_TRUTH}),
        "non_finite_predictions": int((~np.isfinite(predictions.drop(columns="wait").to_numpy())).sum()),
        "goal_s": SPEED_GOAL_S,
        "meets_goal": total < SPEED_GOAL_S,
    }


def recovery(n: int, extra_seeds: int) -> dict:
    transactions, truth = simulate_transactions(
        n, **TRUTH, **VALUE_TRUTH, observation_end=END, history_days=HISTORY_DAYS, seed=1
    )
    (predictions, quality, model, messages), pipeline_s = _timed(
        predict_customers, transactions, END, margin_col="margin"
    )
    scored = predictions.set_index("customer_id").join(truth[["alive"]])
    repeat = scored["frequency"] > 0
    auc = float(roc_auc_score(scored.loc[repeat, "alive"], scored.loc[repeat, "probability_alive"]))
    errors = _errors(model.params, TRUTH)
    figures = quality.set_index(["model", "metric", "segment"])["value"]
    hourly = rfm_summary(
        transactions, "customer_id", "ordered_at", observation_end=END, freq="h", freq_multiplier=168
    )
    hourly_errors = _errors(fit_clv(hourly).params, TRUTH)

    seeds = []
    for seed in range(2, 2 + extra_seeds):
        tx, seed_truth = simulate_transactions(
            n, **TRUTH, **VALUE_TRUTH, observation_end=END, history_days=HISTORY_DAYS, seed=seed
        )
        summary = rfm_summary(
            tx, "customer_id", "ordered_at", observation_end=END, freq="D", freq_multiplier=7
        )
        fitted = fit_clv(summary)
        rep = summary["frequency"] > 0
        seed_auc = roc_auc_score(
            seed_truth["alive"].reindex(summary.index)[rep], fitted.probability_alive(summary)[rep]
        )
        seeds.append({"seed": seed, "errors": _errors(fitted.params, TRUTH), "auc": float(seed_auc)})

    return {
        "customers": n,
        "transactions": len(transactions),
        "truth": TRUTH,
        "params": {k: model.params[k] for k in TRUTH},
        "errors": errors,
        "standard_errors": model.diagnostics["bgnbd"]["standard_errors"],
        "auc_probability_alive_repeat_buyers": auc,
        "pipeline_s": pipeline_s,
        "holdout_relative_aggregate_purchase_error": float(
            figures["clv_holdout", "relative_aggregate_purchase_error", "all"]
        ),
        "churn_risk_auc": float(figures["churn_risk", "auc", "all"]),
        "messages": messages,
        "hour_resolution_errors": hourly_errors,
        "other_seeds": seeds,
        "goal_max_error": RECOVERY_GOAL,
        "goal_auc": AUC_GOAL,
        "meets_goal": max(abs(e) for e in errors.values()) <= RECOVERY_GOAL and auc >= AUC_GOAL,
    }


def ranges(n: int, n_samples: int, pareto: bool) -> dict:
    transactions, _ = simulate_transactions(
        n, **TRUTH, **VALUE_TRUTH, observation_end=END, history_days=HISTORY_DAYS, seed=1
    )
    summary = rfm_summary(
        transactions, "customer_id", "ordered_at", "revenue", observation_end=END, freq="D", freq_multiplier=7
    )
    del transactions
    unique_rows = len(summary[["frequency", "recency", "T"]].drop_duplicates())
    unique_value_rows = len(summary[["frequency", "recency", "T", "monetary_value"]].drop_duplicates())
    out: dict = {
        "customers": n,
        "unique_rows": unique_rows,
        "unique_value_rows": unique_value_rows,
        "n_samples": n_samples,
    }
    models = ["bgnbd", "pareto_nbd"] if pareto else ["bgnbd"]
    for name in models:
        model, fit_s = _timed(fit_clv, summary, model=name)
        purchases, purchase_s = _timed(model.purchase_interval, summary, 90 / 7, 0.8)
        values, value_s = _timed(model.value_interval, summary, 12, 0.8, n_samples=n_samples)
        out[name] = {
            "fit_s": fit_s,
            "purchase_interval_90d_s": purchase_s,
            "value_interval_12m_s": value_s,
            "mean_purchases_90d_low": float(purchases["low"].mean()),
            "mean_purchases_90d_high": float(purchases["high"].mean()),
            "mean_expected_purchases_90d": float(model.expected_purchases(summary, 90 / 7).mean()),
            "mean_clv_12m_low": float(values["low"].mean()),
            "mean_clv_12m_high": float(values["high"].mean()),
            "mean_clv_12m": float(model.clv(summary).mean()),
        }
    out["cdnow"] = cdnow_ranges()
    return out


def cdnow_ranges() -> dict:
    from importlib.resources import files

    master = pd.read_csv(
        files("lifetimes") / "datasets" / "CDNOW_master.txt",
        sep=r"\s+",
        dtype={"customer_id": str, "date": str},
    )
    master["date"] = pd.to_datetime(master["date"], format="%Y%m%d")
    out: dict = {"customers": int(master["customer_id"].nunique())}
    for name in ("bgnbd", "pareto_nbd"):
        holdout, _ = holdout_predictions(
            master, "customer_id", "date", None, "1997-09-30", "1998-06-30", model=name, interval_level=0.8
        )
        figures = holdout_metrics(holdout).query("segment == 'all'").set_index("metric")["value"]
        out[name] = {
            k: float(figures[k])
            for k in (
                "interval_coverage_80",
                "interval_mean_width_80",
                "interval_expected_coverage_80",
                "interval_coverage_gap_80",
                "interval_share_zero_width_80",
                "purchases_mae",
                "purchases_rmse",
                "predicted_total_purchases",
                "actual_total_purchases",
            )
        }
    cal = calibration_and_holdout_summary(
        master, "customer_id", "date", "1997-09-30", "1998-06-30", freq="D", freq_multiplier=7
    )
    full = rfm_summary(
        master, "customer_id", "date", observation_end="1998-06-30", freq="D", freq_multiplier=7
    )
    choice = fit_clv(full, model="auto", holdout=cal).diagnostics["model_choice"]
    out["auto_choice"] = choice["chosen"]
    out["auto_holdout_mae"] = {k: v.get("holdout_mae") for k, v in choice["candidates"].items()}
    return out


def _print_ranges(result: dict) -> None:
    r = result
    print(
        f"\n### Ranges: {r['customers']:,} customers ({r['unique_rows']:,} unique (x, t_x, T) rows, "
        f"{r['unique_value_rows']:,} with the value; {r['n_samples']} draws per row for the value)\n"
    )
    print(
        "| model | fit s | purchase_interval 90 d s | value_interval 12 m s | mean 90 d range | mean 12 m range |"
    )
    print("|---|---:|---:|---:|---|---|")
    for name in ("bgnbd", "pareto_nbd"):
        if name not in r:
            continue
        m = r[name]
        print(
            f"| {name} | {m['fit_s']:.1f} | {m['purchase_interval_90d_s']:.1f} | {m['value_interval_12m_s']:.1f} "
            f"| {m['mean_purchases_90d_low']:.2f}–{m['mean_purchases_90d_high']:.2f} "
            f"(mean {m['mean_expected_purchases_90d']:.2f}) | {m['mean_clv_12m_low']:.0f}–"
            f"{m['mean_clv_12m_high']:.0f} (CLV {m['mean_clv_12m']:.0f}) |"
        )
    c = r["cdnow"]
    print(f"\n### CDNOW 39/39 weeks, {c['customers']:,} customers, day resolution: 80 % purchase ranges\n")
    print("| model | coverage | model-expected coverage | gap | mean width | [k, k] ranges | holdout MAE |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("bgnbd", "pareto_nbd"):
        m = c[name]
        print(
            f"| {name} | {m['interval_coverage_80']:.3f} | {m['interval_expected_coverage_80']:.3f} | "
            f"{m['interval_coverage_gap_80']:+.3f} | {m['interval_mean_width_80']:.2f} | "
            f"{m['interval_share_zero_width_80']:.1%} | {m['purchases_mae']:.4f} |"
        )
    print(
        f"\nfit_clv(model='auto') on this split chooses: {c['auto_choice']} (holdout MAE {c['auto_holdout_mae']})"
    )


def _print(speed_result: dict, recovery_result: dict) -> None:
    s = speed_result
    print(
        f"\n### Speed: {s['customers']:,} customers, {s['orders']:,} orders "
        "(weeks at day resolution; the pipeline fits at hour resolution: see --all-predictions)\n"
    )
    print("| step | seconds | rows |")
    print("|---|---:|---:|")
    print(f"| simulate (not part of the total) | {s['simulate_s']:.1f} | {s['orders']:,} |")
    print(f"| rfm_summary | {s['rfm_summary_s']:.1f} | {s['customers']:,} |")
    print(f"| fit_clv, all rows | {s['fit_all_rows_s']:.1f} | {s['customers']:,} |")
    print(
        f"| fit_clv, unique rows + weights (default) | {s['fit_unique_rows_s']:.1f} | {s['unique_rows']:,} |"
    )
    print(
        f"| fit_clv, unique rows, weekly periods | {s['fit_unique_rows_weekly_s']:.1f} | "
        f"{s['unique_rows_weekly']:,} |"
    )
    print(
        f"| predictions (P(alive), 3 horizons, order value, 12-month CLV, next order) | {s['predict_s']:.1f} | |"
    )
    print(
        f"| **CLV total (summary + default fit + predictions)** | **{s['clv_total_s']:.1f}** | "
        f"goal < {s['goal_s']:.0f} s |"
    )
    print(
        f"\nunique-rows fit vs all-rows fit: largest relative parameter difference "
        f"{s['max_relative_param_difference_unique_vs_all']:.1e}; non-finite predictions: "
        f"{s['non_finite_predictions']}"
    )

    r = recovery_result
    print(
        f"\n### Recovery: {r['customers']:,} simulated customers ({r['transactions']:,} orders) "
        "through predict_customers\n"
    )
    print("| parameter | truth | fitted | error | SE | hour resolution error |")
    print("|---|---:|---:|---:|---:|---:|")
    for k, truth in r["truth"].items():
        print(
            f"| {k} | {truth:g} | {r['params'][k]:.4f} | {r['errors'][k]:+.2%} | "
            f"{r['standard_errors'][k] / truth:.2%} | {r['hour_resolution_errors'][k]:+.2%} |"
        )
    print(
        f"\nAUC of P(alive) vs truly alive among repeat buyers: {r['auc_probability_alive_repeat_buyers']:.3f} "
        f"(goal ≥ {r['goal_auc']}); whole pipeline {r['pipeline_s']:.1f} s; holdout aggregate error "
        f"{r['holdout_relative_aggregate_purchase_error']:+.2%}; churn_risk AUC {r['churn_risk_auc']:.3f}"
    )
    if r["other_seeds"]:
        print("\n| seed | " + " | ".join(r["truth"]) + " | AUC |")
        print("|---|" + "---:|" * (len(r["truth"]) + 1))
        for row in r["other_seeds"]:
            cells = " | ".join(f"{row['errors'][k]:+.2%}" for k in r["truth"])
            print(f"| {row['seed']} | {cells} | {row['auc']:.3f} |")
    print(f"\nmeets goals: speed {speed_result['meets_goal']}, recovery {r['meets_goal']}")


def all_predictions(n: int) -> dict:
    """Everything the pipeline's customer models do, at ``n`` customers, as the asset calls it
    (``predict_customers`` with ``PIPELINE_SETTINGS``: weeks at hour resolution): the automatic choice
    between BG/NBD and Pareto/NBD on the last 90 days, the fit on all, every per-customer prediction with
    its 80 % ranges, the holdout validation and the churn classifier. Goal: under 2 minutes at 1,000,000."""
    transactions, _ = simulate_transactions(
        n, **TRUTH, **VALUE_TRUTH, observation_end=END, history_days=HISTORY_DAYS, seed=1
    )
    started = time.perf_counter()
    predictions, quality, model, messages = predict_customers(
        transactions, END, **PIPELINE_SETTINGS.predict_arguments()
    )
    seconds = time.perf_counter() - started
    choice = quality[quality["metric"] == "model_choice"].set_index("model")["value"].to_dict()
    return {
        "customers": n,
        "orders": len(transactions),
        "seconds": seconds,
        "goal_s": 120.0,
        "meets_goal": seconds < 120.0,
        "purchase_model": model.purchase_model if model is not None else None,
        "model_choice": choice,
        "scored": len(predictions),
        "non_finite_ranges": int(
            (~np.isfinite(predictions[["clv_12m_low", "clv_12m_high", "expected_purchases_90d_high"]]))
            .sum()
            .sum()
        ),
        "messages": messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 customers for the speed part")
    parser.add_argument("--customers", type=int, default=None, help="customers for the speed part")
    parser.add_argument("--recovery-customers", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=4, help="extra seeds for the recovery spread")
    parser.add_argument("--only-ranges", action="store_true", help="run only part 3 (ranges)")
    parser.add_argument("--skip-ranges", action="store_true", help="skip part 3 (ranges)")
    parser.add_argument("--pareto", action="store_true", help="part 3 also for Pareto/NBD (slow fit)")
    parser.add_argument("--samples", type=int, default=500, help="Monte-Carlo draws per row for value ranges")
    parser.add_argument(
        "--all-predictions", action="store_true",
        help="only time predict_customers as the pipeline calls it (choice, fit, every prediction, ranges)",
    )  # fmt: skip
    args = parser.parse_args()
    n = args.customers or (100_000 if args.quick else 1_000_000)
    if args.all_predictions:
        result = all_predictions(n)
        print(
            f"\n### predict_customers as the pipeline calls it: {result['customers']:,} customers, "
            f"{result['orders']:,} orders\n\n{result['seconds']:.1f} s (goal < {result['goal_s']:.0f} s); "
            f"purchase model {result['purchase_model']} {result['model_choice']}; {result['scored']:,} scored; "
            f"non-finite ranges {result['non_finite_ranges']}"
        )
        for message in result["messages"]:
            print(f"- {message}")
        target = RESULTS.with_name(f"clv_all_predictions_{n}.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8")
        print(f"\nwrote {target.relative_to(ROOT)}")
        return

    ranges_result = None if args.skip_ranges else ranges(n, args.samples, args.pareto)
    if args.only_ranges:
        _print_ranges(ranges_result)
        target = RESULTS.with_name("clv_ranges.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(ranges_result, indent=2, default=float) + "\n", encoding="utf-8")
        print(f"\nwrote {target.relative_to(ROOT)}")
        return
    speed_result = speed(n)
    recovery_result = recovery(args.recovery_customers, args.seeds)
    _print(speed_result, recovery_result)
    if ranges_result is not None:
        _print_ranges(ranges_result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "speed": speed_result,
                "recovery": recovery_result,
                "ranges": ranges_result,
            },
            indent=2,
            default=float,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
