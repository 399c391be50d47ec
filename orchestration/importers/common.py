"""What every importer shares: reading an export's files, recognising them by header, writing landing files,
and the report of what was converted and what was set aside.

An importer only converts: it maps a shop platform's own columns (by header name, never by position) onto
the landing layout of ``data_contracts/``, and every row it writes is then judged by the contracts like any
other landing file. A row it cannot convert (a line without a product code, say) is not dropped in silence:
it is counted in the report with the reason.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.contracts import load_contracts

# Where an import's report is kept beside the landing files it wrote. The folder is hidden, so the loader
# neither loads nor lists it as an unknown file; ``ecrm run`` reconciles it with the load manifest.
REPORTS_DIR = ".imports"
READABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}


class ImportFailed(Exception):
    """An export that cannot be converted: the message names the file and what was expected."""


@dataclass
class FileReport:
    """What one input file (or one sheet of a workbook) was recognised as and what became of its rows."""

    path: str
    recognised_as: str
    rows_read: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)

    def written(self, entity: str, rows: int) -> None:
        """Count ``rows`` of this file written to landing ``entity`` (``<source>/<entity>``)."""
        if rows:
            self.rows_written[entity] = self.rows_written.get(entity, 0) + int(rows)

    def aside(self, reason: str, rows: int) -> None:
        """Count ``rows`` of this file that were not converted, with the reason."""
        if rows:
            self.set_aside[reason] = self.set_aside.get(reason, 0) + int(rows)


@dataclass
class ImportReport:
    """The report of one ``ecrm import``: per input file, rows read, written per landing entity and set aside
    (with the reason); per landing file written, its row count (which the load manifest must match)."""

    format: str
    files: list[FileReport] = field(default_factory=list)
    landing_files: dict[str, int] = field(default_factory=dict)
    imported_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    notes: list[str] = field(default_factory=list)

    def file(self, path: Path | str, recognised_as: str) -> FileReport:
        """Start the report of one input file."""
        item = FileReport(str(path), recognised_as)
        self.files.append(item)
        return item

    def render(self) -> str:
        """The report as printed by ``ecrm import``."""
        lines = [f"ecrm import {self.format}: {len(self.files)} input file(s)"]
        for f in self.files:
            lines.append(f"  {f.path}")
            lines.append(f"    recognised as {f.recognised_as}; {f.rows_read:,} rows read")
            for entity, n in sorted(f.rows_written.items()):
                lines.append(f"    -> {entity:<24}{n:>12,} rows")
            for reason, n in sorted(f.set_aside.items()):
                lines.append(f"    set aside: {n:,} rows ({reason})")
        lines.append("Landing files written:")
        lines += [f"  {p:<48}{n:>12,} rows" for p, n in sorted(self.landing_files.items())]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def save(self, landing: Path) -> Path:
        """Write the report as JSON to ``<landing>/.imports/<format>.json`` (replacing the previous import of
        the same format, whose landing files this import replaced too)."""
        path = landing / REPORTS_DIR / f"{self.format}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(path, json.dumps(asdict(self), indent=2, sort_keys=True))
        return path


def load_reports(landing: Path) -> list[dict]:
    """Every import report saved under ``landing`` (as dicts), by format name."""
    folder = landing / REPORTS_DIR
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


# ---------------------------------------------------------------------------------------------------------
# Reading input
# ---------------------------------------------------------------------------------------------------------


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files given directly, plus every readable file (CSV, TXT, TSV, XLSX) under folders given; sorted, no
    duplicates. A path that does not exist is an error naming it."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in READABLE_SUFFIXES
                and not p.name.startswith((".", "~$"))
            )
        elif path.is_file():
            found.append(path)
        else:
            raise ImportFailed(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise ImportFailed("no readable files (.csv, .txt, .tsv, .xlsx) in " + ", ".join(map(str, paths)))
    return unique


def detect_encoding(path: Path) -> str:
    """The text encoding of a file, as the loader detects it (see ``orchestration.loading.encodings``).
    Raises :class:`ImportFailed` naming the file when no encoding reads it with confidence."""
    from orchestration.loading.encodings import UndecodableText, detect_file_encoding

    try:
        return detect_file_encoding(path)
    except UndecodableText as exc:
        raise ImportFailed(f"{path}: {exc}") from exc


def read_csv_text(path: Path) -> pd.DataFrame:
    """Every cell of a CSV export as text (no type guessing: ``'00123`` and ``17850.0`` stay as written),
    with the header stripped of spaces and a BOM.

    A real CSV parser (quoted fields with line breaks, commas, JSON) with the delimiter sniffed from the
    header line (comma, semicolon, tab or pipe). Empty cells become ``None``. A file whose rows have more
    fields than its header (a garbled export) is an error naming the file and the row. A file that ends
    inside its last row (no final line break, fewer fields than the header: a truncated copy) is read with
    that row padded and ``frame.attrs["last_row_cut"]`` set, so the importer can set the row aside.
    """
    data = path.read_bytes()
    if not data.strip():
        raise ImportFailed(f"{path}: the file is empty")
    encoding = detect_encoding(path)
    text = data.decode(encoding)
    text = text.removeprefix("\ufeff")
    header_line = text.split("\n", 1)[0]
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    rows = list(reader)
    header = [h.strip().strip("\ufeff") for h in rows[0]]
    body = []
    for number, row in enumerate(rows[1:], start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) > len(header):
            raise ImportFailed(
                f"{path}: data row {number} has {len(row)} fields where the header has {len(header)}"
            )
        body.append(row + [""] * (len(header) - len(row)))
    frame = pd.DataFrame(body, columns=_unique_names(header), dtype="object")
    frame.attrs["last_row_cut"] = (
        bool(body) and not text.endswith(("\n", "\r")) and len(rows[-1]) < len(header)
    )
    for name in frame.columns:
        # Every cell is text here: blank ones become None, column by column (vectorised).
        values = frame[name]
        frame[name] = values.mask(values.str.strip().eq(""), None)
    return frame


def _unique_names(header: list[str]) -> list[str]:
    # pandas re-saves carry an unnamed index column (an empty header); name it so columns stay unique.
    seen: Counter[str] = Counter()
    names = []
    for h in header:
        name = h or "Unnamed"
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return names


def header_matches(columns: Iterable[str], required: Iterable[str]) -> bool:
    """Whether a header holds every ``required`` column name (compared case-insensitively, spaces trimmed)."""
    have = {c.strip().lower() for c in columns}
    return all(r.lower() in have for r in required)


def column(frame: pd.DataFrame, name: str) -> str | None:
    """The frame's column called ``name`` (case-insensitive), or ``None``."""
    for c in frame.columns:
        if c.strip().lower() == name.lower():
            return c
    return None


def missing_columns(frame: pd.DataFrame, required: Iterable[str]) -> list[str]:
    """The ``required`` column names the frame lacks (case-insensitive)."""
    return [r for r in required if column(frame, r) is None]


# ---------------------------------------------------------------------------------------------------------
# Writing landing files
# ---------------------------------------------------------------------------------------------------------


def landing_file(landing: Path, entity: str, format_name: str) -> Path:
    """The landing file an importer writes for ``entity`` (``<source>/<entity>``): one file per format, so
    importing a newer export of the same shop replaces the older one's file (and its rows) in place."""
    return landing / entity / f"{format_name}.csv"


def write_landing(
    landing: Path, entity: str, format_name: str, frame: pd.DataFrame, report: ImportReport
) -> Path | None:
    """Write ``frame`` as the landing CSV of ``entity`` for this format, columns in contract order.

    The frame must hold only contract columns (a column the contract does not declare is a bug in the
    importer, so it raises). Written to a temporary name first and renamed, so the loader never sees half a
    file. An empty frame writes nothing and removes an earlier import's file of that entity.
    """
    contract = load_contracts()[entity.replace("/", "__")]
    unknown = set(frame.columns) - set(contract.column_names)
    if unknown:
        raise ValueError(f"{entity}: columns not in the contract: {sorted(unknown)}")
    path = landing_file(landing, entity, format_name)
    if frame.empty:
        path.unlink(missing_ok=True)
        return None
    ordered = frame[[c for c in contract.column_names if c in frame.columns]]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    ordered.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    os.replace(tmp, path)
    report.landing_files[path.relative_to(landing).as_posix()] = len(ordered)
    return path


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------------------


def iso_timestamps(values: pd.Series, timezone: str) -> pd.Series:
    """Local date-times without an offset (as a shop's export writes them) as ISO 8601 text with the offset
    that applied in ``timezone`` on that day (daylight saving included); unreadable values stay ``None`` so
    the contract quarantines them with ``type:<column>``."""
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    # The hour repeated when clocks go back is read as its first occurrence (summer time), the hour skipped
    # when they go forward as the first valid moment after it: an export without offsets cannot say more.
    summer = np.ones(len(parsed), dtype=bool)
    local = parsed.dt.tz_localize(timezone, ambiguous=summer, nonexistent="shift_forward")
    text = local.map(lambda t: None if pd.isna(t) else t.isoformat())
    # A value that could not be read is passed through as written, so the contract names it.
    return text.where(text.notna(), values.where(values.notna(), None))


def country_code(name: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code of a country given by name or code (``United Kingdom`` → ``GB``, ``EIRE`` →
    ``IE``), from pycountry; ``None`` for values that name no country (``Unspecified``, ``European
    Community``)."""
    return _country_lookup().get((name or "").strip().lower())


# Names real exports use that pycountry's fuzzy search either misses or gets wrong; each one checked by hand.
_COUNTRY_ALIASES = {
    "eire": "IE",
    "rsa": "ZA",
    "usa": "US",
    "uk": "GB",
    "czech republic": "CZ",
    "channel islands": None,
    "european community": None,
    "unspecified": None,
    "west indies": None,
}


@cache
def _country_lookup() -> dict[str, str | None]:
    import pycountry

    table: dict[str, str | None] = {}
    for c in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(c, attr, None)
            if value:
                table[value.lower()] = c.alpha_2
    return table | _COUNTRY_ALIASES
