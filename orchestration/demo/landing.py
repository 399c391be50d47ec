"""The landing files: a simulated chunk turned into string tables with exactly the data contracts' columns
and appended to ``landing/<source>/<entity>/*.csv``, one function per file family.

Shop orders, order lines, returns, web sessions and events are split by calendar month, CRM tickets and
contacts by year, marketing sends by campaign; shop customers are two exports (year-end 2024 and the final
one), CRM customers one export. Noise rows (see :mod:`~orchestration.demo.badrows`) go into shop orders,
order lines, CRM customers and web events, and one legacy returns export lacks a column. Catalogue,
promotions and campaigns are written once per run, after all chunks.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa

from orchestration.demo import config as C
from orchestration.demo.chunk import Chunk
from orchestration.demo.csvio import (
    NA_TS,
    STRING,
    BadPart,
    booleans,
    integers,
    iso_utc,
    make_table,
    money,
    month_parts,
    year_parts,
)
from orchestration.demo.marketing import COST_PER_SEND_CENTS, FIXED_COST_EUR, UTM
from orchestration.demo.output import ChunkIds, Run, lookup, texts
from orchestration.demo.people import COUNTRY_CODE, LOC_CITY, LOC_REGION, format_phones
from orchestration.demo.shop import DEVICE_NAMES
from orchestration.demo.web import EVENT_TYPES

_DEVICE_NAMES = pa.array(DEVICE_NAMES, type=STRING)


def write_chunk_landing(run: Run, chunk: Chunk, ids: ChunkIds) -> pa.Table:
    """Append every landing file of the chunk; returns the sends table (in file order) for the truth."""
    write_shop_orders(run, chunk, ids)
    write_order_lines(run, chunk, ids)
    write_returns(run, chunk, ids)
    write_shop_customers(run, chunk, ids)
    write_crm_customers(run, chunk, ids)
    write_tickets(run, chunk, ids)
    write_contacts(run, chunk, ids)
    sends = write_sends(run, chunk, ids)
    write_sessions(run, chunk, ids)
    write_events(run, chunk, ids)
    return sends


def write_shop_orders(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``shop/orders/orders_<YYYY_MM>.csv`` with duplicate and bad-date noise rows."""
    orders, persons, devices = chunk.orders, chunk.persons, chunk.devices
    loc = orders.loc
    table = make_table(
        run.contracts["shop__orders"],
        {
            "order_id": ids.order,
            "shop_customer_id": lookup(ids.account_of_person, orders.person, ~orders.is_guest),
            "email": texts(orders.email),
            "ordered_at": iso_utc(orders.at),
            "currency": pa.array(np.full(len(orders), C.CURRENCY, dtype=object), type=STRING),
            "sales_channel": texts(orders.channel),
            "device": lookup(
                _DEVICE_NAMES, np.where(orders.device >= 0, devices.kind[np.maximum(orders.device, 0)], -1)
            ),
            "country": texts(COUNTRY_CODE[persons.country[orders.person]]),
            "region": texts(LOC_REGION[loc]),
            "city": texts(LOC_CITY[loc]),
            "promotion_code": lookup(pa.array(run.scenario.promos.code, type=STRING), orders.promo),
            "discount_amount": money(orders.discount),
            "shipping_amount": money(orders.shipping),
        },
    )
    for month, idx in month_parts(orders.at):
        part = table.take(pa.array(idx))
        run.write("shop__orders", f"shop/orders/orders_{month}.csv", part, partial(run.bad.orders, part))


