"""Run every asset once, in dependency order, and summarise what each layer holds.

Used by ``ecrm run`` and ``ecrm demo``; the same job is available in the Dagster UI as ``ecrm_everything``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestration import settings
from orchestration.loading.loader import unknown_files
from orchestration.warehouse import connect

LAYERS = ("raw", "quarantine", "staging", "intermediate", "marts", "ml", "ops")


@dataclass
class RunReport:
    """What a pipeline run did: success, rows per layer and table, quarantine, failed checks."""

    success: bool
    seconds: float
    rows_by_layer: dict[str, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    rejected_files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    headline: dict[str, float] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)
    not_eligible: list[str] = field(default_factory=list)
    import_mismatches: list[str] = field(default_factory=list)
    file_warnings: list[str] = field(default_factory=list)
    rows_erased: int = 0
    log_path: str | None = None

    def render(self) -> str:
        """The summary printed at the end of ``ecrm run``."""
        lines = [
            f"ecrm run {'succeeded' if self.success else 'FAILED'} in {self.seconds:.1f} s",
            "",
            "Rows per layer:",
        ]
        lines += [f"  {layer:<13}{n:>14,}" for layer, n in self.rows_by_layer.items()]
        if self.headline:
            lines += ["", "Headline figures (marts):"]
            lines += [
                f"  {k:<28}{v:>16,.2f}" if isinstance(v, float) else f"  {k:<28}{v:>16,}"
                for k, v in self.headline.items()
            ]
        lines += ["", f"Quarantined rows: {sum(self.quarantined.values()):,}"]
        lines += [f"  {t:<28}{n:>10,}" for t, n in sorted(self.quarantined.items()) if n]
        if self.imports:
            lines += ["", "Imported exports (rows written by `ecrm import` = rows read by the loader):"]
            lines += [f"  {i}" for i in self.imports]
            lines += [f"  MISMATCH {m}" for m in self.import_mismatches]
        if self.rows_erased:
            lines += [
                "",
                f"Rows of people erased on request (ecrm forget) kept out of the warehouse: {self.rows_erased:,}",
            ]
        if self.rejected_files:
            lines += ["", "Rejected files:"] + [f"  {e}" for e in self.rejected_files]
        if self.file_warnings:
            lines += ["", "Files loaded with warnings (schema drift, see data_contracts/LANDING.md):"]
            lines += [f"  {w}" for w in self.file_warnings]
        if self.ignored_files:
            lines += [
                "",
                "Ignored files (no contract covers their folder or format; see data_contracts/LANDING.md):",
            ]
            lines += [f"  {f}" for f in self.ignored_files]
        if self.not_eligible:
            lines += [
                "",
                "Customer models not fitted: the history is too short (ECRM_MIN_REPEAT_CUSTOMERS, "
                "ECRM_MIN_HISTORY_DAYS): " + "; ".join(self.not_eligible),
            ]
        lines += ["", f"Failed checks: {len(self.failed_checks)}"] + [f"  {c}" for c in self.failed_checks]
        if self.failed_steps:
            lines += ["", "Failed steps:"] + [f"  {s}" for s in self.failed_steps]
        if self.log_path:
            lines += ["", f"Full Dagster and dbt log: {self.log_path}"]
        return "\n".join(lines)


def warehouse_summary(report: RunReport) -> RunReport:
    """Fill ``report`` with row counts per layer, quarantine counts and headline figures."""
    path = settings.warehouse_path()
    if not path.exists():
        return report
    # dbt's subprocess may still be closing the file when the run reports done: wait for it.
    with connect(path, read_only=True, wait_seconds=30) as con:
        tables = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_schema in ({}) order by 1, 2".format(", ".join(f"'{s}'" for s in LAYERS))
        ).fetchall()
        for schema, name, _ in tables:
            n = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            report.tables[f"{schema}.{name}"] = int(n)
            report.rows_by_layer[schema] = report.rows_by_layer.get(schema, 0) + int(n)
            if schema == "quarantine":
                report.quarantined[name] = int(n)
        report.rejected_files = (
            [
                r[0]
                for r in con.execute(
                    "select error from ops.load_manifest where status = 'rejected' order by path"
                ).fetchall()
            ]
            if "ops.load_manifest" in report.tables
            else []
        )
        if "ops.load_manifest" in report.tables:
            reconcile_imports(con, settings.landing_path(), report)
            manifest_columns = {
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'ops' and table_name = 'load_manifest'"
                ).fetchall()
            }
            if {"warnings", "rows_erased"} <= manifest_columns:
                report.file_warnings = [
                    f"{path}: {warning}"
                    for path, warning in con.execute(
                        "select path, warnings from ops.load_manifest where warnings is not null order by path"
                    ).fetchall()
                ]
                report.rows_erased = int(
                    con.execute("select coalesce(sum(rows_erased), 0) from ops.load_manifest").fetchone()[0]
                )
        if "marts.fct_orders" in report.tables:
            orders, customers, revenue, margin = con.execute(
                "select count(*), count(distinct customer_id), sum(revenue), sum(gross_margin) from marts.fct_orders"
            ).fetchone()
            report.headline = {
                "orders": int(orders),
                "buying customers": int(customers),
                "revenue": float(revenue or 0),
                "gross margin": float(margin or 0),
            }
        if "ml.model_quality" in report.tables:
            report.not_eligible = [
                f"{metric} {value:,.0f} < {threshold:,.0f}"
                for metric, value, threshold in con.execute(
                    "select metric, value, threshold from ml.model_quality "
                    "where model = 'eligibility' and passed = false order by metric"
                ).fetchall()
            ]
        if "marts.customer_360" in report.tables:
            report.headline["customers (360)"] = report.tables["marts.customer_360"]
    return report


def reconcile_imports(con, landing: Path, report: RunReport) -> None:
    """Compare every landing file an ``ecrm import`` wrote (its saved report) with the load manifest: the
    loader must have read exactly the rows the importer wrote, and then loaded or quarantined each."""
    from orchestration.importers.common import load_reports

    manifest = {
        row[0]: row[1:]
        for row in con.execute(
            "select path, rows_read, rows_loaded, rows_quarantined, status from ops.load_manifest"
        ).fetchall()
    }
    for saved in load_reports(landing):
        read = sum(f["rows_read"] for f in saved["files"])
        aside = sum(sum(f["set_aside"].values()) for f in saved["files"])
        written = sum(saved["landing_files"].values())
        loaded = sum(manifest.get(p, (0, 0, 0, ""))[1] for p in saved["landing_files"])
        quarantined = sum(manifest.get(p, (0, 0, 0, ""))[2] for p in saved["landing_files"])
        report.imports.append(
            f"{saved['format']}: {read:,} rows read from {len(saved['files'])} file(s), {aside:,} set aside by "
            f"the importer; {written:,} landing rows -> {loaded:,} loaded, {quarantined:,} quarantined"
        )
        for path, rows in sorted(saved["landing_files"].items()):
            entry = manifest.get(path)
            if entry is None:
                report.import_mismatches.append(f"{path}: written by the import but not in the load manifest")
            elif entry[3] != "unchanged" and entry[0] != rows:
                report.import_mismatches.append(
                    f"{path}: {rows:,} rows written, {entry[0]:,} read by the loader"
                )


def log_file(warehouse: Path) -> Path:
    """Where a run's full Dagster and dbt log goes: ``logs/`` beside the warehouse, one file per run."""
    import time

    return warehouse.parent / "logs" / f"ecrm-run-{time.strftime('%Y%m%d-%H%M%S')}.log"


