"""Reading one landing file: its format, encoding, delimiter and header, as an SQL relation DuckDB reads,
or through Python's csv module when DuckDB's reader refuses the file (rows with a wrong number of fields)."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.loading.sql import lit

SUPPORTED_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
}
# The temp table the fallback reader fills.
STAGE = "_ecrm_stage"


class FileRejected(Exception):
    """A file-level problem: the file cannot be read, or lacks a required column."""


def is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def csv_header(path: Path, encoding: str) -> tuple[str, list[str]]:
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


def stage_csv_in_python(
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
        con.execute(f"create or replace temp table {STAGE} as select * from _ecrm_frame")
    finally:
        con.unregister("_ecrm_frame")
    return unparsable


@dataclass
class Source:
    """How to read one landing file: its column names, and an SQL relation (a DuckDB reader call) yielding
    its rows in file order. For CSV, ``fallback`` reads the file with Python's csv module into the temp
    table ``_ecrm_stage`` instead, when DuckDB's reader refuses it, and returns the rows it could not parse
    at all (row number, kind of error, original line), which are quarantined with rule ``parse:row``."""

    fmt: str
    columns: list[str]
    relation: str
    fallback: Callable[[], list[tuple[int, str, str]]] | None = None


def file_source(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    """How to read ``path`` (see :class:`Source`); raises :class:`FileRejected` for a file-level problem."""
    fmt = SUPPORTED_SUFFIXES[path.suffix.lower()]
    if path.stat().st_size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    try:
        if fmt == "csv":
            # Latin-1 files are common in shop exports; UTF-8 (with or without BOM) is the default.
            encoding = "utf-8" if is_utf8(path) else "latin-1"
            delim, names = csv_header(path, encoding)
            if not any(names):
                raise FileRejected("the file has no header row")
            if len(set(names)) != len(names):
                raise FileRejected(f"the header repeats a column name: {names}")
            columns_spec = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
            reader = (
                f"read_csv({lit(str(path))}, header=true, auto_detect=false, columns={columns_spec}, "
                f"encoding={lit(encoding)}, delim={lit(delim)}, quote='\"', escape='\"')"
            )
            return Source(fmt, names, reader, lambda: stage_csv_in_python(con, path, encoding, delim, names))
        reader = (
            f"read_parquet({lit(str(path))})"
            if fmt == "parquet"
            else f"read_json({lit(str(path))}, format='newline_delimited')"
        )
        columns = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall()]
        return Source(fmt, columns, reader)
    except duckdb.Error as exc:
        raise FileRejected(unreadable(fmt, exc)) from exc


def unreadable(fmt: str, exc: duckdb.Error) -> str:
    """The message of a file DuckDB's reader cannot read, with the first line of DuckDB's own error."""
    return f"the file cannot be read as {fmt}: {str(exc).strip().splitlines()[0]}"


def row_number_sql(con: duckdb.DuckDBPyConnection, unparsable: list[tuple[int, str, str]]) -> str:
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
    return f"rowid + 1 + (select count(*) from _ecrm_badrows b where b.t < {STAGE}.rowid + 1)"
