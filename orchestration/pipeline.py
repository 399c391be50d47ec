"""Run every asset once, in dependency order, and summarise what each layer holds.

Used by ``ecrm run`` and ``ecrm demo``; the same job is available in the Dagster UI as ``ecrm_everything``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
        if self.rejected_files:
            lines += ["", "Rejected files:"] + [f"  {e}" for e in self.rejected_files]
        if self.ignored_files:
            lines += [
                "",
                "Ignored files (no contract covers their folder or format; see data_contracts/LANDING.md):",
            ]
            lines += [f"  {f}" for f in self.ignored_files]
        lines += ["", f"Failed checks: {len(self.failed_checks)}"] + [f"  {c}" for c in self.failed_checks]
        if self.failed_steps:
            lines += ["", "Failed steps:"] + [f"  {s}" for s in self.failed_steps]
        return "\n".join(lines)


def warehouse_summary(report: RunReport) -> RunReport:
    """Fill ``report`` with row counts per layer, quarantine counts and headline figures."""
    path = settings.warehouse_path()
    if not path.exists():
        return report
    with connect(path, read_only=True) as con:
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
        if "marts.customer_360" in report.tables:
            report.headline["customers (360)"] = report.tables["marts.customer_360"]
    return report


def run_pipeline() -> RunReport:
    """Materialise every asset in-process (one DuckDB writer) and return the run report."""
    import time

    import dagster as dg

    from orchestration.definitions import defs

    started = time.perf_counter()
    instance = dg.DagsterInstance.get()
    result = defs.resolve_job_def("ecrm_everything").execute_in_process(
        instance=instance, raise_on_error=False
    )
    report = RunReport(success=result.success, seconds=0.0)
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                key = evaluation.asset_key.to_user_string()
                report.failed_checks.append(f"{key}: {evaluation.check_name} ({evaluation.severity.value})")
        elif event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            report.failed_steps.append(
                f"{event.step_key}: {error.message.strip().splitlines()[0] if error else ''}"
            )
    report.seconds = time.perf_counter() - started
    landing = settings.landing_path()
    report.ignored_files = [p.relative_to(landing).as_posix() for p in unknown_files(landing)]
    return warehouse_summary(report)
