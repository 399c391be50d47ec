"""Web analytics: the sessions and events of a chunk, for buyers and for visitors who never buy.

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
from orchestration.demo.catalog import Catalog
from orchestration.demo.csvio import NA_TS
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


@dataclass(frozen=True)
class WebAudience:
    """The people of a chunk who browse, with what the web simulation needs to know about each of them."""

    n_buyers: int  # people 0..n_buyers-1 are buyers, the others visitors who never buy
    n_people: int
    devices: Devices
    account_created: np.ndarray  # per person: shop account creation time, NA_TS without account
    first_at: np.ndarray  # per buyer: first purchase
    last_active: np.ndarray  # per buyer: last order
    has_crm: np.ndarray  # per person: whether they have a CRM record


@dataclass(frozen=True)
class CampaignClicks:
    """Campaign clicks; each opens a session tagged with its campaign."""

    person: np.ndarray  # local person index of the CRM record that clicked
    at: np.ndarray
    campaign: np.ndarray  # campaign index


@dataclass(frozen=True)
class _PlannedSessions:
    """Sessions before their events exist: whose, on which cookie, anchored when, from which traffic."""

    person: np.ndarray
    device: np.ndarray  # index into Devices
    anchor: np.ndarray  # a purchase session ends here (at its order), a browsing session starts here
    utm: np.ndarray  # as Sessions.utm
    order: np.ndarray  # local order index of a purchase session, -1 for a browsing session

    @property
    def is_purchase(self) -> np.ndarray:
        """Per session: whether it ends in an order."""
        return self.order >= 0

    def __len__(self) -> int:
        return len(self.person)

    def take(self, idx: np.ndarray) -> _PlannedSessions:
        """The sessions at ``idx`` (indices or a mask)."""
        return _PlannedSessions(
            *(a[idx] for a in (self.person, self.device, self.anchor, self.utm, self.order))
        )

    @staticmethod
    def concat(first: _PlannedSessions, second: _PlannedSessions) -> _PlannedSessions:
        """The sessions of ``first`` followed by those of ``second``."""
        return _PlannedSessions(
            *(
                np.concatenate([a, b])
                for a, b in zip(
                    (first.person, first.device, first.anchor, first.utm, first.order),
                    (second.person, second.device, second.anchor, second.utm, second.order),
                    strict=True,
                )
            )
        )


@dataclass(frozen=True)
class _EventDraft:
    """Events of the planned sessions in session order, before they get times."""

    session: np.ndarray
    type: np.ndarray
    product: np.ndarray
    search: np.ndarray


def _segment_starts(keys: np.ndarray) -> np.ndarray:
    """Index of the first element of each element's run in a sorted key array."""
    return np.searchsorted(keys, keys, side="left")


def make_web(
    rng: np.random.Generator,
    audience: WebAudience,
    orders: Orders,
    clicks: CampaignClicks,
    cat: Catalog,
) -> tuple[Sessions, Events]:
    """Sessions and events of a chunk: one purchase session per web or app order, browsing sessions of buyers
    and visitors, and one session per campaign click. Viewed and carted products are drawn from the chunk's
    order lines (popular products are viewed more); landing pages link to any product of ``cat``."""
    traffic = np.array([s[3] for s in C.TRAFFIC_SOURCES])
    traffic = traffic / traffic.sum()
    plan = _PlannedSessions.concat(
        _purchase_sessions(rng, orders, traffic), _browsing_sessions(rng, audience, orders, clicks, traffic)
    )
    cand, after_acc = _login_candidates(rng, plan, audience, orders)
    plan, cand = _identifiable_cookies(plan, cand, after_acc, audience)
    counts = _event_counts(rng, plan.is_purchase)
    logged_before, login_here = _first_logins(plan, cand)
    counts[:, LOGIN] = login_here
    draft = _draft_events(rng, plan, counts, orders)
    return _timed_sessions_and_events(rng, plan, draft, logged_before, login_here, cat)


