"""Reading one landing file: its format, encoding, delimiter and header, as an SQL relation DuckDB reads,
or through Python's csv module when DuckDB's reader refuses the file (rows with a wrong number of fields)."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.loading.encodings import UndecodableText, detect_file_encoding
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


def csv_header(path: Path, encoding: str) -> tuple[str, list[str]]:
    """The delimiter (comma, semicolon, tab or pipe: whichever the header holds most of) and column names.

    Read from the header alone, because DuckDB's sniffer gives up on a file where one data row has a wrong
    number of fields, which would reject the whole file instead of that row.
    """
    with path.open("r", encoding=_python_codec(encoding), newline="") as fh:
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
    with path.open("r", encoding=_python_codec(encoding), newline="") as fh:
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
    at all (row number, kind of error, original line), which are quarantined with rule ``parse:row``.

    ``encoding`` is the text encoding a CSV file was decoded with (recorded in the load manifest). A file
    in an encoding DuckDB does not read natively is read through a UTF-8 copy, ``temporary``, which
    :meth:`close` removes."""

    fmt: str
    columns: list[str]
    relation: str
    fallback: Callable[[], list[tuple[int, str, str]]] | None = None
    encoding: str | None = None
    temporary: Path | None = None

    def close(self) -> None:
        """Remove the UTF-8 copy, if one was made."""
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None


def _python_codec(encoding: str) -> str:
    # A UTF-8 BOM is dropped by the "utf-8-sig" codec, which reads BOM-less UTF-8 unchanged.
    return "utf-8-sig" if encoding in ("utf-8", "utf-8-sig") else encoding


def _utf8_copy(path: Path, encoding: str) -> Path:
    """A temporary UTF-8 copy of a text file in ``encoding`` (DuckDB's CSV reader decodes only UTF-8,
    UTF-16 and Latin-1 without an extension that cannot be installed offline)."""
    handle, name = tempfile.mkstemp(prefix="ecrm-", suffix=".csv")
    with (
        os.fdopen(handle, "w", encoding="utf-8", newline="") as out,
        path.open("r", encoding=_python_codec(encoding), newline="") as src,
    ):
        shutil.copyfileobj(src, out, 1 << 20)
    return Path(name)


def file_source(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    """How to read ``path`` (see :class:`Source`); raises :class:`FileRejected` for a file-level problem."""
    fmt = SUPPORTED_SUFFIXES[path.suffix.lower()]
    if path.stat().st_size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    try:
        if fmt == "csv":
            try:
                encoding = detect_file_encoding(path)
            except UndecodableText as exc:
                raise FileRejected(str(exc)) from exc
            delim, names = csv_header(path, encoding)
            if not any(names):
                raise FileRejected("the file has no header row")
            if len(set(names)) != len(names):
                raise FileRejected(f"the header repeats a column name: {names}")
            native = encoding in ("utf-8", "utf-8-sig")
            readable = path if native else _utf8_copy(path, encoding)
            columns_spec = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
            reader = (
                f"read_csv({lit(str(readable))}, header=true, auto_detect=false, columns={columns_spec}, "
                f"encoding='utf-8', delim={lit(delim)}, quote='\"', escape='\"')"
            )
            return Source(
                fmt, names, reader, lambda: stage_csv_in_python(con, path, encoding, delim, names),
                encoding=encoding, temporary=None if native else readable,
            )  # fmt: skip
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
