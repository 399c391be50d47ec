"""What ``ecrm forget`` found and did, in counts only, and the summary it prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestration.loading.erasure import ERASURE_LOG


@dataclass
class ErasureReport:
    """What ``ecrm forget`` found and did, in counts (it never holds a clear identifier)."""

    dry_run: bool
    identifier_kind: str
    erasure_id: int | None = None
    customers: int = 0
    records: dict[str, int] = field(default_factory=dict)  # identity-map source -> records
    shared_identifiers: int = 0
    raw: dict[str, int] = field(default_factory=dict)  # table -> rows
    quarantine: dict[str, int] = field(default_factory=dict)
    ml: dict[str, int] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    derived: dict[str, int] = field(default_factory=dict)  # dbt tables naming them before the rebuild
    exports: dict[str, int] = field(default_factory=dict)  # export file -> rows
    exports_unchecked: list[str] = field(default_factory=list)
    audit_entries: int = 0  # entries of the dashboard's access log naming the person (identifiers replaced)
    manifest_files: int = 0
    rebuilt: bool | None = None
    rebuild_seconds: float = 0.0
    failed_steps: list[str] = field(default_factory=list)
    compacted: bool = False
    published: str | None = None
    residue: dict[str, int] = field(default_factory=dict)  # where identifiers are still found
    status: str = "planned"
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def layers(self) -> dict[str, int]:
        """Rows erased per layer."""
        return {
            "raw": sum(self.raw.values()),
            "quarantine": sum(self.quarantine.values()),
            "ml": sum(self.ml.values()),
            "ops": sum(self.ops.values()),
            "intermediate and marts (rebuilt)": sum(self.derived.values()),
            "exports": sum(self.exports.values()),
        }

    @property
    def exit_code(self) -> int:
        """0 when the person is gone (or a dry run / cancelled request), 1 when something is left."""
        return 1 if self.status in ("rebuild_failed", "residue_found") else 0

    def render(self) -> str:
        """The summary printed by ``ecrm forget``."""
        if self.cancelled:
            return "ecrm forget: cancelled, nothing was changed."
        head = "would erase" if self.dry_run else "erased"
        who = f"{self.customers} customer" + ("s" if self.customers != 1 else "")
        lines = [f"ecrm forget ({self.identifier_kind}): {head} {who}"]
        if self.erasure_id is not None:
            lines[0] += f", erasure {self.erasure_id} in {ERASURE_LOG}"
        if self.records:
            lines.append(
                "  records joined by the identity graph: "
                + ", ".join(f"{n} {s}" for s, n in sorted(self.records.items()))
            )
        if self.shared_identifiers:
            lines.append(
                f"  {self.shared_identifiers} e-mail/phone(s) on their records are also held by other customers: "
                "kept there, not erased"
            )
        lines.append("Rows " + ("to erase:" if self.dry_run else "erased:"))
        for layer, n in self.layers.items():
            lines.append(f"  {layer:<34}{n:>10,}")
        for name, tables in (("raw", self.raw), ("quarantine", self.quarantine)):
            detail = ", ".join(f"{t} {n:,}" for t, n in sorted(tables.items()) if n)
            if detail:
                lines.append(f"    {name}: {detail}")
        if self.exports:
            lines.append("    exports: " + ", ".join(f"{f} {n:,}" for f, n in sorted(self.exports.items())))
        if self.audit_entries:
            lines.append(f"    access log entries naming them (identifiers replaced): {self.audit_entries:,}")
        if self.exports_unchecked:
            lines.append("  export files not read (not CSV): " + ", ".join(self.exports_unchecked))
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
            return "\n".join(lines)
        if self.manifest_files:
            lines.append(f"  {self.manifest_files} load manifest row(s) now count them under rows_erased")
        if self.rebuilt:
            lines.append(f"Warehouse rebuilt without them in {self.rebuild_seconds:.0f} s.")
        elif self.rebuilt is False:
            lines.append(
                "REBUILD FAILED: their rows are deleted everywhere, but aggregates count them until a run "
                "succeeds. Fix the failure and run `ecrm run`:"
            )
            lines += [f"  {s}" for s in self.failed_steps]
        if self.compacted:
            lines.append("Warehouse compacted (deleted rows no longer in the file); published copy replaced.")
        if self.residue:
            lines.append("STILL FOUND (rows or bytes holding one of their identifiers):")
            lines += [f"  {where}: {n:,}" for where, n in sorted(self.residue.items())]
        elif self.rebuilt:
            lines.append("Verified: no table of the warehouse or the published copy holds their identifiers.")
        lines += [
            "",
            "The landing files still hold them (the loader keeps them out of every later load): erase the person",
            "in the shop's own systems too, and tell the recipients of exports sent before.",
            f"Done in {self.seconds:.0f} s.",
        ]
        return "\n".join(lines)


def rows_by_table(report: ErasureReport) -> dict[str, int]:
    """Rows erased per table and export file, as ``ops.erasure_log.rows_by_table`` records them."""
    tables = {f"raw.{t}": n for t, n in report.raw.items()}
    tables.update({f"quarantine.{t}": n for t, n in report.quarantine.items()})
    for part in (report.ml, report.ops, report.derived):
        tables.update(part)
    tables.update({f"exports/{f}": n for f, n in report.exports.items()})
    return dict(sorted(tables.items()))
