"""BG/NBD recovery through the whole pipeline: landing files → contracts → identity resolution → fct_orders → fit.

    python benchmarks/clv_pipeline.py --customers 50000 [--seed 5]

Generates demo data, loads it, builds the dbt models up to ``fct_orders`` and ``customer_identity_map``,
fits BG/NBD + Gamma-Gamma on the orders and compares the parameters with ``truth/model_params.json``, and
probability alive with each person's true state (AUC among repeat buyers). Goal: each of r, α, a, b within
7 %, AUC ≥ 0.85. Writes ``benchmarks/results/clv_pipeline_<customers>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from orchestration import settings
from orchestration.demo.generator import generate
from orchestration.loading.loader import load_landing
from orchestration.warehouse import ensure_ml_tables

# The scoring against the generator's truth is test support code, kept out of the runtime package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.scoring import score_clv

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ecrm_clv_"))
    timings = {}
    try:
        t = time.perf_counter()
        generate(work, customers=args.customers, seed=args.seed)
        timings["generate_s"] = time.perf_counter() - t
        warehouse = work / "ecrm.duckdb"
        t = time.perf_counter()
        with duckdb.connect(str(warehouse)) as con:
            load_landing(con, work / "landing")
            ensure_ml_tables(con)
        timings["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        env = {**os.environ, "ECRM_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
        subprocess.run(
            [settings.dbt_executable(), "run", "--quiet", "--select", "+fct_orders", "+customer_identity_map",
             "--project-dir", str(settings.DBT_PROJECT_DIR), "--profiles-dir", str(settings.DBT_PROJECT_DIR),
             "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
            env=env, check=True,
        )  # fmt: skip
        timings["dbt_s"] = time.perf_counter() - t
        with duckdb.connect(str(warehouse), read_only=True) as con:
            orders = con.execute(
                "select customer_id, ordered_at, net_revenue from marts.fct_orders"
            ).fetch_df()
            identity = con.execute(
                "select source, source_id, customer_id from marts.customer_identity_map"
            ).fetch_df()
        t = time.perf_counter()
        report = score_clv(orders, identity, work / "truth")
        timings["fit_and_score_s"] = time.perf_counter() - t
    finally:
        shutil.rmtree(work, ignore_errors=True)
    errors = report["relative_errors"]
    report.update(
        seed=args.seed, timings=timings, orders=len(orders),
        goal={"params_within_7pct": all(abs(e) <= 0.07 for e in errors.values()),
              "auc_at_least_0.85": report["auc_probability_alive_repeat_buyers"] >= 0.85},
    )  # fmt: skip
    print("| parameter | truth | fitted | error |\n|---|---:|---:|---:|")
    for k, e in errors.items():
        print(f"| {k} | {report['truth'][k]:.3f} | {report['params'][k]:.3f} | {e:+.1%} |")
    print(
        f"\nAUC of probability alive (repeat buyers): {report['auc_probability_alive_repeat_buyers']:.3f}"
        f" (with the true parameters: {report['auc_with_true_parameters']:.3f})"
    )
    print(f"goal met: {report['goal']}; timings: { {k: round(v, 1) for k, v in timings.items()} }")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"clv_pipeline_{args.customers}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
