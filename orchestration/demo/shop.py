"""Shop data of a chunk: devices (cookies), orders with their lines, accounts and returns.

Revenue of an order is ``sum(quantity * unit_price) - discount_amount`` over its lines; shipping is charged on
top and is not revenue. ``discount_amount`` is the promotion's percentage of the lines total, rounded to cents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.demo import config as C
from orchestration.demo.catalog import Catalog, Lines, Promotions, pick_promotions, realise_baskets
from orchestration.demo.people import Persons, random_location


@dataclass
class Devices:
    """Browser/app cookies (anonymous ids) of a chunk's people."""

    person: np.ndarray  # local person index, sorted
    kind: np.ndarray  # 0 desktop, 1 mobile, 2 tablet
    first: np.ndarray  # per person: index of their first device
    count: np.ndarray  # per person: number of devices


DEVICE_NAMES = np.array(["desktop", "mobile", "tablet"], dtype=object)


def make_devices(rng: np.random.Generator, n_buyers: int, n_visitors: int) -> Devices:
    """1-3 anonymous ids per buyer and 1-2 per non-buying visitor, each with a device type."""
    count = np.concatenate(
        [rng.choice([1, 2, 3], n_buyers, p=[0.5, 0.35, 0.15]), rng.choice([1, 2], n_visitors, p=[0.8, 0.2])]
    )
    person = np.repeat(np.arange(n_buyers + n_visitors), count)
    kind = rng.choice(3, len(person), p=[0.42, 0.48, 0.10])
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    return Devices(person=person, kind=kind, first=first, count=count)


@dataclass
class Orders:
    """Orders of a chunk, sorted by time (local order k gets the k-th order id of the chunk)."""

    person: np.ndarray
    at: np.ndarray
    is_guest: np.ndarray
    email: np.ndarray
    channel: np.ndarray  # sales channel names
    device: np.ndarray  # index into Devices, -1 for marketplace orders
    loc: np.ndarray
    promo: np.ndarray  # promotion index or -1
    lines_total: np.ndarray  # cents
    discount: np.ndarray  # cents
    shipping: np.ndarray  # cents
    campaign: np.ndarray  # campaign index for campaign-induced orders, else -1
    lines: Lines

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class Accounts:
    """Shop accounts of a chunk (one per account-holding buyer), in creation order."""

    person: np.ndarray
    created_at: np.ndarray
    phone_style: np.ndarray
    has_phone: np.ndarray
    channel: np.ndarray
    accepts_marketing: np.ndarray
    changed_at: np.ndarray  # NA when never changed after creation
    accepts_marketing_before: np.ndarray
    has_phone_before: np.ndarray


@dataclass(frozen=True)
class Shoppers:
    """The people of a chunk as the shop sees them."""

    persons: Persons
    devices: Devices
    has_account: np.ndarray  # per buyer: whether they open a shop account with their first order
    nu: np.ndarray  # per buyer: Gamma-Gamma rate of their spend distribution


@dataclass(frozen=True)
class Purchases:
    """Purchase events to turn into orders, in any order."""

    owner: np.ndarray  # local buyer index
    at: np.ndarray  # epoch seconds
    campaign: np.ndarray  # campaign index for campaign-induced purchases, else -1


def make_orders(
    rng: np.random.Generator,
    shoppers: Shoppers,
    purchases: Purchases,
    cat: Catalog,
    promos: Promotions,
    params: C.ModelParams,
) -> Orders:
    """Orders for the purchase events, sorted by time: checkout identity, sales channel and device, delivery
    address, and values drawn from the owner's Gamma-Gamma spend distribution realised as order lines."""
    order = np.lexsort((purchases.owner, purchases.at))
    owner, at, campaign = purchases.owner[order], purchases.at[order], purchases.campaign[order]
    guest, email = _checkout_identity(rng, shoppers, owner)
    channel, dev = _sales_channels(rng, shoppers.devices, owner)
    loc = _delivery_locations(rng, shoppers.persons, owner)
    values = rng.gamma(params.gg_p, 1.0 / shoppers.nu[owner])
    lines = realise_baskets(cat, rng, values, at)
    total = np.bincount(
        lines.order_idx, weights=lines.quantity * lines.unit_price_cents, minlength=len(owner)
    )
    total = np.round(total).astype(np.int64)
    promo = pick_promotions(promos, rng, at)
    pct = np.where(promo >= 0, promos.pct[np.maximum(promo, 0)], 0)
    discount = np.round(total * pct / 100).astype(np.int64)
    shipping = np.where(total >= C.FREE_SHIPPING_FROM_CENTS, 0, C.SHIPPING_CENTS)
    return Orders(
        person=owner,
        at=at,
        is_guest=guest,
        email=email,
        channel=channel,
        device=dev,
        loc=loc,
        promo=promo,
        lines_total=total,
        discount=discount,
        shipping=shipping,
        campaign=campaign,
        lines=lines,
    )


