"""Load landing files into the warehouse through their data contracts.

Every input row ends up in exactly one place: ``raw.<source>__<entity>`` when it keeps every rule of its
contract, ``quarantine.<source>__<entity>`` (original values, the rules broken, file and row number) when
it does not. ``ops.load_manifest`` records one row per file with its hash and counts, so a second run over
the same files changes nothing and ``rows_read = rows_loaded + rows_quarantined`` for every file.

All checking is set-based SQL inside DuckDB (its CSV/Parquet/JSON readers and vectorised predicates), never
row-by-row Python (see `benchmarks/README.md` for the measured speed against DuckDB reading the same files).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.contracts import Contract, load_contracts
from orchestration.loading.erasure import mark_erased_rows
from orchestration.loading.phones import refresh_phone_lookup
from orchestration.loading.reading import (
    STAGE,
    SUPPORTED_SUFFIXES,
    FileRejected,
    file_source,
    row_number_sql,
    unreadable,
)
from orchestration.loading.rules import BATCH, ROW_NUMBER, apply_rules, parent_keys, typed
from orchestration.loading.sql import lit, q

__all__ = ["SUPPORTED_SUFFIXES", "FileRejected", "FileResult", "lit", "load_entity", "load_landing", "q"]

META_COLUMNS = ("_source_file", "_row_number", "_loaded_at")
MANIFEST_ADDED_COLUMNS = {"rows_erased": "bigint default 0", "encoding": "varchar", "warnings": "varchar"}
# Rows checked together in one pass; bounded so that a million-customer load stays within memory.
BATCH_ROWS = 3_000_000


@dataclass
class FileResult:
    """What happened to one landing file in one run."""

    path: str
    sha256: str
    source: str
    entity: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    status: str  # loaded | rejected | unchanged
    error: str | None  # why a file was rejected; None for a file that loaded
    loaded_at: datetime
    rows_erased: int = 0  # rows of people erased on request (``ecrm forget``), kept out of raw and quarantine
    encoding: str | None = None  # the text encoding a CSV file was decoded with
    warnings: str | None = None  # schema drift: declared nullable columns missing, undeclared columns present


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover_files(landing: Path, contracts: dict[str, Contract] | None = None) -> dict[str, list[Path]]:
    """Landing files per contract name (``<source>__<entity>``), sorted by path.

    Files in folders that match no contract are ignored here and reported by :func:`unknown_files`.
    """
    contracts = contracts or load_contracts()
    found: dict[str, list[Path]] = {}
    for name, contract in contracts.items():
        folder = landing / contract.source / contract.entity
        # Hidden files (editor and copy leftovers such as .~lock.orders.csv#) are not data; a file still being
        # copied carries a .part or .tmp suffix, which is not a supported one.
        files = sorted(
            p
            for p in folder.glob("*")
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_SUFFIXES
        )
        found[name] = files
    return found


def unknown_files(landing: Path, contracts: dict[str, Contract] | None = None) -> list[Path]:
    """Files under the landing folder that no contract covers (wrong folder or unsupported format)."""
    contracts = contracts or load_contracts()
    known = {p for files in discover_files(landing, contracts).values() for p in files}
    # Hidden files and folders (an importer's reports in .imports/, editor and copy leftovers) are not data.
    return sorted(
        p
        for p in landing.rglob("*")
        if p.is_file()
        and p not in known
        and not any(part.startswith(".") for part in p.relative_to(landing).parts)
    )


def ensure_schemas(con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract] | None = None) -> None:
    """Create the raw, quarantine and ops schemas and tables if they do not exist yet."""
    contracts = contracts or load_contracts()
    for schema in ("raw", "quarantine", "ops"):
        con.execute(f"create schema if not exists {schema}")
    con.execute(
        """
        create table if not exists ops.load_manifest (
            path varchar primary key, sha256 varchar, source varchar, entity varchar,
            rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
            status varchar, error varchar, loaded_at timestamptz
        )
        """
    )
    # Columns added after the first release: a warehouse built before gets them, empty, on its next load.
    for column, kind in MANIFEST_ADDED_COLUMNS.items():
        con.execute(f"alter table ops.load_manifest add column if not exists {column} {kind}")
    for contract in contracts.values():
        declared = ", ".join(f"{q(c.name)} {c.duckdb_type}" for c in contract.columns)
        con.execute(
            f"create table if not exists raw.{q(contract.name)} ({declared}, "
            "_source_file varchar, _row_number bigint, _loaded_at timestamptz)"
        )
        text = ", ".join(f"{q(c.name)} varchar" for c in contract.columns)
        con.execute(
            f"create table if not exists quarantine.{q(contract.name)} ({text}, "
            "_rules varchar, _source_file varchar, _row_number bigint, _quarantined_at timestamptz, "
            "_original_line varchar)"
        )


# ---------------------------------------------------------------------------------------------------------
# One file, one entity, everything
# ---------------------------------------------------------------------------------------------------------


def _manifest_row(con: duckdb.DuckDBPyConnection, path_key: str) -> tuple | None:
    return con.execute("select sha256, status from ops.load_manifest where path = ?", [path_key]).fetchone()


def _write_manifest(con: duckdb.DuckDBPyConnection, result: FileResult) -> None:
    con.execute("delete from ops.load_manifest where path = ?", [result.path])
    columns = (
        "path", "sha256", "source", "entity", "rows_read", "rows_loaded", "rows_quarantined", "status", "error",
        "loaded_at", "rows_erased", "encoding", "warnings",
    )  # fmt: skip
    con.execute(
        f"insert into ops.load_manifest ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [getattr(result, c) for c in columns],
    )


def _map_columns(columns: list[str], contract: Contract) -> tuple[list[str], list[str], list[str], list[str]]:
    """The file's header (any case, stray spaces) mapped onto the contract: select list, missing required
    columns, missing nullable columns (read as null), and columns no contract declares (ignored)."""
    present = {c.strip().lower(): c for c in columns}
    select = [
        f"cast({q(present[c.name])} as varchar) as {q(c.name)}"
        if c.name in present
        else f"cast(null as varchar) as {q(c.name)}"
        for c in contract.columns
    ]
    missing = [c.name for c in contract.columns if c.name not in present and not c.nullable]
    absent = [c.name for c in contract.columns if c.name not in present and c.nullable]
    extra = [c for c in columns if c.strip().lower() not in set(contract.column_names)]
    return select, missing, absent, extra


def drift_warnings(absent: list[str], extra: list[str]) -> str | None:
    """The schema-drift warning of a file that loads anyway (see data_contracts/LANDING.md, "Schema drift"):
    declared nullable columns it lacks (every row reads them as empty) and columns no contract declares."""
    parts = []
    if absent:
        parts.append(f"declared column(s) missing, loaded as empty: {', '.join(absent)}")
    if extra:
        parts.append(f"undeclared column(s) ignored: {', '.join(extra)}")
    return "; ".join(parts) or None


def load_entity(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    contract: Contract,
    files: Iterable[Path] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> list[FileResult]:
    """Load every landing file of one entity; returns one result per file, in file order.

    A file whose hash is already in the manifest is skipped (status ``unchanged``; no table is touched). A
    changed file replaces the rows it loaded before. A file-level problem (unreadable, empty, a required
    column missing) rejects the file: its readable rows are quarantined under the file-level rule and the
    manifest says why. New files are checked together, in batches of about ``batch_rows`` rows, so the
    cost per file stays small and the rules run once per batch.
    """
    ensure_schemas(con)
    con.execute("set TimeZone = 'UTC'")
    if files is None:
        files = discover_files(landing, {contract.name: contract})[contract.name]
    now = datetime.now(UTC)
    results: list[FileResult] = []
    pending: list[_Staged] = []
    staged_rows = 0
    parent_keys(con, contract)
    _new_batch(con, contract)
    for order, path in enumerate(files):
        path_key = path.relative_to(landing).as_posix()
        digest = sha256_of(path)
        previous = _manifest_row(con, path_key)
        if previous is not None and previous[0] == digest:
            results.append(
                FileResult(
                    path_key, digest, contract.source, contract.entity, 0, 0, 0, "unchanged", None, now
                )
            )
            continue
        item = _stage_into_batch(con, path, path_key, digest, order, contract)
        pending.append(item)
        staged_rows += item.rows_read
        if staged_rows >= batch_rows:
            results += _flush(con, contract, pending, now)
            pending, staged_rows = [], 0
            _new_batch(con, contract)
    if pending:
        results += _flush(con, contract, pending, now)
    refresh_phone_lookup(con, contract)  # E.164 of new (phone, country) pairs, read by staging
    fk_tables = [f"_ecrm_fk_{i}" for i in range(1, len(contract.foreign_keys) + 1)]
    for table in (BATCH, STAGE, "_ecrm_batch_files", "_ecrm_bad", "_ecrm_erased", *fk_tables):
        con.execute(f"drop table if exists {table}")
    order = {p.relative_to(landing).as_posix(): i for i, p in enumerate(files)}
    return sorted(results, key=lambda r: order[r.path])


@dataclass
class _Staged:
    path_key: str
    digest: str
    rows_read: int = 0
    rejected: str | None = None  # file-level problem
    encoding: str | None = None
    warnings: str | None = None


def _new_batch(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    text = ", ".join(f"{q(c)} varchar" for c in contract.column_names)
    con.execute(
        f"create or replace temp table {BATCH} ({text}, _row_number bigint, _source_file varchar, "
        "_file_order integer, _file_rule varchar, _original_line varchar, _file_start bigint)"
    )


def _stage_into_batch(
    con: duckdb.DuckDBPyConnection, path: Path, path_key: str, digest: str, order: int, contract: Contract
) -> _Staged:
    """Read one file straight into the batch; rows of a file missing a required column carry the
    file-level rule, rows the reader could not parse carry ``parse:row``.

    Rows read by DuckDB get their row number from their position: the batch only ever grows, in file order,
    so a row's ``rowid`` minus the file's first ``rowid`` is its data row number minus one (see
    :data:`ROW_NUMBER`).
    """
    item = _Staged(path_key, digest)
    try:
        source = file_source(con, path)
    except FileRejected as exc:
        item.rejected = f"{path_key}: {exc}"
        return item
    item.encoding = source.encoding
    select, missing, absent, extra = _map_columns(source.columns, contract)
    file_rule = f"missing_column:{missing[0]}" if missing else None
    start = con.execute(f"select count(*) from {BATCH}").fetchone()[0]
    insert = f"insert into {BATCH} select {', '.join(select)}, {{number}}, ?, ?, ?, null, ? from {{relation}}"
    unparsable: list[tuple[int, str, str]] = []
    try:
        # One statement: if the reader refuses a row, nothing of this file is in the batch.
        item.rows_read = con.execute(
            insert.format(number="null", relation=source.relation), [path_key, order, file_rule, start]
        ).fetchone()[0]
    except duckdb.Error as exc:
        if source.fallback is None:
            item.rejected = f"{path_key}: {unreadable(source.fmt, exc)}"
            return item
        unparsable = source.fallback()
        item.rows_read = con.execute(
            insert.format(number=row_number_sql(con, unparsable), relation=STAGE),
            [path_key, order, file_rule, start],
        ).fetchone()[0]
        con.execute(f"drop table {STAGE}")
    finally:
        source.close()
    if unparsable:
        con.executemany(
            f"insert into {BATCH} values ({', '.join('null' for _ in contract.columns)}, ?, ?, ?, ?, ?, null)",
            [(n, path_key, order, f"parse:row ({kind})", original) for n, kind, original in unparsable],
        )
        item.rows_read += len(unparsable)
    if missing:
        item.rejected = f"{path_key}: required column(s) missing: {', '.join(missing)} (rule {file_rule})"
    else:
        item.warnings = drift_warnings(absent, extra)
    return item


def _flush(
    con: duckdb.DuckDBPyConnection, contract: Contract, pending: list[_Staged], now: datetime
) -> list[FileResult]:
    """Check the batch and write it: good rows to raw, bad rows to quarantine, one manifest row per file."""
    con.execute("create or replace temp table _ecrm_batch_files (_source_file varchar)")
    con.executemany("insert into _ecrm_batch_files values (?)", [(p.path_key,) for p in pending])
    apply_rules(con, contract)
    # Rows of people erased on request go nowhere: neither raw nor quarantine, only counted.
    erased: dict[str, int] = {}
    if mark_erased_rows(con, contract):
        con.execute("delete from _ecrm_bad where _rid in (select _rid from _ecrm_erased)")
        erased = dict(
            con.execute(
                f"select b._source_file, count(*) from {BATCH} b join _ecrm_erased e on e._rid = b.rowid group by 1"
            ).fetchall()
        )
    else:
        con.execute("create or replace temp table _ecrm_erased (_rid bigint)")
    text_cols = ", ".join(f"b.{q(c)}" for c in contract.column_names)
    typed_cols = ", ".join(f"{typed(c, 'b')} as {q(c.name)}" for c in contract.columns)
    bad = dict(con.execute("select _source_file, count(*) from _ecrm_bad group by 1").fetchall())
    results = []
    for item in pending:
        quarantined, gone = bad.get(item.path_key, 0), erased.get(item.path_key, 0)
        results.append(
            FileResult(
                item.path_key, item.digest, contract.source, contract.entity, item.rows_read,
                rows_loaded=0 if item.rejected else item.rows_read - quarantined - gone,
                rows_quarantined=quarantined, status="rejected" if item.rejected else "loaded",
                error=item.rejected, loaded_at=now, rows_erased=gone, encoding=item.encoding,
                warnings=item.warnings,
            )
        )  # fmt: skip
    con.execute("begin transaction")
    try:
        # A changed (or re-sent) file replaces whatever it loaded before.
        for table in (f"raw.{q(contract.name)}", f"quarantine.{q(contract.name)}"):
            con.execute(
                f"delete from {table} where _source_file in (select _source_file from _ecrm_batch_files)"
            )
        # The batch is in file order and row order; an anti-join against the few bad rows keeps it so.
        con.execute(
            f"insert into raw.{q(contract.name)} select {typed_cols}, b._source_file, {ROW_NUMBER}, ? "
            f"from {BATCH} b anti join _ecrm_bad x on x._rid = b.rowid anti join _ecrm_erased e on e._rid = b.rowid",
            [now],
        )
        con.execute(
            f"insert into quarantine.{q(contract.name)} select {text_cols}, array_to_string(x._rules, '; '), "
            f"b._source_file, {ROW_NUMBER}, ?, b._original_line from {BATCH} b join _ecrm_bad x on x._rid = b.rowid "
            f"order by b._file_order, {ROW_NUMBER}",
            [now],
        )
        for result in results:
            _write_manifest(con, result)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return results


def load_landing(con: duckdb.DuckDBPyConnection, landing: Path) -> list[FileResult]:
    """Load every entity of the landing folder, parents before children; one result per file."""
    contracts = load_contracts()
    results: list[FileResult] = []
    for contract in contracts.values():
        results.extend(load_entity(con, landing, contract))
    return results
