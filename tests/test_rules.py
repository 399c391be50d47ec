"""Contract rules backed by maintained code lists and validators: ISO 3166 and ISO 4217 (pycountry), e-mail
syntax (email-validator), phone numbers (phonenumbers), timestamp forms and dates in the future.

Expected values are published facts or worked by hand from numbering plans, not outputs of the code.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.loading.codes import (
    EMAIL_FAST_PATH,
    EMAIL_FAST_PATH_MAX_LENGTH,
    EMAIL_PATTERN,
    SPECIAL_USE_DOMAINS,
    is_valid_email,
)
from orchestration.loading.loader import load_landing
from orchestration.loading.phones import refresh_phone_lookup, to_e164
from tests.pipeline_fixtures import Pipeline, run_dbt

ORDER_COLUMNS = (
    "order_id,shop_customer_id,email,ordered_at,currency,sales_channel,device,country,region,city,"
    "promotion_code,discount_amount,shipping_amount"
).split(",")
CUSTOMER_COLUMNS = (
    "shop_customer_id,email,phone,first_name,last_name,country,region,city,acquisition_channel,"
    "accepts_marketing,created_at,updated_at"
).split(",")
CRM_COLUMNS = (
    "crm_customer_id,first_name,last_name,email,phone,country,region,city,created_at,updated_at,"
    "email_opt_in,sms_opt_in"
).split(",")


def write_csv(landing: Path, rel: str, columns: list[str], rows: list[dict[str, str]]) -> None:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: row.get(c, "") for c in columns} for row in rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def order(order_id: str, **values: str) -> dict[str, str]:
    row = {
        "order_id": order_id, "email": "anna@example.de", "ordered_at": "2024-01-01T10:00:00Z",
        "currency": "EUR", "sales_channel": "web", "discount_amount": "0", "shipping_amount": "0",
    }  # fmt: skip
    return row | values


def customer(shop_customer_id: str, phone: str, country: str = "") -> dict[str, str]:
    return {
        "shop_customer_id": shop_customer_id, "phone": phone, "country": country,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
    }  # fmt: skip


def load_orders(con, tmp_path: Path, rows: list[dict[str, str]]) -> tuple[dict[str, tuple], dict[str, str]]:
    """Load one orders file; (loaded order id -> (email, ordered_at, currency), quarantined id -> rules)."""
    landing = tmp_path / "landing"
    write_csv(landing, "shop/orders/orders.csv", ORDER_COLUMNS, rows)
    load_landing(con, landing)
    loaded = {
        r[0]: r[1:]
        for r in con.execute("select order_id, email, ordered_at, currency from raw.shop__orders").fetchall()
    }
    bad = dict(con.execute("select order_id, _rules from quarantine.shop__orders").fetchall())
    return loaded, bad


# --- ISO 3166 and ISO 4217 ---------------------------------------------------------------------------------


def test_new_currencies_load_and_bogus_or_long_withdrawn_ones_are_quarantined(con, tmp_path):
    loaded, bad = load_orders(
        con,
        tmp_path,
        [
            order("O1", currency="ZWG"),  # Zimbabwe Gold, ISO 4217 since June 2024
            order("O2", currency="XCG"),  # Caribbean guilder (Curaçao, Sint Maarten), since March 2025
            order("O3", currency="hrk"),  # Croatian kuna, withdrawn 2023: history still carries it
            order("O4", currency="DEM"),  # Deutsche Mark, withdrawn 2002
            order("O5", currency="EUO"),  # a typo, no currency at all
            order("O6", currency="XTS"),  # ISO's code reserved for testing
        ],
    )
    assert {k: v[2] for k, v in loaded.items()} == {"O1": "ZWG", "O2": "XCG", "O3": "HRK"}
    assert bad == {"O4": "format:currency", "O5": "format:currency", "O6": "format:currency"}


def test_countries_are_iso_3166_today(con, tmp_path):
    loaded, bad = load_orders(
        con,
        tmp_path,
        [
            order("O1", country="NA"),  # Namibia (not "not available": the contract reads text)
            order("O2", country="ss"),  # South Sudan, since 2011
            order("O3", country="XK"),  # Kosovo, user-assigned code used by shop platforms
            order("O4", country="AN"),  # Netherlands Antilles, dissolved 2010
            order("O5", country="UK"),  # reserved by ISO, not a country code (GB is)
        ],
    )
    assert set(loaded) == {"O1", "O2", "O3"}
    assert bad == {"O4": "format:country", "O5": "format:country"}


# --- E-mail syntax -------------------------------------------------------------------------------------------

GOOD_EMAILS = [
    "first.last+tag@sub.example.co.uk",
    "Anna.Muller@Example.COM",
    "o'brien@example.ie",
    "jörg@bücher.de",  # internationalised local part and domain (RFC 6531, IDNA 2008)
    "anna@xn--mller-kva.de",  # the Punycode form of müller.de
    "x_y-z@a-b.c.museum",
]
BAD_EMAILS = [
    "a@b..com",
    "anna@gmail..com",
    ".a@b.com",
    "a.@b.com",
    "a@b",
    "a@@b.com",
    "a@b.com.",
    "a@-b.com",
    "anna@mail.test",  # special-use domain (RFC 6761)
    '"anna maria"@example.de',  # quoted local part: legal, but no shop customer has one
    "Anna <anna@example.de>",
    "anna@[192.0.2.1]",
]


def test_email_rule_gives_email_validators_verdict(con, tmp_path):
    rows = [order(f"G{i}", email=e) for i, e in enumerate(GOOD_EMAILS)]
    rows += [order(f"B{i}", email=e) for i, e in enumerate(BAD_EMAILS)]
    # Repeated values are judged once and quarantined every time.
    rows += [order("B99", email="anna@gmail..com"), order("G99", email=" first.last+tag@sub.example.co.uk ")]
    loaded, bad = load_orders(con, tmp_path, rows)
    assert sorted(loaded) == sorted([f"G{i}" for i in range(len(GOOD_EMAILS))] + ["G99"])
    assert bad == {f"B{i}": "format:email" for i in range(len(BAD_EMAILS))} | {"B99": "format:email"}
    # Temp tables of the check do not outlive the load.
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone()[0] == 0


_LETTERS = "abcXYZ"
_LOCAL_ATOM = st.text(alphabet=_LETTERS + "09_+-", min_size=1, max_size=8)
_RUN = st.text(alphabet=_LETTERS + "09", min_size=1, max_size=6)
_LABEL = st.lists(_RUN, min_size=1, max_size=3).map("-".join)
_TLD = st.one_of(st.text(alphabet=_LETTERS, min_size=2, max_size=6), st.sampled_from(SPECIAL_USE_DOMAINS))


@settings(max_examples=300, deadline=None)
@given(st.lists(_LOCAL_ATOM, min_size=1, max_size=3), st.lists(_LABEL, min_size=1, max_size=3), _TLD)
def test_addresses_the_sql_fast_path_accepts_are_accepted_by_the_library(local, labels, tld):
    address = ".".join(local) + "@" + ".".join([*labels, tld])
    assert re.fullmatch(EMAIL_FAST_PATH, address)  # a sample of the fast path's language
    special = re.search(rf"[.@]({'|'.join(SPECIAL_USE_DOMAINS)})$", address.lower())
    if len(address) <= EMAIL_FAST_PATH_MAX_LENGTH and not special:
        assert is_valid_email(address), address


_ATOM = st.text(alphabet="aZ9_+-'ü. @\"", min_size=0, max_size=4)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_ATOM, min_size=1, max_size=3),
    st.lists(_ATOM, min_size=1, max_size=3),
    st.sampled_from(["de", "com", "ü"]),
)
def test_every_address_the_library_accepts_passes_the_gx_pattern(local, domain, tld):
    address = ".".join(local) + "@" + ".".join([*domain, tld])
    if is_valid_email(address):
        assert re.fullmatch(EMAIL_PATTERN, address), address


def test_gx_pattern_rejects_what_the_loader_quarantines_for_dots_and_domains():
    for address in ["a@b..com", "anna@gmail..com", ".a@b.com", "a.@b.com", "a@b", "a@@b.com", "a b@c.de"]:
        assert not re.fullmatch(EMAIL_PATTERN, address), address
    for address in GOOD_EMAILS:
        assert re.fullmatch(EMAIL_PATTERN, address), address


# --- Timestamps ----------------------------------------------------------------------------------------------


def test_timestamp_forms_load_as_utc(con, tmp_path):
    loaded, bad = load_orders(
        con,
        tmp_path,
        [
            order("O1", ordered_at="2022-04-06 21:52:39 -0400"),  # Shopify's export form
            order("O2", ordered_at="2022-04-06T21:52:39-04:00"),
            order("O3", ordered_at="2022-04-07T01:52:39Z"),
            order("O4", ordered_at="2022-04-07 01:52:39"),  # no offset: UTC by contract
            order("O5", ordered_at="2022-04-07 07:22:39 +0530"),
            order("O6", ordered_at="2022-04-06 21:52:39.250 -04:00"),
        ],
    )
    assert bad == {}
    expected = datetime(2022, 4, 7, 1, 52, 39, tzinfo=UTC)
    assert {k: v[1] for k, v in loaded.items()} == {
        "O1": expected, "O2": expected, "O3": expected, "O4": expected, "O5": expected,
        "O6": expected + timedelta(milliseconds=250),
    }  # fmt: skip


def test_orders_dated_after_the_load_are_quarantined(con, tmp_path):
    now = datetime.now(UTC)
    loaded, bad = load_orders(
        con,
        tmp_path,
        [
            order("TODAY", ordered_at=now.strftime("%Y-%m-%d %H:%M:%S %z")),
            order("SKEW", ordered_at=(now + timedelta(hours=2)).isoformat()),  # a clock a little ahead
            order("NEXT_WEEK", ordered_at=(now + timedelta(days=7)).isoformat()),
            order("TYPO", ordered_at="2062-01-15T10:00:00Z"),
            order("NOT_A_DATE", ordered_at="2024-13-45"),
        ],
    )
    assert set(loaded) == {"TODAY", "SKEW"}
    assert bad == {
        "NEXT_WEEK": "not_future:ordered_at", "TYPO": "not_future:ordered_at", "NOT_A_DATE": "type:ordered_at",
    }  # fmt: skip


def test_great_expectations_agree_with_the_loader(con, tmp_path):
    from orchestration.contracts import load_contracts
    from orchestration.loading.gx_contracts import validate_frame

    rows = [order(f"G{i}", email=e) for i, e in enumerate(GOOD_EMAILS)]
    rows += [order("B1", email="a@b..com"), order("F1", ordered_at="2062-01-15T10:00:00Z")]
    load_orders(con, tmp_path, rows)
    contract = load_contracts()["shop__orders"]
    frame = con.execute("select * from raw.shop__orders").fetch_df()
    assert validate_frame(contract, frame)["success"]
    # The rows the loader quarantined fail the suite too.
    broken = frame.copy()
    broken.loc[0, "email"] = "a@b..com"
    broken.loc[1, "ordered_at"] = datetime(2062, 1, 15, tzinfo=UTC)
    failed = validate_frame(contract, broken)["failed"]
    assert sorted(failed) == [
        "expect_column_values_to_be_between(ordered_at)", "expect_column_values_to_match_regex(email)",
    ]  # fmt: skip


# --- Phones -------------------------------------------------------------------------------------------------

# (as typed, record country, E.164 worked out from the country's numbering plan)
PHONES = [
    ("081 234 5678", "NA", "+264812345678"),  # Namibia: trunk 0 dropped, MTC mobile 81
    ("(11) 91234-5678", "BR", "+5511912345678"),  # São Paulo mobile, no trunk digit typed
    ("0151 2345678", "DE", "+491512345678"),  # German mobile, trunk 0 dropped
    ("212-555-0100", "US", "+12125550100"),  # NANP, no trunk digit
    ("00 44 20 7946 0018", "DE", "+442079460018"),  # "00" exit code: London, whatever the country
    ("+44 20 7946 0018", "US", "+442079460018"),
    ("+49 (0)30 1234567", "DE", "+49301234567"),  # "(0)" trunk digit after the country code
    ("06 1234 5678", "IT", "+390612345678"),  # Italy keeps its leading 0
    ("0151 2345678", "", "+491512345678"),  # no country: the default (DE)
    ("12", "DE", None),  # a local number without area code has no E.164 form
    ("212-555", "US", None),  # too short: North American numbers have ten digits
    ("not a number", "DE", None),
]


def test_to_e164_reads_the_common_styles_of_every_country():
    for raw, country, expected in PHONES:
        assert to_e164(raw, country or "DE") == expected, (raw, country)
    assert to_e164(None, "DE") is None
    assert to_e164("   ", "DE") is None
    assert to_e164("+44 20 7946 0018", None) == "+442079460018"
    assert to_e164("0151 2345678", None) is None  # national, and no country to read it with


def test_phone_lookup_is_filled_by_the_load_and_read_again_when_missing(con, tmp_path):
    landing = tmp_path / "landing"
    rows = [customer(f"S{i}", raw, country) for i, (raw, country, _) in enumerate(PHONES)]
    rows.append(customer("S_DUP", "0151 2345678", "DE"))  # the same pair is converted once
    write_csv(landing, "shop/customers/customers.csv", CUSTOMER_COLUMNS, rows)
    load_landing(con, landing)
    lookup = "select phone, coalesce(country, ''), phone_e164 from ops.phone_numbers"
    assert sorted(con.execute(lookup).fetchall(), key=str) == sorted(PHONES, key=str)

    # A warehouse built before the lookup existed gets it on its next load, with no file changed.
    con.execute("drop table ops.phone_numbers")
    load_landing(con, landing)
    assert sorted(con.execute(lookup).fetchall(), key=str) == sorted(PHONES, key=str)

    # A pair no raw table holds any more (the file replaced, a person erased) leaves the lookup.
    write_csv(landing, "shop/customers/customers.csv", CUSTOMER_COLUMNS, rows[1:])
    load_landing(con, landing)
    assert ("081 234 5678", "NA", "+264812345678") not in con.execute(lookup).fetchall()
    assert len(con.execute(lookup).fetchall()) == len(PHONES) - 1

    # Another default country reads the numbers of records without a country again.
    from orchestration.contracts import load_contracts

    refresh_phone_lookup(con, load_contracts()["shop__customers"], default_country="AT")
    assert con.execute(
        "select region, phone_e164 from ops.phone_numbers where phone = '0151 2345678' and country is null"
    ).fetchall() == [("AT", "+431512345678")]


def test_staging_takes_phones_from_the_lookup(tmp_path):
    """A dbt build of the two customer staging models (and their tests) on a warehouse loaded here."""
    root = tmp_path / "pipeline"
    landing = root / "landing"
    shop = [customer(f"S{i}", raw, country) for i, (raw, country, _) in enumerate(PHONES)]
    write_csv(landing, "shop/customers/customers.csv", CUSTOMER_COLUMNS, shop)
    crm = [
        {"crm_customer_id": "C1", "phone": "081 234 5678", "country": "NA", "created_at": "2024-01-01",
         "updated_at": "2024-01-01", "email_opt_in": "false", "sms_opt_in": "true"},
        {"crm_customer_id": "C2", "phone": " 0151 2345678 ", "created_at": "2024-01-01",
         "updated_at": "2024-01-01", "email_opt_in": "false", "sms_opt_in": "false"},
    ]  # fmt: skip
    write_csv(landing, "crm/customers/customers.csv", CRM_COLUMNS, crm)
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        load_landing(con, landing)
    pipeline = Pipeline(root, landing, root / "truth", warehouse, root / "target")
    run_dbt(
        pipeline,
        "build",
        "--select",
        "stg_shop__customers",
        "stg_crm__customers",
        "--indirect-selection",
        "cautious",
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        shop_phones = con.execute(
            "select phone_as_entered, coalesce(country, ''), phone_e164 from staging.stg_shop__customers"
        ).fetchall()
        crm_phones = dict(
            con.execute("select crm_customer_id, phone_e164 from staging.stg_crm__customers").fetchall()
        )
    assert sorted(shop_phones, key=str) == sorted(PHONES, key=str)
    assert crm_phones == {"C1": "+264812345678", "C2": "+491512345678"}
