"""Deliberately bad noise rows. They are always *extra* rows (copies of good rows with one thing broken, or
exact duplicates placed later in the same file), never changes to a true record, so the landing files minus
the listed bad rows are exactly the clean data. Each noise row breaks exactly one rule.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.demo.config import BAD_RATES
from orchestration.demo.csvio import BadPart

BAD_DATES = ["2024-13-45", "yesterday", "31/02/2024", "2024-02-30T25:61:00Z", "n/a", "20240631"]
# Ids of noise rows use one more digit than real ids, so they can never collide with a real id.
BAD_ORDER_PREFIX = "O9"
BAD_CRM_PREFIX = "C9"


def _pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    k = int(rng.binomial(n, rate)) if n else 0
    return np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)


def _replace(table: pa.Table, column: str, values) -> pa.Table:
    i = table.column_names.index(column)
    return table.set_column(i, column, pa.array(values, type=pa.string()))


class BadRows:
    """Creates noise rows for file parts, with ids from their own counters."""

    def __init__(self, rng: np.random.Generator, counters: dict[str, int]) -> None:
        self.rng = rng
        self.counters = counters

    def _ids(self, kind: str, prefix: str, width: int, n: int) -> list[str]:
        start = self.counters.get(kind, 0)
        self.counters[kind] = start + n
        return [f"{prefix}{i:0{width}d}" for i in range(start + 1, start + n + 1)]

    def orders(self, part: pa.Table) -> list[BadPart]:
        """Exact duplicates placed later (``unique:order_id``) and copies with an unparseable ``ordered_at``
        under a new id and without lines (``type:ordered_at``)."""
        n = part.num_rows
        dup = _pick(self.rng, n, BAD_RATES["orders_duplicate"])
        dup_pos = np.array([self.rng.integers(j + 1, n + 1) for j in dup], dtype=np.int64)
        bad = _pick(self.rng, n, BAD_RATES["orders_bad_date"])
        t = part.take(pa.array(bad, type=pa.int64()))
        t = _replace(t, "order_id", self._ids("order", BAD_ORDER_PREFIX, 9, len(bad)))
        t = _replace(t, "ordered_at", [BAD_DATES[i] for i in self.rng.integers(0, len(BAD_DATES), len(bad))])
        return [
            BadPart(part.take(pa.array(dup, type=pa.int64())), dup_pos, "unique:order_id"),
            BadPart(t, self.rng.integers(0, n + 1, len(bad)), "type:ordered_at"),
        ]

    def order_lines(self, part: pa.Table, n_lines_of_order: np.ndarray) -> list[BadPart]:
        """Copies of a line as an extra line of the same order with zero or negative quantity
        (``range:quantity``), and copies pointing at an order that exists nowhere (``foreign_key:order_id``)."""
        n = part.num_rows
        firsts = np.flatnonzero(pc.equal(part.column("line_number"), "1").to_numpy(zero_copy_only=False))
        k = int(
            self.rng.binomial(
                len(firsts), min(1.0, BAD_RATES["lines_bad_quantity"] * n / max(len(firsts), 1))
            )
        )
        rq = np.sort(self.rng.choice(firsts, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
        t = part.take(pa.array(rq, type=pa.int64()))
        t = _replace(t, "line_number", [str(int(x) + 1) for x in n_lines_of_order[rq]])
        t = _replace(t, "quantity", [str(q) for q in self.rng.choice([0, -1, -2, -5], len(rq))])
        orphan = _pick(self.rng, n, BAD_RATES["lines_orphan"])
        o = part.take(pa.array(orphan, type=pa.int64()))
        o = _replace(o, "order_id", self._ids("order", BAD_ORDER_PREFIX, 9, len(orphan)))
        return [
            BadPart(t, self.rng.integers(0, n + 1, len(rq)), "range:quantity"),
            BadPart(o, self.rng.integers(0, n + 1, len(orphan)), "foreign_key:order_id"),
        ]

    def crm_customers(self, part: pa.Table) -> list[BadPart]:
        """Copies of records with a malformed e-mail under a new id (``format:email``)."""
        n = part.num_rows
        emails = part.column("email").to_pylist()
        pick = [j for j in _pick(self.rng, n, BAD_RATES["crm_bad_email"]) if emails[j]]
        t = part.take(pa.array(pick, type=pa.int64()))
        t = _replace(t, "crm_customer_id", self._ids("crm", BAD_CRM_PREFIX, 7, len(pick)))
        t = _replace(t, "email", [self._mangle(emails[j].strip()) for j in pick])
        return [BadPart(t, self.rng.integers(0, n + 1, len(pick)), "format:email")]

    def _mangle(self, email: str) -> str:
        local, _, domain = email.partition("@")
        kind = int(self.rng.integers(0, 5))
        if kind == 0:
            return f"{local}@@{domain.split('.')[0]}"
        if kind == 1:
            return f"{local}.{domain}"
        if kind == 2:
            return f"{local}@{domain.split('.')[0]}"
        if kind == 3:
            return f"{local}@"
        return f"@{domain}"

    def events(self, part: pa.Table) -> list[BadPart]:
        """Exact duplicates of events placed later in the file (``unique:event_id``)."""
        n = part.num_rows
        dup = _pick(self.rng, n, BAD_RATES["events_duplicate"])
        pos = np.array([self.rng.integers(j + 1, n + 1) for j in dup], dtype=np.int64)
        return [BadPart(part.take(pa.array(dup, type=pa.int64())), pos, "unique:event_id")]
