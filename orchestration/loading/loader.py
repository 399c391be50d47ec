"""Load landing files into the warehouse through their data contracts.

Every input row ends up in exactly one place: ``raw.<source>__<entity>`` when it keeps every rule of its
contract, ``quarantine.<source>__<entity>`` (original values, the rules broken, file and row number) when
it does not. ``ops.load_manifest`` records one row per file with its hash and counts, so a second run over
the same files changes nothing and ``rows_read = rows_loaded + rows_quarantined`` for every file.

All checking is set-based SQL inside DuckDB (its CSV/Parquet/JSON readers and vectorised predicates), never
row-by-row Python (see `benchmarks/README.md` for the measured speed against DuckDB reading the same files).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.contracts import Column, Contract, load_contracts
from orchestration.loading.codes import EMAIL_PATTERN, ISO_COUNTRIES, ISO_CURRENCIES

SUPPORTED_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
}
META_COLUMNS = ("_source_file", "_row_number", "_loaded_at")
_STAGE = "_ecrm_stage"
_BATCH = "_ecrm_batch"
# A batch row's data row number: given (fallback reader, unparsable rows) or from its position in the batch.
_ROW_NUMBER = "coalesce(b._row_number, b.rowid - b._file_start + 1)"
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
    error: str | None
    loaded_at: datetime


class FileRejected(Exception):
    """A file-level problem: the file cannot be read, or lacks a required column."""


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote an SQL string literal (used only for values from contracts, never from data)."""
    return "'" + str(value).replace("'", "''") + "'"


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
        files = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
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
    for contract in contracts.values():
        typed = ", ".join(f"{q(c.name)} {c.duckdb_type}" for c in contract.columns)
        con.execute(
            f"create table if not exists raw.{q(contract.name)} ({typed}, "
            "_source_file varchar, _row_number bigint, _loaded_at timestamptz)"
        )
        text = ", ".join(f"{q(c.name)} varchar" for c in contract.columns)
        con.execute(
            f"create table if not exists quarantine.{q(contract.name)} ({text}, "
            "_rules varchar, _source_file varchar, _row_number bigint, _quarantined_at timestamptz, "
            "_original_line varchar)"
        )


# ---------------------------------------------------------------------------------------------------------
# Reading one file: straight into the batch, or through Python's csv module when DuckDB refuses it
# ---------------------------------------------------------------------------------------------------------


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _csv_header(path: Path, encoding: str) -> tuple[str, list[str]]:
    """The delimiter (comma, semicolon, tab or pipe: whichever the header holds most of) and column names.

    Read from the header alone, because DuckDB's sniffer gives up on a file where one data row has a wrong
    number of fields, which would reject the whole file instead of that row.
    """
    with path.open("r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    delim = max(counts, key=lambda d: counts[d])
    delim = delim if counts[delim] > 0 else ","
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=delim), [])
    return delim, [n.strip() for n in names]


