"""Marketing consent per channel, exactly as DECISIONLOG.md ("Consent") documents it, through every export.

A hand-made landing folder holds one person per rule (CRM records, shop accounts, four campaigns, sends with
unsubscribes); the warehouse is built from it with the real loader and ``dbt build`` once per session, and
the audiences of ``build_audience`` and of ``ecrm audience`` are compared with sets worked out by hand from
the rules, never from the code:

* consent is per channel; the latest statement among the person's CRM records (``email_opt_in``,
  ``sms_opt_in``) and shop accounts (``accepts_marketing``, e-mail only) wins, whichever system made it;
* an unsubscribe after an e-mail, social or display send withdraws e-mail consent for good, not SMS; one
  after an SMS send withdraws SMS consent for good, not e-mail; a later "yes" does not bring it back;
* no statement at all is no consent, and nobody without a (real) contact address is in an audience.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pipeline_fixtures import Pipeline, run_dbt

from orchestration.warehouse import ensure_ml_tables, publish

CRM_COLUMNS = [
    "crm_customer_id", "first_name", "last_name", "email", "phone", "country", "region", "city",
    "created_at", "updated_at", "email_opt_in", "sms_opt_in",
]  # fmt: skip
SHOP_COLUMNS = [
    "shop_customer_id", "email", "phone", "first_name", "last_name", "country", "region", "city",
    "acquisition_channel", "accepts_marketing", "created_at", "updated_at",
]  # fmt: skip
CAMPAIGN_COLUMNS = ["campaign_id", "campaign_name", "channel", "started_at", "ended_at", "cost", "currency"]
SEND_COLUMNS = [
    "send_id", "campaign_id", "crm_customer_id", "is_control", "sent_at", "opened_at", "clicked_at",
    "unsubscribed_at",
]  # fmt: skip

JAN, FEB, MAY, JUN = (
    "2024-01-05T09:00:00Z",
    "2024-02-03T12:00:00Z",
    "2024-05-01T09:00:00Z",
    "2024-06-01T09:00:00Z",
)
CAMPAIGNS = {"K_EMAIL": "email", "K_SMS": "sms", "K_SOCIAL": "social", "K_DISPLAY": "display"}

# One person per rule: label -> first name (last name "Consent" for all, e-mail <first>.consent@kunden.de,
# phone 0151 2200 01NN, all German). Each person's records, sends and expected consent follow.
PEOPLE = {
    "both_yes": "Anna",
    "email_unsubscribed": "Bernd",
    "sms_unsubscribed": "Carla",
    "social_unsubscribed": "Dirk",
    "display_unsubscribed": "Erika",
    "shop_yes_after_crm_no": "Frank",
    "crm_no_after_shop_yes": "Gabi",
    "shop_no_after_crm_yes": "Heinz",
    "crm_yes_after_shop_no": "Ines",
    "no_statement": "Jan",
    "silent_account_after_crm_yes": "Jana",
    "email_unsubscribed_then_yes": "Klaus",
    "sms_unsubscribed_then_yes": "Lena",
    "no_contact": "Marta",
    "placeholder_contact": "Nico",
    "email_only": "Olga",
    "two_crm_records": "Paul",
    "unsubscribed_on_duplicate_record": "Quirin",
}

# Worked out by hand from the rules (see each person's records in write_consent_landing).
EMAIL_AUDIENCE = {
    "both_yes",
    "sms_unsubscribed",  # an SMS unsubscribe leaves e-mail consent alone
    "shop_yes_after_crm_no",  # the newer account's yes overrides the CRM's older no
    "crm_yes_after_shop_no",
    "silent_account_after_crm_yes",  # an empty accepts_marketing states nothing: the CRM's yes stands
    "sms_unsubscribed_then_yes",
    "email_only",
}
SMS_AUDIENCE = {
    "both_yes",
    "email_unsubscribed",  # an e-mail unsubscribe leaves SMS consent alone
    "social_unsubscribed",
    "display_unsubscribed",
    "crm_no_after_shop_yes",  # CRM said no to e-mail but yes to SMS
    "email_unsubscribed_then_yes",
    "two_crm_records",  # the newer duplicate says yes to SMS
    "unsubscribed_on_duplicate_record",
}


def _email(first: str) -> str:
    return f"{first.lower()}.consent@kunden.de"


def _phone(label: str) -> tuple[str, str]:
    """(as typed in the landing file, E.164 as the warehouse must carry it)."""
    n = list(PEOPLE).index(label) + 1
    return f"0151 2200 01{n:02d}", f"+49151220001{n:02d}"


def _crm(label: str, crm_id: str, updated_at: str, email_opt_in: bool, sms_opt_in: bool, **kw) -> dict:
    first = PEOPLE[label]
    row = {
        "crm_customer_id": crm_id, "first_name": first, "last_name": "Consent", "email": _email(first),
        "phone": _phone(label)[0], "country": "DE", "region": "Berlin", "city": "Berlin",
        "created_at": "2023-11-01T09:00:00Z", "updated_at": updated_at,
        "email_opt_in": str(email_opt_in).lower(), "sms_opt_in": str(sms_opt_in).lower(),
    }  # fmt: skip
    row.update(kw)
    return row


def _shop(label: str, shop_id: str, updated_at: str, accepts_marketing: bool | None) -> dict:
    first = PEOPLE[label]
    return {
        "shop_customer_id": shop_id, "email": _email(first), "phone": _phone(label)[0], "first_name": first,
        "last_name": "Consent", "country": "DE", "region": "Berlin", "city": "Berlin",
        "acquisition_channel": "organic_search",
        "accepts_marketing": "" if accepts_marketing is None else str(accepts_marketing).lower(),
        "created_at": "2023-12-01T09:00:00Z", "updated_at": updated_at,
    }  # fmt: skip


def _send(
    send_id: str, campaign_id: str, crm_id: str, unsubscribed_at: str = "", opened_at: str = ""
) -> dict:
    return {
        "send_id": send_id, "campaign_id": campaign_id, "crm_customer_id": crm_id, "is_control": "false",
        "sent_at": "2024-02-02T10:00:00Z", "opened_at": opened_at, "clicked_at": "",
        "unsubscribed_at": unsubscribed_at,
    }  # fmt: skip


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_consent_landing(landing: Path) -> dict[str, set[tuple[str, str]]]:
    """Write the landing folder of the consent rules (one person per rule, in the layout of the contracts);
    returns each person's records as (source, id) pairs."""
    crm_first_export = [
        _crm("both_yes", "C01", JAN, True, True),
        _crm("email_unsubscribed", "C02", JAN, True, True),
        _crm("sms_unsubscribed", "C03", JAN, True, True),
        _crm("social_unsubscribed", "C04", JAN, True, True),
        _crm("display_unsubscribed", "C05", JAN, True, True),
        _crm("shop_yes_after_crm_no", "C06", JAN, False, False),
        _crm("crm_no_after_shop_yes", "C07", JUN, False, True),
        _crm("shop_no_after_crm_yes", "C08", JAN, True, False),
        _crm("crm_yes_after_shop_no", "C09", JUN, True, False),
        _crm("silent_account_after_crm_yes", "C11", JAN, True, False),
        _crm("email_unsubscribed_then_yes", "C12", JAN, True, True),
        _crm("sms_unsubscribed_then_yes", "C13", JAN, True, True),
        _crm("no_contact", "C14", JAN, True, True, email="", phone=""),
        _crm("placeholder_contact", "C15", JAN, True, True, email="test@test.com", phone="0000000000"),
        _crm("email_only", "C16", JAN, True, True, phone=""),
        # One person entered twice: the newer record withdraws e-mail and grants SMS.
        _crm("two_crm_records", "C17", JAN, True, False),
        _crm("two_crm_records", "C18", JUN, False, True),
        # One person entered twice, unsubscribed through the older record, opted in again on the newer one.
        _crm("unsubscribed_on_duplicate_record", "C19", JAN, True, True),
        _crm("unsubscribed_on_duplicate_record", "C20", MAY, True, True),
    ]
    # A later CRM export: both people opt in again (a record edited after the unsubscribe, flags "yes").
    crm_second_export = [
        _crm("email_unsubscribed_then_yes", "C12", MAY, True, True),
        _crm("sms_unsubscribed_then_yes", "C13", MAY, True, True),
    ]
    shop = [
        _shop("shop_yes_after_crm_no", "S06", JUN, True),
        _shop("crm_no_after_shop_yes", "S07", JAN, True),
        _shop("shop_no_after_crm_yes", "S08", JUN, False),
        _shop("crm_yes_after_shop_no", "S09", JAN, False),
        _shop("no_statement", "S10", JAN, None),
        _shop("silent_account_after_crm_yes", "S11", JUN, None),
        _shop("email_unsubscribed_then_yes", "S12", JUN, True),
    ]
    campaigns = [
        {"campaign_id": cid, "campaign_name": f"Spring {channel}", "channel": channel,
         "started_at": "2024-02-01T00:00:00Z", "ended_at": "2024-02-28T00:00:00Z", "cost": "100.0",
         "currency": "EUR"}
        for cid, channel in CAMPAIGNS.items()
    ]  # fmt: skip
    sends = [
        _send("X01", "K_EMAIL", "C01", opened_at=FEB),
        _send("X02", "K_SMS", "C01"),
        _send("X03", "K_EMAIL", "C02", unsubscribed_at=FEB),
        _send("X04", "K_SMS", "C03", unsubscribed_at=FEB),
        _send("X05", "K_SOCIAL", "C04", unsubscribed_at=FEB),
        _send("X06", "K_DISPLAY", "C05", unsubscribed_at=FEB),
        _send("X07", "K_EMAIL", "C12", unsubscribed_at=FEB),
        _send("X08", "K_SMS", "C13", unsubscribed_at=FEB),
        _send("X09", "K_EMAIL", "C19", unsubscribed_at=FEB),
        _send("X10", "K_SMS", "C20"),
    ]
    _write(landing / "crm" / "customers" / "crm_customers_2024-01-31.csv", CRM_COLUMNS, crm_first_export)
    _write(landing / "crm" / "customers" / "crm_customers_2024-05-31.csv", CRM_COLUMNS, crm_second_export)
    _write(landing / "shop" / "customers" / "shop_customers.csv", SHOP_COLUMNS, shop)
    _write(landing / "marketing" / "campaigns" / "campaigns.csv", CAMPAIGN_COLUMNS, campaigns)
    _write(landing / "marketing" / "sends" / "sends.csv", SEND_COLUMNS, sends)
    label_of = {first: label for label, first in PEOPLE.items()}
    records: dict[str, set[tuple[str, str]]] = {label: set() for label in PEOPLE}
    for row in crm_first_export:
        records[label_of[row["first_name"]]].add(("crm", row["crm_customer_id"]))
    for row in shop:
        records[label_of[row["first_name"]]].add(("shop", row["shop_customer_id"]))
    return records


