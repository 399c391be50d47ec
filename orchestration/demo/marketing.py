"""Marketing: the campaigns, their sends per chunk (with random control groups) and their true uplift.

Each campaign targets a random share of the CRM records that exist at send time and may be contacted on its
channel (e-mail needs ``email_opt_in``, SMS ``sms_opt_in``); a person is targeted at most once per campaign. A
random 10-20 % of the targeted are the control group: recorded, nothing sent, no opens or clicks. A treated
person who is alive at send time (acquired, not yet dropped out) places one extra order within the 14-day
attribution window with probability ``pi_i``: the campaign's base probability ``pi`` times ``RECENT_FACTOR``
(2) for someone whose last purchase before the send is at most ``RECENT_DAYS`` (90) days old, else times
``DORMANT_FACTOR`` (0.4). Recent buyers respond more, so uplift differs between RFM segments beyond alive or
not (dropped-out people and people not yet acquired have none). Recency is read from the person's own
purchase process (campaign-induced orders are ignored); ``pi_i`` is a function of the history, not a new
random draw.

True uplift (written to ``truth/campaign_uplift.csv``) is the expected treated-minus-control difference in the
share of targeted people placing at least one order within ``w`` = 14 days after ``sent_at`` (cut at the
observation end). For targeted person i with purchase rate lambda_i (per operational week), alive indicator
A_i and operational length dG_i of the window (the season map G applied to its ends),

    P(order | control) = A_i (1 - exp(-lambda_i dG_i))      (BG/NBD: no dropout before the next purchase)
    P(order | treated) = 1 - (1 - P(order | control)) (1 - A_i pi_i)

so the uplift is the mean over everyone targeted of  A_i * pi_i * exp(-lambda_i dG_i). Each targeted
person's term is written to ``truth/campaign_send_uplift.csv`` (one row per send, control members
included), so the true uplift of any subgroup (an RFM segment at send time, say) is the mean of its rows;
the mean per campaign is ``truth/campaign_uplift.csv``.

The base ``pi`` is kept small (0.4-2 %, display 0.2-0.8 %), so campaign-induced orders are about 0.5 % of all orders:
they fall mostly on alive but nearly dormant buyers (with r = 0.243 most purchase rates are tiny), and at
1.2 % of orders they already moved BG/NBD estimates of r and alpha fitted on all orders by about 10 %.
``truth/campaign_orders.csv`` lists them, so a model can also be validated without them.  First purchases of people
not yet acquired at send time are the same in both groups and cancel. The day-of-week/hour move of purchase
times (see ``people``) shifts a few orders across the window edges in both groups alike and is ignored.
Campaigns are spaced at least five weeks apart so that attribution windows never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.demo import config as C
from orchestration.demo.crm import CrmRecords
from orchestration.demo.csvio import NA_TS
from orchestration.demo.people import Buyers, Season

N_CAMPAIGNS = 30
ATTRIBUTION_DAYS = 14
CHANNEL_MIX = ["email"] * 12 + ["sms"] * 5 + ["social"] * 7 + ["display"] * 6
# Cost per treated send in cents and fixed cost in EUR, by channel.
COST_PER_SEND_CENTS = {"email": 0.3, "sms": 8.0, "social": 2.5, "display": 1.5}
FIXED_COST_EUR = {"email": 300.0, "sms": 200.0, "social": 1500.0, "display": 2000.0}
UTM = {
    "email": ("crm_email", "email"),
    "sms": ("crm_sms", "sms"),
    "social": ("facebook", "paid_social"),
    "display": ("gdn", "display"),
}
# Responsiveness by recent activity: pi_i = pi * RECENT_FACTOR for a person whose last own purchase before
# the send is at most RECENT_DAYS old, else pi * DORMANT_FACTOR. The two factors average to about 1 over the
# alive targeted people, so the number of campaign-induced orders stays about what one pi per campaign gave.
RECENT_DAYS = 90
RECENT_FACTOR = 2.0
DORMANT_FACTOR = 0.4
THEMES = [
    "Spring sale",
    "New arrivals",
    "Summer deals",
    "Back to school",
    "Autumn collection",
    "Black Friday",
    "Christmas gifts",
    "Winter clearance",
    "Loyalty bonus",
    "Win-back",
    "Weekend flash sale",
    "Product launch",
]


@dataclass
class Campaigns:
    """Campaign definitions (global, drawn once per seed)."""

    campaign_id: np.ndarray
    name: np.ndarray
    channel: np.ndarray
    started_at: np.ndarray
    ended_at: np.ndarray
    target_share: np.ndarray
    control_share: np.ndarray
    extra_prob: np.ndarray  # base pi: P(extra order | treated and alive), before the recency factor
    open_rate: np.ndarray
    click_rate: np.ndarray
    unsub_rate: np.ndarray

    def __len__(self) -> int:
        return len(self.campaign_id)


def build_campaigns(rng: np.random.Generator) -> Campaigns:
    """About 30 campaigns spread evenly over the history (channels email, sms, social, display)."""
    n = N_CAMPAIGNS
    channel = rng.permutation(np.array(CHANNEL_MIX, dtype=object))
    usable = C.OBS_END - C.OBS_START - 4 * C.WEEK
    slot = usable / n
    start = (C.OBS_START + 2 * C.WEEK + (np.arange(n) * slot) + rng.uniform(0, slot - 5 * C.WEEK, n)).astype(
        np.int64
    )
    start = start - start % C.DAY + 8 * 3600  # 08:00 UTC
    ended = start + ATTRIBUTION_DAYS * C.DAY - 1
    names = []
    for s, ch in zip(start, channel, strict=True):
        month = str(np.datetime64(int(s), "s").astype("datetime64[M]"))
        names.append(f"{month} {THEMES[int(rng.integers(0, len(THEMES)))]} ({ch})")
    is_email = channel == "email"
    is_sms = channel == "sms"
    return Campaigns(
        campaign_id=np.array([f"CMP{k:03d}" for k in range(1, n + 1)], dtype=object),
        name=np.array(names, dtype=object),
        channel=channel,
        started_at=start,
        ended_at=ended,
        target_share=rng.uniform(0.15, 0.35, n),
        control_share=rng.uniform(0.10, 0.20, n),
        extra_prob=np.where(channel == "display", rng.uniform(0.002, 0.008, n), rng.uniform(0.004, 0.02, n)),
        open_rate=np.where(is_email, rng.uniform(0.2, 0.4, n), 0.0),
        click_rate=np.where(is_email, rng.uniform(0.08, 0.2, n), np.where(is_sms, 0.05, 0.012)),
        unsub_rate=np.where(is_email, 0.004, np.where(is_sms, 0.006, 0.0)),
    )


@dataclass
class Sends:
    """Sends of a chunk, plus the extra orders and web clicks they cause."""

    campaign: np.ndarray
    record: np.ndarray
    is_control: np.ndarray
    sent_at: np.ndarray
    opened_at: np.ndarray
    clicked_at: np.ndarray
    unsubscribed_at: np.ndarray
    extra_person: np.ndarray  # local buyer index of extra orders
    extra_at: np.ndarray
    extra_campaign: np.ndarray
    true_uplift: np.ndarray  # per send: A * pi_i * exp(-lambda dG), the person's true uplift
    uplift_sum: np.ndarray  # per campaign: sum over targeted of A * pi_i * exp(-lambda dG)
    targeted: np.ndarray  # per campaign: number targeted
    treated: np.ndarray  # per campaign: number treated

    def file_order(self) -> np.ndarray:
        """Index order of the sends in the landing files: by campaign, then send time."""
        return np.lexsort((self.sent_at, self.campaign))


@dataclass(frozen=True)
class _Targeting:
    """The CRM records one campaign targets (at most one per person), whether each is held out as control,
    and when it was sent."""

    record: np.ndarray
    person: np.ndarray  # local person index of the record
    is_control: np.ndarray
    sent_at: np.ndarray

    def __len__(self) -> int:
        return len(self.record)


@dataclass(frozen=True)
class _Propensity:
    """Per targeted person: alive at send time, response probability pi_i if treated, end of the attribution
    window (cut at the observation end) and the true uplift A_i * pi_i * exp(-lambda_i dG_i)."""

    alive: np.ndarray
    pi: np.ndarray
    window_end: np.ndarray
    true_uplift: np.ndarray


@dataclass(frozen=True)
class _CampaignSends:
    """Everything one campaign produced in a chunk."""

    campaign: int
    target: _Targeting
    true_uplift: np.ndarray
    opened_at: np.ndarray
    clicked_at: np.ndarray
    unsubscribed_at: np.ndarray
    converts: np.ndarray  # places an extra order
    extra_at: np.ndarray  # time of that extra order (drawn for everyone; used where converts)


def simulate_sends(
    rng: np.random.Generator,
    camps: Campaigns,
    recs: CrmRecords,
    buyers: Buyers,
    season: Season,
) -> Sends:
    """Run every campaign, in start order, over the chunk's CRM records (people ``0..len(buyers.lam)-1`` are
    the buyers of ``buyers``).

    Updates the records' opt-ins (and ``updated_at``) after unsubscribes, so later campaigns on that channel
    no longer reach them.
    """
    opt_in = {"email": recs.email_opt_in.copy(), "sms": recs.sms_opt_in.copy()}
    # Key of every own purchase, sorted like the purchases (owner, then time): finds the last one before t.
    purchase_key = (buyers.purchase_owner.astype(np.int64) << 32) + buyers.purchase_at
    done = []
    for c in np.argsort(camps.started_at):
        consent = opt_in.get(camps.channel[c])  # None: the channel needs no opt-in (and has no unsubscribes)
        target = _target(rng, camps, c, recs, consent)
        prop = _propensity(camps, c, target, buyers, season, purchase_key)
        converts, extra_at = _extra_orders(rng, target, prop)
        opened, clicked = _opens_and_clicks(rng, camps, c, target, converts, extra_at)
        unsub = _unsubscribes(rng, camps, c, target, converts, opened)
        if consent is not None:
            _apply_unsubscribes(recs, consent, target, unsub)
        # Opens and clicks after the observation end are not yet known (unsubscribes are cut above).
        opened[opened > C.OBS_END] = NA_TS
        clicked[clicked > C.OBS_END] = NA_TS
        done.append(_CampaignSends(c, target, prop.true_uplift, opened, clicked, unsub, converts, extra_at))
    recs.email_opt_in = opt_in["email"]
    recs.sms_opt_in = opt_in["sms"]
    return _collect(done, len(camps))


def _target(
    rng: np.random.Generator, camps: Campaigns, c: int, recs: CrmRecords, opted_in: np.ndarray | None
) -> _Targeting:
    """Campaign ``c``'s targets: a random ``target_share`` of the people with a record created before the
    start (opted in on the channel where it needs consent, ``opted_in``; one random record per person), a
    random ``control_share`` of them held out, sent within six hours of the start."""
    start = camps.started_at[c]
    ok = recs.created_at <= start
    if opted_in is not None:
        ok &= opted_in
    cand = np.flatnonzero(ok)
    cand = cand[rng.permutation(len(cand))]
    _, first = np.unique(recs.person[cand], return_index=True)
    cand = np.sort(cand[first])
    rec = cand[rng.random(len(cand)) < camps.target_share[c]]
    m = len(rec)
    control = rng.random(m) < camps.control_share[c]
    sent = start + rng.integers(0, 6 * 3600, m)
    return _Targeting(record=rec, person=recs.person[rec], is_control=control, sent_at=sent)


def _propensity(
    camps: Campaigns,
    c: int,
    target: _Targeting,
    buyers: Buyers,
    season: Season,
    purchase_key: np.ndarray,
) -> _Propensity:
    """Who can respond (alive at send time), how likely (pi_i by recency of the last own purchase) and the
    true uplift of each targeted person (formula in the module docstring)."""
    sent = target.sent_at
    is_buyer = target.person < len(buyers.lam)
    bp = np.where(is_buyer, target.person, 0)
    alive = (
        is_buyer
        & (buyers.first_at[bp] <= sent)
        & ((buyers.dropout_at[bp] == NA_TS) | (sent < buyers.dropout_at[bp]))
    )
    window_end = np.minimum(sent + ATTRIBUTION_DAYS * C.DAY, C.OBS_END)
    dg = (
        season.to_operational(window_end - C.OBS_START) - season.to_operational(sent - C.OBS_START)
    ) / C.WEEK
    last = np.searchsorted(purchase_key, (bp.astype(np.int64) << 32) + sent, side="left") - 1
    has_last = is_buyer & (last >= 0) & (buyers.purchase_owner[np.maximum(last, 0)] == bp)
    recent = has_last & (buyers.purchase_at[np.maximum(last, 0)] >= sent - RECENT_DAYS * C.DAY)
    pi = camps.extra_prob[c] * np.where(recent, RECENT_FACTOR, DORMANT_FACTOR)
    true_uplift = alive * pi * np.exp(-buyers.lam[bp] * dg)
    return _Propensity(alive=alive, pi=pi, window_end=window_end, true_uplift=true_uplift)


def _extra_orders(
    rng: np.random.Generator, target: _Targeting, prop: _Propensity
) -> tuple[np.ndarray, np.ndarray]:
    """Which treated, alive people place an extra order (probability pi_i) and when, within the window."""
    m, sent = len(target), target.sent_at
    converts = prop.alive & ~target.is_control & (rng.random(m) < prop.pi) & (prop.window_end > sent + 3600)
    extra_at = sent + (rng.uniform(0.02, 1.0, m) * (prop.window_end - sent)).astype(np.int64)
    return converts, extra_at


def _opens_and_clicks(
    rng: np.random.Generator,
    camps: Campaigns,
    c: int,
    target: _Targeting,
    converts: np.ndarray,
    extra_at: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Open and click times of the treated (e-mail is opened before it is clicked; other channels are only
    clicked); converters clicked through to their order, and e-mail converters opened first."""
    m, sent = len(target), target.sent_at
    treated = ~target.is_control
    opened = np.full(m, NA_TS, dtype=np.int64)
    clicked = np.full(m, NA_TS, dtype=np.int64)
    if camps.open_rate[c] > 0:
        o = treated & (rng.random(m) < camps.open_rate[c])
        opened = np.where(o, sent + (rng.exponential(5 * 3600, m)).astype(np.int64) + 30, NA_TS)
        k = o & (rng.random(m) < camps.click_rate[c])
        clicked = np.where(k, opened + rng.exponential(1800, m).astype(np.int64) + 5, NA_TS)
    else:
        k = treated & (rng.random(m) < camps.click_rate[c])
        clicked = np.where(k, sent + rng.exponential(8 * 3600, m).astype(np.int64) + 30, NA_TS)
    conv_click = sent + ((extra_at - sent) * rng.uniform(0.1, 0.95, m)).astype(np.int64)
    clicked = np.where(converts & ((clicked == NA_TS) | (clicked > extra_at)), conv_click, clicked)
    if camps.open_rate[c] > 0:
        conv_open = sent + ((clicked - sent) * rng.uniform(0.2, 0.9, m)).astype(np.int64)
        opened = np.where(converts & ((opened == NA_TS) | (opened > clicked)), conv_open, opened)
    return opened, clicked