def _stage_csv_in_python(
    con: duckdb.DuckDBPyConnection, path: Path, encoding: str, delim: str, names: list[str]
) -> list[tuple[int, str, str]]:
    """Fallback reader for CSV files DuckDB's reader refuses (rows with a wrong number of fields, stray
    carriage returns in quoted fields): Python's csv module reads every row so none is lost.

    Slower than DuckDB, so used only for files that need it. Returns the rows with a wrong number of fields.
    """
    good: list[list[str]] = []
    unparsable: list[tuple[int, str, str]] = []
    with path.open("r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delim, quotechar='"', doublequote=True, strict=False)
        next(reader, None)
        for number, row in enumerate(reader, start=1):
            if len(row) == len(names):
                good.append(row)
            else:
                kind = "too many columns" if len(row) > len(names) else "missing columns"
                unparsable.append((number, kind, delim.join(row)))
    import pandas as pd

    frame = pd.DataFrame(good, columns=names, dtype="object")
    con.register("_ecrm_frame", frame)
    try:
        con.execute(f"create or replace temp table {_STAGE} as select * from _ecrm_frame")
    finally:
        con.unregister("_ecrm_frame")
    return unparsable


@dataclass
class _Source:
    """How to read one landing file: its column names, and an SQL relation (a DuckDB reader call) yielding
    its rows in file order. For CSV, ``fallback`` reads the file with Python's csv module into the temp
    table ``_ecrm_stage`` instead, when DuckDB's reader refuses it, and returns the rows it could not parse
    at all (row number, kind of error, original line), which are quarantined with rule ``parse:row``."""

    fmt: str
    columns: list[str]
    relation: str
    fallback: Callable[[], list[tuple[int, str, str]]] | None = None


def _file_source(con: duckdb.DuckDBPyConnection, path: Path) -> _Source:
    """How to read ``path`` (see :class:`_Source`); raises :class:`FileRejected` for a file-level problem."""
    fmt = SUPPORTED_SUFFIXES[path.suffix.lower()]
    if path.stat().st_size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    try:
        if fmt == "csv":
            # Latin-1 files are common in shop exports; UTF-8 (with or without BOM) is the default.
            encoding = "utf-8" if _is_utf8(path) else "latin-1"
            delim, names = _csv_header(path, encoding)
            if not any(names):
                raise FileRejected("the file has no header row")
            if len(set(names)) != len(names):
                raise FileRejected(f"the header repeats a column name: {names}")
            columns_spec = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
            reader = (
                f"read_csv({lit(str(path))}, header=true, auto_detect=false, columns={columns_spec}, "
                f"encoding={lit(encoding)}, delim={lit(delim)}, quote='\"', escape='\"')"
            )
            return _Source(
                fmt, names, reader, lambda: _stage_csv_in_python(con, path, encoding, delim, names)
            )
        reader = (
            f"read_parquet({lit(str(path))})"
            if fmt == "parquet"
            else f"read_json({lit(str(path))}, format='newline_delimited')"
        )
        columns = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall()]
        return _Source(fmt, columns, reader)
    except duckdb.Error as exc:
        raise FileRejected(_unreadable(fmt, exc)) from exc


def _unreadable(fmt: str, exc: duckdb.Error) -> str:
    """The message of a file DuckDB's reader cannot read, with the first line of DuckDB's own error."""
    return f"the file cannot be read as {fmt}: {str(exc).strip().splitlines()[0]}"


def _row_number_sql(con: duckdb.DuckDBPyConnection, unparsable: list[tuple[int, str, str]]) -> str:
    """SQL for the data row number (1-based, header excluded) of a row of ``_ecrm_stage`` (the fallback
    reader's good rows, in file order, so ``rowid`` is the good row's position).

    Rows the reader rejected keep their own numbers, so good rows are numbered around them: the i-th
    rejected row (1-based, row number b_i) has b_i - i good rows before it, so the k-th good row comes after
    every rejected row with b_i - i < k.
    """
    if not unparsable:
        return "rowid + 1"
    thresholds = [(n - i,) for i, n in enumerate(sorted(u[0] for u in unparsable), start=1)]
    con.execute("create or replace temp table _ecrm_badrows (t bigint)")
    con.executemany("insert into _ecrm_badrows values (?)", thresholds)
    return f"rowid + 1 + (select count(*) from _ecrm_badrows b where b.t < {_STAGE}.rowid + 1)"


# ---------------------------------------------------------------------------------------------------------
# Rules as SQL predicates over the staged text columns
# ---------------------------------------------------------------------------------------------------------


def _value(column: str, table: str | None = None) -> str:
    ref = f"{table}.{q(column)}" if table else q(column)
    return f"nullif(trim({ref}), '')"