def run_pipeline(verbose: bool = True, log_path: Path | None = None, wait: bool | float = False) -> RunReport:
    """Materialise every asset in-process (one DuckDB writer) and return the run report.

    With ``verbose`` Dagster's and dbt's logs stream to the terminal as they come. Without it they go to
    ``log_path`` (default :func:`log_file`) and the terminal shows one progress line per stage.

    The whole run holds the warehouse lock (:mod:`orchestration.locking`, re-entrant, so a caller may hold
    it already). If another process holds it, :class:`~orchestration.locking.WarehouseBusy` is raised at
    once, or after waiting: without limit for ``wait=True``, at most ``wait`` seconds for a number.
    """
    import sys
    import time

    from orchestration.locking import warehouse_lock

    def say_waiting(holder) -> None:
        who = holder.describe() if holder else "another run"
        print(f"Waiting for the run holding the warehouse: {who} ...", file=sys.stderr, flush=True)

    # The lock first: a run refused because another holds the warehouse says so at once, without loading
    # Dagster and the code location (several seconds).
    with warehouse_lock(settings.warehouse_path(), wait=wait, on_wait=say_waiting):
        import dagster as dg

        from orchestration.definitions import build_definitions, stage_steps
        from orchestration.progress import StageProgress, logs_to_file
        from orchestration.resources import process_tags

        started = time.perf_counter()
        instance = dg.DagsterInstance.get()
        job = build_definitions().resolve_job_def("ecrm_everything")
        # The pid tag lets a later run mark this one failed if this process is killed (fail_abandoned_runs).
        tags = process_tags()
        if verbose:
            result = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
        else:
            log_path = log_path or log_file(settings.warehouse_path())
            with logs_to_file(log_path) as terminal:
                with StageProgress(log_path, stage_steps(), out=terminal):
                    result = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
        return _report(result, started, None if verbose else log_path)


def _report(result, started: float, log_path: Path | None) -> RunReport:
    """The run report of a finished job run: failed checks and steps, then what the warehouse holds."""
    import time

    report = RunReport(success=result.success, seconds=0.0, log_path=str(log_path) if log_path else None)
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                key = evaluation.asset_key.to_user_string()
                report.failed_checks.append(f"{key}: {evaluation.check_name} ({evaluation.severity.value})")
        elif event.event_type_value == "STEP_SKIPPED":
            # A step is skipped when an asset it reads was not reported built: the warehouse is incomplete.
            report.failed_steps.append(f"{event.step_key}: skipped, an asset it reads was not built")
            report.success = False
        elif event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            report.failed_steps.append(
                f"{event.step_key}: {error.message.strip().splitlines()[0] if error else ''}"
            )
    report.seconds = time.perf_counter() - started
    landing = settings.landing_path()
    report.ignored_files = [p.relative_to(landing).as_posix() for p in unknown_files(landing)]
    return warehouse_summary(report)
