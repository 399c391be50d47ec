"""Speed and memory of the association-rule miners on the UCI Online Retail baskets, and of recommend().

Run from the repository root::

    .venv/bin/python benchmarks/basket.py

Each measurement runs in a fresh Python process so that peak memory belongs to that miner alone. Peak
memory is the process's peak resident set size while mining (Linux VmHWM, reset just before the call
through /proc/self/clear_refs; elsewhere the lifetime peak from getrusage), so it includes the
interpreter, the libraries and the input data held in memory. The time ratio of ``mine_rules`` to the
raw C call comes from alternating runs in one process, so that load from elsewhere on the machine hits
both alike. Prints a Markdown table and writes benchmarks/results/basket.json.

The goal (issue: market-basket rules): ``mine_rules`` finds the same 6,223 rules at support 0.005 /
confidence 0.5 as Borgelt's C code, within twice its time, with a peak under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
BASKETS = DATASETS / "online_retail_baskets" / "online_retail_baskets.csv"
RESULTS = ROOT / "benchmarks" / "results" / "basket.json"
MIN_SUPPORT, MIN_CONFIDENCE = 0.005, 0.5
EXPECTED_RULES = 6223
REPEATS = {"pyfim_raw": 5, "mine_rules_fim": 5, "mine_rules_mlxtend": 1, "recommend_100k": 1}


def _rss_peak_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    # ru_maxrss is kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024


def _rss_now_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _measure(run, repeats: int) -> dict:
    """Time ``run`` ``repeats`` times; memory is the peak during the first call."""
    import gc

    gc.collect()
    baseline = _rss_now_mb()
    reset = _reset_peak()
    times = []
    result = None
    for i in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        if i == 0:
            peak = _rss_peak_mb()
    return {
        "rules": result,
        "seconds_best": min(times),
        "seconds_median": sorted(times)[len(times) // 2],
        "repeats": repeats,
        "peak_rss_mb": round(peak, 1),
        "rss_before_mb": round(baseline, 1),
        "peak_is_during_call": reset,
    }


def _worker(name: str, long_csv: Path) -> dict:
    """One measurement, in this (fresh) process."""
    if name == "pyfim_raw":
        import fim

        transactions = [line.split(",") for line in BASKETS.read_text().splitlines()]
        return _measure(
            lambda: len(fim.apriori(transactions, target="r", supp=0.5, conf=50, zmin=2, mode="o")),
            REPEATS[name],
        )

    import pandas as pd

    baskets = pd.read_csv(long_csv, dtype={"basket_id": "int64", "item": str}, keep_default_na=False)
    if name in ("mine_rules_fim", "mine_rules_mlxtend"):
        from orchestration.analytics.basket import mine_rules

        miner = name.rsplit("_", 1)[1]
        out = _measure(
            lambda: len(mine_rules(baskets, MIN_SUPPORT, MIN_CONFIDENCE, miner=miner)), REPEATS[name]
        )
        if miner == "fim":
            # The time ratio to the C call, from alternating runs in this one process, so that load from
            # other processes on the machine hits both sides alike. (Memory was measured above, before
            # the raw call's transaction lists existed.)
            import fim

            transactions = [line.split(",") for line in BASKETS.read_text().splitlines()]
            raw_times, ours = [], []
            for _ in range(7):
                start = time.perf_counter()
                fim.apriori(transactions, target="r", supp=0.5, conf=50, zmin=2, mode="o")
                raw_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                mine_rules(baskets, MIN_SUPPORT, MIN_CONFIDENCE, miner="fim")
                ours.append(time.perf_counter() - start)
            out["interleaved_best_s"] = {"pyfim_raw": min(raw_times), "mine_rules_fim": min(ours)}
            out["interleaved_ratio"] = min(ours) / min(raw_times)
        return out

    if name == "recommend_100k":
        import numpy as np

        from orchestration.analytics.basket import mine_rules
        from orchestration.analytics.recommend import recommend

        rules = mine_rules(baskets, MIN_SUPPORT, MIN_CONFIDENCE)
        # 100,000 customers with about a million purchases: each history is a random part (1 to 25
        # items) of one or two real baskets, so the rules fire as they would on real histories.
        rng = np.random.default_rng(0)
        grouped = baskets.drop_duplicates().groupby("basket_id")["item"].agg(list)
        items_per_basket = grouped.to_list()
        customers, products = [], []
        for customer in range(100_000):
            pool = [
                x
                for b in rng.integers(0, len(items_per_basket), size=rng.integers(1, 3))
                for x in items_per_basket[b]
            ]
            pool = list(dict.fromkeys(pool))
            k = min(len(pool), int(rng.integers(1, 26)))
            customers.extend([customer] * k)
            products.extend(pool[i] for i in rng.choice(len(pool), size=k, replace=False))
        purchases = pd.DataFrame({"customer_id": customers, "product_id": products})
        n_customers = purchases["customer_id"].nunique()
        # One product in twenty is no longer sold.
        distinct = purchases["product_id"].drop_duplicates().sort_values().to_list()
        active = [p for i, p in enumerate(distinct) if i % 20]
        del customers, products, grouped, items_per_basket
        out = _measure(lambda: recommend(purchases, rules, active_products=active, top_n=3), 1)
        recs = out.pop("rules")
        out["customers"] = int(n_customers)
        out["purchases"] = len(purchases)
        out["rules"] = len(rules)
        out["recommendations"] = len(recs)
        out["customers_with_3"] = int((recs.groupby("customer_id").size() == 3).sum())
        out["share_from_rules"] = round(float((recs["source"] == "rule").mean()), 3)
        return out
    raise ValueError(name)


def _run_in_subprocess(name: str, long_csv: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name, "--long-csv", str(long_csv)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure every miner on the same data in one run, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--long-csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-mlxtend", action="store_true", help="leave out the slow mlxtend miner")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.long_csv)))
        return
    if not BASKETS.exists():
        sys.exit(f"Online Retail baskets not found at {BASKETS}; see ../shared/datasets/README.md")

    names = ["pyfim_raw", "mine_rules_fim", "mine_rules_mlxtend", "recommend_100k"]
    if args.skip_mlxtend:
        names.remove("mine_rules_mlxtend")
    with tempfile.TemporaryDirectory() as tmp:
        # mine_rules takes the long (basket_id, item) layout the warehouse and `ecrm rules` use.
        long_csv = Path(tmp) / "online_retail_long.csv"
        with long_csv.open("w") as fh:
            fh.write("basket_id,item\n")
            for basket_id, line in enumerate(BASKETS.read_text().splitlines()):
                fh.writelines(f"{basket_id},{item}\n" for item in line.split(","))
        results = {name: _run_in_subprocess(name, long_csv) for name in names}

    raw = results["pyfim_raw"]
    fim_run = results["mine_rules_fim"]
    ratio = fim_run["interleaved_ratio"]
    goal = {
        "same_rules": fim_run["rules"] == raw["rules"] == EXPECTED_RULES,
        "time_ratio_to_c": round(ratio, 2),
        "within_2x": ratio <= 2.0,
        "peak_under_300_mb": fim_run["peak_rss_mb"] < 300,
    }
    goal["met"] = goal["same_rules"] and goal["within_2x"] and goal["peak_under_300_mb"]

    print(f"Online Retail baskets, support {MIN_SUPPORT} / confidence {MIN_CONFIDENCE}\n")
    print("| run | rules | best s | median s | peak RSS MB | RSS before MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        r = results[name]
        if name == "recommend_100k":
            continue
        print(
            f"| {name} | {r['rules']:,} | {r['seconds_best']:.3f} | {r['seconds_median']:.3f} "
            f"| {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} |"
        )
    print(
        f"\nmine_rules(miner='fim'): {fim_run['rules']:,} rules, {ratio:.2f}x the C call's time "
        f"(best of 7 alternating runs: {fim_run['interleaved_best_s']['mine_rules_fim']:.3f} s vs "
        f"{fim_run['interleaved_best_s']['pyfim_raw']:.3f} s), "
        f"peak {fim_run['peak_rss_mb']:.0f} MB -> goal {'met' if goal['met'] else 'NOT met'}"
    )
    rec = results["recommend_100k"]
    print(
        f"\nrecommend(): {rec['customers']:,} customers, {rec['purchases']:,} purchases, {rec['rules']:,} rules "
        f"-> {rec['recommendations']:,} recommendations in {rec['seconds_best']:.2f} s, peak "
        f"{rec['peak_rss_mb']:.0f} MB (before {rec['rss_before_mb']:.0f} MB); "
        f"{rec['customers_with_3']:,} customers with 3, {rec['share_from_rules']:.0%} from rules"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": "UCI Online Retail baskets (25,900 baskets, 4,070 items)",
        "min_support": MIN_SUPPORT,
        "min_confidence": MIN_CONFIDENCE,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
        "goal": goal,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
