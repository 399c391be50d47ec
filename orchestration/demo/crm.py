"""CRM data of a chunk: who has a record, the records (with people entered twice and over-merge traps),
support tickets and contact history."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from orchestration.demo import config as C
from orchestration.demo.people import (
    COUNTRY_CODE,
    LOC_CITY,
    LOC_REGION,
    Buyers,
    Persons,
    _ascii,
    email_variant,
    format_phones,
    typo,
)


@dataclass
class CrmRecords:
    """CRM customer records of a chunk, sorted by creation time (local ids 0..n-1 follow that order)."""

    person: np.ndarray  # local person index
    is_duplicate: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    email: np.ndarray  # as typed (None if missing)
    phone: np.ndarray
    country: np.ndarray
    region: np.ndarray
    city: np.ndarray
    created_at: np.ndarray
    updated_at: np.ndarray
    email_opt_in: np.ndarray
    sms_opt_in: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


def _present(values: np.ndarray) -> np.ndarray:
    return np.array([v is not None for v in values], dtype=bool)


def plant_households(rng: np.random.Generator, persons: Persons, candidates: np.ndarray) -> np.ndarray:
    """Pair people of the same country into households sharing one family e-mail address.

    The first of each pair takes the family address everywhere (shop, CRM); the second keeps their own shop
    address but the CRM holds the family address, and takes the family name and city. Returns the second
    persons' local indices (their CRM e-mail is the first person's, see :func:`crm_records`) as an array of
    shape (pairs, 2) with columns (first, second).
    """
    n_pairs = round(C.CRM_HOUSEHOLD_SHARE * len(candidates) / 2)
    pairs = []
    pool = rng.permutation(candidates)
    used = np.zeros(len(persons.number), dtype=bool)
    for x in pool:
        if len(pairs) >= n_pairs:
            break
        if used[x]:
            continue
        same = pool[(persons.country[pool] == persons.country[x]) & ~used[pool] & (pool != x)]
        if len(same) == 0:
            continue
        y = same[0]
        used[[x, y]] = True
        pairs.append((x, y))
    for x, y in pairs:
        domain = persons.email[x].split("@")[1]
        persons.email[x] = f"{_ascii(persons.last_name[x])}.family{persons.number[x]}@{domain}"
        persons.last_name[y] = persons.last_name[x]
        persons.loc[y] = persons.loc[x]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True)
class CrmPeople:
    """Who has a CRM record: buyers who registered and non-buying leads, with the creation time of their
    (first) record and the planted households (see :func:`plant_households`)."""

    person: np.ndarray  # local person index
    created_at: np.ndarray  # epoch seconds
    households: np.ndarray  # (pairs, 2): first and second person of each household


def crm_people(rng: np.random.Generator, persons: Persons, buyers: Buyers, n_visitors: int) -> CrmPeople:
    """A ``CRM_BUYER_SHARE`` of the buyers (their record created around their first purchase, never before
    the history starts) and ``CRM_LEADS_PER_BUYER`` leads per buyer among the visitors (created at random),
    with households planted among the buyers (which changes ``persons``)."""
    n_buyers = len(buyers.lam)
    crm_buyers = np.flatnonzero(rng.random(n_buyers) < C.CRM_BUYER_SHARE)
    leads = n_buyers + np.arange(min(round(n_buyers * C.CRM_LEADS_PER_BUYER), n_visitors))
    households = plant_households(rng, persons, crm_buyers)
    created = np.concatenate(
        [
            buyers.first_at[crm_buyers] + rng.integers(-30 * C.DAY, 5 * C.DAY, len(crm_buyers)),
            C.OBS_START + (rng.random(len(leads)) * (C.OBS_END - C.OBS_START - 30 * C.DAY)).astype(np.int64),
        ]
    )
    # Records of the earliest buyers cannot predate the history: they were created with the first purchase.
    early = np.flatnonzero(created[: len(crm_buyers)] < C.OBS_START)
    created[early] = buyers.first_at[crm_buyers[early]] + rng.integers(60, 5 * C.DAY, len(early))
    created = np.clip(created, C.OBS_START, C.OBS_END - C.DAY)
    return CrmPeople(person=np.concatenate([crm_buyers, leads]), created_at=created, households=households)


@dataclass(frozen=True)
class _RecordDraft:
    """CRM records before the traps are planted and ``updated_at`` is drawn (arrays may change in place)."""

    person: np.ndarray
    is_duplicate: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    country: np.ndarray
    region: np.ndarray
    city: np.ndarray
    created_at: np.ndarray
    email_opt_in: np.ndarray
    sms_opt_in: np.ndarray

    @staticmethod
    def concat(a: _RecordDraft, b: _RecordDraft) -> _RecordDraft:
        """The records of ``a`` followed by those of ``b``."""
        return _RecordDraft(
            **{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in fields(_RecordDraft)}
        )


def crm_records(rng: np.random.Generator, persons: Persons, people: CrmPeople) -> CrmRecords:
    """One record per CRM person created at ``people.created_at``, plus second records for about 5 % of them
    and placeholder-address traps on about 0.2 % of records."""
    draft = _RecordDraft.concat(_first_records(rng, persons, people), _second_records(rng, persons, people))
    _plant_placeholder_traps(rng, draft)
    created = draft.created_at
    updated = np.minimum(created + (rng.exponential(60, len(created)) * C.DAY).astype(np.int64), C.OBS_END)
    order = np.argsort(created, kind="stable")
    return CrmRecords(
        person=draft.person[order],
        is_duplicate=draft.is_duplicate[order],
        first_name=draft.first_name[order],
        last_name=draft.last_name[order],
        email=draft.email[order],
        phone=draft.phone[order],
        country=draft.country[order],
        region=draft.region[order],
        city=draft.city[order],
        created_at=created[order],
        updated_at=updated[order],
        email_opt_in=draft.email_opt_in[order],
        sms_opt_in=draft.sms_opt_in[order],
    )


def _first_records(rng: np.random.Generator, persons: Persons, people: CrmPeople) -> _RecordDraft:
    """Each CRM person's own record: the household's family address for second household members, some
    fields missing (never both e-mail and phone), phones in a random common style."""
    crm_person = people.person
    n = len(crm_person)
    email = persons.email[crm_person].copy()
    for x, y in people.households:
        email[crm_person == y] = persons.email[x]
    has_email = rng.random(n) < 0.95
    # A CRM record exists to reach someone: a record without an e-mail always has a phone.
    has_phone = (rng.random(n) < 0.7) | ~has_email
    phone = format_phones(persons, crm_person, rng.choice(6, n, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1]))
    email = np.where(has_email, email, None)
    phone = np.where(has_phone, phone, None)
    first = persons.first_name[crm_person].copy()
    first[rng.random(n) < 0.03] = None
    last = persons.last_name[crm_person].copy()
    has_loc = rng.random(n) < 0.9
    loc = persons.loc[crm_person]
    return _RecordDraft(
        person=crm_person,
        is_duplicate=np.zeros(n, dtype=bool),
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        country=np.where(has_loc, COUNTRY_CODE[persons.country[crm_person]], None),
        region=np.where(has_loc, LOC_REGION[loc], None),
        city=np.where(has_loc, LOC_CITY[loc], None),
        created_at=people.created_at,
        email_opt_in=has_email & (rng.random(n) < 0.55),
        sms_opt_in=has_phone & (rng.random(n) < 0.25),
    )


def _second_records(rng: np.random.Generator, persons: Persons, people: CrmPeople) -> _RecordDraft:
    """People entered twice: a later record for about ``CRM_DUPLICATE_SHARE`` of the CRM people, with the
    e-mail typed differently, names with typos and fields missing more often."""
    created_at = people.created_at
    dup = np.flatnonzero(rng.random(len(people.person)) < C.CRM_DUPLICATE_SHARE)
    dup = dup[created_at[dup] < C.OBS_END - 30 * C.DAY]
    d_person = people.person[dup]
    d_created = np.minimum(created_at[dup] + rng.integers(20, 500, len(dup)) * C.DAY, C.OBS_END - C.DAY)
    d_email = np.array(
        [email_variant(rng, persons.email[p]) if rng.random() < 0.85 else None for p in d_person],
        dtype=object,
    )
    d_phone = format_phones(persons, d_person, rng.choice(6, len(dup)))
    d_phone = np.where((rng.random(len(dup)) < 0.75) | ~_present(d_email), d_phone, None)
    d_first = np.array(
        [typo(rng, f) if f and rng.random() < 0.5 else f for f in persons.first_name[d_person]], dtype=object
    )
    d_last = np.array(
        [typo(rng, x) if rng.random() < 0.4 else x for x in persons.last_name[d_person]], dtype=object
    )
    d_loc = persons.loc[d_person]
    d_has_loc = rng.random(len(dup)) < 0.8
    return _RecordDraft(
        person=d_person,
        is_duplicate=np.ones(len(dup), dtype=bool),
        first_name=d_first,
        last_name=d_last,
        email=d_email,
        phone=d_phone,
        country=np.where(d_has_loc, COUNTRY_CODE[persons.country[d_person]], None),
        region=np.where(d_has_loc, LOC_REGION[d_loc], None),
        city=np.where(d_has_loc, LOC_CITY[d_loc], None),
        created_at=d_created,
        email_opt_in=_present(d_email) & (rng.random(len(dup)) < 0.5),
        sms_opt_in=_present(d_phone) & (rng.random(len(dup)) < 0.2),
    )


def _plant_placeholder_traps(rng: np.random.Generator, draft: _RecordDraft) -> None:
    """Over-merge traps, in place: different people typed in with the same placeholder e-mail or phone
    (without consent on that channel)."""
    trap = np.flatnonzero(rng.random(len(draft.person)) < C.CRM_PLACEHOLDER_SHARE)
    for i in trap:
        if rng.random() < 0.6:
            draft.email[i] = C.PLACEHOLDER_EMAILS[int(rng.integers(0, len(C.PLACEHOLDER_EMAILS)))]
            draft.email_opt_in[i] = False
        else:
            draft.phone[i] = C.PLACEHOLDER_PHONES[int(rng.integers(0, len(C.PLACEHOLDER_PHONES)))]
            draft.sms_opt_in[i] = False


@dataclass
class Tickets:
    """Support tickets of a chunk."""

    record: np.ndarray
    channel: np.ndarray
    category: np.ndarray
    opened_at: np.ndarray
    resolved_at: np.ndarray  # NA_TS when open
    satisfaction: np.ndarray  # 0 when not answered


def tickets(rng: np.random.Generator, recs: CrmRecords, na_ts: int) -> Tickets:
    """About 0.3 tickets per CRM record; resolution time depends on the channel; tickets whose resolution
    would fall after the observation end, and a small backlog, are still open."""
    k = rng.poisson(0.3, len(recs))
    rec = np.repeat(np.arange(len(recs)), k)
    start = recs.created_at[rec]
    opened = start + (rng.random(len(rec)) * (C.OBS_END - start)).astype(np.int64)
    ch = rng.choice(len(C.CONTACT_CHANNELS), len(rec), p=C.TICKET_CHANNEL_WEIGHTS)
    median_h = np.array([C.TICKET_MEDIAN_HOURS[c] for c in C.CONTACT_CHANNELS])[ch]
    hours = median_h * np.exp(rng.normal(0, 0.9, len(rec)))
    resolved = opened + (hours * 3600).astype(np.int64) + 60
    still_open = (resolved > C.OBS_END) | (rng.random(len(rec)) < 0.02)
    resolved = np.where(still_open, na_ts, resolved)
    # Slow resolutions are rated worse; about 45 % of resolved tickets get no rating.
    speed = np.clip(np.log(hours / median_h), -2, 2)
    score = np.clip(np.round(4.1 - 0.6 * speed + rng.normal(0, 1.0, len(rec))), 1, 5).astype(np.int64)
    score = np.where(still_open | (rng.random(len(rec)) < 0.45), 0, score)
    cat = rng.choice(len(C.TICKET_CATEGORIES), len(rec), p=C.TICKET_CATEGORY_WEIGHTS)
    return Tickets(
        record=rec,
        channel=np.array(C.CONTACT_CHANNELS, dtype=object)[ch],
        category=np.array(C.TICKET_CATEGORIES, dtype=object)[cat],
        opened_at=opened,
        resolved_at=resolved,
        satisfaction=score,
    )


@dataclass
class Contacts:
    """Contact history of a chunk."""

    record: np.ndarray
    channel: np.ndarray
    direction: np.ndarray
    contacted_at: np.ndarray
    topic: np.ndarray


def contacts(rng: np.random.Generator, recs: CrmRecords) -> Contacts:
    """About 0.8 contacts per CRM record, inbound and outbound over the four channels."""
    k = rng.poisson(0.8, len(recs))
    rec = np.repeat(np.arange(len(recs)), k)
    start = recs.created_at[rec]
    at = start + (rng.random(len(rec)) * (C.OBS_END - start)).astype(np.int64)
    inbound = rng.random(len(rec)) < 0.45
    ch = np.where(
        inbound,
        rng.choice(4, len(rec), p=[0.4, 0.25, 0.25, 0.1]),
        rng.choice(4, len(rec), p=[0.6, 0.0, 0.35, 0.05]),
    )
    topics_in = np.array(C.CONTACT_TOPICS["inbound"], dtype=object)
    topics_out = np.array(C.CONTACT_TOPICS["outbound"], dtype=object)
    topic = np.where(
        inbound,
        topics_in[rng.integers(0, len(topics_in), len(rec))],
        topics_out[rng.integers(0, len(topics_out), len(rec))],
    )
    topic = np.where(rng.random(len(rec)) < 0.1, None, topic)
    return Contacts(
        record=rec,
        channel=np.array(C.CONTACT_CHANNELS, dtype=object)[ch],
        direction=np.where(inbound, "inbound", "outbound").astype(object),
        contacted_at=at,
        topic=topic,
    )