def _purchase_sessions(rng: np.random.Generator, orders: Orders, traffic: np.ndarray) -> _PlannedSessions:
    """One session per web or app order on the order's cookie, ending at the order; campaign-induced orders
    come from their campaign, the others from a random traffic source."""
    po = np.flatnonzero(orders.device >= 0)
    utm = np.where(
        orders.campaign[po] >= 0, -1 - orders.campaign[po], rng.choice(len(traffic), len(po), p=traffic)
    )
    return _PlannedSessions(
        person=orders.person[po], device=orders.device[po], anchor=orders.at[po], utm=utm, order=po
    )


def _buyer_browsing_times(
    rng: np.random.Generator, audience: WebAudience, orders: Orders
) -> tuple[np.ndarray, np.ndarray]:
    """(person, start) of buyers' browsing sessions: more for frequent buyers, from three weeks before their
    first purchase until three months after their last."""
    n_orders = np.bincount(orders.person, minlength=audience.n_buyers)
    k = rng.poisson(1.6 * n_orders + 1.0)
    person = np.repeat(np.arange(audience.n_buyers), k)
    lo = np.maximum(audience.first_at[person] - 21 * C.DAY, C.OBS_START)
    hi = np.minimum(audience.last_active[person] + 90 * C.DAY, C.OBS_END)
    at = lo + (rng.random(len(person)) * np.maximum(hi - lo, 3600)).astype(np.int64)
    return person, at


def _visitor_browsing_times(rng: np.random.Generator, audience: WebAudience) -> tuple[np.ndarray, np.ndarray]:
    """(person, start) of non-buying visitors' sessions: one or more within a short span at a random time."""
    n_buyers = audience.n_buyers
    nv = audience.n_people - n_buyers
    kv = 1 + rng.poisson(1.6, nv)
    person = n_buyers + np.repeat(np.arange(nv), kv)
    lo = C.OBS_START + (rng.random(nv) * (C.OBS_END - C.OBS_START - 7 * C.DAY)).astype(np.int64)
    span = (rng.exponential(40, nv) * C.DAY).astype(np.int64) + 3600
    at = lo[person - n_buyers] + (rng.random(len(person)) * span[person - n_buyers]).astype(np.int64)
    return person, at


def _browsing_sessions(
    rng: np.random.Generator,
    audience: WebAudience,
    orders: Orders,
    clicks: CampaignClicks,
    traffic: np.ndarray,
) -> _PlannedSessions:
    """Sessions without a purchase: buyers' and visitors' browsing from random traffic sources, and campaign
    clicks from their campaign, each on a random cookie of the person."""
    b_person, b_at = _buyer_browsing_times(rng, audience, orders)
    v_person, v_at = _visitor_browsing_times(rng, audience)
    person = np.concatenate([b_person, v_person, clicks.person])
    at = np.minimum(np.concatenate([b_at, v_at, clicks.at]), C.OBS_END - 1800)
    utm = np.concatenate(
        [rng.choice(len(traffic), len(b_person) + len(v_person), p=traffic), -1 - clicks.campaign]
    )
    devices = audience.devices
    device = devices.first[person] + (rng.random(len(person)) * devices.count[person]).astype(np.int64)
    return _PlannedSessions(person=person, device=device, anchor=at, utm=utm, order=np.full(len(person), -1))


def _login_candidates(
    rng: np.random.Generator, plan: _PlannedSessions, audience: WebAudience, orders: Orders
) -> tuple[np.ndarray, np.ndarray]:
    """Sessions that may log in (every account purchase, and a quarter of account holders' other sessions
    after the account exists), and the sessions after the person's account exists."""
    account_created = audience.account_created[plan.person]
    is_purchase = plan.is_purchase
    has_acc = account_created != NA_TS
    after_acc = has_acc & (plan.anchor >= account_created)
    acct_order = is_purchase & ~orders.is_guest[np.maximum(plan.order, 0)]
    cand = acct_order | (~is_purchase & after_acc & (rng.random(len(plan)) < 0.25))
    return cand, after_acc


