"""Edge cases of the contract rules the other loader tests leave open: the inclusive ends of a ``min``/``max``
range, the one-day tolerance of ``not_future``, and the SQL fast path of the e-mail rule.

Every expected verdict is read off the contract (``data_contracts/contracts/*.yml``) or the rule's own
definition by hand: the promotion contract declares ``discount_pct`` a non-null double with ``min: 0`` and
``max: 100``, so 0 and 100 are legal and anything outside is a ``range`` break.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.contracts import load_contracts
from orchestration.loading.loader import ensure_schemas, load_entity
from orchestration.loading.rules import email_fast_path
from orchestration.loading.sql import lit, q
from tests.test_rules import load_orders, order, write_csv

PROMOTION_COLUMNS = ["promotion_id", "promotion_code", "description", "discount_pct", "starts_at", "ends_at"]


def promotion(promotion_id: str, discount_pct: str) -> dict[str, str]:
    return {
        "promotion_id": promotion_id, "promotion_code": f"CODE{promotion_id}", "discount_pct": discount_pct,
        "starts_at": "2024-01-01T00:00:00Z", "ends_at": "2024-02-01T00:00:00Z",
    }  # fmt: skip


def load_promotions(
    con, tmp_path: Path, rows: list[dict[str, str]]
) -> tuple[dict[str, float], dict[str, str]]:
    """Load one promotions file; (loaded id -> discount_pct, quarantined id -> rules)."""
    landing = tmp_path / "landing"
    write_csv(landing, "shop/promotions/promotions.csv", PROMOTION_COLUMNS, rows)
    load_entity(con, landing, load_contracts()["shop__promotions"])
    loaded = dict(con.execute("select promotion_id, discount_pct from raw.shop__promotions").fetchall())
    bad = dict(con.execute("select promotion_id, _rules from quarantine.shop__promotions").fetchall())
    return loaded, bad


def test_a_range_includes_both_ends_and_rejects_just_outside(con, tmp_path):
    loaded, bad = load_promotions(
        con,
        tmp_path,
        [
            promotion("LOW", "0"),  # min: 0 is allowed
            promotion("HIGH", "100"),  # max: 100 is allowed
            promotion("MID", " 12.5 "),  # trimmed before the cast
            promotion("BELOW", "-0.01"),
            promotion("ABOVE", "100.01"),
            promotion("WORD", "ten"),
            # Beyond a double: read as infinity, a type error, and above 100 as well (every broken rule is listed).
            promotion("HUGE", "1e400"),
            promotion("EMPTY", ""),  # a required column
        ],
    )
    assert loaded == {"LOW": 0.0, "HIGH": 100.0, "MID": 12.5}
    assert bad == {
        "BELOW": "range:discount_pct",
        "ABOVE": "range:discount_pct",
        "WORD": "type:discount_pct",
        "HUGE": "type:discount_pct; range:discount_pct",
        "EMPTY": "not_null:discount_pct",
    }


def test_not_future_allows_less_than_a_day_ahead_and_rejects_more(con, tmp_path):
    # NOT_FUTURE_TOLERANCE is one day: a local time written without an offset runs up to 14 hours ahead.
    now = datetime.now(UTC)
    loaded, bad = load_orders(
        con,
        tmp_path,
        [
            order("KIRIBATI", ordered_at=(now + timedelta(hours=14)).isoformat()),
            order("ALMOST_A_DAY", ordered_at=(now + timedelta(hours=23)).isoformat()),
            order("A_DAY_AND_AN_HOUR", ordered_at=(now + timedelta(hours=25)).isoformat()),
            order("TWO_DAYS", ordered_at=(now + timedelta(days=2, hours=1)).isoformat()),
        ],
    )
    assert set(loaded) == {"KIRIBATI", "ALMOST_A_DAY"}
    assert bad == {"A_DAY_AND_AN_HOUR": "not_future:ordered_at", "TWO_DAYS": "not_future:ordered_at"}


@pytest.mark.parametrize(
    ("address", "vouched"),
    [
        ("anna@example.de", True),  # the plain form: letters, one dot in the domain
        ("first.last+tag@sub.example-shop.co.uk", True),
        ("Anna.Muller@Example.COM", True),
        ("anna@mail.test", False),  # special-use top-level domain (RFC 6761): the library must judge
        ("anna@mail.TEST", False),  # the special-use check ignores case
        ("a@b..com", False),  # an empty label
        ("anna@xn--mller-kva.de", False),  # Punycode ("xn--"): left to the library
        ("jörg@bücher.de", False),  # not ASCII
        ("anna@example.d3", False),  # the top-level domain is letters only
        ("a" * 52 + "@example.com", True),  # 64 characters: the longest the fast path takes
        ("a" * 53 + "@example.com", False),  # 65 characters
    ],
)
def test_the_sql_fast_path_vouches_only_for_plain_short_addresses(con, address, vouched):
    sql = f"select {email_fast_path('address')} from (select ?::varchar as address)"
    assert con.execute(sql, [address]).fetchone()[0] is vouched


def test_allowed_values_ignore_case_and_spaces_and_load_lower_cased(con, tmp_path):
    # shop__orders: sales_channel is required, one of web, mobile_app, marketplace; device is optional, one
    # of desktop, mobile, tablet; both are compared and loaded trimmed and lower-cased.
    loaded, bad = load_orders(
        con,
        tmp_path,
        [
            order("UPPER", sales_channel="WEB", device="Mobile"),
            order("SPACED", sales_channel=" mobile_app ", device=" tablet"),
            order("NO_DEVICE", sales_channel="marketplace", device=""),
            order("TV", sales_channel="web", device="tv"),
            order("SHOP", sales_channel="store"),
            order("BLANK", sales_channel="   "),  # only spaces: empty, so missing
        ],
    )
    channels = dict(con.execute("select order_id, [sales_channel, device] from raw.shop__orders").fetchall())
    assert channels == {
        "UPPER": ["web", "mobile"], "SPACED": ["mobile_app", "tablet"], "NO_DEVICE": ["marketplace", None],
    }  # fmt: skip
    assert set(loaded) == set(channels)
    assert bad == {"TV": "allowed:device", "SHOP": "allowed:sales_channel", "BLANK": "not_null:sales_channel"}


def test_the_email_check_leaves_nothing_registered_on_the_connection(con, tmp_path):
    # The library's rejections travel to DuckDB as a registered Arrow table for one statement only; a
    # caller's connection (the pipeline keeps one open across entities) must not keep it.
    loaded, bad = load_orders(con, tmp_path, [order("GOOD"), order("BAD", email="anna@gmail..com")])
    assert (set(loaded), bad) == ({"GOOD"}, {"BAD": "format:email"})
    with pytest.raises(duckdb.CatalogException):
        con.execute("select * from _ecrm_rejected_emails")


def test_identifiers_and_literals_are_quoted_by_doubling_the_quote_character():
    # SQL's own escaping (ISO 9075, and DuckDB's): a quote inside a quoted name or string is written twice.
    assert q('order "id"') == '"order ""id"""'
    assert lit("O'Brien") == "'O''Brien'"