def _column_rules(column: Column) -> list[tuple[str, str]]:
    """(rule name, SQL predicate that is TRUE when the row breaks it) for one column."""
    v = _value(column.name)
    rules: list[tuple[str, str]] = []
    if not column.nullable:
        rules.append((f"not_null:{column.name}", f"{v} is null"))
    if column.type == "double":
        # Values too large for a double (1e400) read as infinity: a type error, not a number.
        cast = f"try_cast({v} as DOUBLE)"
        rules.append((f"type:{column.name}", f"{v} is not null and ({cast} is null or not isfinite({cast}))"))
    elif column.type != "varchar":
        rules.append(
            (f"type:{column.name}", f"{v} is not null and try_cast({v} as {column.duckdb_type}) is null")
        )
    if column.format == "email":
        rules.append(
            (f"format:{column.name}", f"{v} is not null and not regexp_full_match({v}, {lit(EMAIL_PATTERN)})")
        )
    elif column.format == "iso_country":
        codes = ", ".join(lit(c) for c in sorted(ISO_COUNTRIES))
        rules.append((f"format:{column.name}", f"{v} is not null and upper({v}) not in ({codes})"))
    elif column.format == "currency":
        codes = ", ".join(lit(c) for c in sorted(ISO_CURRENCIES))
        rules.append((f"format:{column.name}", f"{v} is not null and upper({v}) not in ({codes})"))
    if column.allowed:
        values = ", ".join(lit(a) for a in column.allowed)
        rules.append((f"allowed:{column.name}", f"{v} is not null and lower({v}) not in ({values})"))
    if column.min is not None or column.max is not None:
        num = f"try_cast({v} as double)"
        bounds = []
        if column.min is not None:
            bounds.append(f"{num} < {float(column.min)!r}")
        if column.max is not None:
            bounds.append(f"{num} > {float(column.max)!r}")
        rules.append((f"range:{column.name}", f"{num} is not null and ({' or '.join(bounds)})"))
    return rules


def _typed(column: Column, table: str | None = None) -> str:
    v = _value(column.name, table)
    if column.format in ("iso_country", "currency"):
        v = f"upper({v})"
    elif column.allowed:
        v = f"lower({v})"
    return f"try_cast({v} as {column.duckdb_type})"


def _parent_keys(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Collect, once per entity load, the loaded keys each foreign key refers to (``_ecrm_fk_<i>``).

    Parents load before children (see ``load_contracts``), so the sets do not change while the entity's
    batches are checked.
    """
    for i, fk in enumerate(contract.foreign_keys, start=1):
        con.execute(
            f"create or replace temp table _ecrm_fk_{i} as select distinct cast({q(fk.ref_column)} as varchar) "
            f"as _k from raw.{q(fk.ref_table)} where {q(fk.ref_column)} is not null"
        )


def _apply_rules(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Find the rows of ``_ecrm_batch`` that break a rule: ``_ecrm_bad`` gets their ``rowid``, file and list
    of broken rules, in one statement. Good rows are never copied: they go from the batch to raw directly.

    Order of evaluation: a file-level rule (a required column missing) replaces every row rule of that
    file; then column rules, then foreign keys (against the parent keys of :func:`_parent_keys`), then the
    primary key among rows still good. The first row of a key wins, in file order then row order; event
    entities also reject a key already loaded from a file outside this batch (snapshot entities keep one row
    per key and file: every export's version; staging picks the latest).

    Duplicate keys are found by aggregation (a hash table of keys seen more than once) rather than by
    ranking every row in a window: the batch is millions of rows and duplicates are few.
    """
    checks = [rule for c in contract.columns for rule in _column_rules(c)]
    cases = ", ".join(f"case when {pred} then {lit(name)} end" for name, pred in checks) or "null"
    keys = [_typed(contract.column(k)) for k in contract.primary_key]
    key_cols = [f"_key{j}" for j in range(len(keys))]
    fk_values = [f"{_value(fk.column)} as _fk{i}" for i, fk in enumerate(contract.foreign_keys, start=1)]
    # Only what the checks need travels through the joins: row id, file, order, keys and referenced values.
    ctes = [
        f"""c0 as (
            select rowid as _rid, _source_file, _file_order::bigint * 10000000000 + {_ROW_NUMBER} as _ord,
                {", ".join([*(f"{k} as {n}" for k, n in zip(keys, key_cols, strict=True)), *fk_values])},
                case when _file_rule is not null then [_file_rule]
                     else list_filter([{cases}], lambda x: x is not null) end as _rules
            from {_BATCH} b
        )"""
    ]
    last = "c0"
    for i, fk in enumerate(contract.foreign_keys, start=1):
        ctes.append(
            f"""c{i} as (
                select s.* replace (case when len(s._rules) = 0 and s._fk{i} is not null and p._k is null
                    then list_append(s._rules, {lit("foreign_key:" + fk.column)}) else s._rules end as _rules)
                from {last} s left join _ecrm_fk_{i} p on p._k = s._fk{i}
            )"""
        )
        last = f"c{i}"
    group = key_cols + (["_source_file"] if contract.kind == "snapshot" else [])
    ctes.append(
        f"""dup as (
            select {", ".join(group)}, min(_ord) as _first from {last} where len(_rules) = 0
            group by all having count(*) > 1
        )"""
    )
    joins = f"left join dup d on {' and '.join(f'd.{n} = ck.{n}' for n in group)}"
    elsewhere = "false"
    others = f"select 1 from raw.{q(contract.name)} where _source_file not in (select _source_file from _ecrm_batch_files)"
    if contract.kind == "event" and con.execute(f"select exists ({others})").fetchone()[0]:
        # Only when rows from other files are loaded already (not on a first load). An inner join with the
        # batch's distinct keys on the build side: the loaded table is only scanned (and DuckDB skips its
        # row groups outside the batch's key range), where EXISTS would hash the whole table every batch.
        match = " and ".join(f"r.{q(k)} = b.{n}" for k, n in zip(contract.primary_key, key_cols, strict=True))
        ctes.append(
            f"""seen as (
                select distinct {", ".join(f"b.{n}" for n in key_cols)}
                from (select distinct {", ".join(key_cols)} from {last} where len(_rules) = 0) b
                join raw.{q(contract.name)} r on {match}
                where r._source_file not in (select _source_file from _ecrm_batch_files)
            )"""
        )
        joins += " left join seen e on " + " and ".join(f"e.{n} = ck.{n}" for n in key_cols)
        elsewhere = f"e.{key_cols[0]} is not null"
    rule = lit("unique:" + contract.primary_key[0])
    con.execute(
        f"""
        create or replace temp table _ecrm_bad as
        with {", ".join(ctes)}
        select _rid, _source_file, _rules from (
            select ck._rid, ck._source_file,
                case when len(ck._rules) = 0 and (ck._ord <> coalesce(d._first, ck._ord) or {elsewhere})
                     then list_append(ck._rules, {rule}) else ck._rules end as _rules
            from {last} ck {joins}
        ) where len(_rules) > 0
        """
    )


# ---------------------------------------------------------------------------------------------------------
# One file, one entity, everything
# ---------------------------------------------------------------------------------------------------------


def _manifest_row(con: duckdb.DuckDBPyConnection, path_key: str) -> tuple | None:
    return con.execute("select sha256, status from ops.load_manifest where path = ?", [path_key]).fetchone()


def _write_manifest(con: duckdb.DuckDBPyConnection, result: FileResult) -> None:
    con.execute("delete from ops.load_manifest where path = ?", [result.path])
    con.execute(
        "insert into ops.load_manifest values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.path,
            result.sha256,
            result.source,
            result.entity,
            result.rows_read,
            result.rows_loaded,
            result.rows_quarantined,
            result.status,
            result.error,
            result.loaded_at,
        ],
    )


