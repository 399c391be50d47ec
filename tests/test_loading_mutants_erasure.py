"""Tests that kill surviving mutants of orchestration/loading/erasure.py (mutation check, issue 17).

Each test asserts a hand-worked truth the code does not produce itself.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import duckdb
import pytest

from orchestration.contracts import load_contracts
from orchestration.loading.erasure import (
    CLEAR_VALUES,
    EMAIL,
    PHONE_MAP,
    country_column,
    create_key,
    database_path,
    install_hash_macro,
    key_path,
    matching_rows_sql,
    phone_map,
    read_key,
)

CONTRACTS = load_contracts()


def test_the_key_file_sits_beside_the_warehouse_named_after_it():
    """The erasure key of ``<folder>/ecrm.duckdb`` is ``<folder>/ecrm.duckdb.erasure-key`` (the name the
    operator backs up), never inside the database file."""
    assert key_path(Path("wh/ecrm.duckdb")) == Path("wh/ecrm.duckdb.erasure-key")


def test_a_key_is_256_bits_owner_only_made_once_and_read_back(tmp_path):
    """create_key makes the missing folders, writes 32 random bytes as hex readable by its owner only, and a
    second call (or read_key) returns the same key instead of replacing it."""
    warehouse = tmp_path / "a" / "b" / "ecrm.duckdb"
    assert read_key(warehouse) is None
    key = create_key(warehouse)
    path = tmp_path / "a" / "b" / "ecrm.duckdb.erasure-key"
    assert len(key) == 32
    assert path.read_text(encoding="ascii") == key.hex() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert create_key(warehouse) == key
    assert read_key(warehouse) == key


@pytest.mark.parametrize("length", [32, 64, 65, 100])
def test_the_sql_hash_agrees_with_rfc_2104_hmac_for_keys_up_to_and_beyond_a_block(length):
    """RFC 2104: a key of up to 64 bytes (the SHA-256 block) is zero-padded, a longer one is first hashed;
    for keys of 32, 64 (the edge), 65 and 100 bytes the SQL macro must agree with Python's hmac module
    (an independent implementation)."""
    key = bytes(range(length))
    con = duckdb.connect()
    install_hash_macro(con, key)
    got = con.execute("select _ecrm_identifier_hash('anna@x.de')").fetchone()[0]
    assert got == hmac.new(key, b"anna@x.de", hashlib.sha256).hexdigest()


def test_database_path_is_the_file_or_none_in_memory(tmp_path):
    """database_path gives the database file of a connection, and None for an in-memory database."""
    assert database_path(duckdb.connect()) is None
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert database_path(con) == tmp_path / "w.duckdb"
    con.close()


def test_phones_are_read_with_the_row_country_of_the_only_country_column():
    """country_column is a contract's single ``format: iso_country`` column (``country`` for customers),
    None for a contract without one (products)."""
    assert country_column(CONTRACTS["shop__customers"]) == "country"
    assert country_column(CONTRACTS["crm__customers"]) == "country"
    assert country_column(CONTRACTS["shop__products"]) is None


def _customers(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str | None]]) -> None:
    con.execute(
        "create temp table c (shop_customer_id varchar, email varchar, phone varchar, country varchar)"
    )
    con.executemany("insert into c values ('S', null, ?, ?)", rows)


def _phone_map(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str | None], str]:
    return {(p, c): e for p, c, e in con.execute(f"select * from {PHONE_MAP}").fetchall()}


def test_the_phone_map_reads_national_numbers_with_the_row_country_else_the_default(monkeypatch):
    """Without a lookup, each (phone, country) pair is converted: an Austrian mobile with country AT is
    +43..., the same digits without a country are read with the default phone country (here DE, +49...);
    the phone is trimmed and the country upper-cased; numbers no country reads are left out. The E.164
    forms are written out by hand; the registered Arrow table is gone afterwards."""
    monkeypatch.setenv("ECRM_DEFAULT_PHONE_COUNTRY", "DE")
    con = duckdb.connect()
    _customers(con, [(" 0664 1234567 ", "at"), ("0664 1234567", None), ("12", "DE")])
    phone_map(con, CONTRACTS["shop__customers"], "c")
    assert _phone_map(con) == {
        ("0664 1234567", "AT"): "+436641234567",
        ("0664 1234567", None): "+496641234567",
    }
    views = con.execute("select view_name from duckdb_views() where not internal").fetchall()
    assert [v for (v,) in views if "phone" in v.lower()] == []


def test_the_phone_map_takes_what_the_lookup_holds_and_only_valid_rows_of_it(monkeypatch):
    """Pairs ``ops.phone_numbers`` already holds are taken from it, including a number it could not read
    (E.164 null: left out, not converted again); a lookup row for a record without country counts only if
    it was read with today's default (region), otherwise the number is converted again."""
    monkeypatch.setenv("ECRM_DEFAULT_PHONE_COUNTRY", "DE")
    con = duckdb.connect()
    con.execute("create schema ops")
    con.execute(
        "create table ops.phone_numbers (phone varchar, country varchar, region varchar, phone_e164 varchar)"
    )
    con.execute(
        "insert into ops.phone_numbers values "
        "('0151 2345678', 'DE', 'DE', '+4915100000000'), "  # held: taken as it is
        "('0151 9999999', 'DE', 'DE', null), "  # held, unreadable: stays out
        "('0664 1234567', null, 'AT', '+436641234567')"  # read with another default: read again
    )
    _customers(con, [("0151 2345678", "DE"), ("0151 9999999", "DE"), ("0664 1234567", None)])
    phone_map(con, CONTRACTS["shop__customers"], "c")
    assert _phone_map(con) == {
        ("0151 2345678", "DE"): "+4915100000000",
        ("0664 1234567", None): "+496641234567",
    }


def _orders_with_lines(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create temp table q (order_id varchar, email varchar, _original_line varchar)")
    con.execute(
        "insert into q values ('O1', 'Anna@X.de', null), ('O2', 'bob@y.de', null), "
        "(null, null, 'O3,S1,anna@x.de,2024-01-01')"
    )
    con.execute(
        f"create temp table {CLEAR_VALUES} as select * from (values ('email', 'anna@x.de')) t(kind, value)"
    )


def test_rows_are_matched_on_their_columns_without_lines_and_on_lines_without_columns():
    """matching_rows_sql without lines matches the columns only (row 0: its e-mail normalised is the erased
    one; the unparsable line 2 is not looked at); asked for kinds the contract has no column of, it still
    matches the words of unparsable lines (row 2); with neither it gives None."""
    con = duckdb.connect()
    _orders_with_lines(con)
    orders = CONTRACTS["shop__orders"]
    columns_only = matching_rows_sql(orders, "q", {EMAIL}, against="clear", with_lines=False)
    assert [r[0] for r in con.execute(columns_only).fetchall()] == [0]
    lines_only = matching_rows_sql(orders, "q", {"session_id"}, against="clear", with_lines=True)
    assert [r[0] for r in con.execute(lines_only).fetchall()] == [2]
    assert matching_rows_sql(orders, "q", {"session_id"}, against="clear", with_lines=False) is None