@dataclass(frozen=True)
class ConsentWarehouse:
    """The consent warehouse, built, and which records each person of the fixture has."""

    pipeline: Pipeline
    records: dict[str, set[tuple[str, str]]]

    @property
    def path(self) -> Path:
        return self.pipeline.warehouse


_BUILT: dict[str, ConsentWarehouse] = {}


def consent_warehouse(tmp_path_factory: pytest.TempPathFactory) -> ConsentWarehouse:
    """The consent landing folder loaded through the contracts and ``dbt build``-ed, once per session.

    The ``ml`` tables stay empty (no model runs): audiences then carry no predictions or recommendations,
    which the consent rules do not need.
    """
    if "consent" in _BUILT:
        return _BUILT["consent"]
    from orchestration.loading.loader import load_landing

    root = tmp_path_factory.mktemp("consent")
    pipeline = Pipeline(
        root=root, landing=root / "landing", truth=root / "truth", warehouse=root / "ecrm.duckdb",
        target=root / "dbt_target",
    )  # fmt: skip
    records = write_consent_landing(pipeline.landing)
    con = duckdb.connect(str(pipeline.warehouse))
    try:
        con.execute("set TimeZone = 'UTC'")
        results = load_landing(con, pipeline.landing)
        ensure_ml_tables(con)
    finally:
        con.close()
    assert all(r.rows_quarantined == 0 and r.status == "loaded" for r in results if r.rows_read), [
        (r.path, r.status, r.error, r.rows_quarantined) for r in results if r.rows_read
    ]
    # Only what audiences read (customer_360 and its parents, the identity map), with their tests.
    run_dbt(
        pipeline,
        "build",
        "--select",
        "+customer_360",
        "+customer_identity_map",
        "--indirect-selection",
        "cautious",
    )
    _BUILT["consent"] = ConsentWarehouse(pipeline, records)
    return _BUILT["consent"]


