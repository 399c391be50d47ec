"""The ``ecrm`` command: generate demo data, run the pipeline, serve the dashboard, mine rules.

    ecrm generate [--customers N] [--seed S] [--out DIR] [--clean]
    ecrm import FORMAT PATH... [--landing DIR] [--mapping FILE.yml]
    ecrm run [--landing DIR] [--warehouse FILE] [--verbose] [--wait [SECONDS]]
    ecrm dashboard [--warehouse FILE] [--port 8501]
    ecrm demo [--customers N] [--port 8501] [--no-serve] [--wait [SECONDS]]
    ecrm audience [--channel email|sms] [--churn-band high ...] [--min-clv X] [--segment S ...] [--out FILE]
    ecrm rules INPUT.csv --min-support S --min-confidence C [--max-len K] [--miner auto|fim|mlxtend] --out RULES.csv
    ecrm forget (--email ADDRESS | --phone NUMBER [--country CC] | --customer-id ID | --source SOURCE --source-id ID)
                [--dry-run] [--yes] [--reference TEXT] [--landing DIR] [--warehouse FILE] [--exports DIR] [--wait [SECONDS]]

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
from orchestration.dashboard_server import streamlit_command


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


# Exit code of `ecrm run` and `ecrm demo` when another run holds the warehouse: sysexits' EX_TEMPFAIL
# ("try again later"), so that a cron wrapper can tell a busy warehouse from a failed run (1).
EXIT_BUSY = 75


def _busy(command: str, exc) -> int:
    print(
        f"ecrm {command}: {exc}\nNothing was changed. Wait for that run with `ecrm {command} --wait` "
        f"(or --wait SECONDS), or try again when it has finished.",
        file=sys.stderr,
    )
    return EXIT_BUSY


def cmd_run(args: argparse.Namespace) -> int:
    """Materialise every asset in dependency order and print what each layer holds."""
    from orchestration.locking import WarehouseBusy
    from orchestration.pipeline import run_pipeline

    landing, _ = _set_paths(args.landing, args.warehouse)
    if args.engine:
        os.environ["ECRM_ENGINE"] = args.engine
    try:
        engine = settings.engine()
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if engine == "spark":
        from orchestration.engines import spark_unavailable

        reason = spark_unavailable()
        if reason:
            print(f"--engine spark cannot run here: {reason}.", file=sys.stderr)
            return 2
    if not landing.exists():
        print(
            f"No landing folder at {landing}: run `ecrm generate` or point --landing at your files.",
            file=sys.stderr,
        )
        return 2
    try:
        report = run_pipeline(verbose=args.verbose, wait=args.wait)
    except WarehouseBusy as exc:
        return _busy("run", exc)
    print(report.render())
    return 0 if report.success else 1


def _serve(port: int, warehouse: Path, role: str | None = None, user: str | None = None) -> int:
    env = dict(os.environ)
    env["ECRM_PUBLISHED"] = str(settings.published_path(warehouse))
    # The role and user are configuration of the Streamlit process, never a control on a page.
    if role:
        env["ECRM_DASHBOARD_ROLE"] = role
    if user:
        env["ECRM_DASHBOARD_USER"] = user
    # Relative defaults (audit log, saved audiences, exports) resolve against this working directory.
    env.setdefault("ECRM_AUDIT_LOG", str(settings.audit_log_path()))
    env.setdefault("ECRM_AUDIENCES", str(settings.audiences_path()))
    env.setdefault("ECRM_EXPORTS", str(settings.exports_path()))
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    print(f"Dashboard: http://localhost:{port}  (Ctrl+C to stop)", flush=True)
    return subprocess.call(streamlit_command(port), env=env)


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the Streamlit dashboard on the published copy of the warehouse, in the role given (``--role``,
    else ``ECRM_DASHBOARD_ROLE``, else ``manager``: contacts masked) for the user given (``--user``)."""
    _, warehouse = _set_paths(None, args.warehouse)
    if not settings.published_path(warehouse).exists():
        print("No published warehouse yet: run `ecrm run` first.", file=sys.stderr)
        return 2
    return _serve(args.port, warehouse, role=args.role, user=args.user)


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate the demo data if absent, run everything, print the summary, then serve the dashboard."""
    root = Path(args.data)
    landing, warehouse = _set_paths(str(root / "landing"), str(root / "warehouse" / "ecrm.duckdb"))
    started = time.perf_counter()
    if not landing.exists():
        from orchestration.demo.generator import generate

        print(f"Generating demo data for {args.customers:,} customers ...", flush=True)
        generate(root, customers=args.customers, seed=args.seed)
    from orchestration.locking import WarehouseBusy
    from orchestration.pipeline import run_pipeline

    try:
        report = run_pipeline(verbose=args.verbose, wait=args.wait)
    except WarehouseBusy as exc:
        return _busy("demo", exc)
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
    """Export the customers with consent for one channel, with recommended products, to CSV.

    Consent is the channel's flag in ``marts.customer_360`` (decided in dbt, DECISIONLOG.md "Consent"): an
    SMS unsubscribe keeps a customer in e-mail audiences and the reverse.
    """
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


def _audit():
    """The dashboard's audit log module (``dashboards/audit.py``; the dashboards folder is no package)."""
    import importlib.util

    path = settings.PROJECT_ROOT / "dashboards" / "audit.py"
    spec = importlib.util.spec_from_file_location("ecrm_dashboard_audit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cmd_export_audience(args: argparse.Namespace) -> int:
    """Export a saved audience (``data/audiences/NAME.yml``, saved from the dashboard's Audiences page) with
    each customer's recommended products and reasons to ``data/exports/NAME.csv``, and log the export.

    The list is the one the page exports (``export_audience``): only customers whose consent allows the
    audience's channel, read from the published copy as it is now.
    """
    from orchestration.analytics.audiences import export_audience, load_audience, write_export
    from orchestration.warehouse import connect

    _, warehouse = _set_paths(None, args.warehouse)
    folder = Path(args.audiences).resolve() if args.audiences else settings.audiences_path()
    try:
        spec = load_audience(args.name, folder)
    except FileNotFoundError:
        print(
            f"No saved audience {args.name!r} in {folder} (save one on the Audiences page).", file=sys.stderr
        )
        return 2
    except ValueError as exc:
        print(f"Audience {args.name!r}: {exc}", file=sys.stderr)
        return 2
    source = settings.published_path(warehouse)
    if not source.exists():
        print("No published warehouse yet: run `ecrm run` first.", file=sys.stderr)
        return 2
    with connect(source, read_only=True) as con:
        audience = export_audience(con, spec)
    out = Path(args.out) if args.out else settings.exports_path() / f"{args.name}.csv"
    write_export(audience, out)
    _audit().record(
        "export",
        searched=args.name,
        customer_ids=audience["customer_id"].tolist(),
        details={"audience": args.name, "filters": spec.to_dict(), "file": str(out.resolve()), "via": "cli"},
        role=args.role,
        user=args.user,
    )
    print(f"{len(audience):,} customers with {spec.channel} consent written to {out}")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Erase one person everywhere (GDPR art. 17) and keep them out of later loads; print what was erased.

    Exit codes: 0 erased (or dry run, cancelled, erased before), 1 erased but the rebuild failed or something
    still names them, 2 the request cannot be carried out as given, 3 no record holds the identifier.
    """
    from orchestration.forget import ForgetError, forget
    from orchestration.locking import WarehouseBusy

    if (args.source is None) != (args.source_id is None):
        print("ecrm forget: --source and --source-id go together", file=sys.stderr)
        return 2
    landing, warehouse = _set_paths(args.landing, args.warehouse)
    exports = Path(args.exports).resolve() if args.exports else settings.exports_path()

    def confirm(plan) -> bool:
        print(plan.render().replace("Dry run: nothing was changed.", ""), flush=True)
        answer = input("Erase this person for good? This cannot be undone. [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    interactive = not args.yes and not args.dry_run and sys.stdin.isatty()
    try:
        report = forget(
            warehouse, landing, exports, email=args.email, phone=args.phone, customer_id=args.customer_id,
            source=args.source, source_id=args.source_id, country=args.country, dry_run=args.dry_run,
            reference=args.reference, verbose=args.verbose, wait=args.wait,
            confirm=confirm if interactive else None,
        )  # fmt: skip
    except WarehouseBusy as exc:
        return _busy("forget", exc)
    except ForgetError as exc:
        print(f"ecrm forget: {exc}", file=sys.stdout if exc.exit_code == 0 else sys.stderr)
        return exc.exit_code
    print(report.render())
    return report.exit_code


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", nargs="?", type=float, const=True, default=False, metavar="SECONDS",
        help="if another run holds the warehouse, wait for it (without limit, or at most SECONDS) "
        f"instead of exiting at once with code {EXIT_BUSY}",
    )  # fmt: skip


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
    r.add_argument(
        "--engine",
        choices=settings.ENGINES,
        help="where dbt builds: duckdb (default) or spark (env ECRM_ENGINE; README 'Scaling out')",
    )
    _add_wait(r)
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("dashboard", help="serve the management dashboard")
    d.add_argument("--warehouse", help="DuckDB file whose published copy is shown")
    d.add_argument("--port", type=int, default=8501)
    d.add_argument(
        "--role", choices=["manager", "analyst"], default=None,
        help="manager sees e-mail addresses and phone numbers masked, analyst in clear "
        "(env ECRM_DASHBOARD_ROLE, default manager)",
    )  # fmt: skip
    d.add_argument(
        "--user", default=None, help="who uses the dashboard, for the audit log (env ECRM_DASHBOARD_USER)"
    )
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
    _add_wait(m)
    m.set_defaults(func=cmd_demo)

    a = sub.add_parser("audience", help="export a consent-respecting audience with recommended products")
    a.add_argument(
        "--channel", choices=["email", "sms"], default="email",
        help="consent and contact address of this channel only (default email)",
    )  # fmt: skip
    a.add_argument("--churn-band", action="append", choices=["low", "medium", "high"], help="repeatable")
    a.add_argument("--min-clv", type=float, default=None, help="minimum predicted 12-month value")
    a.add_argument("--segment", action="append", help="RFM segment, repeatable (e.g. champions, at_risk)")
    a.add_argument("--recommendations", type=int, default=3, help="recommended products per customer")
    a.add_argument("--warehouse", help="DuckDB file whose published copy is read")
    a.add_argument("--out", help="CSV to write (default data/exports/audience_<channel>.csv)")
    a.set_defaults(func=cmd_audience)

    x = sub.add_parser(
        "export-audience", help="export an audience saved on the dashboard with recommended products"
    )
    x.add_argument("name", metavar="NAME", help="the saved audience (data/audiences/NAME.yml)")
    x.add_argument(
        "--audiences", help="folder of saved audiences (env ECRM_AUDIENCES, default data/audiences)"
    )
    x.add_argument("--warehouse", help="DuckDB file whose published copy is read")
    x.add_argument("--out", help="CSV to write (default data/exports/NAME.csv)")
    x.add_argument("--role", default=None, help="role recorded in the audit log (env ECRM_DASHBOARD_ROLE)")
    x.add_argument("--user", default=None, help="user recorded in the audit log (env ECRM_DASHBOARD_USER)")
    x.set_defaults(func=cmd_export_audience)

    b = sub.add_parser("rules", help="mine association rules from a long basket CSV (basket_id,item)")
    b.add_argument("input", help="CSV with columns basket_id,item")
    b.add_argument("--min-support", type=float, required=True)
    b.add_argument("--min-confidence", type=float, required=True)
    b.add_argument("--max-len", type=int, default=None, help="largest itemset (antecedent + consequent)")
    b.add_argument("--miner", choices=["auto", "fim", "mlxtend"], default="auto")
    b.add_argument("--out", required=True, help="rules CSV to write")
    b.set_defaults(func=cmd_rules)

    f = sub.add_parser(
        "forget",
        help="erase a person everywhere (right to be forgotten) and keep them out of later loads",
        description="Erase one person from raw, quarantine, every mart and model table, the published copy and "
        "the CSV exports, with every record the identity graph joins to them; later loads drop their rows. "
        "Exit codes: 0 erased, 1 erased but the rebuild failed or something still names them, 2 the request "
        "cannot be carried out as given (ambiguous identifier, no warehouse), 3 no record holds the identifier.",
    )
    who = f.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="an e-mail address of the person (any case)")
    who.add_argument(
        "--phone", help="a phone number of the person, as typed (national numbers: see --country)"
    )
    who.add_argument("--customer-id", help="the unified customer id (marts.customer_360.customer_id)")
    who.add_argument(
        "--source", choices=["crm", "shop", "shop_guest", "web"], help="a source record, with --source-id"
    )
    f.add_argument(
        "--source-id", help="the record's id in that source (CRM id, shop account, guest e-mail, browser)"
    )
    f.add_argument(
        "--country", help="ISO country to read a national --phone with (default: the default phone country)"
    )
    f.add_argument("--dry-run", action="store_true", help="show what would be erased; change nothing")
    f.add_argument("--yes", action="store_true", help="do not ask for confirmation on a terminal")
    f.add_argument(
        "--reference",
        help="the request's ticket or case number, kept in ops.erasure_log (not the person's name or address)",
    )
    f.add_argument("--landing", help="landing folder (env ECRM_LANDING, default data/landing)")
    f.add_argument("--warehouse", help="DuckDB file (env ECRM_WAREHOUSE, default data/warehouse/ecrm.duckdb)")
    f.add_argument(
        "--exports", help="folder of audience exports to clean (env ECRM_EXPORTS, default data/exports)"
    )
    f.add_argument("--verbose", action="store_true", help="stream the rebuild's Dagster and dbt logs")
    _add_wait(f)
    f.set_defaults(func=cmd_forget)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ecrm`` console script."""
    settings.quiet_telemetry()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