def _unsubscribes(
    rng: np.random.Generator,
    camps: Campaigns,
    c: int,
    target: _Targeting,
    converts: np.ndarray,
    opened: np.ndarray,
) -> np.ndarray:
    """Unsubscribe times (NA_TS for none) of treated non-converters on channels that allow unsubscribing,
    shortly after opening (or receiving); those after the observation end are not yet known."""
    m = len(target)
    unsub = np.full(m, NA_TS, dtype=np.int64)
    if camps.unsub_rate[c] > 0:
        u = ~target.is_control & ~converts & (rng.random(m) < camps.unsub_rate[c])
        base = np.where(opened != NA_TS, opened, target.sent_at)
        unsub = np.where(u, base + rng.integers(60, 2 * C.DAY, m), NA_TS)
        unsub = np.where(unsub > C.OBS_END, NA_TS, unsub)
    return unsub


def _apply_unsubscribes(
    recs: CrmRecords, opted_in: np.ndarray, target: _Targeting, unsub: np.ndarray
) -> None:
    """Withdraw the channel's opt-in (``opted_in``, changed in place) of the records that unsubscribed and
    move their ``updated_at`` to the unsubscribe time."""
    left = unsub != NA_TS
    gone = target.record[left]
    opted_in[gone] = False
    recs.updated_at[gone] = np.maximum(recs.updated_at[gone], unsub[left])