def customer_ids(warehouse: ConsentWarehouse) -> dict[str, str]:
    """label -> unified customer_id of each person, through the person's CRM records and shop accounts."""
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        rows = con.execute(
            "select source, source_id, customer_id from marts.customer_identity_map "
            "where source in ('crm', 'shop')"
        ).fetchall()
    by_record = {(source, source_id): customer_id for source, source_id, customer_id in rows}
    ids = {}
    for label, records in warehouse.records.items():
        found = {by_record[record] for record in records}
        assert len(found) == 1, f"{label}: its records must resolve to one customer, got {found}"
        ids[label] = found.pop()
    assert len(set(ids.values())) == len(PEOPLE), "two people of the fixture were merged into one customer"
    return ids


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> ConsentWarehouse:
    return consent_warehouse(tmp_path_factory)


@pytest.fixture(scope="module")
def customer_of(warehouse) -> dict[str, str]:
    return customer_ids(warehouse)


def _audience(warehouse: ConsentWarehouse, channel: str) -> pd.DataFrame:
    from orchestration.analytics.audiences import build_audience

    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        return build_audience(con, channel=channel)


class Audiences:
    """channel -> the labels of the people ``build_audience`` returns, built on first use per channel (so
    that an error in one channel fails only that channel's assertions)."""

    def __init__(self, warehouse: ConsentWarehouse, customer_of: dict[str, str]) -> None:
        self.warehouse = warehouse
        self.label_of = {customer_id: label for label, customer_id in customer_of.items()}
        self.built: dict[str, set[str]] = {}

    def __getitem__(self, channel: str) -> set[str]:
        if channel not in self.built:
            frame = _audience(self.warehouse, channel)
            assert frame["customer_id"].is_unique
            assert set(frame["customer_id"]) <= set(self.label_of), "someone from outside the fixture"
            self.built[channel] = {self.label_of[c] for c in frame["customer_id"]}
        return self.built[channel]


