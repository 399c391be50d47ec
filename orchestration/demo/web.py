"""Web analytics: sessions and events of buyers and of visitors who never buy.

Every web or app order gets a session ending in a ``purchase`` event at the order time. Buyers also browse
(some of those sessions fill a cart and abandon it), campaign clicks open sessions tagged with the campaign,
and non-buying visitors browse on their own. Account holders log in: the first session on a cookie in which
they log in carries a ``login`` event, and from it on the session and its later events carry ``user_id`` = the
shop customer id; later sessions on that cookie are logged in from the start, earlier ones stay anonymous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.demo import config as C
from orchestration.demo.shop import Devices, Orders

EVENT_TYPES = np.array(
    [
        "page_view",
        "login",
        "search",
        "product_view",
        "add_to_wishlist",
        "add_to_cart",
        "remove_from_cart",
        "checkout_start",
        "purchase",
    ],
    dtype=object,
)
# Phase (position within the session) of each event type.
_PHASE = np.array([2, 1, 2, 2, 2, 3, 4, 5, 6])
PV, LOGIN, SEARCH, PRODUCT_VIEW, WISHLIST, ADD, REMOVE, CHECKOUT, PURCHASE = range(9)


@dataclass
class Sessions:
    """Sessions of a chunk, sorted by start time."""

    device: np.ndarray  # index into Devices
    person: np.ndarray
    started_at: np.ndarray
    ended_at: np.ndarray
    utm: np.ndarray  # index into TRAFFIC_SOURCES, or -1 - campaign index for campaign traffic
    landing: np.ndarray  # landing page
    logged_in: np.ndarray  # session carries user_id


@dataclass
class Events:
    """Events of a chunk, sorted by session then time."""

    session: np.ndarray
    type: np.ndarray  # index into EVENT_TYPES
    at: np.ndarray
    product: np.ndarray  # -1 if none
    search: np.ndarray  # index into SEARCH_TERMS, -1 if none
    order: np.ndarray  # local order index, -1 if none
    logged_in: np.ndarray


def _segment_starts(keys: np.ndarray) -> np.ndarray:
    """Index of the first element of each element's run in a sorted key array."""
    return np.searchsorted(keys, keys, side="left")


