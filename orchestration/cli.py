"""The ``ecrm`` command: generate demo data, run the pipeline, serve the dashboard, mine rules.

    ecrm generate [--customers N] [--seed S] [--out DIR] [--clean]
    ecrm import FORMAT PATH... [--landing DIR] [--mapping FILE.yml]
    ecrm run [--landing DIR] [--warehouse FILE] [--verbose]
    ecrm dashboard [--warehouse FILE] [--port 8501]
    ecrm demo [--customers N] [--port 8501] [--no-serve]
    ecrm audience [--channel email|sms] [--churn-band high ...] [--min-clv X] [--segment S ...] [--out FILE]
    ecrm rules INPUT.csv --min-support S --min-confidence C [--max-len K] [--miner auto|fim|mlxtend] --out RULES.csv

Paths default to the environment (``ECRM_LANDING``, ``ECRM_WAREHOUSE``) and then to ``data/landing`` and
``data/warehouse/ecrm.duckdb``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration import settings


def _set_paths(landing: str | None = None, warehouse: str | None = None) -> tuple[Path, Path]:
    # Flags win over the environment; the resolved paths go back into the environment so that Dagster's
    # resources and dbt's profile see the same ones.
    if landing:
        os.environ["ECRM_LANDING"] = str(Path(landing).resolve())
    if warehouse:
        os.environ["ECRM_WAREHOUSE"] = str(Path(warehouse).resolve())
    os.environ["ECRM_LANDING"] = str(settings.landing_path())
    os.environ["ECRM_WAREHOUSE"] = str(settings.warehouse_path())
    return settings.landing_path(), settings.warehouse_path()


def cmd_generate(args: argparse.Namespace) -> int:
    """Write a deterministic demo data set: ``OUT/landing/...`` and ``OUT/truth/...``."""
    from orchestration.demo.generator import generate

    out = Path(args.out)
    if (out / "landing").exists() and not (out / "truth" / "model_params.json").exists() and not args.force:
        # Generating replaces OUT/landing: never over a user's own files without being told to.
        print(
            f"{out / 'landing'} holds files that were not generated; use another --out or --force.",
            file=sys.stderr,
        )
        return 2
    summary = generate(out, customers=args.customers, seed=args.seed, clean=args.clean)
    print(f"Generated demo data for {args.customers:,} customers (seed {args.seed}) in {out}/")
    for key, value in summary.items():
        if isinstance(value, dict):
            for k, v in value.items():
                print(f"  {key}.{k}: {v:,}" if isinstance(v, int) else f"  {key}.{k}: {v}")
        else:
            print(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Convert a shop platform's export into the landing layout and print what became of every row."""
    from orchestration.importers import ImportFailed, run_import

    if args.format == "generic" and not args.mapping:
        print("ecrm import generic needs --mapping FILE.yml (see README, 'Any other shop').", file=sys.stderr)
        return 2
    landing, _ = _set_paths(args.landing, None)
    options: dict = {"mapping": Path(args.mapping)} if args.format == "generic" else {}
    if args.format == "shopify" and args.exported_at:
        options["exported_at"] = args.exported_at
    started = time.perf_counter()
    try:
        report = run_import(args.format, args.paths, landing, **options)
    except ImportFailed as exc:
        print(f"ecrm import {args.format}: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    print(f"Imported into {landing} in {time.perf_counter() - started:.1f} s; next: ecrm run")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Materialise every asset in dependency order and print what each layer holds."""
    from orchestration.pipeline import run_pipeline

    landing, _ = _set_paths(args.landing, args.warehouse)
    if not landing.exists():
        print(
            f"No landing folder at {landing}: run `ecrm generate` or point --landing at your files.",
            file=sys.stderr,
        )
        return 2
    report = run_pipeline(verbose=args.verbose)
    print(report.render())
    return 0 if report.success else 1


def _serve(port: int, warehouse: Path) -> int:
    env = dict(os.environ)
    env["ECRM_PUBLISHED"] = str(settings.published_path(warehouse))
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(settings.DASHBOARD_APP),
        "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    print(f"Dashboard: http://localhost:{port}  (Ctrl+C to stop)", flush=True)
    return subprocess.call(cmd, env=env)


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the Streamlit dashboard on the published copy of the warehouse."""
    _, warehouse = _set_paths(None, args.warehouse)
    if not settings.published_path(warehouse).exists():
        print("No published warehouse yet: run `ecrm run` first.", file=sys.stderr)
        return 2
    return _serve(args.port, warehouse)


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate the demo data if absent, run everything, print the summary, then serve the dashboard."""
    root = Path(args.data)
    landing, warehouse = _set_paths(str(root / "landing"), str(root / "warehouse" / "ecrm.duckdb"))
    started = time.perf_counter()
    if not landing.exists():
        from orchestration.demo.generator import generate

        print(f"Generating demo data for {args.customers:,} customers ...", flush=True)
        generate(root, customers=args.customers, seed=args.seed)
    from orchestration.pipeline import run_pipeline

    report = run_pipeline(verbose=args.verbose)
    print(report.render())
    print(f"Demo pipeline finished in {time.perf_counter() - started:.0f} s.")
    if not report.success:
        return 1
    if args.no_serve:
        return 0
    return _serve(args.port, warehouse)


def cmd_rules(args: argparse.Namespace) -> int:
    """Mine association rules from any long basket CSV (``basket_id,item``) and write them as CSV."""
    from orchestration.analytics.basket import mine_rules_csv

    n = mine_rules_csv(
        Path(args.input), Path(args.out), min_support=args.min_support, min_confidence=args.min_confidence,
        max_len=args.max_len, miner=args.miner,
    )  # fmt: skip
    print(f"{n:,} rules written to {args.out}")
    return 0


def cmd_audience(args: argparse.Namespace) -> int:
    """Export a consent-respecting audience with recommended products to CSV."""
    from orchestration.analytics.audiences import build_audience
    from orchestration.warehouse import connect

    _, warehouse = _set_paths(None, args.warehouse)
    source = settings.published_path(warehouse)
    if not source.exists():
        print("No published warehouse yet: run `ecrm run` first.", file=sys.stderr)
        return 2
    with connect(source, read_only=True) as con:
        audience = build_audience(
            con, channel=args.channel, churn_bands=tuple(args.churn_band or ()) or None, min_clv=args.min_clv,
            segments=tuple(args.segment or ()) or None, recommendations=args.recommendations,
        )  # fmt: skip
    out = Path(args.out) if args.out else settings.exports_path() / f"audience_{args.channel}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    audience.to_csv(out, index=False)
    print(f"{len(audience):,} customers with {args.channel} consent written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ecrm`` command."""
    parser = argparse.ArgumentParser(prog="ecrm", description="ecrm: the e-commerce customer warehouse")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write deterministic demo data (landing files and truth)")
    g.add_argument(
        "--customers", type=int, default=10_000, help="people who buy at least once (default 10000)"
    )
    g.add_argument("--seed", type=int, default=42)
    g.add_argument(
        "--out", default="data", help="output folder; landing files go to OUT/landing (default data)"
    )
    g.add_argument("--clean", action="store_true", help="leave out the deliberately bad rows")
    g.add_argument("--force", action="store_true", help="replace OUT/landing even if it was not generated")
    g.set_defaults(func=cmd_generate)

    i = sub.add_parser("import", help="convert a shop platform's export into the landing layout")
    i.add_argument(
        "format", choices=["olist", "online-retail", "shopify", "generic"], help="the export's format"
    )
    i.add_argument("paths", nargs="+", metavar="PATH", help="export files or folders")
    i.add_argument("--landing", help="landing folder (env ECRM_LANDING, default data/landing)")
    i.add_argument("--mapping", help="YAML mapping of a CSV onto one landing entity (format generic)")
    i.add_argument(
        "--exported-at",
        help="shopify: when the customers export was taken (ISO 8601), dates accounts without orders",
    )
    i.set_defaults(func=cmd_import)

    r = sub.add_parser("run", help="load, build and model everything; print a summary")
    r.add_argument("--landing", help="landing folder (env ECRM_LANDING, default data/landing)")
    r.add_argument("--warehouse", help="DuckDB file (env ECRM_WAREHOUSE, default data/warehouse/ecrm.duckdb)")
    r.add_argument(
        "--verbose", action="store_true", help="stream Dagster's and dbt's logs instead of progress"
    )
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("dashboard", help="serve the management dashboard")
    d.add_argument("--warehouse", help="DuckDB file whose published copy is shown")
    d.add_argument("--port", type=int, default=8501)
    d.set_defaults(func=cmd_dashboard)

    m = sub.add_parser("demo", help="generate demo data if absent, run everything, serve the dashboard")
    m.add_argument("--customers", type=int, default=10_000)
    m.add_argument("--seed", type=int, default=42)
    m.add_argument("--data", default="data", help="folder for landing, warehouse and exports (default data)")
    m.add_argument("--port", type=int, default=8501)
    m.add_argument("--no-serve", action="store_true", help="stop after the summary")
    m.add_argument(
        "--verbose", action="store_true", help="stream Dagster's and dbt's logs instead of progress"
    )
    m.set_defaults(func=cmd_demo)

    a = sub.add_parser("audience", help="export a consent-respecting audience with recommended products")
    a.add_argument("--channel", choices=["email", "sms"], default="email")
    a.add_argument("--churn-band", action="append", choices=["low", "medium", "high"], help="repeatable")
    a.add_argument("--min-clv", type=float, default=None, help="minimum predicted 12-month value")
    a.add_argument("--segment", action="append", help="RFM segment, repeatable (e.g. champions, at_risk)")
    a.add_argument("--recommendations", type=int, default=3, help="recommended products per customer")
    a.add_argument("--warehouse", help="DuckDB file whose published copy is read")
    a.add_argument("--out", help="CSV to write (default data/exports/audience_<channel>.csv)")
    a.set_defaults(func=cmd_audience)

    b = sub.add_parser("rules", help="mine association rules from a long basket CSV (basket_id,item)")
    b.add_argument("input", help="CSV with columns basket_id,item")
    b.add_argument("--min-support", type=float, required=True)
    b.add_argument("--min-confidence", type=float, required=True)
    b.add_argument("--max-len", type=int, default=None, help="largest itemset (antecedent + consequent)")
    b.add_argument("--miner", choices=["auto", "fim", "mlxtend"], default="auto")
    b.add_argument("--out", required=True, help="rules CSV to write")
    b.set_defaults(func=cmd_rules)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ecrm`` console script."""
    settings.quiet_telemetry()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
