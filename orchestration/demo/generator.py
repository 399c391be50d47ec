"""Deterministic demo data for the whole landing layout, with the truth needed to validate models.

``generate`` writes ``<out_dir>/landing/<source>/<entity>/*.csv`` (columns exactly as the data contracts) and
``<out_dir>/truth/*`` (which the pipeline never reads). People are produced in chunks of ``chunk_size`` buyers
(plus as many non-buying visitors) and every chunk's rows are appended to the output files, so memory stays
bounded however many customers are asked for. Each chunk draws from its own random streams derived from
``seed`` and the chunk number, and noise rows from a separate stream, so the same arguments give
byte-identical files and ``clean=True`` gives exactly the same files minus the noise rows.

Truth files:

- ``identity.csv`` (source, source_id, person_id): every CRM id (``crm``), shop account id (``shop``), guest
  checkout e-mail lower-cased and trimmed (``shop_guest``) and web anonymous id (``web``) in the landing files.
- ``persons.csv``: per person the drawn BG/NBD and Gamma-Gamma values, first purchase, dropout time and
  ``n_orders`` (all their orders in the landing files, campaign-induced ones included).
- ``model_params.json``: the true parameters (time unit week; Gamma-Gamma named as in lifetimes: p, q, v).
- ``planted_associations.csv``: the planted product pairs with their lift and support in the generated orders.
- ``campaign_uplift.csv``: true uplift per campaign (formula in :mod:`orchestration.demo.marketing`).
- ``campaign_send_uplift.csv`` (send_id, campaign_id, crm_customer_id, is_control, true_uplift): every
  targeting (treated send or control hold-out) as in the landing sends files, with that person's true uplift
  A_i * pi_i * exp(-lambda_i dG_i); its mean per campaign is ``campaign_uplift.csv``.
- ``campaign_orders.csv`` (order_id, campaign_id): the extra orders a campaign caused.
- ``bad_rows.csv`` (file, row_number, rule): every noise row, by path relative to the landing folder and
  1-based data row number.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.contracts import load_contracts
from orchestration.demo import config as C
from orchestration.demo.badrows import BadRows
from orchestration.demo.catalog import Catalog, Promotions, build_catalog, build_promotions
from orchestration.demo.crm import contacts, crm_records, plant_households, tickets
from orchestration.demo.csvio import (
    NA_TS,
    STRING,
    BadPart,
    LandingWriter,
    booleans,
    decimals,
    ids,
    integers,
    iso_utc,
    make_table,
    money,
    month_parts,
    strings,
    year_parts,
)
from orchestration.demo.marketing import (
    ATTRIBUTION_DAYS,
    COST_PER_SEND_CENTS,
    FIXED_COST_EUR,
    UTM,
    Campaigns,
    build_campaigns,
    simulate_sends,
)
from orchestration.demo.people import (
    COUNTRY_CODE,
    LOC_CITY,
    LOC_REGION,
    Season,
    format_phones,
    make_persons,
    simulate_buyers,
)
from orchestration.demo.shop import DEVICE_NAMES, make_accounts, make_devices, make_orders, make_returns
from orchestration.demo.web import EVENT_TYPES, make_web

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def anonymous_ids(start: int, n: int) -> pa.Array:
    """16-hex-digit cookie ids: device numbers multiplied by an odd constant modulo 2^64 (a bijection, so
    unique) to look random."""
    x = np.arange(start, start + n, dtype=np.uint64) * _GOLDEN
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    digits = ((x[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8)
    buf = _HEX[digits]
    offsets = pa.py_buffer(np.arange(n + 1, dtype=np.int32) * 16)
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(np.ascontiguousarray(buf)))


def _lookup(table: pa.Array, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    idx = np.asarray(idx, dtype=np.int64)
    if valid is None:
        valid = idx >= 0
    out = table.take(pa.array(np.where(valid, idx, 0)))
    if not valid.all():
        out = pc.if_else(pa.array(valid), out, pa.scalar(None, STRING))
    return out


def _obj(values) -> pa.Array:
    return strings(np.asarray(values, dtype=object))


@dataclass
class _Run:
    out: Path
    seed: int
    clean: bool
    cat: Catalog
    promos: Promotions
    camps: Campaigns
    season: Season
    params: C.ModelParams
    writer: LandingWriter
    truth: LandingWriter
    bad_counters: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    pair_counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    n_orders: int = 0
    uplift_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    targeted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    treated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    legacy_returns: pa.Table | None = None

    def take(self, kind: str, n: int) -> int:
        """Reserve ``n`` sequential numbers of a kind; returns the first (1-based)."""
        start = self.counters.get(kind, 0)
        self.counters[kind] = start + n
        return start + 1

    def write(self, name: str, rel: str, table: pa.Table, bad: list[BadPart] | tuple = ()) -> None:
        self.rows[name] = self.rows.get(name, 0) + table.num_rows
        self.writer.append(rel, table, [] if self.clean else bad)


def generate(
    out_dir: Path,
    customers: int = 10_000,
    seed: int = 42,
    clean: bool = False,
    chunk_size: int = 20_000,
) -> dict:
    """Write demo landing files and their truth for ``customers`` buyers (people who buy at least once).

    Existing ``landing/`` and ``truth/`` folders under ``out_dir`` are replaced. Returns a summary: rows written
    per entity (good rows), number of files, number of bad rows and the seconds taken.
    """
    if customers < 1 or chunk_size < 1:
        raise ValueError("customers and chunk_size must be positive")
    started = time.perf_counter()
    out = Path(out_dir)
    for sub in ("landing", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "truth").mkdir(parents=True)
    (out / "landing").mkdir(parents=True)
    run = _Run(
        out=out,
        seed=seed,
        clean=clean,
        cat=build_catalog(_rng(seed, 0, 1)),
        promos=build_promotions(_rng(seed, 0, 2), C.PROMO_ORDER_SHARE),
        camps=build_campaigns(_rng(seed, 0, 3)),
        season=Season(),
        params=C.ModelParams(),
        writer=LandingWriter(out / "landing"),
        truth=LandingWriter(out / "truth"),
    )
    run.pair_counts = np.zeros((len(run.cat.pair_a), 3), dtype=np.int64)
    run.uplift_sum = np.zeros(len(run.camps))
    run.targeted = np.zeros(len(run.camps), dtype=np.int64)
    run.treated = np.zeros(len(run.camps), dtype=np.int64)
    bad = BadRows(_rng(seed, 2), run.bad_counters)
    for ci, start in enumerate(range(0, customers, chunk_size)):
        _chunk(run, ci, min(chunk_size, customers - start), bad)
    _write_catalog(run)
    _write_campaigns(run)
    if not clean and run.legacy_returns is not None:
        rel = "shop/returns/returns_legacy_export.csv"
        run.writer.append(
            rel,
            pa.table({c: pa.array([], type=STRING) for c in run.legacy_returns.column_names}),
            [
                BadPart(
                    run.legacy_returns,
                    np.zeros(run.legacy_returns.num_rows, dtype=np.int64),
                    "missing_column:refund_amount",
                )
            ],
        )
    _write_truth(run)
    files = sorted(p for p in (out / "landing").rglob("*.csv"))
    return {
        "customers": customers,
        "seed": seed,
        "clean": clean,
        "rows": dict(sorted(run.rows.items())),
        "files": len(files),
        "bad_rows": len(run.writer.bad),
        "persons": run.counters.get("person", 0),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _chunk(run: _Run, ci: int, n_b: int, bad: BadRows) -> None:
    contracts = load_contracts()
    seed = run.seed

    def rng(k: int) -> np.random.Generator:
        return _rng(seed, 1, ci, k)

    n_v = round(n_b * C.VISITORS_PER_BUYER)
    n_p = n_b + n_v
    p0 = run.take("person", n_p)
    persons = make_persons(rng(1), n_p, p0)
    buyers = simulate_buyers(rng(2), n_b, run.params, run.season)

    r = rng(3)
    has_account = r.random(n_b) < C.ACCOUNT_SHARE
    crm_buyers = np.flatnonzero(r.random(n_b) < C.CRM_BUYER_SHARE)
    leads = n_b + np.arange(min(round(n_b * C.CRM_LEADS_PER_BUYER), n_v))
    households = plant_households(r, persons, crm_buyers)
    crm_person = np.concatenate([crm_buyers, leads])
    created = np.concatenate(
        [
            buyers.first_at[crm_buyers] + r.integers(-30 * C.DAY, 5 * C.DAY, len(crm_buyers)),
            C.OBS_START + (r.random(len(leads)) * (C.OBS_END - C.OBS_START - 30 * C.DAY)).astype(np.int64),
        ]
    )
    # Records of the earliest buyers cannot predate the history: they were created with the first purchase.
    early = np.flatnonzero(created[: len(crm_buyers)] < C.OBS_START)
    created[early] = buyers.first_at[crm_buyers[early]] + r.integers(60, 5 * C.DAY, len(early))
    created = np.clip(created, C.OBS_START, C.OBS_END - C.DAY)
    recs = crm_records(r, persons, crm_person, created, households)
    devices = make_devices(rng(4), n_b, n_v)
    sends = simulate_sends(rng(5), run.camps, recs, buyers, n_b, run.season, NA_TS)
    run.uplift_sum += sends.uplift_sum
    run.targeted += sends.targeted
    run.treated += sends.treated

    r6 = rng(6)
    owner = np.concatenate([buyers.purchase_owner, sends.extra_person])
    at = np.concatenate([buyers.purchase_at, sends.extra_at])
    campaign = np.concatenate([np.full(len(buyers.purchase_at), -1), sends.extra_campaign])
    orders = make_orders(
        r6, persons, buyers.nu, has_account, devices, owner, at, campaign, run.cat, run.promos, run.params
    )
    accounts = make_accounts(r6, orders, has_account, NA_TS)
    rets = make_returns(rng(7), orders, run.cat)

    account_created = np.full(n_p, NA_TS, dtype=np.int64)
    account_created[accounts.person] = accounts.created_at
    last_active = np.full(n_b, C.OBS_START, dtype=np.int64)
    np.maximum.at(last_active, orders.person, orders.at)
    clicked = sends.clicked_at != NA_TS
    sessions, events = make_web(
        rng(8),
        n_b,
        n_p,
        devices,
        orders,
        account_created,
        buyers.first_at,
        last_active,
        recs.person[sends.record[clicked]],
        sends.clicked_at[clicked],
        sends.campaign[clicked],
        orders.lines.product,
        run.cat.product_id,
        len(run.cat),
        NA_TS,
        np.isin(np.arange(n_p), recs.person),
    )
    tix = tickets(rng(9), recs, NA_TS)
    cons = contacts(rng(10), recs)

    # Ids.
    person_ids = ids("P", p0, n_p, 8)
    a0 = run.take("account", len(accounts.person))
    acct_ids = ids("S", a0, len(accounts.person), 7)
    acct_of_person = np.full(n_p, -1, dtype=np.int64)
    acct_of_person[accounts.person] = np.arange(len(accounts.person))
    person_acct = _lookup(acct_ids, acct_of_person)
    crm_ids = ids("C", run.take("crm", len(recs)), len(recs), 7)
    order_ids = ids("O", run.take("order", len(orders)), len(orders), 9)
    d0 = run.take("device", len(devices.person))
    anon = anonymous_ids(d0, len(devices.person))
    session_ids = ids("W", run.take("session", len(sessions.started_at)), len(sessions.started_at), 10)
    event_ids = ids("E", run.take("event", len(events.at)), len(events.at), 11)

    # Shop orders and lines.
    loc = orders.loc
    promo_codes = pa.array(run.promos.code, type=STRING)
    orders_t = make_table(
        contracts["shop__orders"],
        {
            "order_id": order_ids,
            "shop_customer_id": _lookup(person_acct, orders.person, ~orders.is_guest),
            "email": _obj(orders.email),
            "ordered_at": iso_utc(orders.at),
            "currency": pa.array(np.full(len(orders), C.CURRENCY, dtype=object), type=STRING),
            "sales_channel": _obj(orders.channel),
            "device": _lookup(
                pa.array(DEVICE_NAMES, type=STRING),
                np.where(orders.device >= 0, devices.kind[np.maximum(orders.device, 0)], -1),
            ),
            "country": _obj(COUNTRY_CODE[persons.country[orders.person]]),
            "region": _obj(LOC_REGION[loc]),
            "city": _obj(LOC_CITY[loc]),
            "promotion_code": _lookup(promo_codes, orders.promo),
            "discount_amount": money(orders.discount),
            "shipping_amount": money(orders.shipping),
        },
    )
    for month, idx in month_parts(orders.at):
        part = orders_t.take(pa.array(idx))
        run.write(
            "shop__orders", f"shop/orders/orders_{month}.csv", part, bad.orders(part) if not run.clean else ()
        )
    ln = orders.lines
    n_lines = np.bincount(ln.order_idx, minlength=len(orders))
    product_ids = pa.array(run.cat.product_id, type=STRING)
    lines_t = make_table(
        contracts["shop__order_lines"],
        {
            "order_id": _lookup(order_ids, ln.order_idx),
            "line_number": integers(ln.line_number),
            "product_id": _lookup(product_ids, ln.product),
            "quantity": integers(ln.quantity),
            "unit_price": money(ln.unit_price_cents),
        },
    )
    for month, idx in month_parts(orders.at[ln.order_idx]):
        part = lines_t.take(pa.array(idx))
        noise = bad.order_lines(part, n_lines[ln.order_idx[idx]]) if not run.clean else ()
        run.write("shop__order_lines", f"shop/order_lines/order_lines_{month}.csv", part, noise)
    for k, (a, b) in enumerate(zip(run.cat.pair_a, run.cat.pair_b, strict=True)):
        with_a = np.unique(ln.order_idx[ln.product == a])
        with_b = np.unique(ln.order_idx[ln.product == b])
        run.pair_counts[k] += [len(with_a), len(with_b), len(np.intersect1d(with_a, with_b))]
    run.n_orders += len(orders)

    ret_ids = ids("R", run.take("return", len(rets.line)), len(rets.line), 9)
    rl = rets.line
    returns_t = make_table(
        contracts["shop__returns"],
        {
            "return_id": ret_ids,
            "order_id": _lookup(order_ids, ln.order_idx[rl]),
            "product_id": _lookup(product_ids, ln.product[rl]),
            "quantity": integers(rets.quantity),
            "refund_amount": money(rets.refund),
            "returned_at": iso_utc(rets.returned_at),
            "reason": _obj(rets.reason),
        },
    )
    for month, idx in month_parts(rets.returned_at):
        run.write("shop__returns", f"shop/returns/returns_{month}.csv", returns_t.take(pa.array(idx)))
    if run.legacy_returns is None and returns_t.num_rows:
        legacy = returns_t.slice(0, min(C.LEGACY_RETURNS_ROWS, returns_t.num_rows)).drop_columns(
            ["refund_amount"]
        )
        n_leg = legacy.num_rows
        run.legacy_returns = legacy.set_column(
            0, "return_id", pa.array([f"RL{i:06d}" for i in range(1, n_leg + 1)], type=STRING)
        )

    # Shop accounts: a year-end 2024 export (accounts existing then, as they were) and the final export.
    ap = accounts.person
    phones = format_phones(persons, ap, accounts.phone_style)
    cutoff = int(np.datetime64("2024-12-31T23:59:59", "s").astype(np.int64))
    for label, as_of in (("2024_12_31", cutoff), ("2025_12_31", C.OBS_END)):
        keep = np.flatnonzero(accounts.created_at <= as_of)
        changed = (accounts.changed_at != NA_TS) & (accounts.changed_at <= as_of)
        accepts = np.where(changed, accounts.accepts_marketing, accounts.accepts_marketing_before)
        has_phone = np.where(changed, accounts.has_phone, accounts.has_phone_before)
        updated = np.where(changed, accounts.changed_at, accounts.created_at)
        lp = persons.loc[ap]
        cust_t = make_table(
            contracts["shop__customers"],
            {
                "shop_customer_id": acct_ids,
                "email": _obj(persons.email[ap]),
                "phone": _obj(np.where(has_phone, phones, None)),
                "first_name": _obj(persons.first_name[ap]),
                "last_name": _obj(persons.last_name[ap]),
                "country": _obj(COUNTRY_CODE[persons.country[ap]]),
                "region": _obj(LOC_REGION[lp]),
                "city": _obj(LOC_CITY[lp]),
                "acquisition_channel": _obj(accounts.channel),
                "accepts_marketing": booleans(accepts),
                "created_at": iso_utc(accounts.created_at),
                "updated_at": iso_utc(updated),
            },
        )
        run.write("shop__customers", f"shop/customers/customers_{label}.csv", cust_t.take(pa.array(keep)))

    # CRM.
    crm_t = make_table(
        contracts["crm__customers"],
        {
            "crm_customer_id": crm_ids,
            "first_name": _obj(recs.first_name),
            "last_name": _obj(recs.last_name),
            "email": _obj(recs.email),
            "phone": _obj(recs.phone),
            "country": _obj(recs.country),
            "region": _obj(recs.region),
            "city": _obj(recs.city),
            "created_at": iso_utc(recs.created_at),
            "updated_at": iso_utc(recs.updated_at),
            "email_opt_in": booleans(recs.email_opt_in),
            "sms_opt_in": booleans(recs.sms_opt_in),
        },
    )
    run.write(
        "crm__customers",
        "crm/customers/customers_export.csv",
        crm_t,
        bad.crm_customers(crm_t) if not run.clean else (),
    )
    tix_t = make_table(
        contracts["crm__tickets"],
        {
            "ticket_id": ids("T", run.take("ticket", len(tix.record)), len(tix.record), 8),
            "crm_customer_id": _lookup(crm_ids, tix.record),
            "channel": _obj(tix.channel),
            "category": _obj(tix.category),
            "opened_at": iso_utc(tix.opened_at),
            "resolved_at": iso_utc(tix.resolved_at),
            "status": _obj(np.where(tix.resolved_at == NA_TS, "open", "resolved")),
            "satisfaction_score": integers(tix.satisfaction, tix.satisfaction > 0),
        },
    )
    for year, idx in year_parts(tix.opened_at):
        run.write("crm__tickets", f"crm/tickets/tickets_{year}.csv", tix_t.take(pa.array(idx)))
    con_t = make_table(
        contracts["crm__contacts"],
        {
            "contact_id": ids("K", run.take("contact", len(cons.record)), len(cons.record), 8),
            "crm_customer_id": _lookup(crm_ids, cons.record),
            "channel": _obj(cons.channel),
            "direction": _obj(cons.direction),
            "contacted_at": iso_utc(cons.contacted_at),
            "topic": _obj(cons.topic),
        },
    )
    for year, idx in year_parts(cons.contacted_at):
        run.write("crm__contacts", f"crm/contacts/contacts_{year}.csv", con_t.take(pa.array(idx)))

    # Marketing sends, one file per campaign.
    so = np.lexsort((sends.sent_at, sends.campaign))
    sends_t = make_table(
        contracts["marketing__sends"],
        {
            "send_id": ids("M", run.take("send", len(so)), len(so), 9),
            "campaign_id": _lookup(pa.array(run.camps.campaign_id, type=STRING), sends.campaign[so]),
            "crm_customer_id": _lookup(crm_ids, sends.record[so]),
            "is_control": booleans(sends.is_control[so]),
            "sent_at": iso_utc(sends.sent_at[so]),
            "opened_at": iso_utc(sends.opened_at[so]),
            "clicked_at": iso_utc(sends.clicked_at[so]),
            "unsubscribed_at": iso_utc(sends.unsubscribed_at[so]),
        },
    )
    camp_sorted = sends.campaign[so]
    for c in np.unique(camp_sorted):
        lo, hi = np.searchsorted(camp_sorted, [c, c + 1])
        run.write(
            "marketing__sends",
            f"marketing/sends/sends_{run.camps.campaign_id[c]}.csv",
            sends_t.slice(int(lo), int(hi - lo)),
        )
    run.truth.append(
        "campaign_send_uplift.csv",
        pa.table(
            {
                "send_id": sends_t.column("send_id"),
                "campaign_id": sends_t.column("campaign_id"),
                "crm_customer_id": sends_t.column("crm_customer_id"),
                "is_control": sends_t.column("is_control"),
                "true_uplift": decimals(sends.true_uplift[so]),
            }
        ),
    )

    # Web sessions and events.
    utm_src = np.array(
        [s[0] for s in C.TRAFFIC_SOURCES] + [UTM[ch][0] for ch in run.camps.channel], dtype=object
    )
    utm_med = np.array(
        [s[1] for s in C.TRAFFIC_SOURCES] + [UTM[ch][1] for ch in run.camps.channel], dtype=object
    )
    utm_cmp = np.array([s[2] for s in C.TRAFFIC_SOURCES] + list(run.camps.campaign_id), dtype=object)
    n_src = len(C.TRAFFIC_SOURCES)
    u = np.where(sessions.utm >= 0, sessions.utm, n_src + (-1 - sessions.utm))
    s_country = np.where(
        np.isin(np.arange(len(u)) % 37, [0]), None, COUNTRY_CODE[persons.country[sessions.person]]
    )
    sess_t = make_table(
        contracts["web__sessions"],
        {
            "session_id": session_ids,
            "anonymous_id": _lookup(anon, sessions.device),
            "user_id": _lookup(person_acct, sessions.person, sessions.logged_in),
            "started_at": iso_utc(sessions.started_at),
            "ended_at": iso_utc(sessions.ended_at),
            "device": _lookup(pa.array(DEVICE_NAMES, type=STRING), devices.kind[sessions.device]),
            "country": _obj(s_country),
            "utm_source": _obj(utm_src[u]),
            "utm_medium": _obj(utm_med[u]),
            "utm_campaign": _obj(utm_cmp[u]),
            "landing_page": _obj(sessions.landing),
        },
    )
    for month, idx in month_parts(sessions.started_at):
        run.write("web__sessions", f"web/sessions/sessions_{month}.csv", sess_t.take(pa.array(idx)))
    es = events.session
    ev_t = make_table(
        contracts["web__events"],
        {
            "event_id": event_ids,
            "session_id": _lookup(session_ids, es),
            "anonymous_id": _lookup(anon, sessions.device[es]),
            "user_id": _lookup(person_acct, sessions.person[es], events.logged_in),
            "event_type": _lookup(pa.array(EVENT_TYPES, type=STRING), events.type),
            "event_at": iso_utc(events.at),
            "product_id": _lookup(product_ids, events.product),
            "search_query": _lookup(pa.array(C.SEARCH_TERMS, type=STRING), events.search),
            "order_id": _lookup(order_ids, events.order),
        },
    )
    for month, idx in month_parts(events.at):
        part = ev_t.take(pa.array(idx))
        run.write(
            "web__events", f"web/events/events_{month}.csv", part, bad.events(part) if not run.clean else ()
        )

    # Truth: identities and persons.
    guest = orders.is_guest
    g_email = np.array([e.strip().lower() for e in orders.email[guest]], dtype=object)
    g_uniq, g_first = np.unique(g_email, return_index=True)
    g_person = orders.person[guest][g_first]
    used_dev = np.unique(sessions.device)
    ident = pa.table(
        {
            "source": pa.concat_arrays(
                [
                    pa.array(np.full(len(recs), "crm", dtype=object), type=STRING),
                    pa.array(np.full(len(ap), "shop", dtype=object), type=STRING),
                    pa.array(np.full(len(g_uniq), "shop_guest", dtype=object), type=STRING),
                    pa.array(np.full(len(used_dev), "web", dtype=object), type=STRING),
                ]
            ),
            "source_id": pa.concat_arrays([crm_ids, acct_ids, _obj(g_uniq), _lookup(anon, used_dev)]),
            "person_id": pa.concat_arrays(
                [
                    _lookup(person_ids, recs.person),
                    _lookup(person_ids, ap),
                    _lookup(person_ids, g_person),
                    _lookup(person_ids, devices.person[used_dev]),
                ]
            ),
        }
    )
    run.truth.append("identity.csv", ident)
    induced = np.flatnonzero(orders.campaign >= 0)
    run.truth.append(
        "campaign_orders.csv",
        pa.table(
            {
                "order_id": _lookup(order_ids, induced),
                "campaign_id": _lookup(
                    pa.array(run.camps.campaign_id, type=STRING), orders.campaign[induced]
                ),
            }
        ),
    )
    n_ord = np.bincount(orders.person, minlength=n_p)
    is_buyer = np.arange(n_p) < n_b
    pad = np.zeros(n_v)
    first = np.concatenate([buyers.first_at, np.full(n_v, NA_TS)])
    drop = np.concatenate([buyers.dropout_at, np.full(n_v, NA_TS)])
    run.truth.append(
        "persons.csv",
        pa.table(
            {
                "person_id": person_ids,
                "is_buyer": booleans(is_buyer),
                "lambda": decimals(np.concatenate([buyers.lam, pad]), is_buyer),
                "p": decimals(np.concatenate([buyers.p, pad]), is_buyer),
                "nu": decimals(np.concatenate([buyers.nu, pad]), is_buyer),
                "first_purchase_at": iso_utc(first),
                "dropout_at": iso_utc(drop),
                "is_alive_at_end": booleans(is_buyer & (drop == NA_TS)),
                "n_orders": integers(n_ord),
            }
        ),
    )


def _write_catalog(run: _Run) -> None:
    contracts = load_contracts()
    cat = run.cat
    for label in ("2024_06_30", "2025_12_31"):
        as_of = int(np.datetime64(f"{label.replace('_', '-')}T23:59:59", "s").astype(np.int64))
        changed = cat.price_changed_at <= as_of
        price = np.where(changed, cat.price_cents, cat.old_price_cents)
        gone = cat.discontinued_at <= as_of
        updated = np.maximum.reduce(
            [
                cat.created_at,
                np.where(changed & (cat.price_changed_at > C.OBS_START), cat.price_changed_at, 0),
                np.where(gone, cat.discontinued_at, 0),
            ]
        )
        cost = np.round(cat.cost_cents * price / cat.price_cents).astype(np.int64)
        t = make_table(
            contracts["shop__products"],
            {
                "product_id": _obj(cat.product_id),
                "product_name": _obj(cat.name),
                "category": _obj(cat.category),
                "subcategory": _obj(cat.subcategory),
                "brand": _obj(cat.brand),
                "list_price": money(price),
                "unit_cost": money(cost),
                "currency": _obj(np.full(len(cat), C.CURRENCY, dtype=object)),
                "is_active": booleans(~gone),
                "updated_at": iso_utc(updated),
            },
        )
        run.write("shop__products", f"shop/products/products_{label}.csv", t)
    pr = run.promos
    t = make_table(
        contracts["shop__promotions"],
        {
            "promotion_id": _obj(pr.promotion_id),
            "promotion_code": _obj(pr.code),
            "description": _obj(pr.description),
            "discount_pct": money(pr.pct * 100),
            "starts_at": iso_utc(pr.starts_at),
            "ends_at": iso_utc(pr.ends_at),
        },
    )
    run.write("shop__promotions", "shop/promotions/promotions.csv", t)


def _write_campaigns(run: _Run) -> None:
    cp = run.camps
    cost = np.array(
        [
            round(FIXED_COST_EUR[ch] * 100 + COST_PER_SEND_CENTS[ch] * n)
            for ch, n in zip(cp.channel, run.treated, strict=True)
        ],
        dtype=np.int64,
    )
    t = make_table(
        load_contracts()["marketing__campaigns"],
        {
            "campaign_id": _obj(cp.campaign_id),
            "campaign_name": _obj(cp.name),
            "channel": _obj(cp.channel),
            "started_at": iso_utc(cp.started_at),
            "ended_at": iso_utc(cp.ended_at),
            "cost": money(cost),
            "currency": _obj(np.full(len(cp), C.CURRENCY, dtype=object)),
        },
    )
    run.write("marketing__campaigns", "marketing/campaigns/campaigns.csv", t)


def _write_truth(run: _Run) -> None:
    cat = run.cat
    n = max(run.n_orders, 1)
    na, nb, nab = run.pair_counts.T
    lift = np.where(na * nb > 0, nab * n / np.maximum(na * nb, 1), 0.0)
    run.truth.append(
        "planted_associations.csv",
        pa.table(
            {
                "antecedent_product_id": _obj(cat.product_id[cat.pair_a]),
                "consequent_product_id": _obj(cat.product_id[cat.pair_b]),
                "expected_lift": _obj([f"{x:.4f}" for x in lift]),
                "support": _obj([f"{x:.6f}" for x in nab / n]),
            }
        ),
    )
    uplift = run.uplift_sum / np.maximum(run.targeted, 1)
    run.truth.append(
        "campaign_uplift.csv",
        pa.table(
            {
                "campaign_id": _obj(run.camps.campaign_id),
                "true_uplift": _obj([f"{x:.6f}" for x in uplift]),
                "attribution_days": integers(np.full(len(uplift), ATTRIBUTION_DAYS)),
            }
        ),
    )
    p = run.params
    (run.out / "truth" / "model_params.json").write_text(
        json.dumps(
            {
                "time_unit": "week",
                "observation_start": C.OBS_START_ISO,
                "observation_end": C.OBS_END_ISO,
                "bgnbd": {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b},
                "gamma_gamma": {"p": p.gg_p, "q": p.gg_q, "v": p.gg_v},
                "seed": run.seed,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    induced = run.out / "truth" / "campaign_orders.csv"
    if not induced.exists():
        induced.write_text("order_id,campaign_id\n", encoding="utf-8")
    bad = sorted(run.writer.bad)
    header = "file,row_number,rule\n"
    body = "".join(f"{f},{r},{rule}\n" for f, r, rule in bad)
    (run.out / "truth" / "bad_rows.csv").write_text(header + body, encoding="utf-8")
