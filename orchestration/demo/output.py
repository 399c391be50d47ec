"""Where a generator run writes, and how it numbers what it writes.

:class:`Run` holds the landing and truth writers, the sequential id counters, the good-row counts per entity
and the running totals the end-of-run truth files need. :func:`number_chunk` gives a simulated chunk its ids
(``P`` persons, ``S`` shop accounts, ``C`` CRM records, ``O`` orders, ``W`` sessions, ``E`` events, ``R``
returns, ``T`` tickets, ``K`` contacts, ``M`` sends, 16-hex-digit cookies), numbered on from the previous
chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.contracts import Contract
from orchestration.demo.badrows import BadRows
from orchestration.demo.chunk import Chunk, Scenario
from orchestration.demo.csvio import STRING, BadPart, LandingWriter, ids, strings

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def anonymous_ids(start: int, n: int) -> pa.Array:
    """16-hex-digit cookie ids: device numbers multiplied by an odd constant modulo 2^64 (a bijection, so
    unique) to look random."""
    x = np.arange(start, start + n, dtype=np.uint64) * _GOLDEN
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    digits = ((x[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8)
    buf = _HEX[digits]
    offsets = pa.py_buffer(np.arange(n + 1, dtype=np.int32) * 16)
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(np.ascontiguousarray(buf)))


def lookup(table: pa.Array, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``table[idx]`` as an Arrow array, null where ``valid`` is false (default: where ``idx`` is negative)."""
    idx = np.asarray(idx, dtype=np.int64)
    if valid is None:
        valid = idx >= 0
    out = table.take(pa.array(np.where(valid, idx, 0)))
    if not valid.all():
        out = pc.if_else(pa.array(valid), out, pa.scalar(None, STRING))
    return out


def texts(values) -> pa.Array:
    """Python strings or None (any sequence) as an Arrow string array."""
    return strings(np.asarray(values, dtype=object))


@dataclass
class RunTotals:
    """Running totals over all chunks, for the truth files written at the end of a run."""

    pair_counts: np.ndarray  # per planted pair: orders with A, orders with B, orders with both
    uplift_sum: np.ndarray  # per campaign: sum of the targeted people's true uplift
    targeted: np.ndarray  # per campaign
    treated: np.ndarray  # per campaign
    n_orders: int = 0

    @classmethod
    def empty(cls, n_pairs: int, n_campaigns: int) -> RunTotals:
        """All totals zero."""
        return cls(
            pair_counts=np.zeros((n_pairs, 3), dtype=np.int64),
            uplift_sum=np.zeros(n_campaigns),
            targeted=np.zeros(n_campaigns, dtype=np.int64),
            treated=np.zeros(n_campaigns, dtype=np.int64),
        )


@dataclass
class Run:
    """State of one :func:`~orchestration.demo.generator.generate` call."""

    out: Path
    seed: int
    clean: bool
    scenario: Scenario
    contracts: dict[str, Contract]
    writer: LandingWriter
    truth: LandingWriter
    bad: BadRows
    totals: RunTotals
    counters: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    legacy_returns: pa.Table | None = None

    def take(self, kind: str, n: int) -> int:
        """Reserve ``n`` sequential numbers of a kind; returns the first (1-based)."""
        start = self.counters.get(kind, 0)
        self.counters[kind] = start + n
        return start + 1

    def write(
        self, name: str, rel: str, table: pa.Table, noise: Callable[[], list[BadPart]] | None = None
    ) -> None:
        """Append ``table`` (good rows of entity ``name``) to the landing file ``rel``, with the noise rows
        ``noise()`` makes unless the run is clean (then ``noise`` is not called, so the noise stream is not
        drawn from)."""
        self.rows[name] = self.rows.get(name, 0) + table.num_rows
        self.writer.append(rel, table, [] if self.clean or noise is None else noise())


@dataclass(frozen=True)
class ChunkIds:
    """The ids of a chunk's rows, as Arrow string arrays indexed like the chunk's arrays."""

    person: pa.Array  # per local person
    account: pa.Array  # per account, in Accounts order
    account_of_person: pa.Array  # per local person, null without an account
    crm: pa.Array  # per CRM record
    order: pa.Array  # per order
    anonymous: pa.Array  # per device (cookie)
    session: pa.Array
    event: pa.Array
    ret: pa.Array  # per return
    ticket: pa.Array
    contact: pa.Array
    send: pa.Array  # per send, in Sends.file_order()


def number_chunk(run: Run, chunk: Chunk) -> ChunkIds:
    """Ids for every row of ``chunk``, continuing the run's counters."""
    n_p = chunk.n_people
    accounts = chunk.accounts
    acct_ids = ids("S", run.take("account", len(accounts.person)), len(accounts.person), 7)
    acct_of_person = np.full(n_p, -1, dtype=np.int64)
    acct_of_person[accounts.person] = np.arange(len(accounts.person))
    n_recs, n_orders = len(chunk.recs), len(chunk.orders)
    n_dev, n_sess = len(chunk.devices.person), len(chunk.sessions.started_at)
    n_ev, n_ret = len(chunk.events.at), len(chunk.returns.line)
    n_tix, n_con, n_send = len(chunk.tickets.record), len(chunk.contacts.record), len(chunk.sends.sent_at)
    return ChunkIds(
        person=ids("P", chunk.first_person, n_p, 8),
        account=acct_ids,
        account_of_person=lookup(acct_ids, acct_of_person),
        crm=ids("C", run.take("crm", n_recs), n_recs, 7),
        order=ids("O", run.take("order", n_orders), n_orders, 9),
        anonymous=anonymous_ids(run.take("device", n_dev), n_dev),
        session=ids("W", run.take("session", n_sess), n_sess, 10),
        event=ids("E", run.take("event", n_ev), n_ev, 11),
        ret=ids("R", run.take("return", n_ret), n_ret, 9),
        ticket=ids("T", run.take("ticket", n_tix), n_tix, 8),
        contact=ids("K", run.take("contact", n_con), n_con, 8),
        send=ids("M", run.take("send", n_send), n_send, 9),
    )