def _identifiable_cookies(
    dev: np.ndarray,
    person: np.ndarray,
    anchor: np.ndarray,
    is_purchase: np.ndarray,
    cand: np.ndarray,
    after_acc: np.ndarray,
    n_buyers: int,
    devices_first: np.ndarray,
    clicked: np.ndarray,
    has_crm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make every cookie in the data one that identifies its person at least once.

    The identity truth lists every cookie with sessions; a cookie that never logs in and never buys could
    not be tied to anyone by any method, so the truth would hold pairs no resolver can recover. So:
    (1) an account holder's cookie that never identifies logs in on its last session after the account
    exists; (2) other sessions on never-identifying cookies move to a cookie of the same person that does;
    (3) people none of whose cookies identify browse on a single cookie if they have no other record (one
    record: no pair to find); the anonymous-only browsing of buyers and CRM contacts is left out. Purchase
    sessions and sessions opened from a campaign click (tied to the CRM record that clicked) identify and
    are never moved or dropped. Returns the new cookie per session, the login candidates and a keep mask.
    """
    cand = cand.copy()
    n_dev = int(max(dev.max(initial=0), devices_first.max(initial=0))) + 1
    ident = np.zeros(n_dev, dtype=bool)
    ident[dev[is_purchase | cand | clicked]] = True
    eligible = np.flatnonzero(after_acc & ~ident[dev])
    if len(eligible):
        by_dev_time = eligible[np.lexsort((anchor[eligible], dev[eligible]))]
        last = np.r_[dev[by_dev_time][1:] != dev[by_dev_time][:-1], True]
        chosen = by_dev_time[last]
        cand[chosen] = True
        ident[dev[chosen]] = True
    ok = ident[dev]
    target = np.full(int(person.max(initial=0)) + 1, -1, dtype=np.int64)
    pid, dv = person[ok], dev[ok]
    order = np.lexsort((dv, pid))
    firsts = np.r_[True, pid[order][1:] != pid[order][:-1]]
    target[pid[order][firsts]] = dv[order][firsts]
    moved = np.where(~ok & (target[person] >= 0), target[person], dev)
    orphan = ~ok & (target[person] < 0)
    moved = np.where(orphan, devices_first[person], moved)
    keep = ~(orphan & ((person < n_buyers) | has_crm[person]))
    return moved, cand, keep


def make_web(
    rng: np.random.Generator,
    n_buyers: int,
    n_people: int,
    devices: Devices,
    orders: Orders,
    account_created: np.ndarray,
    first_at: np.ndarray,
    last_active: np.ndarray,
    click_person: np.ndarray,
    click_at: np.ndarray,
    click_campaign: np.ndarray,
    product_pool: np.ndarray,
    product_ids: np.ndarray,
    n_products: int,
    na_ts: int,
    has_crm: np.ndarray,
) -> tuple[Sessions, Events]:
    """Sessions and events of a chunk (``account_created`` per person, NA_TS for people without account;
    ``has_crm`` per person: whether they have a CRM record)."""
    src_w = np.array([s[3] for s in C.TRAFFIC_SOURCES])
    src_w = src_w / src_w.sum()

    # Purchase sessions: one per web/app order; the session ends at the order.
    po = np.flatnonzero(orders.device >= 0)
    p_dev = orders.device[po]
    p_person = orders.person[po]
    p_anchor = orders.at[po]
    p_utm = np.where(
        orders.campaign[po] >= 0, -1 - orders.campaign[po], rng.choice(len(src_w), len(po), p=src_w)
    )

    # Browsing sessions of buyers around their active period.
    n_orders = np.bincount(orders.person, minlength=n_buyers)
    k = rng.poisson(1.6 * n_orders + 1.0)
    b_person = np.repeat(np.arange(n_buyers), k)
    lo = np.maximum(first_at[b_person] - 21 * C.DAY, C.OBS_START)
    hi = np.minimum(last_active[b_person] + 90 * C.DAY, C.OBS_END)
    b_at = lo + (rng.random(len(b_person)) * np.maximum(hi - lo, 3600)).astype(np.int64)

    # Non-buying visitors.
    nv = n_people - n_buyers
    kv = 1 + rng.poisson(1.6, nv)
    v_person = n_buyers + np.repeat(np.arange(nv), kv)
    v_lo = C.OBS_START + (rng.random(nv) * (C.OBS_END - C.OBS_START - 7 * C.DAY)).astype(np.int64)
    v_span = (rng.exponential(40, nv) * C.DAY).astype(np.int64) + 3600
    v_at = v_lo[v_person - n_buyers] + (rng.random(len(v_person)) * v_span[v_person - n_buyers]).astype(
        np.int64
    )

    # Campaign clicks.
    c_person, c_at = click_person, click_at
    browse_person = np.concatenate([b_person, v_person, c_person])
    browse_at = np.minimum(np.concatenate([b_at, v_at, c_at]), C.OBS_END - 1800)
    browse_utm = np.concatenate(
        [rng.choice(len(src_w), len(b_person) + len(v_person), p=src_w), -1 - click_campaign]
    )
    browse_dev = devices.first[browse_person] + (
        rng.random(len(browse_person)) * devices.count[browse_person]
    ).astype(np.int64)

    n_p, n_b = len(po), len(browse_person)
    s_person = np.concatenate([p_person, browse_person])
    s_dev = np.concatenate([p_dev, browse_dev])
    s_anchor = np.concatenate([p_anchor, browse_at])
    s_utm = np.concatenate([p_utm, browse_utm])
    s_order = np.concatenate([po, np.full(n_b, -1)])
    is_purchase = s_order >= 0
    ns = n_p + n_b

    # Login candidates: every account purchase, and a quarter of account holders' other sessions.
    has_acc = account_created[s_person] != na_ts
    after_acc = has_acc & (s_anchor >= account_created[s_person])
    acct_order = is_purchase & ~orders.is_guest[np.maximum(s_order, 0)]
    cand = acct_order | (~is_purchase & after_acc & (rng.random(ns) < 0.25))
    clicked = ~is_purchase & (s_utm < 0)
    s_dev, cand, keep = _identifiable_cookies(s_dev, s_person, s_anchor, is_purchase, cand, after_acc,
                                              n_buyers, devices.first, clicked, has_crm)  # fmt: skip
    s_person, s_dev, s_anchor, s_utm, s_order, is_purchase, cand = (
        a[keep] for a in (s_person, s_dev, s_anchor, s_utm, s_order, is_purchase, cand)
    )
    ns = len(s_person)

    # Event counts per session and type.
    lines = orders.lines
    line_order_pos = np.full(len(orders), -1)
    line_order_pos[po] = np.arange(n_p)
    counts = np.zeros((ns, 9), dtype=np.int64)
    counts[:, PV] = 1 + rng.poisson(np.where(is_purchase, 1.0, 1.3))
    counts[:, SEARCH] = (rng.random(ns) < np.where(is_purchase, 0.4, 0.35)) * (1 + rng.poisson(0.3, ns))
    counts[:, PRODUCT_VIEW] = rng.poisson(np.where(is_purchase, 1.5, 3.0))
    counts[:, WISHLIST] = rng.random(ns) < 0.05
    browse_adds = (~is_purchase & (rng.random(ns) < 0.22)) * (1 + rng.poisson(0.3, ns))
    counts[:, ADD] = browse_adds
    counts[:, REMOVE] = (browse_adds > 0) & (rng.random(ns) < 0.3)
    counts[:, CHECKOUT] = is_purchase | ((browse_adds > 0) & (rng.random(ns) < 0.15))
    counts[:, PURCHASE] = is_purchase

    # Logins: sort sessions by cookie and time; the first login candidate on a cookie logs in.
    by_dev = np.lexsort((s_anchor, s_dev))
    c_sorted = cand[by_dev].astype(np.int64)
    cum = np.cumsum(c_sorted)
    dev_sorted = s_dev[by_dev]
    starts = _segment_starts(dev_sorted)
    before = cum - c_sorted - (cum[starts] - c_sorted[starts])
    logged_before = np.empty(ns, dtype=bool)
    logged_before[by_dev] = before > 0
    login_here = cand & ~logged_before
    counts[:, LOGIN] = login_here

    # Build the events: explicit products for purchase lines, random ones for views and browse carts.
    etype = np.concatenate([np.repeat(np.full(ns, t), counts[:, t]) for t in range(9)])
    sess = np.concatenate([np.repeat(np.arange(ns), counts[:, t]) for t in range(9)])
    product = np.full(len(sess), -1, dtype=np.int64)
    need_product = np.isin(etype, [PRODUCT_VIEW, WISHLIST, ADD, REMOVE])
    product[need_product] = product_pool[rng.integers(0, len(product_pool), need_product.sum())]
    # The purchase's own lines: a product view and an add-to-cart each.
    lp = line_order_pos[lines.order_idx]
    has_sess = lp >= 0
    l_sess = lp[has_sess]
    l_prod = lines.product[has_sess]
    sess = np.concatenate([sess, l_sess, l_sess])
    etype = np.concatenate([etype, np.full(len(l_sess), PRODUCT_VIEW), np.full(len(l_sess), ADD)])
    product = np.concatenate([product, l_prod, l_prod])
    # Removed products are ones that were added in the same session: take the first add of the session.
    search = np.where(etype == SEARCH, rng.integers(0, len(C.SEARCH_TERMS), len(etype)), -1)
    phase = _PHASE[etype].astype(np.float64) + rng.random(len(etype)) * 0.5
    order = np.lexsort((phase, sess))
    sess, etype, product, search = sess[order], etype[order], product[order], search[order]
    ev_starts = _segment_starts(sess)
    first_add = np.full(ns, -1, dtype=np.int64)
    adds = np.flatnonzero(etype == ADD)
    first_add[sess[adds[::-1]]] = product[adds[::-1]]
    rm = etype == REMOVE
    product[rm] = first_add[sess[rm]]

    gaps = (rng.exponential(45.0, len(sess)) + 2).astype(np.int64)
    gaps[ev_starts == np.arange(len(sess))] = 0
    offset = np.cumsum(gaps)
    offset = offset - offset[ev_starts]
    last_idx = np.searchsorted(sess, np.arange(ns), side="right") - 1
    duration = offset[last_idx]
    s_start = np.where(is_purchase, s_anchor - duration, s_anchor)
    s_start = np.maximum(s_start, C.OBS_START)
    at = s_start[sess] + offset
    at = np.where(etype == PURCHASE, s_anchor[sess], at)
    at = np.minimum(at, np.where(is_purchase[sess], s_anchor[sess], C.OBS_END))
    s_end = np.minimum(s_start + duration + rng.integers(5, 120, ns), C.OBS_END)
    s_end = np.maximum(s_end, at[last_idx])

    ev_order = np.where(etype == PURCHASE, s_order[sess], -1)
    ev_logged = logged_before[sess] | (login_here[sess] & (_PHASE[etype] >= 1))

    # Order sessions by start time; events follow their sessions.
    s_sort = np.argsort(s_start, kind="stable")
    rank = np.empty(ns, dtype=np.int64)
    rank[s_sort] = np.arange(ns)
    e_sort = np.lexsort((np.arange(len(sess)), rank[sess]))
    landing = _landing(rng, ns, product_ids, n_products)
    sessions = Sessions(
        device=s_dev[s_sort],
        person=s_person[s_sort],
        started_at=s_start[s_sort],
        ended_at=s_end[s_sort],
        utm=s_utm[s_sort],
        landing=landing,
        logged_in=(logged_before | login_here)[s_sort],
    )
    events = Events(
        session=rank[sess][e_sort],
        type=etype[e_sort],
        at=at[e_sort],
        product=product[e_sort],
        search=search[e_sort],
        order=ev_order[e_sort],
        logged_in=ev_logged[e_sort],
    )
    return sessions, events


def _landing(rng: np.random.Generator, n: int, product_ids: np.ndarray, n_products: int) -> np.ndarray:
    kind = rng.random(n)
    pages = np.array(C.LANDING_PAGES, dtype=object)[rng.integers(0, len(C.LANDING_PAGES), n)]
    prod = "/product/" + product_ids[rng.integers(0, n_products, n)].astype(str)
    return np.where(kind < 0.3, prod.astype(object), pages)
