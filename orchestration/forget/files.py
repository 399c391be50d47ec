"""Steps 5 and 6 of ``ecrm forget``, on files: the CSV exports and the dashboard's access log without the person,
the warehouse file rewritten with live rows only, and a search of a file's bytes for their values."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

from orchestration.loading.sql import lit, q
from orchestration.warehouse import connect

# dbt's subprocess may still hold the file for a while after the rebuild reports done (longer on a busy
# machine than the pipeline's own summary waits): wait this long for it before giving up.
DBT_EXIT_SECONDS = 120


def scrub_exports(exports: Path, values: set[str], write: bool = True) -> tuple[dict[str, int], list[str]]:
    """Rows naming the person (a cell equal to one of ``values``, e-mails in any case) per CSV export file
    under ``exports``, rewritten without them when ``write``; and the export files that are not CSV (not
    read). Files are replaced atomically, header and line endings kept."""
    lowered = {v.lower() for v in values}
    found: dict[str, int] = {}
    unchecked: list[str] = []
    if not exports.is_dir():
        return found, unchecked
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        rel = path.relative_to(exports).as_posix()
        if any(part.startswith(".") for part in path.relative_to(exports).parts):
            continue
        if path.suffix.lower() != ".csv":
            unchecked.append(rel)
            continue
        raw = path.read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        kept = rows[:1] + [r for r in rows[1:] if not any(c.strip().lower() in lowered for c in r)]
        if len(kept) == len(rows):
            continue
        found[rel] = len(rows) - len(kept)
        if write:
            out = io.StringIO(newline="")
            csv.writer(out, lineterminator="\r\n" if "\r\n" in text[:4096] else "\n").writerows(kept)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes((b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8"))
            os.replace(tmp, path)
    return found, unchecked


ERASED_MARK = "[erased]"


def _names_person(text: str, lowered: set[str], digit_forms: set[str]) -> bool:
    """Whether ``text`` (a search typed in the dashboard, an id) names one of the person's values: contains
    one, or is a part of one at least four characters long (a search for ``anna.sch`` names
    ``anna.schmidt@...``); phones compared by their digits, without a leading trunk zero."""
    low = text.strip().lower()
    if not low:
        return False
    if any(v in low or (len(low) >= 4 and low in v) for v in lowered):
        return True
    # A national form (0151 ...) has the trunk zero where the E.164 form has the country code.
    digits = "".join(ch for ch in low if ch.isdigit()).lstrip("0")
    return len(digits) >= 6 and any(digits in d or d in digits for d in digit_forms)


def scrub_audit_log(path: Path, values: set[str], write: bool = True) -> int:
    """Entries of the dashboard's access log (``ECRM_AUDIT_LOG``) that name the person, with what names them
    replaced by ``[erased]`` when ``write``; returns how many entries do.

    DECISION: the entries stay (who looked at or exported customer data, and when, is the accountability
    record the log exists for), but the person's identifiers in them (the text searched, their customer and
    source ids) do not: after an erasure the log cannot tell who was looked up. The file is replaced
    atomically; an entry appended by a dashboard at that very moment can be lost.
    """
    if not path.is_file():
        return 0
    lowered = {v.strip().lower() for v in values if v and v.strip()}
    digit_forms = {d for d in ("".join(ch for ch in v if ch.isdigit()) for v in lowered) if len(d) >= 6}
    lines = path.read_text(encoding="utf-8").splitlines()
    out, changed = [], 0
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        hit = False
        searched = entry.get("searched")
        if isinstance(searched, str) and _names_person(searched, lowered, digit_forms):
            entry["searched"], hit = ERASED_MARK, True
        ids = [str(c) for c in entry.get("customer_ids") or []]
        if any(c.lower() in lowered for c in ids):
            entry["customer_ids"], hit = [ERASED_MARK if c.lower() in lowered else c for c in ids], True
        changed += hit
        out.append(json.dumps(entry, ensure_ascii=False, default=str) if hit else line)
    if changed and write:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(f"{line}\n" for line in out), encoding="utf-8")
        os.replace(tmp, path)
    return changed


def compact(warehouse: Path) -> None:
    """Rewrite the warehouse file with live rows only (``COPY FROM DATABASE`` into a new file, then swap), so
    that deleted rows and freed blocks do not keep erased values in its bytes. Tables, views, constraints and
    column types are copied as they are."""
    tmp = warehouse.with_name(warehouse.name + ".compacting")
    tmp.unlink(missing_ok=True)
    with connect(warehouse, wait_seconds=DBT_EXIT_SECONDS) as con:
        con.execute("checkpoint")
        name = con.execute("select current_database()").fetchone()[0]
        con.execute(f"attach {lit(str(tmp))} as _ecrm_compact")
        try:
            con.execute(f"copy from database {q(name)} to _ecrm_compact")
        finally:
            con.execute("detach _ecrm_compact")
    wal = warehouse.with_name(warehouse.name + ".wal")
    if wal.exists():  # a log left beside the old file would be replayed onto the new one
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"{wal} exists after a checkpoint; the warehouse was not compacted")
    os.replace(tmp, warehouse)


def bytes_found(path: Path, values: list[str]) -> int:
    """How many of ``values`` occur in the raw bytes of ``path`` (read in blocks)."""
    if not path.exists() or not values:
        return 0
    needles = sorted({v.encode("utf-8") for v in values}, key=len, reverse=True)
    pattern = re.compile(b"|".join(re.escape(n) for n in needles))
    overlap = max(len(n) for n in needles)
    seen: set[bytes] = set()
    tail = b""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            chunk = tail + block
            seen |= {m.group(0) for m in pattern.finditer(chunk)}
            tail = chunk[-overlap:]
    return len(seen)