def _identifiable_cookies(
    plan: _PlannedSessions, cand: np.ndarray, after_acc: np.ndarray, audience: WebAudience
) -> tuple[_PlannedSessions, np.ndarray]:
    """Make every cookie in the data one that identifies its person at least once.

    The identity truth lists every cookie with sessions; a cookie that never logs in and never buys could
    not be tied to anyone by any method, so the truth would hold pairs no resolver can recover. So:
    (1) an account holder's cookie that never identifies logs in on its last session after the account
    exists; (2) other sessions on never-identifying cookies move to a cookie of the same person that does;
    (3) people none of whose cookies identify browse on a single cookie if they have no other record (one
    record: no pair to find); the anonymous-only browsing of buyers and CRM contacts is left out. Purchase
    sessions and sessions opened from a campaign click (tied to the CRM record that clicked) identify and
    are never moved or dropped. Returns the sessions kept (with their new cookies) and their login
    candidates.
    """
    dev, person, is_purchase = plan.device, plan.person, plan.is_purchase
    devices_first = audience.devices.first
    clicked = ~is_purchase & (plan.utm < 0)
    cand = cand.copy()
    n_dev = int(max(dev.max(initial=0), devices_first.max(initial=0))) + 1
    ident = np.zeros(n_dev, dtype=bool)
    ident[dev[is_purchase | cand | clicked]] = True
    eligible = np.flatnonzero(after_acc & ~ident[dev])
    if len(eligible):
        by_dev_time = eligible[np.lexsort((plan.anchor[eligible], dev[eligible]))]
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
    keep = ~(orphan & ((person < audience.n_buyers) | audience.has_crm[person]))
    kept = _PlannedSessions(person=person, device=moved, anchor=plan.anchor, utm=plan.utm, order=plan.order)
    return kept.take(keep), cand[keep]


def _event_counts(rng: np.random.Generator, is_purchase: np.ndarray) -> np.ndarray:
    """Number of events per session (rows) and event type (columns); logins are filled in later. Browsing
    sessions sometimes fill a cart and abandon it; purchase sessions check out."""
    ns = len(is_purchase)
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
    return counts


def _first_logins(plan: _PlannedSessions, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per session: whether the cookie logged in in an earlier session, and whether it logs in in this one
    (the first login candidate on a cookie, in time order)."""
    by_dev = np.lexsort((plan.anchor, plan.device))
    c_sorted = cand[by_dev].astype(np.int64)
    cum = np.cumsum(c_sorted)
    starts = _segment_starts(plan.device[by_dev])
    before = cum - c_sorted - (cum[starts] - c_sorted[starts])
    logged_before = np.empty(len(plan), dtype=bool)
    logged_before[by_dev] = before > 0
    return logged_before, cand & ~logged_before


def _draft_events(
    rng: np.random.Generator, plan: _PlannedSessions, counts: np.ndarray, orders: Orders
) -> _EventDraft:
    """The events of every session in their order within it: explicit products for a purchase's own lines (a
    product view and an add-to-cart each), random ones for other views and browse carts, a search term for
    searches; a removed product is the session's first added one."""
    ns = len(plan)
    lines = orders.lines
    product_pool = lines.product
    line_order_pos = np.full(len(orders), -1)
    purchase_sessions = np.flatnonzero(plan.is_purchase)
    line_order_pos[plan.order[purchase_sessions]] = purchase_sessions
    etype = np.concatenate([np.repeat(np.full(ns, t), counts[:, t]) for t in range(9)])
    sess = np.concatenate([np.repeat(np.arange(ns), counts[:, t]) for t in range(9)])
    product = np.full(len(sess), -1, dtype=np.int64)
    need_product = np.isin(etype, [PRODUCT_VIEW, WISHLIST, ADD, REMOVE])
    product[need_product] = product_pool[rng.integers(0, len(product_pool), need_product.sum())]
    lp = line_order_pos[lines.order_idx]
    has_sess = lp >= 0
    l_sess = lp[has_sess]
    l_prod = lines.product[has_sess]
    sess = np.concatenate([sess, l_sess, l_sess])
    etype = np.concatenate([etype, np.full(len(l_sess), PRODUCT_VIEW), np.full(len(l_sess), ADD)])
    product = np.concatenate([product, l_prod, l_prod])
    search = np.where(etype == SEARCH, rng.integers(0, len(C.SEARCH_TERMS), len(etype)), -1)
    phase = _PHASE[etype].astype(np.float64) + rng.random(len(etype)) * 0.5
    order = np.lexsort((phase, sess))
    sess, etype, product, search = sess[order], etype[order], product[order], search[order]
    first_add = np.full(ns, -1, dtype=np.int64)
    adds = np.flatnonzero(etype == ADD)
    first_add[sess[adds[::-1]]] = product[adds[::-1]]
    rm = etype == REMOVE
    product[rm] = first_add[sess[rm]]
    return _EventDraft(session=sess, type=etype, product=product, search=search)