def _map_columns(columns: list[str], contract: Contract) -> tuple[list[str], list[str], list[str]]:
    """The file's header (any case, stray spaces) mapped onto the contract: select list, missing required
    columns, extra columns. Absent nullable columns read as null."""
    present = {c.strip().lower(): c for c in columns}
    select = [
        f"cast({q(present[c.name])} as varchar) as {q(c.name)}"
        if c.name in present
        else f"cast(null as varchar) as {q(c.name)}"
        for c in contract.columns
    ]
    missing = [c.name for c in contract.columns if c.name not in present and not c.nullable]
    extra = [c for c in columns if c.strip().lower() not in set(contract.column_names)]
    return select, missing, extra


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
    _parent_keys(con, contract)
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
    fk_tables = [f"_ecrm_fk_{i}" for i in range(1, len(contract.foreign_keys) + 1)]
    for table in (_BATCH, _STAGE, "_ecrm_batch_files", "_ecrm_bad", *fk_tables):
        con.execute(f"drop table if exists {table}")
    order = {p.relative_to(landing).as_posix(): i for i, p in enumerate(files)}
    return sorted(results, key=lambda r: order[r.path])


@dataclass
class _Staged:
    path_key: str
    digest: str
    rows_read: int = 0
    rejected: str | None = None  # file-level problem
    notes: str | None = None


