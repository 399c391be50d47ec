"""One chunk of people simulated through every source system, before anything is written.

A chunk is a batch of buyers plus as many non-buying visitors (``VISITORS_PER_BUYER``). Each step draws from
its own random stream of the chunk (``streams(k)``), so a step's draws never depend on how many numbers
another step used. The steps follow the source systems: people and their purchase processes
(:mod:`~orchestration.demo.people`), the CRM (:mod:`~orchestration.demo.crm`), devices, orders, accounts and
returns (:mod:`~orchestration.demo.shop`), marketing sends (:mod:`~orchestration.demo.marketing`), web
sessions and events (:mod:`~orchestration.demo.web`), then support tickets and contacts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from orchestration.demo import config as C
from orchestration.demo.catalog import Catalog, Promotions
from orchestration.demo.crm import Contacts, CrmRecords, Tickets, contacts, crm_people, crm_records, tickets
from orchestration.demo.csvio import NA_TS
from orchestration.demo.marketing import Campaigns, Sends, simulate_sends
from orchestration.demo.people import Buyers, Persons, Season, make_persons, simulate_buyers
from orchestration.demo.shop import (
    Accounts,
    Devices,
    Orders,
    Purchases,
    Returns,
    Shoppers,
    make_accounts,
    make_devices,
    make_orders,
    make_returns,
)
from orchestration.demo.web import CampaignClicks, Events, Sessions, WebAudience, make_web


@dataclass(frozen=True)
class Scenario:
    """What every chunk of a run shares: drawn once per seed (catalogue, promotions, campaigns) or fixed
    (season, model parameters)."""

    cat: Catalog
    promos: Promotions
    camps: Campaigns
    season: Season
    params: C.ModelParams


@dataclass(frozen=True)
class Chunk:
    """Everything simulated for one chunk; local person ``i`` is person number ``first_person + i``, people
    ``0..n_buyers-1`` are the buyers."""

    n_buyers: int
    first_person: int
    persons: Persons
    buyers: Buyers
    recs: CrmRecords
    devices: Devices
    sends: Sends
    orders: Orders
    accounts: Accounts
    returns: Returns
    sessions: Sessions
    events: Events
    tickets: Tickets
    contacts: Contacts

    @property
    def n_people(self) -> int:
        """Buyers plus non-buying visitors."""
        return len(self.persons.number)


def visitors_for(n_buyers: int) -> int:
    """Number of non-buying visitors that come with ``n_buyers`` buyers."""
    return round(n_buyers * C.VISITORS_PER_BUYER)


def simulate_chunk(
    scenario: Scenario, streams: Callable[[int], np.random.Generator], n_buyers: int, first_person: int
) -> Chunk:
    """Simulate ``n_buyers`` buyers and their visitors (numbered from ``first_person``) in every source
    system; ``streams(k)`` is the chunk's k-th random stream."""
    n_p = n_buyers + visitors_for(n_buyers)
    persons = make_persons(streams(1), n_p, first_person)
    buyers = simulate_buyers(streams(2), n_buyers, scenario.params, scenario.season)
    r = streams(3)
    has_account = r.random(n_buyers) < C.ACCOUNT_SHARE
    recs = crm_records(r, persons, crm_people(r, persons, buyers, n_p - n_buyers))
    devices = make_devices(streams(4), n_buyers, n_p - n_buyers)
    sends = simulate_sends(streams(5), scenario.camps, recs, buyers, scenario.season)
    orders, accounts = _shop_orders_and_accounts(
        streams(6), scenario, Shoppers(persons, devices, has_account, buyers.nu), buyers, sends
    )
    returns = make_returns(streams(7), orders, scenario.cat)
    audience = _web_audience(n_buyers, n_p, devices, buyers, orders, accounts, recs)
    sessions, events = make_web(streams(8), audience, orders, _campaign_clicks(sends, recs), scenario.cat)
    return Chunk(
        n_buyers=n_buyers,
        first_person=first_person,
        persons=persons,
        buyers=buyers,
        recs=recs,
        devices=devices,
        sends=sends,
        orders=orders,
        accounts=accounts,
        returns=returns,
        sessions=sessions,
        events=events,
        tickets=tickets(streams(9), recs, NA_TS),
        contacts=contacts(streams(10), recs),
    )


def _shop_orders_and_accounts(
    rng: np.random.Generator, scenario: Scenario, shoppers: Shoppers, buyers: Buyers, sends: Sends
) -> tuple[Orders, Accounts]:
    """Orders for the buyers' own purchases and the campaign-induced ones, and the accounts they open."""
    purchases = Purchases(
        owner=np.concatenate([buyers.purchase_owner, sends.extra_person]),
        at=np.concatenate([buyers.purchase_at, sends.extra_at]),
        campaign=np.concatenate([np.full(len(buyers.purchase_at), -1), sends.extra_campaign]),
    )
    orders = make_orders(rng, shoppers, purchases, scenario.cat, scenario.promos, scenario.params)
    return orders, make_accounts(rng, orders, shoppers.has_account, NA_TS)


def _web_audience(
    n_buyers: int,
    n_people: int,
    devices: Devices,
    buyers: Buyers,
    orders: Orders,
    accounts: Accounts,
    recs: CrmRecords,
) -> WebAudience:
    """What the web simulation needs to know about the chunk's people: account creation, active period of
    buyers (first purchase to last order) and who has a CRM record."""
    account_created = np.full(n_people, NA_TS, dtype=np.int64)
    account_created[accounts.person] = accounts.created_at
    last_active = np.full(n_buyers, C.OBS_START, dtype=np.int64)
    np.maximum.at(last_active, orders.person, orders.at)
    return WebAudience(
        n_buyers=n_buyers,
        n_people=n_people,
        devices=devices,
        account_created=account_created,
        first_at=buyers.first_at,
        last_active=last_active,
        has_crm=np.isin(np.arange(n_people), recs.person),
    )


def _campaign_clicks(sends: Sends, recs: CrmRecords) -> CampaignClicks:
    """The sends that were clicked, as web visits of the record's person."""
    clicked = sends.clicked_at != NA_TS
    return CampaignClicks(
        person=recs.person[sends.record[clicked]],
        at=sends.clicked_at[clicked],
        campaign=sends.campaign[clicked],
    )
