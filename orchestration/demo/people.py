"""People of the demo shop: who buys when (BG/NBD), how much (Gamma-Gamma), and who they are (names, e-mail,
phone, address).

Purchasing follows the BG/NBD story exactly (Fader, Hardie & Lee 2005): per buyer a purchase rate
lambda ~ Gamma(r, rate alpha) per week and a dropout probability p ~ Beta(a, b); after the first purchase,
purchases arrive as a Poisson process with rate lambda, and after each *repeat* purchase the buyer drops out
with probability p. The process runs in "operational" weeks that are mapped to calendar time through a mild
yearly warp (Q4 peak, summer dip) and then moved within their calendar week to a day-of-week and hour-of-day
profile; both moves are small compared with inter-purchase times, so BG/NBD fitted on calendar times recovers
the true parameters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from orchestration.demo.config import (
    ACQUISITION_SHARE,
    COUNTRIES,
    DAY,
    NAMES,
    OBS_END,
    OBS_START,
    WEEK,
    ModelParams,
)
from orchestration.demo.csvio import NA_TS

HISTORY = OBS_END - OBS_START  # seconds
_YEAR = 365.2425 * DAY
# Monday, Tuesday, ..., Sunday.
DOW_PROFILE = np.array([0.150, 0.145, 0.140, 0.140, 0.135, 0.125, 0.165])
HOUR_PROFILE = np.array(
    [
        1.2,
        0.7,
        0.4,
        0.3,
        0.3,
        0.5,
        1.2,
        2.5,
        3.8,
        4.6,
        5.0,
        5.2,
        5.5,
        5.4,
        5.2,
        5.1,
        5.2,
        5.6,
        6.3,
        7.2,
        7.6,
        7.0,
        5.2,
        2.9,
    ]
)
HOUR_PROFILE = HOUR_PROFILE / HOUR_PROFILE.sum()


class Season:
    """Monotone map between operational time and calendar time (both seconds since OBS_START).

    The calendar intensity is g(t) = 1 + 0.25 bump(late November, Black Friday) - 0.06 bump(August), rescaled
    so that the whole history keeps its length; operational time is G(t) = integral of g. Measured on 50,000
    simulated buyers (6 seeds), BG/NBD fitted on calendar times then recovers r and alpha within 1 % and
    a and b within about 3 % on average (1-2 % of which is the estimator's own small-sample bias); a stronger
    peak or one in the last weeks of the window biases a and b further.
    """

    def __init__(self) -> None:
        t = np.arange(0, HISTORY + 3600, 3600, dtype=np.float64)
        yf = (t / _YEAR) % 1  # OBS_START is 1 January
        g = 1 + 0.25 * np.exp(-(((yf - 0.895) / 0.03) ** 2)) - 0.06 * np.exp(-(((yf - 0.62) / 0.05) ** 2))
        cum = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * 3600)])
        self.t = t
        self.g_cum = cum * (t[-1] / cum[-1])

    def to_calendar(self, op_seconds: np.ndarray) -> np.ndarray:
        """Calendar seconds since OBS_START of operational times."""
        return np.interp(op_seconds, self.g_cum, self.t)

    def to_operational(self, cal_seconds: np.ndarray) -> np.ndarray:
        """Operational seconds since OBS_START of calendar times."""
        return np.interp(cal_seconds, self.t, self.g_cum)


def weekly_reshuffle(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    """Move epoch-second timestamps to a day of their calendar week and an hour of that day drawn from the
    weekly and daily profiles; a time that would leave the history stays where it was."""
    monday0 = OBS_START - 6 * DAY  # 2023-01-01 was a Sunday
    week = (ts - monday0) // WEEK
    day = rng.choice(7, size=len(ts), p=DOW_PROFILE)
    sec = rng.choice(24, size=len(ts), p=HOUR_PROFILE) * 3600 + rng.integers(0, 3600, len(ts))
    moved = monday0 + week * WEEK + day * DAY + sec
    return np.where((moved < OBS_START) | (moved > OBS_END), ts, moved)


@dataclass
class Buyers:
    """BG/NBD and Gamma-Gamma draws and purchase times of a batch of buyers (local indices 0..n-1)."""

    lam: np.ndarray  # purchases per (operational) week
    p: np.ndarray  # dropout probability after each repeat purchase
    nu: np.ndarray  # Gamma-Gamma rate of the person's spend distribution
    first_at: np.ndarray  # epoch seconds
    dropout_at: np.ndarray  # epoch seconds, NA_TS if still alive at the end
    purchase_owner: np.ndarray  # local buyer index per purchase, sorted by owner then time
    purchase_at: np.ndarray  # epoch seconds


def simulate_buyers(rng: np.random.Generator, n: int, params: ModelParams, season: Season) -> Buyers:
    """Draw ``n`` buyers and their purchase histories over the observation window."""
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    nu = rng.gamma(params.gg_q, 1.0 / params.gg_v, n)
    # Acquisitions grow over time: density proportional to 1 + c x on x in [0, 1] of the acquisition span.
    c = 1.5
    f = rng.random(n)
    x = (-1 + np.sqrt(1 + 2 * c * f * (1 + c / 2))) / c
    span = ACQUISITION_SHARE * HISTORY
    t0 = x * span  # operational seconds since start
    remaining_weeks = (HISTORY - t0) / WEEK
    n_possible = rng.poisson(lam * remaining_weeks)
    k_until_drop = rng.geometric(p)
    n_repeat = np.minimum(n_possible, k_until_drop)
    dropped = k_until_drop <= n_possible

    owner = np.repeat(np.arange(n), n_possible)
    u = t0[owner] + rng.random(len(owner)) * (HISTORY - t0[owner])
    order = np.lexsort((u, owner))
    owner, u = owner[order], u[order]
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner, side="left")
    keep = rank < n_repeat[owner]
    owner = np.concatenate([np.arange(n), owner[keep]])
    u = np.concatenate([t0, u[keep]])

    cal = OBS_START + np.round(season.to_calendar(u)).astype(np.int64)
    cal = weekly_reshuffle(rng, np.minimum(cal, OBS_END))
    order = np.lexsort((cal, owner))
    owner, cal = owner[order], cal[order]
    first_pos = np.searchsorted(owner, np.arange(n), side="left")
    last_pos = np.searchsorted(owner, np.arange(n), side="right") - 1
    dropout = np.where(dropped, cal[last_pos], NA_TS)
    return Buyers(
        lam=lam,
        p=p,
        nu=nu,
        first_at=cal[first_pos],
        dropout_at=dropout,
        purchase_owner=owner,
        purchase_at=cal,
    )


def _ascii(s: str) -> str:
    s = s.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    s = s.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return s.lower().replace(" ", "").replace("'", "")


_LOC = [
    (ci, region, city) for ci, c in enumerate(COUNTRIES) for region, cities in c[6].items() for city in cities
]
LOC_COUNTRY = np.array([x[0] for x in _LOC])
LOC_REGION = np.array([x[1] for x in _LOC], dtype=object)
LOC_CITY = np.array([x[2] for x in _LOC], dtype=object)
COUNTRY_CODE = np.array([c[0] for c in COUNTRIES], dtype=object)
_COUNTRY_W = np.array([c[1] for c in COUNTRIES]) / sum(c[1] for c in COUNTRIES)
_LOC_BY_COUNTRY = [np.flatnonzero(LOC_COUNTRY == ci) for ci in range(len(COUNTRIES))]


@dataclass
class Persons:
    """Identity attributes of a batch of people (local indices 0..n-1)."""

    number: np.ndarray  # global person number (person_id P<number>)
    country: np.ndarray  # index into COUNTRIES
    loc: np.ndarray  # index into LOC_* (region and city)
    first_name: np.ndarray
    last_name: np.ndarray
    email: np.ndarray  # canonical lower-case e-mail
    phone_cc: np.ndarray
    phone_trunk: np.ndarray
    phone_prefix: np.ndarray
    phone_sub: np.ndarray


def random_location(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """A random region/city (index into LOC_*) within each given country."""
    out = np.empty(len(country), dtype=np.int64)
    for ci, members in enumerate(_LOC_BY_COUNTRY):
        sel = np.flatnonzero(country == ci)
        out[sel] = members[rng.integers(0, len(members), len(sel))]
    return out


def make_persons(rng: np.random.Generator, n: int, first_number: int) -> Persons:
    """Names, e-mail, phone and address of ``n`` people numbered from ``first_number``.

    E-mail local parts and phone subscriber numbers embed the person number (the phone through a bijection
    modulo 10^7), so two different people never share an address or a number by accident; only the planted
    traps make them collide.
    """
    number = first_number + np.arange(n)
    country = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_W)
    loc = random_location(rng, country)
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    email = np.empty(n, dtype=object)
    pattern = rng.choice(5, size=n, p=[0.4, 0.2, 0.15, 0.15, 0.1])
    dom_pick = rng.random(n)
    for ci, (code, *_rest) in enumerate(COUNTRIES):
        sel = np.flatnonzero(country == ci)
        firsts, lasts = NAMES[code]
        fi = rng.integers(0, len(firsts), len(sel))
        li = rng.integers(0, len(lasts), len(sel))
        first[sel] = np.array(firsts, dtype=object)[fi]
        last[sel] = np.array(lasts, dtype=object)[li]
        domains = COUNTRIES[ci][5]
        fa = [_ascii(x) for x in firsts]
        la = [_ascii(x) for x in lasts]
        for j, i in enumerate(sel):
            f, l_, k = fa[fi[j]], la[li[j]], int(number[i])
            pat = pattern[i]
            if pat == 0:
                local = f"{f}.{l_}{k}"
            elif pat == 1:
                local = f"{f}{l_}{k}"
            elif pat == 2:
                local = f"{f[0]}.{l_}{k}"
            elif pat == 3:
                local = f"{l_}.{f}{k}"
            else:
                local = f"{f}_{k}"
            email[i] = f"{local}@{domains[int(dom_pick[i] * len(domains))]}"
    cc = np.array([c[2] for c in COUNTRIES], dtype=object)[country]
    trunk = np.array([c[3] for c in COUNTRIES], dtype=object)[country]
    prefix = np.empty(n, dtype=object)
    for ci, c in enumerate(COUNTRIES):
        sel = np.flatnonzero(country == ci)
        prefix[sel] = np.array(c[4], dtype=object)[rng.integers(0, len(c[4]), len(sel))]
    sub = (number.astype(np.int64) * 7919 + 1_234_567) % 10_000_000
    return Persons(
        number=number,
        country=country,
        loc=loc,
        first_name=first,
        last_name=last,
        email=email,
        phone_cc=cc,
        phone_trunk=trunk,
        phone_prefix=prefix,
        phone_sub=sub,
    )


def format_phones(persons: Persons, idx: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Phone numbers of persons ``idx`` written in one of six common styles (0: E.164, 1: international with
    spaces, 2: national with dash, 3: 00 prefix, 4: national with parentheses, 5: national with spaces)."""
    out = np.empty(len(idx), dtype=object)
    for j, (i, s) in enumerate(zip(idx, style, strict=True)):
        cc, tr, pre = persons.phone_cc[i], persons.phone_trunk[i], persons.phone_prefix[i]
        sub = f"{persons.phone_sub[i]:07d}"
        if s == 0:
            out[j] = f"+{cc}{pre}{sub}"
        elif s == 1:
            out[j] = f"+{cc} {pre} {sub}"
        elif s == 2:
            out[j] = f"{tr}{pre}-{sub}"
        elif s == 3:
            out[j] = f"00{cc}{pre}{sub}"
        elif s == 4:
            out[j] = f"({tr}{pre}) {sub}"
        else:
            out[j] = f"{tr}{pre} {sub[:3]} {sub[3:]}"
    return out


def typo(rng: np.random.Generator, name: str) -> str:
    """A plausible typing variant of a name: swapped letters, a dropped letter, a doubled letter or case."""
    if not name or len(name) < 3:
        return name.upper() if name else name
    kind = int(rng.integers(0, 4))
    i = int(rng.integers(1, len(name) - 1))
    if kind == 0:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if kind == 1:
        return name[:i] + name[i + 1 :]
    if kind == 2:
        return name[:i] + name[i] + name[i:]
    return name.lower()


def email_variant(rng: np.random.Generator, email: str) -> str:
    """The same address typed differently: other capitalisation and stray spaces."""
    local, _, domain = email.partition("@")
    parts = local.split(".")
    local = ".".join(p[:1].upper() + p[1:] for p in parts)
    if rng.random() < 0.5:
        domain = domain[:1].upper() + domain[1:]
    out = f"{local}@{domain}"
    if rng.random() < 0.3:
        out = out.upper()
    pad = int(rng.integers(0, 3))
    return [f" {out} ", f"{out} ", f"  {out}"][pad]