def test_a_name_with_a_double_quote_round_trips_through_duckdb(con):
    table, column = 'odd"name', 'a"b'
    con.execute("create table " + q(table) + " (" + q(column) + " integer)")
    names = con.execute("select column_name from duckdb_columns() where table_name = ?", [table]).fetchall()
    assert names == [(column,)]


def test_a_contract_without_column_rules_still_loads_and_checks_its_key(con, tmp_path):
    """A contract whose columns are all optional text has no column rule at all: every row loads except a
    repeated key (first one wins), which is quarantined under ``unique:note_id``."""
    from orchestration.contracts import Column, Contract

    contract = Contract(
        source="crm",
        entity="notes",
        kind="event",
        description="free-text notes",
        primary_key=("note_id",),
        columns=(Column("note_id", "varchar"), Column("body", "varchar")),
    )
    landing = tmp_path / "landing"
    rows = [
        {"note_id": "n1", "body": "first"},
        {"note_id": "n2", "body": ""},
        {"note_id": "n1", "body": "again"},
    ]
    write_csv(landing, "crm/notes/notes.csv", ["note_id", "body"], rows)
    ensure_schemas(con, {contract.name: contract})
    load_entity(con, landing, contract)
    loaded = con.execute("select note_id, body from raw.crm__notes order by note_id").fetchall()
    assert loaded == [("n1", "first"), ("n2", None)]
    bad = con.execute("select note_id, body, _rules from quarantine.crm__notes").fetchall()
    assert bad == [("n1", "again", "unique:note_id")]
