"""Tests that kill surviving mutants of orchestration/loading/phones.py (mutation check, issue 17).

Each test asserts a hand-worked truth the code does not produce itself.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from orchestration.contracts import load_contracts
from orchestration.loading import phones
from orchestration.loading.phones import (
    ensure_phone_lookup,
    forget_unused_phones,
    phone_columns,
    refresh_phone_lookup,
    to_e164,
)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        # North America dials 011 abroad, yet "00 44 ..." in a US record is the UK number (E.164 +44 ...).
        ("00 44 20 7946 0018", "US", "+442079460018"),
        ("0049 151 2345 6789", "CA", "+4915123456789"),
        # Germany's exit code is 00 itself: read directly.
        ("0044 20 7946 0018", "DE", "+442079460018"),
    ],
)
def test_a_number_written_with_the_common_exit_code_is_international_in_any_country(raw, region, e164):
    """A number typed with the exit code 00 (ITU-T E.164's recommended prefix) is read as international even
    in a record of a country whose own exit code differs: the E.164 forms are written out by hand."""
    assert to_e164(raw, region) == e164


def _raw_customers(con, rows: list[tuple[str | None, str | None]]) -> None:
    """``raw.shop__customers`` holding only (phone, country) rows (the lookup reads no other column)."""
    con.execute("create schema if not exists raw")
    con.execute("create or replace table raw.shop__customers (phone varchar, country varchar)")
    con.executemany("insert into raw.shop__customers values (?, ?)", rows)


def _lookup(con) -> list[tuple]:
    return sorted(con.execute("select * from ops.phone_numbers").fetchall(), key=str)


def test_refresh_counts_only_the_pairs_it_adds():
    """Two distinct pairs (a third row repeats one) are added once: 2, then 0 on a second refresh, and 0
    for a contract without phone columns, which creates the empty lookup and adds nothing."""
    contracts = load_contracts()
    con = duckdb.connect()
    assert refresh_phone_lookup(con, contracts["shop__products"], default_country="DE") == 0
    assert _lookup(con) == []
    _raw_customers(con, [("0151 2345678", "DE"), ("0151 2345678", "DE"), ("020 7946 0018", "GB")])
    assert refresh_phone_lookup(con, contracts["shop__customers"], default_country="DE") == 2
    assert refresh_phone_lookup(con, contracts["shop__customers"], default_country="DE") == 0
    assert _lookup(con) == [
        ("0151 2345678", "DE", "DE", "+491512345678"),
        ("020 7946 0018", "GB", "GB", "+442079460018"),
    ]


def test_forget_unused_phones_without_raw_tables_removes_nothing():
    """No raw table holds a phone column yet: nothing is compared, the lookup stays as it is and 0 went."""
    con = duckdb.connect()
    ensure_phone_lookup(con)
    con.execute("insert into ops.phone_numbers values ('0151 2345678', 'DE', 'DE', '+491512345678')")
    assert forget_unused_phones(con) == 0
    assert _lookup(con) == [("0151 2345678", "DE", "DE", "+491512345678")]


def test_a_contract_without_a_country_column_reads_every_number_with_the_default(monkeypatch):
    """A phone column with no ``iso_country`` column beside it (a shop's own contract may have none): every
    pair has no country and the default as region. ``0151 2345678`` in Austria is +43 151 2345678, and
    ``+49 ...`` needs no region."""
    shop = load_contracts()["shop__customers"]
    no_country = dataclasses.replace(shop, columns=tuple(c for c in shop.columns if c.name != "country"))
    monkeypatch.setattr(phones, "load_contracts", lambda: {"shop__customers": no_country})
    assert phone_columns(no_country) == (["phone"], None)
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.shop__customers (phone varchar)")
    con.executemany("insert into raw.shop__customers values (?)", [("0151 2345678",), ("+49 151 2345678",)])
    assert refresh_phone_lookup(con, no_country, default_country="at") == 2
    assert _lookup(con) == [
        ("+49 151 2345678", None, "AT", "+491512345678"),
        ("0151 2345678", None, "AT", "+431512345678"),
    ]


def test_forget_unused_phones_counts_the_pairs_it_removes_and_refresh_leaves_no_view_behind():
    """Three pairs in the lookup, raw holding one of them (with its country): two go, and 2 is returned.
    The arrow table refresh registers to insert its rows is unregistered afterwards."""
    con = duckdb.connect()
    ensure_phone_lookup(con)
    con.executemany(
        "insert into ops.phone_numbers values (?, ?, ?, ?)",
        [
            ("0151 2345678", "DE", "DE", "+491512345678"),
            ("0151 2345678", "AT", "AT", "+431512345678"),
            ("020 7946 0018", "GB", "GB", "+442079460018"),
        ],
    )
    _raw_customers(con, [("0151 2345678", "DE")])
    assert forget_unused_phones(con) == 2
    assert _lookup(con) == [("0151 2345678", "DE", "DE", "+491512345678")]
    _raw_customers(con, [("0151 2345678", "DE"), ("0660 1234567", "AT")])
    assert refresh_phone_lookup(con, load_contracts()["shop__customers"], default_country="DE") == 1
    with pytest.raises(duckdb.CatalogException):
        con.execute("select * from _ecrm_new_phones")