def _new_batch(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    text = ", ".join(f"{q(c)} varchar" for c in contract.column_names)
    con.execute(
        f"create or replace temp table {_BATCH} ({text}, _row_number bigint, _source_file varchar, "
        "_file_order integer, _file_rule varchar, _original_line varchar, _file_start bigint)"
    )


def _stage_into_batch(
    con: duckdb.DuckDBPyConnection, path: Path, path_key: str, digest: str, order: int, contract: Contract
) -> _Staged:
    """Read one file straight into the batch; rows of a file missing a required column carry the
    file-level rule, rows the reader could not parse carry ``parse:row``.

    Rows read by DuckDB get their row number from their position: the batch only ever grows, in file order,
    so a row's ``rowid`` minus the file's first ``rowid`` is its data row number minus one (see
    :data:`_ROW_NUMBER`).
    """
    item = _Staged(path_key, digest)
    try:
        source = _file_source(con, path)
    except FileRejected as exc:
        item.rejected = f"{path_key}: {exc}"
        return item
    select, missing, extra = _map_columns(source.columns, contract)
    file_rule = f"missing_column:{missing[0]}" if missing else None
    start = con.execute(f"select count(*) from {_BATCH}").fetchone()[0]
    insert = (
        f"insert into {_BATCH} select {', '.join(select)}, {{number}}, ?, ?, ?, null, ? from {{relation}}"
    )
    unparsable: list[tuple[int, str, str]] = []
    try:
        # One statement: if the reader refuses a row, nothing of this file is in the batch.
        item.rows_read = con.execute(
            insert.format(number="null", relation=source.relation), [path_key, order, file_rule, start]
        ).fetchone()[0]
    except duckdb.Error as exc:
        if source.fallback is None:
            item.rejected = f"{path_key}: {_unreadable(source.fmt, exc)}"
            return item
        unparsable = source.fallback()
        item.rows_read = con.execute(
            insert.format(number=_row_number_sql(con, unparsable), relation=_STAGE),
            [path_key, order, file_rule, start],
        ).fetchone()[0]
        con.execute(f"drop table {_STAGE}")
    if unparsable:
        con.executemany(
            f"insert into {_BATCH} values ({', '.join('null' for _ in contract.columns)}, ?, ?, ?, ?, ?, null)",
            [(n, path_key, order, f"parse:row ({kind})", original) for n, kind, original in unparsable],
        )
        item.rows_read += len(unparsable)
    if missing:
        item.rejected = f"{path_key}: required column(s) missing: {', '.join(missing)} (rule {file_rule})"
    elif extra:
        item.notes = f"extra column(s) ignored: {', '.join(extra)}"
    return item


def _flush(
    con: duckdb.DuckDBPyConnection, contract: Contract, pending: list[_Staged], now: datetime
) -> list[FileResult]:
    """Check the batch and write it: good rows to raw, bad rows to quarantine, one manifest row per file."""
    con.execute("create or replace temp table _ecrm_batch_files (_source_file varchar)")
    con.executemany("insert into _ecrm_batch_files values (?)", [(p.path_key,) for p in pending])
    _apply_rules(con, contract)
    text_cols = ", ".join(f"b.{q(c)}" for c in contract.column_names)
    typed = ", ".join(f"{_typed(c, 'b')} as {q(c.name)}" for c in contract.columns)
    bad = dict(con.execute("select _source_file, count(*) from _ecrm_bad group by 1").fetchall())
    results = []
    for item in pending:
        quarantined = bad.get(item.path_key, 0)
        status = "rejected" if item.rejected else "loaded"
        results.append(
            FileResult(item.path_key, item.digest, contract.source, contract.entity, item.rows_read,
                       0 if item.rejected else item.rows_read - quarantined, quarantined, status,
                       item.rejected or item.notes, now)
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
            f"insert into raw.{q(contract.name)} select {typed}, b._source_file, {_ROW_NUMBER}, ? "
            f"from {_BATCH} b anti join _ecrm_bad x on x._rid = b.rowid",
            [now],
        )
        con.execute(
            f"insert into quarantine.{q(contract.name)} select {text_cols}, array_to_string(x._rules, '; '), "
            f"b._source_file, {_ROW_NUMBER}, ?, b._original_line from {_BATCH} b join _ecrm_bad x on x._rid = b.rowid "
            f"order by b._file_order, {_ROW_NUMBER}",
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


def results_frame(results: Iterable[FileResult]):
    """The run report as a DataFrame (one row per file)."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in results])
