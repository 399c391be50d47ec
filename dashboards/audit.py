"""The access audit log: every customer lookup and every export, one JSON object per line, appended.

The log is ``ECRM_AUDIT_LOG`` (default ``data/audit/access.jsonl``). Each entry holds ``time`` (UTC, ISO
8601), ``role`` and ``user`` of the dashboard (or of the command line), ``action`` (``search``, ``lookup``,
``export``, ``download``), ``searched`` (the text typed, or the audience's name), ``customer_ids`` (the
customers shown or exported) and ``details`` (the audience's filters, the file written). Nothing is ever
rewritten or removed; the log lives outside the warehouse, which the dashboard never writes to.

This module needs only the standard library and the settings, so ``ecrm export-audience`` appends to the
same log as the dashboard.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from orchestration import settings

_LOCK = threading.Lock()


def log_path() -> Path:
    """The audit log file (``ECRM_AUDIT_LOG``, default ``data/audit/access.jsonl``)."""
    return settings.audit_log_path()


def record(
    action: str,
    searched: str | None = None,
    customer_ids: Iterable[str] = (),
    details: dict | None = None,
    role: str | None = None,
    user: str | None = None,
) -> dict:
    """Append one entry to the audit log and return it.

    The line is written with a single ``write`` on a file opened for appending (and flushed to disk), so
    entries of concurrent sessions never interleave within a line.
    """
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "role": role or settings.dashboard_role(),
        "user": user if user is not None else settings.dashboard_user(),
        "action": action,
        "searched": searched,
        "customer_ids": [str(c) for c in customer_ids],
        "details": details or {},
    }
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    path = log_path()
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    return entry


def read(path: Path | None = None) -> list[dict]:
    """Every entry of the audit log, oldest first (empty when nothing was logged yet)."""
    path = Path(path) if path else log_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