def _timed_sessions_and_events(
    rng: np.random.Generator,
    plan: _PlannedSessions,
    draft: _EventDraft,
    logged_before: np.ndarray,
    login_here: np.ndarray,
    cat: Catalog,
) -> tuple[Sessions, Events]:
    """Give events times (random gaps; a purchase session ends at its order, a browsing session starts at
    its anchor), end sessions a little after their last event, and sort sessions by start time with their
    events following them."""
    ns = len(plan)
    sess, etype = draft.session, draft.type
    is_purchase, anchor = plan.is_purchase, plan.anchor
    ev_starts = _segment_starts(sess)
    gaps = (rng.exponential(45.0, len(sess)) + 2).astype(np.int64)
    gaps[ev_starts == np.arange(len(sess))] = 0
    offset = np.cumsum(gaps)
    offset = offset - offset[ev_starts]
    last_idx = np.searchsorted(sess, np.arange(ns), side="right") - 1
    duration = offset[last_idx]
    s_start = np.where(is_purchase, anchor - duration, anchor)
    s_start = np.maximum(s_start, C.OBS_START)
    at = s_start[sess] + offset
    at = np.where(etype == PURCHASE, anchor[sess], at)
    at = np.minimum(at, np.where(is_purchase[sess], anchor[sess], C.OBS_END))
    s_end = np.minimum(s_start + duration + rng.integers(5, 120, ns), C.OBS_END)
    s_end = np.maximum(s_end, at[last_idx])

    ev_order = np.where(etype == PURCHASE, plan.order[sess], -1)
    ev_logged = logged_before[sess] | (login_here[sess] & (_PHASE[etype] >= 1))

    s_sort = np.argsort(s_start, kind="stable")
    rank = np.empty(ns, dtype=np.int64)
    rank[s_sort] = np.arange(ns)
    e_sort = np.lexsort((np.arange(len(sess)), rank[sess]))
    landing = _landing(rng, ns, cat.product_id, len(cat))
    sessions = Sessions(
        device=plan.device[s_sort],
        person=plan.person[s_sort],
        started_at=s_start[s_sort],
        ended_at=s_end[s_sort],
        utm=plan.utm[s_sort],
        landing=landing,
        logged_in=(logged_before | login_here)[s_sort],
    )
    events = Events(
        session=rank[sess][e_sort],
        type=etype[e_sort],
        at=at[e_sort],
        product=draft.product[e_sort],
        search=draft.search[e_sort],
        order=ev_order[e_sort],
        logged_in=ev_logged[e_sort],
    )
    return sessions, events


def _landing(rng: np.random.Generator, n: int, product_ids: np.ndarray, n_products: int) -> np.ndarray:
    """Landing pages: a product page for 30 % of sessions, otherwise one of the fixed pages."""
    kind = rng.random(n)
    pages = np.array(C.LANDING_PAGES, dtype=object)[rng.integers(0, len(C.LANDING_PAGES), n)]
    prod = "/product/" + product_ids[rng.integers(0, n_products, n)].astype(str)
    return np.where(kind < 0.3, prod.astype(object), pages)