def write_order_lines(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``shop/order_lines/order_lines_<YYYY_MM>.csv`` (month of the order) with bad-quantity and orphan
    noise rows."""
    orders = chunk.orders
    ln = orders.lines
    n_lines = np.bincount(ln.order_idx, minlength=len(orders))
    table = make_table(
        run.contracts["shop__order_lines"],
        {
            "order_id": lookup(ids.order, ln.order_idx),
            "line_number": integers(ln.line_number),
            "product_id": lookup(_product_ids(run), ln.product),
            "quantity": integers(ln.quantity),
            "unit_price": money(ln.unit_price_cents),
        },
    )
    for month, idx in month_parts(orders.at[ln.order_idx]):
        part = table.take(pa.array(idx))
        run.write(
            "shop__order_lines",
            f"shop/order_lines/order_lines_{month}.csv",
            part,
            partial(run.bad.order_lines, part, n_lines[ln.order_idx[idx]]),
        )


def write_returns(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``shop/returns/returns_<YYYY_MM>.csv``; the first returns of the run are also kept for the legacy
    export (see :func:`write_legacy_returns`)."""
    rets, ln = chunk.returns, chunk.orders.lines
    rl = rets.line
    table = make_table(
        run.contracts["shop__returns"],
        {
            "return_id": ids.ret,
            "order_id": lookup(ids.order, ln.order_idx[rl]),
            "product_id": lookup(_product_ids(run), ln.product[rl]),
            "quantity": integers(rets.quantity),
            "refund_amount": money(rets.refund),
            "returned_at": iso_utc(rets.returned_at),
            "reason": texts(rets.reason),
        },
    )
    for month, idx in month_parts(rets.returned_at):
        run.write("shop__returns", f"shop/returns/returns_{month}.csv", table.take(pa.array(idx)))
    if run.legacy_returns is None and table.num_rows:
        legacy = table.slice(0, min(C.LEGACY_RETURNS_ROWS, table.num_rows)).drop_columns(["refund_amount"])
        n_leg = legacy.num_rows
        run.legacy_returns = legacy.set_column(
            0, "return_id", pa.array([f"RL{i:06d}" for i in range(1, n_leg + 1)], type=STRING)
        )


def write_legacy_returns(run: Run) -> None:
    """``shop/returns/returns_legacy_export.csv``: an old export without ``refund_amount``, every row of which
    is a bad row (``missing_column:refund_amount``); not written for a clean run."""
    if run.clean or run.legacy_returns is None:
        return
    legacy = run.legacy_returns
    run.writer.append(
        "shop/returns/returns_legacy_export.csv",
        pa.table({c: pa.array([], type=STRING) for c in legacy.column_names}),
        [BadPart(legacy, np.zeros(legacy.num_rows, dtype=np.int64), "missing_column:refund_amount")],
    )


def write_shop_customers(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """Shop accounts: a year-end 2024 export (accounts existing then, as they were) and the final export."""
    accounts, persons = chunk.accounts, chunk.persons
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
        table = make_table(
            run.contracts["shop__customers"],
            {
                "shop_customer_id": ids.account,
                "email": texts(persons.email[ap]),
                "phone": texts(np.where(has_phone, phones, None)),
                "first_name": texts(persons.first_name[ap]),
                "last_name": texts(persons.last_name[ap]),
                "country": texts(COUNTRY_CODE[persons.country[ap]]),
                "region": texts(LOC_REGION[lp]),
                "city": texts(LOC_CITY[lp]),
                "acquisition_channel": texts(accounts.channel),
                "accepts_marketing": booleans(accepts),
                "created_at": iso_utc(accounts.created_at),
                "updated_at": iso_utc(updated),
            },
        )
        run.write("shop__customers", f"shop/customers/customers_{label}.csv", table.take(pa.array(keep)))


def write_crm_customers(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``crm/customers/customers_export.csv`` with malformed-e-mail noise rows."""
    recs = chunk.recs
    table = make_table(
        run.contracts["crm__customers"],
        {
            "crm_customer_id": ids.crm,
            "first_name": texts(recs.first_name),
            "last_name": texts(recs.last_name),
            "email": texts(recs.email),
            "phone": texts(recs.phone),
            "country": texts(recs.country),
            "region": texts(recs.region),
            "city": texts(recs.city),
            "created_at": iso_utc(recs.created_at),
            "updated_at": iso_utc(recs.updated_at),
            "email_opt_in": booleans(recs.email_opt_in),
            "sms_opt_in": booleans(recs.sms_opt_in),
        },
    )
    run.write(
        "crm__customers", "crm/customers/customers_export.csv", table, partial(run.bad.crm_customers, table)
    )


def write_tickets(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``crm/tickets/tickets_<YYYY>.csv`` (year opened)."""
    tix = chunk.tickets
    table = make_table(
        run.contracts["crm__tickets"],
        {
            "ticket_id": ids.ticket,
            "crm_customer_id": lookup(ids.crm, tix.record),
            "channel": texts(tix.channel),
            "category": texts(tix.category),
            "opened_at": iso_utc(tix.opened_at),
            "resolved_at": iso_utc(tix.resolved_at),
            "status": texts(np.where(tix.resolved_at == NA_TS, "open", "resolved")),
            "satisfaction_score": integers(tix.satisfaction, tix.satisfaction > 0),
        },
    )
    for year, idx in year_parts(tix.opened_at):
        run.write("crm__tickets", f"crm/tickets/tickets_{year}.csv", table.take(pa.array(idx)))


def write_contacts(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``crm/contacts/contacts_<YYYY>.csv`` (year of contact)."""
    cons = chunk.contacts
    table = make_table(
        run.contracts["crm__contacts"],
        {
            "contact_id": ids.contact,
            "crm_customer_id": lookup(ids.crm, cons.record),
            "channel": texts(cons.channel),
            "direction": texts(cons.direction),
            "contacted_at": iso_utc(cons.contacted_at),
            "topic": texts(cons.topic),
        },
    )
    for year, idx in year_parts(cons.contacted_at):
        run.write("crm__contacts", f"crm/contacts/contacts_{year}.csv", table.take(pa.array(idx)))


def write_sends(run: Run, chunk: Chunk, ids: ChunkIds) -> pa.Table:
    """``marketing/sends/sends_<campaign_id>.csv``, one file per campaign; returns the sends table."""
    sends = chunk.sends
    so = sends.file_order()
    campaign_ids = pa.array(run.scenario.camps.campaign_id, type=STRING)
    table = make_table(
        run.contracts["marketing__sends"],
        {
            "send_id": ids.send,
            "campaign_id": lookup(campaign_ids, sends.campaign[so]),
            "crm_customer_id": lookup(ids.crm, sends.record[so]),
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
            f"marketing/sends/sends_{run.scenario.camps.campaign_id[c]}.csv",
            table.slice(int(lo), int(hi - lo)),
        )
    return table


def write_sessions(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``web/sessions/sessions_<YYYY_MM>.csv``, with UTM tags of the traffic source or campaign; every 37th
    session has no country (geolocation failed)."""
    sessions, camps = chunk.sessions, run.scenario.camps
    utm_src = np.array([s[0] for s in C.TRAFFIC_SOURCES] + [UTM[ch][0] for ch in camps.channel], dtype=object)
    utm_med = np.array([s[1] for s in C.TRAFFIC_SOURCES] + [UTM[ch][1] for ch in camps.channel], dtype=object)
    utm_cmp = np.array([s[2] for s in C.TRAFFIC_SOURCES] + list(camps.campaign_id), dtype=object)
    n_src = len(C.TRAFFIC_SOURCES)
    u = np.where(sessions.utm >= 0, sessions.utm, n_src + (-1 - sessions.utm))
    country = np.where(
        np.isin(np.arange(len(u)) % 37, [0]), None, COUNTRY_CODE[chunk.persons.country[sessions.person]]
    )
    table = make_table(
        run.contracts["web__sessions"],
        {
            "session_id": ids.session,
            "anonymous_id": lookup(ids.anonymous, sessions.device),
            "user_id": lookup(ids.account_of_person, sessions.person, sessions.logged_in),
            "started_at": iso_utc(sessions.started_at),
            "ended_at": iso_utc(sessions.ended_at),
            "device": lookup(_DEVICE_NAMES, chunk.devices.kind[sessions.device]),
            "country": texts(country),
            "utm_source": texts(utm_src[u]),
            "utm_medium": texts(utm_med[u]),
            "utm_campaign": texts(utm_cmp[u]),
            "landing_page": texts(sessions.landing),
        },
    )
    for month, idx in month_parts(sessions.started_at):
        run.write("web__sessions", f"web/sessions/sessions_{month}.csv", table.take(pa.array(idx)))


def write_events(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``web/events/events_<YYYY_MM>.csv`` with duplicate-event noise rows."""
    sessions, events = chunk.sessions, chunk.events
    es = events.session
    table = make_table(
        run.contracts["web__events"],
        {
            "event_id": ids.event,
            "session_id": lookup(ids.session, es),
            "anonymous_id": lookup(ids.anonymous, sessions.device[es]),
            "user_id": lookup(ids.account_of_person, sessions.person[es], events.logged_in),
            "event_type": lookup(pa.array(EVENT_TYPES, type=STRING), events.type),
            "event_at": iso_utc(events.at),
            "product_id": lookup(_product_ids(run), events.product),
            "search_query": lookup(pa.array(C.SEARCH_TERMS, type=STRING), events.search),
            "order_id": lookup(ids.order, events.order),
        },
    )
    for month, idx in month_parts(events.at):
        part = table.take(pa.array(idx))
        run.write("web__events", f"web/events/events_{month}.csv", part, partial(run.bad.events, part))


def write_catalog(run: Run) -> None:
    """Two product exports (mid-2024 and final: prices, costs and activity as of then) and the promotions."""
    cat = run.scenario.cat
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
        table = make_table(
            run.contracts["shop__products"],
            {
                "product_id": texts(cat.product_id),
                "product_name": texts(cat.name),
                "category": texts(cat.category),
                "subcategory": texts(cat.subcategory),
                "brand": texts(cat.brand),
                "list_price": money(price),
                "unit_cost": money(cost),
                "currency": texts(np.full(len(cat), C.CURRENCY, dtype=object)),
                "is_active": booleans(~gone),
                "updated_at": iso_utc(updated),
            },
        )
        run.write("shop__products", f"shop/products/products_{label}.csv", table)
    pr = run.scenario.promos
    table = make_table(
        run.contracts["shop__promotions"],
        {
            "promotion_id": texts(pr.promotion_id),
            "promotion_code": texts(pr.code),
            "description": texts(pr.description),
            "discount_pct": money(pr.pct * 100),
            "starts_at": iso_utc(pr.starts_at),
            "ends_at": iso_utc(pr.ends_at),
        },
    )
    run.write("shop__promotions", "shop/promotions/promotions.csv", table)


def write_campaigns(run: Run) -> None:
    """``marketing/campaigns/campaigns.csv``; a campaign's cost is its channel's fixed cost plus the cost per
    treated send, so it needs every chunk's sends."""
    cp = run.scenario.camps
    cost = np.array(
        [
            round(FIXED_COST_EUR[ch] * 100 + COST_PER_SEND_CENTS[ch] * n)
            for ch, n in zip(cp.channel, run.totals.treated, strict=True)
        ],
        dtype=np.int64,
    )
    table = make_table(
        run.contracts["marketing__campaigns"],
        {
            "campaign_id": texts(cp.campaign_id),
            "campaign_name": texts(cp.name),
            "channel": texts(cp.channel),
            "started_at": iso_utc(cp.started_at),
            "ended_at": iso_utc(cp.ended_at),
            "cost": money(cost),
            "currency": texts(np.full(len(cp), C.CURRENCY, dtype=object)),
        },
    )
    run.write("marketing__campaigns", "marketing/campaigns/campaigns.csv", table)


def _product_ids(run: Run) -> pa.Array:
    return pa.array(run.scenario.cat.product_id, type=STRING)