def _collect(done: list[_CampaignSends], n_campaigns: int) -> Sends:
    """All campaigns' sends of a chunk in one :class:`Sends`, in campaign start order, with per-campaign
    totals for the uplift truth."""
    uplift_sum = np.zeros(n_campaigns)
    targeted_n = np.zeros(n_campaigns, dtype=np.int64)
    treated_n = np.zeros(n_campaigns, dtype=np.int64)
    for d in done:
        uplift_sum[d.campaign] += float(np.sum(d.true_uplift))
        targeted_n[d.campaign] += len(d.target)
        treated_n[d.campaign] += int((~d.target.is_control).sum())

    def cat(values: list[np.ndarray]) -> np.ndarray:
        """The campaigns' arrays one after the other."""
        return np.concatenate(values) if values else np.zeros(0, dtype=np.int64)

    return Sends(
        campaign=cat([np.full(len(d.target), d.campaign) for d in done]).astype(np.int64),
        record=cat([d.target.record for d in done]).astype(np.int64),
        is_control=cat([d.target.is_control for d in done]).astype(bool),
        sent_at=cat([d.target.sent_at for d in done]),
        opened_at=cat([d.opened_at for d in done]),
        clicked_at=cat([d.clicked_at for d in done]),
        unsubscribed_at=cat([d.unsubscribed_at for d in done]),
        extra_person=cat([d.target.person[d.converts] for d in done]).astype(np.int64),
        extra_at=cat([d.extra_at[d.converts] for d in done]).astype(np.int64),
        extra_campaign=cat([np.full(int(d.converts.sum()), d.campaign) for d in done]).astype(np.int64),
        true_uplift=cat([d.true_uplift for d in done]).astype(np.float64),
        uplift_sum=uplift_sum,
        targeted=targeted_n,
        treated=treated_n,
    )
