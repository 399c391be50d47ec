"""Marketing campaigns, their sends (with random control groups) and their true uplift.

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


def simulate_sends(
    rng: np.random.Generator,
    camps: Campaigns,
    recs: CrmRecords,
    buyers: Buyers,
    n_buyers: int,
    season: Season,
    na_ts: int,
) -> Sends:
    """Run every campaign over the chunk's CRM records; updates the records' opt-ins after unsubscribes."""
    email_state = recs.email_opt_in.copy()
    sms_state = recs.sms_opt_in.copy()
    out = {
        k: []
        for k in (
            "campaign",
            "record",
            "is_control",
            "sent_at",
            "opened_at",
            "clicked_at",
            "unsub",
            "xp",
            "xa",
            "xc",
            "true_uplift",
        )
    }
    # Key of every own purchase, sorted like the purchases (owner, then time): finds the last one before t.
    purchase_key = (buyers.purchase_owner.astype(np.int64) << 32) + buyers.purchase_at
    uplift_sum = np.zeros(len(camps))
    targeted_n = np.zeros(len(camps), dtype=np.int64)
    treated_n = np.zeros(len(camps), dtype=np.int64)
    for c in np.argsort(camps.started_at):
        start = camps.started_at[c]
        ch = camps.channel[c]
        ok = recs.created_at <= start
        if ch == "email":
            ok &= email_state
        elif ch == "sms":
            ok &= sms_state
        cand = np.flatnonzero(ok)
        cand = cand[rng.permutation(len(cand))]
        _, first = np.unique(recs.person[cand], return_index=True)
        cand = np.sort(cand[first])
        rec = cand[rng.random(len(cand)) < camps.target_share[c]]
        m = len(rec)
        control = rng.random(m) < camps.control_share[c]
        sent = start + rng.integers(0, 6 * 3600, m)
        person = recs.person[rec]
        is_buyer = person < n_buyers
        bp = np.where(is_buyer, person, 0)
        alive = (
            is_buyer
            & (buyers.first_at[bp] <= sent)
            & ((buyers.dropout_at[bp] == na_ts) | (sent < buyers.dropout_at[bp]))
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
        uplift_sum[c] += float(np.sum(true_uplift))
        targeted_n[c] += m
        treated_n[c] += int((~control).sum())
        convert = alive & ~control & (rng.random(m) < pi) & (window_end > sent + 3600)
        extra_at = sent + (rng.uniform(0.02, 1.0, m) * (window_end - sent)).astype(np.int64)

        treated = ~control
        opened = np.full(m, na_ts, dtype=np.int64)
        clicked = np.full(m, na_ts, dtype=np.int64)
        if camps.open_rate[c] > 0:
            o = treated & (rng.random(m) < camps.open_rate[c])
            opened = np.where(o, sent + (rng.exponential(5 * 3600, m)).astype(np.int64) + 30, na_ts)
            k = o & (rng.random(m) < camps.click_rate[c])
            clicked = np.where(k, opened + rng.exponential(1800, m).astype(np.int64) + 5, na_ts)
        else:
            k = treated & (rng.random(m) < camps.click_rate[c])
            clicked = np.where(k, sent + rng.exponential(8 * 3600, m).astype(np.int64) + 30, na_ts)
        # Converters clicked through to their order (e-mail converters opened first).
        conv_click = sent + ((extra_at - sent) * rng.uniform(0.1, 0.95, m)).astype(np.int64)
        clicked = np.where(convert & ((clicked == na_ts) | (clicked > extra_at)), conv_click, clicked)
        if camps.open_rate[c] > 0:
            conv_open = sent + ((clicked - sent) * rng.uniform(0.2, 0.9, m)).astype(np.int64)
            opened = np.where(convert & ((opened == na_ts) | (opened > clicked)), conv_open, opened)
        unsub = np.full(m, na_ts, dtype=np.int64)
        if camps.unsub_rate[c] > 0:
            u = treated & ~convert & (rng.random(m) < camps.unsub_rate[c])
            base = np.where(opened != na_ts, opened, sent)
            unsub = np.where(u, base + rng.integers(60, 2 * C.DAY, m), na_ts)
            unsub = np.where(unsub > C.OBS_END, na_ts, unsub)
            gone = rec[unsub != na_ts]
            if ch == "email":
                email_state[gone] = False
            else:
                sms_state[gone] = False
            recs.updated_at[gone] = np.maximum(recs.updated_at[gone], unsub[unsub != na_ts])
        for arr, key in ((opened, "opened_at"), (clicked, "clicked_at")):
            arr[arr > C.OBS_END] = na_ts
            out[key].append(arr)
        out["campaign"].append(np.full(m, c))
        out["record"].append(rec)
        out["is_control"].append(control)
        out["sent_at"].append(sent)
        out["true_uplift"].append(true_uplift)
        out["unsub"].append(unsub)
        out["xp"].append(person[convert])
        out["xa"].append(extra_at[convert])
        out["xc"].append(np.full(int(convert.sum()), c))
    recs.email_opt_in = email_state
    recs.sms_opt_in = sms_state
    cat = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in out.items()}
    return Sends(
        campaign=cat["campaign"].astype(np.int64),
        record=cat["record"].astype(np.int64),
        is_control=cat["is_control"].astype(bool),
        sent_at=cat["sent_at"],
        opened_at=cat["opened_at"],
        clicked_at=cat["clicked_at"],
        unsubscribed_at=cat["unsub"],
        extra_person=cat["xp"].astype(np.int64),
        extra_at=cat["xa"].astype(np.int64),
        extra_campaign=cat["xc"].astype(np.int64),
        true_uplift=cat["true_uplift"].astype(np.float64),
        uplift_sum=uplift_sum,
        targeted=targeted_n,
        treated=treated_n,
    )