@pytest.fixture(scope="module")
def audiences(warehouse, customer_of) -> Audiences:
    return Audiences(warehouse, customer_of)


def test_email_unsubscribe_withdraws_email_consent_only(audiences):
    assert "email_unsubscribed" not in audiences["email"]
    assert "email_unsubscribed" in audiences["sms"]


def test_sms_unsubscribe_withdraws_sms_consent_only(audiences):
    assert "sms_unsubscribed" not in audiences["sms"]
    assert "sms_unsubscribed" in audiences["email"]


@pytest.mark.parametrize("label", ["social_unsubscribed", "display_unsubscribed"])
def test_social_and_display_unsubscribes_withdraw_email_consent_only(audiences, label):
    assert label not in audiences["email"]
    assert label in audiences["sms"]


@pytest.mark.parametrize(
    ("label", "in_email"),
    [
        ("shop_yes_after_crm_no", True),
        ("crm_yes_after_shop_no", True),
        ("crm_no_after_shop_yes", False),
        ("shop_no_after_crm_yes", False),
        ("two_crm_records", False),  # the newer of one person's two CRM records says no
    ],
)
def test_latest_email_statement_wins_whichever_system_made_it(audiences, label, in_email):
    assert (label in audiences["email"]) is in_email


def test_latest_sms_statement_of_the_crm_records_wins(audiences):
    # Older record: SMS no; newer record of the same person: SMS yes.
    assert "two_crm_records" in audiences["sms"]