def _checkout_identity(
    rng: np.random.Generator, shoppers: Shoppers, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per order (sorted by time): guest checkout or not, and the e-mail typed. An account holder's first order
    opens the account; later ones are occasionally guest checkouts. Guests sometimes type capitals."""
    n = len(owner)
    first_of_person = np.zeros(n, dtype=bool)
    _, first_idx = np.unique(owner, return_index=True)
    first_of_person[first_idx] = True
    acc = shoppers.has_account[owner]
    guest = ~acc | (~first_of_person & (rng.random(n) < C.ACCOUNT_GUEST_ORDER_SHARE))
    email = shoppers.persons.email[owner].copy()
    caps = np.flatnonzero(guest & (rng.random(n) < 0.06))
    email[caps] = [e[:1].upper() + e[1:] for e in email[caps]]
    return guest, email


def _sales_channels(
    rng: np.random.Generator, devices: Devices, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per order: sales channel (marketplace, mobile app on a phone or tablet, else web) and the device used,
    -1 for marketplace orders."""
    n = len(owner)
    marketplace = rng.random(n) < 0.08
    dev = devices.first[owner] + (rng.random(n) * devices.count[owner]).astype(np.int64)
    kind = devices.kind[dev]
    app = (kind > 0) & (rng.random(n) < 0.55)
    channel = np.where(marketplace, "marketplace", np.where(app, "mobile_app", "web")).astype(object)
    return channel, np.where(marketplace, -1, dev)


def _delivery_locations(rng: np.random.Generator, persons: Persons, owner: np.ndarray) -> np.ndarray:
    """Per order: the owner's region and city, or for about 7 % (gifts) another place in the same country."""
    loc = persons.loc[owner].copy()
    gift = np.flatnonzero(rng.random(len(owner)) < 0.07)
    loc[gift] = random_location(rng, persons.country[owner[gift]])
    return loc


def make_accounts(rng: np.random.Generator, orders: Orders, has_account: np.ndarray, na_ts: int) -> Accounts:
    """One account per account holder, opened a few minutes before their first account order."""
    acc_orders = np.flatnonzero(~orders.is_guest)
    person, first = np.unique(orders.person[acc_orders], return_index=True)
    created = orders.at[acc_orders[first]] - rng.integers(60, 1200, len(person))
    created = np.maximum(created, C.OBS_START)
    order = np.argsort(created, kind="stable")
    person, created = person[order], created[order]
    m = len(person)
    has_phone = rng.random(m) < 0.75
    accepts = rng.random(m) < 0.6
    # Some accounts change after creation: marketing consent switched, or a phone number added.
    change = (rng.random(m) < 0.12) & (created < C.OBS_END - 60 * C.DAY)
    changed_at = np.where(change, created + (rng.random(m) * (C.OBS_END - created)).astype(np.int64), na_ts)
    flip = change & (rng.random(m) < 0.6)
    add_phone = change & ~flip & ~has_phone
    accepts_before = np.where(flip, ~accepts, accepts)
    has_phone_before = np.where(add_phone, False, has_phone)
    has_phone = has_phone | add_phone
    changed_at = np.where(flip | add_phone, changed_at, na_ts)
    ch = rng.choice(len(C.ACQUISITION_CHANNELS), m, p=C.ACQUISITION_WEIGHTS)
    return Accounts(
        person=person,
        created_at=created,
        phone_style=rng.choice(6, m),
        has_phone=has_phone,
        channel=np.array(C.ACQUISITION_CHANNELS, dtype=object)[ch],
        accepts_marketing=accepts,
        changed_at=changed_at,
        accepts_marketing_before=accepts_before,
        has_phone_before=has_phone_before,
    )


@dataclass
class Returns:
    """Returned lines of a chunk's orders."""

    line: np.ndarray  # index into orders.lines
    quantity: np.ndarray
    refund: np.ndarray  # cents
    returned_at: np.ndarray
    reason: np.ndarray


_REASON_P = {"Fashion": [0.08, 0.5, 0.15, 0.17, 0.05, 0.05]}
_REASON_DEFAULT = [0.25, 0.0, 0.25, 0.3, 0.1, 0.1]


def make_returns(rng: np.random.Generator, orders: Orders, cat: Catalog) -> Returns:
    """Lines sent back within 30 days (per-category rates, about 8 % overall); refund = quantity x unit
    price; returns after the observation end are not yet known and left out."""
    ln = orders.lines
    ret = np.flatnonzero(rng.random(len(ln.product)) < cat.return_rate[ln.product])
    at = orders.at[ln.order_idx[ret]] + rng.integers(2 * C.DAY, C.RETURN_WINDOW_DAYS * C.DAY, len(ret))
    keep = at <= C.OBS_END
    ret, at = ret[keep], at[keep]
    q = ln.quantity[ret]
    partial = (q > 1) & (rng.random(len(ret)) < 0.3)
    qty = np.where(partial, 1 + (rng.random(len(ret)) * (q - 1)).astype(np.int64), q)
    fashion = cat.category[ln.product[ret]] == "Fashion"
    reason = np.where(
        fashion, rng.choice(6, len(ret), p=_REASON_P["Fashion"]), rng.choice(6, len(ret), p=_REASON_DEFAULT)
    )
    reason_s = np.array(C.RETURN_REASONS, dtype=object)[reason]
    reason_s = np.where(rng.random(len(ret)) < 0.05, None, reason_s)
    order = np.argsort(at, kind="stable")
    return Returns(
        line=ret[order],
        quantity=qty[order],
        refund=(qty * ln.unit_price_cents[ret])[order],
        returned_at=at[order],
        reason=reason_s[order],
    )
