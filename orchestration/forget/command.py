"""``ecrm forget`` itself: the steps of the package docstring in order, under the warehouse lock."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration import settings
from orchestration.forget.database import (
    DISTINCT_VALUES,
    LOADED_SCHEMAS,
    WRITTEN_SCHEMAS,
    delete_naming,
    find_identifiers,
    register_rows,
    table_exists,
)
from orchestration.forget.errors import AlreadyErased, ForgetError, PersonNotFound
from orchestration.forget.files import DBT_EXIT_SECONDS, bytes_found, compact, scrub_audit_log, scrub_exports
from orchestration.forget.report import ErasureReport, rows_by_table
from orchestration.forget.resolve import Person, resolve
from orchestration.forget.rows import Hits, distinct_values, find_rows, residue
from orchestration.loading.erasure import (
    CLEAR_VALUES,
    EMAIL,
    ERASED_IDENTIFIERS,
    ERASURE_LOG,
    HASH_MACRO,
    PHONE,
    PHONE_AS_ENTERED,
    create_key,
    drop_hash_macro,
    ensure_erasure_tables,
    hash_identifier,
    install_hash_macro,
    read_key,
)
from orchestration.loading.sql import lit
from orchestration.warehouse import connect, publish

# Kinds whose values are looked for in the bytes of the database files after compaction: the contact data.
# (Ids are short and often numeric in real shops; a byte match on them would mean nothing.)
BYTE_CHECKED_KINDS = (EMAIL, PHONE, PHONE_AS_ENTERED)


@contextlib.contextmanager
def _pipeline_environment(warehouse: Path, landing: Path) -> Iterator[None]:
    """The paths the pipeline's resources and dbt's profile read from the environment, for one run."""
    saved = {k: os.environ.get(k) for k in ("ECRM_WAREHOUSE", "ECRM_LANDING")}
    os.environ["ECRM_WAREHOUSE"] = str(warehouse)
    os.environ["ECRM_LANDING"] = str(landing)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _already_erased(con: duckdb.DuckDBPyConnection, warehouse: Path, given: tuple[str, str]) -> str | None:
    """When and in which erasure the identifier was erased before, if it was."""
    key = read_key(warehouse)
    if key is None or not table_exists(con, ERASED_IDENTIFIERS):
        return None
    row = con.execute(
        f"select l.erasure_id, l.erased_at from {ERASED_IDENTIFIERS} e join {ERASURE_LOG} l using (erasure_id) "
        "where e.kind = ? and e.identifier_hash = ? order by 1 limit 1",
        [given[0], hash_identifier(key, given[1])],
    ).fetchone()
    return f"erasure {row[0]} on {row[1]:%Y-%m-%d %H:%M} UTC" if row else None


def _erase(
    con: duckdb.DuckDBPyConnection, warehouse: Path, person: Person, hits: list[Hits], report: ErasureReport,
    reference: str | None, derived_schemas: tuple[str, ...],
) -> int:  # fmt: skip
    """Delete the planned rows and record the erasure, in one transaction; returns the erasure id.

    Rows of dbt's tables (``derived_schemas``) that name them are deleted too, although the rebuild replaces
    those tables: if the rebuild fails, the warehouse (and the copy published from it) no longer names them.
    """
    ensure_erasure_tables(con)
    from orchestration.loading.loader import ensure_schemas

    ensure_schemas(con)  # the manifest's rows_erased column, on a warehouse loaded before it existed
    key = create_key(warehouse)
    install_hash_macro(con, key)
    now = datetime.now(UTC)
    con.execute("begin transaction")
    try:
        erasure_id = con.execute(f"select coalesce(max(erasure_id), 0) + 1 from {ERASURE_LOG}").fetchone()[0]
        # Every identifier the loader compares (and the unified customer id, so that a repeated request by
        # customer id is recognised); phones as typed are only for finding leftovers.
        con.execute(
            f"insert into {ERASED_IDENTIFIERS} select ?, n.kind, n.h from (select distinct kind, "
            f"{HASH_MACRO}(value) as h from {CLEAR_VALUES} where kind <> {lit(PHONE_AS_ENTERED)}) n "
            f"anti join {ERASED_IDENTIFIERS} e on e.kind = n.kind and e.identifier_hash = n.h",
            [erasure_id],
        )
        manifest: dict[str, list[int]] = {}
        for hit in hits:
            column = 0 if hit.table.startswith("raw.") else 1
            for path, n in hit.by_file.items():
                manifest.setdefault(path, [0, 0])[column] += n
            con.execute(f"delete from {hit.table} where rowid in (select _rid from {hit.temp})")
            con.execute(f"drop table {hit.temp}")
        con.executemany(
            "update ops.load_manifest set rows_loaded = rows_loaded - ?, rows_quarantined = rows_quarantined - ?, "
            "rows_erased = coalesce(rows_erased, 0) + ? where path = ?",
            [
                (loaded, quarantined, loaded + quarantined, path)
                for path, (loaded, quarantined) in manifest.items()
            ],
        )
        report.manifest_files = len(manifest)
        deleted = delete_naming(con, (*WRITTEN_SCHEMAS, *derived_schemas))
        report.ml = {t: n for t, n in deleted.items() if t.startswith("ml.")}
        report.ops = {t: n for t, n in deleted.items() if t.startswith("ops.")}
        report.derived = {t: n for t, n in deleted.items() if t.split(".", 1)[0] in derived_schemas}
        con.execute(
            f"insert into {ERASURE_LOG} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'erased', null)",
            [
                erasure_id, now, person.given_kind, hash_identifier(key, person.given[1]), reference,
                report.customers, len(person.records), sum(report.raw.values()), sum(report.quarantine.values()),
                sum(report.ml.values()), sum(report.ops.values()), sum(report.derived.values()),
                sum(report.exports.values()), len(report.exports), json.dumps(rows_by_table(report)),
            ],
        )  # fmt: skip
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        drop_hash_macro(con)
    return int(erasure_id)


def forget(
    warehouse: Path,
    landing: Path,
    exports: Path | None = None,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    source: str | None = None,
    source_id: str | None = None,
    country: str | None = None,
    dry_run: bool = False,
    reference: str | None = None,
    verbose: bool = False,
    wait: bool | float = False,
    confirm: Callable[[ErasureReport], bool] | None = None,
) -> ErasureReport:
    """Erase the person one identifier names from the warehouse, its published copy and the exports; see the
    module docstring for the steps. Returns the report (counts only).

    Name exactly one of ``email``, ``phone`` (read with ``country``, else the default phone country),
    ``customer_id`` (the unified id of ``marts.customer_360``) or ``source`` + ``source_id`` (a record of
    ``marts.customer_identity_map``: crm, shop, shop_guest, web). ``dry_run`` finds and counts, changes
    nothing. ``confirm``, when given, is shown the plan (a dry run's report) and may cancel. ``wait`` waits for a run holding the
    warehouse (see :func:`orchestration.locking.warehouse_lock`); ``verbose`` streams the rebuild's logs.

    Raises :class:`ForgetError` (and its :class:`PersonNotFound`, :class:`AlreadyErased`) before changing
    anything, :class:`orchestration.locking.WarehouseBusy` when another run holds the warehouse.
    """
    from orchestration.locking import warehouse_lock

    started = time.perf_counter()
    warehouse, landing = Path(warehouse).resolve(), Path(landing).resolve()
    exports = Path(exports) if exports is not None else settings.exports_path()
    if not warehouse.exists():
        raise ForgetError(f"no warehouse at {warehouse}: nothing to erase")
    with warehouse_lock(warehouse, wait=wait, holder="ecrm forget"):
        with connect(warehouse, read_only=dry_run) as con:
            person = resolve(con, email, phone, customer_id, source, source_id, country)
            report = ErasureReport(dry_run=dry_run, identifier_kind=person.given_kind)
            report.customers = len(person.customer_ids)
            for s, _ in person.records:
                report.records[s] = report.records.get(s, 0) + 1
            report.shared_identifiers = person.shared
            register_rows(con, CLEAR_VALUES, person.seeds(), ["kind", "value"])
            hits = find_rows(con, person.phones)
            distinct_values(con, hits)
            for hit in hits:
                part = report.raw if hit.table.startswith("raw.") else report.quarantine
                if sum(hit.by_file.values()):
                    part[hit.table.split(".", 1)[1].strip('"')] = sum(hit.by_file.values())
            if not report.customers and not report.raw and not report.quarantine:
                when = _already_erased(con, warehouse, person.given)
                if when:
                    raise AlreadyErased(
                        f"this {person.given_kind} was erased before ({when}); nothing of it is left"
                    )
                raise PersonNotFound(
                    f"no record of the warehouse holds this {person.given_kind}: nothing erased"
                )
            pairs = con.execute(f"select kind, value from {CLEAR_VALUES}").fetchall()
            values = {r[0] for r in con.execute(f"select value from {DISTINCT_VALUES}").fetchall()}
            contact = [v for k, v in pairs if k in BYTE_CHECKED_KINDS and v in values]
            derived_schemas = tuple(
                s
                for (s,) in con.execute(
                    "select distinct schema_name from duckdb_tables() where database_name = current_database()"
                ).fetchall()
                if s not in (*LOADED_SCHEMAS, *WRITTEN_SCHEMAS)
            )
            report.derived = find_identifiers(con, derived_schemas, views=False)
            report.exports, report.exports_unchecked = scrub_exports(exports, values, write=False)
            report.audit_entries = scrub_audit_log(settings.audit_log_path(), values, write=False)
            report.ml = find_identifiers(con, ("ml",), views=False)
            report.ops = find_identifiers(con, ("ops",), views=False)
            if dry_run:
                report.seconds = time.perf_counter() - started
                return report
            if confirm is not None and not confirm(dataclasses.replace(report, dry_run=True)):
                report.cancelled = True
                return report
            report.erasure_id = _erase(con, warehouse, person, hits, report, reference, derived_schemas)
            report.status = "erased"

        # Downstream: everything built from raw is built again without them, and published.
        from orchestration.pipeline import run_pipeline

        rebuild_started = time.perf_counter()
        try:
            with _pipeline_environment(warehouse, landing):
                run = run_pipeline(verbose=verbose, wait=wait)
            report.rebuilt = bool(run.success)
            report.failed_steps = list(run.failed_steps)
        except Exception as exc:  # the erasure stands; finish the exports, compaction and publishing
            report.rebuilt = False
            report.failed_steps = [f"{type(exc).__name__}: {exc}"]
        report.rebuild_seconds = time.perf_counter() - rebuild_started
        report.exports, report.exports_unchecked = scrub_exports(exports, values, write=True)
        report.audit_entries = scrub_audit_log(settings.audit_log_path(), values, write=True)

        distinct = [(v,) for v in sorted(values)]
        with connect(warehouse, wait_seconds=DBT_EXIT_SECONDS) as con:
            register_rows(con, DISTINCT_VALUES, distinct, ["value"])
            report.residue = residue(con, pairs, person.phones)
            report.status = (
                "rebuild_failed" if not report.rebuilt else "residue_found" if report.residue else "completed"
            )
            con.execute(
                f"update {ERASURE_LOG} set status = ?, finished_at = ?, export_rows = ?, export_files = ?, "
                "rows_by_table = ? where erasure_id = ?",
                [report.status, datetime.now(UTC), sum(report.exports.values()), len(report.exports),
                 json.dumps(rows_by_table(report)), report.erasure_id],
            )  # fmt: skip
        compact(warehouse)
        report.compacted = True
        published = settings.published_path(warehouse)
        # Published even after a failed rebuild: the old copy names them, the scrubbed warehouse does not.
        if report.rebuilt or published.exists():
            publish(warehouse, published)
            report.published = str(published)
            with connect(published, read_only=True) as con:
                register_rows(con, DISTINCT_VALUES, distinct, ["value"])
                found = residue(con, pairs, person.phones)
                report.residue |= {f"published {t}": n for t, n in found.items()}
        for label, path in (("warehouse", warehouse), ("published copy", published)):
            n = bytes_found(path, contact)
            if n:
                report.residue[f"bytes of the {label} file"] = n
        if report.residue and report.status == "completed":
            report.status = "residue_found"
    report.seconds = time.perf_counter() - started
    return report