def test_no_statement_means_no_consent(audiences):
    # A shop account whose accepts_marketing is empty, and no CRM record: nobody ever said yes.
    assert "no_statement" not in audiences["email"] | audiences["sms"]
    # An empty accepts_marketing states nothing, so it does not withdraw the CRM's older yes either.
    assert "silent_account_after_crm_yes" in audiences["email"]


@pytest.mark.parametrize(
    ("label", "channel", "other"),
    [
        ("email_unsubscribed_then_yes", "email", "sms"),  # later CRM export and newer account say yes
        ("sms_unsubscribed_then_yes", "sms", "email"),  # later CRM export says yes
        ("unsubscribed_on_duplicate_record", "email", "sms"),  # the newer duplicate record says yes
    ],
)
def test_an_unsubscribe_holds_against_a_later_opt_in(audiences, label, channel, other):
    assert label not in audiences[channel]
    assert label in audiences[other]


def test_nobody_without_a_real_contact_address(audiences):
    for label in ("no_contact", "placeholder_contact"):  # consented to both, but no (real) e-mail or phone
        assert label not in audiences["email"] | audiences["sms"]
    assert "email_only" in audiences["email"]
    assert "email_only" not in audiences["sms"]


def test_audiences_are_exactly_the_hand_worked_sets(audiences):
    assert audiences["email"] == EMAIL_AUDIENCE
    assert audiences["sms"] == SMS_AUDIENCE


def test_contacts_are_the_channels_addresses(warehouse):
    email = _audience(warehouse, "email")
    assert set(email["contact"]) == {_email(PEOPLE[label]) for label in EMAIL_AUDIENCE}
    sms = _audience(warehouse, "sms")
    assert set(sms["contact"]) == {_phone(label)[1] for label in SMS_AUDIENCE}


def test_customer_360_carries_the_decision_per_channel(warehouse, customer_of):
    # The decision is made once, in dbt: the mart's flags are the audiences before the contact filter.
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        flags = con.execute("select customer_id, email_opt_in, sms_opt_in from marts.customer_360").fetchall()
    label_of = {customer_id: label for label, customer_id in customer_of.items()}
    email = {label_of[c] for c, e, _ in flags if e and c in label_of}
    sms = {label_of[c] for c, _, s in flags if s and c in label_of}
    # Consented, but left out of audiences for want of a (real) address of the channel.
    no_address = {"no_contact", "placeholder_contact"}
    assert email == EMAIL_AUDIENCE | no_address
    assert sms == SMS_AUDIENCE | no_address | {"email_only"}


@pytest.fixture
def published(warehouse, monkeypatch) -> Path:
    """The consent warehouse published beside itself, with the environment pointing nowhere else."""
    from orchestration import settings

    for key in ("ECRM_WAREHOUSE", "ECRM_LANDING", "ECRM_EXPORTS"):
        monkeypatch.setenv(key, str(warehouse.pipeline.root / key.lower()))  # restored after the test
    monkeypatch.delenv("ECRM_PUBLISHED", raising=False)
    return publish(warehouse.path, settings.published_path(warehouse.path))


@pytest.mark.parametrize(("channel", "expected"), [("sms", SMS_AUDIENCE), ("email", EMAIL_AUDIENCE)])
def test_cli_export_holds_exactly_the_consenting_customers(
    published, warehouse, customer_of, tmp_path, capsys, channel, expected
):
    from orchestration.cli import main

    out = tmp_path / f"audience_{channel}.csv"
    argv = ["audience", "--channel", channel, "--warehouse", str(warehouse.path), "--out", str(out)]
    assert main(argv) == 0
    exported = pd.read_csv(out, dtype=str)
    assert set(exported["customer_id"]) == {customer_of[label] for label in expected}
    if channel == "sms":
        assert set(exported["contact"]) == {_phone(label)[1] for label in expected}
    else:
        assert set(exported["contact"]) == {_email(PEOPLE[label]) for label in expected}
    assert f"{len(expected):,} customers with {channel} consent" in capsys.readouterr().out
