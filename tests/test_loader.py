"""The contract loader against a battery of malformed files: every row loaded or quarantined, with its rule."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.contracts import load_contracts
from orchestration.loading.loader import load_entity, load_landing, unknown_files

CONTRACTS = load_contracts()
ORDER_HEADER = (
    "order_id,shop_customer_id,email,ordered_at,currency,sales_channel,device,country,region,city,"
    "promotion_code,discount_amount,shipping_amount"
)
PRODUCTS = (
    "product_id,product_name,category,subcategory,brand,list_price,unit_cost,currency,is_active,updated_at\n"
    "P1,Mug,home,kitchen,Acme,10.00,4.00,EUR,true,2024-01-01T00:00:00Z\n"
)


def order_row(order_id: str, email: str = "a@b.com", ordered_at: str = "2024-01-01T10:00:00Z", **kw) -> str:
    values = {
        "order_id": order_id, "shop_customer_id": "S1", "email": email, "ordered_at": ordered_at,
        "currency": "EUR", "sales_channel": "web", "device": "desktop", "country": "DE", "region": "BY",
        "city": "Munich", "promotion_code": "", "discount_amount": "0", "shipping_amount": "4.95",
    }  # fmt: skip
    values.update(kw)
    return ",".join(values[c] for c in ORDER_HEADER.split(","))


def write(landing: Path, rel: str, content: str | bytes) -> Path:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def quarantined(con, table: str) -> dict[int, str]:
    rows = con.execute(f'select _row_number, _rules from quarantine."{table}" order by 1').fetchall()
    return {int(n): rules for n, rules in rows}


def quarantined_by_file(con, table: str) -> list[tuple[str, int, str]]:
    """(file, row number, rules) of every quarantined row, in file and row order."""
    return con.execute(
        f'select _source_file, _row_number, _rules from quarantine."{table}" order by 1, 2'
    ).fetchall()


def manifest(con) -> pd.DataFrame:
    return con.execute("select * from ops.load_manifest order by path").fetch_df()


def assert_reconciles(con) -> None:
    m = manifest(con)
    assert (m["rows_read"] == m["rows_loaded"] + m["rows_quarantined"]).all(), m
    for name in CONTRACTS:
        loaded = m.loc[(m["source"] + "__" + m["entity"]) == name, "rows_loaded"].sum()
        assert con.execute(f'select count(*) from raw."{name}"').fetchone()[0] == loaded


def test_row_rules_are_named_with_file_and_row(landing, con):
    rows = [
        order_row("O1"),
        order_row("O2", email="john.doe@@example"),
        order_row("O3", ordered_at="2024-13-45"),
        order_row("O1"),  # duplicate key: the first one wins
        order_row("O4", currency="XXX"),
        order_row("O5", sales_channel="fax"),
        order_row("O6", discount_amount="-3"),
        order_row("O7", ordered_at="yesterday"),
        order_row(""),
        order_row("O8", country="de", sales_channel="WEB", currency="eur"),  # normalised, not rejected
    ]
    write(landing, "shop/orders/orders_2024_01.csv", ORDER_HEADER + "\n" + "\n".join(rows) + "\n")
    load_landing(con, landing)
    assert quarantined(con, "shop__orders") == {
        2: "format:email",
        3: "type:ordered_at",
        4: "unique:order_id",
        5: "format:currency",
        6: "allowed:sales_channel",
        7: "range:discount_amount",
        8: "type:ordered_at",
        9: "not_null:order_id",
    }
    raw = con.execute(
        "select order_id, country, sales_channel, currency from raw.shop__orders order by 1"
    ).fetchall()
    assert raw == [("O1", "DE", "web", "EUR"), ("O8", "DE", "web", "EUR")]
    assert_reconciles(con)


def test_order_lines_negative_quantity_and_orphans(landing, con):
    write(landing, "shop/orders/o.csv", ORDER_HEADER + "\n" + order_row("O1") + "\n")
    write(
        landing,
        "shop/order_lines/l.csv",
        "order_id,line_number,product_id,quantity,unit_price\n"
        "O1,1,P1,2,10.0\nO1,2,P1,-1,10.0\nOX,1,P1,1,10.0\nO1,3,PX,1,10.0\nO1,4,P1,0,10.0\nO1,1,P1,5,10.0\n",
    )
    load_landing(con, landing)
    assert quarantined(con, "shop__order_lines") == {
        2: "range:quantity",
        3: "foreign_key:order_id",
        4: "foreign_key:product_id",
        5: "range:quantity",
        6: "unique:order_id",
    }
    assert_reconciles(con)


def test_missing_required_column_rejects_file_but_keeps_rows(landing, con):
    # ordered_at is required (e-mail is not: real exports such as Olist's carry none).
    header = ORDER_HEADER.replace(",ordered_at", "")
    body = "\n".join(
        ",".join(v for i, v in enumerate(order_row(f"O{k}").split(",")) if i != 3) for k in range(3)
    )
    write(landing, "shop/orders/legacy.csv", header + "\n" + body + "\n")
    write(landing, "shop/orders/good.csv", ORDER_HEADER + "\n" + order_row("G1") + "\n")
    results = load_landing(con, landing)
    by_path = {r.path: r for r in results}
    bad = by_path["shop/orders/legacy.csv"]
    assert bad.status == "rejected"
    assert "shop/orders/legacy.csv" in bad.error
    assert "ordered_at" in bad.error
    assert bad.rows_read == 3
    assert bad.rows_quarantined == 3
    assert set(quarantined(con, "shop__orders").values()) == {"missing_column:ordered_at"}
    assert by_path["shop/orders/good.csv"].rows_loaded == 1


@pytest.mark.parametrize(
    ("content", "expected_error"),
    [(b"", "empty"), (b"\x00\x01\x02garbage", "column")],
)
def test_unreadable_or_empty_file_is_rejected_with_a_message(landing, con, content, expected_error):
    write(landing, "shop/orders/bad.csv", content)
    write(landing, "shop/orders/good.csv", ORDER_HEADER + "\n" + order_row("G1") + "\n")
    results = {r.path: r for r in load_landing(con, landing)}
    assert results["shop/orders/bad.csv"].status == "rejected"
    assert expected_error in results["shop/orders/bad.csv"].error
    assert "shop/orders/bad.csv" in results["shop/orders/bad.csv"].error
    assert results["shop/orders/good.csv"].rows_loaded == 1


def test_header_only_file_loads_zero_rows(landing, con):
    write(landing, "shop/orders/empty.csv", ORDER_HEADER + "\n")
    (result,) = [r for r in load_landing(con, landing) if r.entity == "orders"]
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 0, 0)


def test_encodings_delimiters_quotes_and_extra_columns(landing, con):
    latin = (ORDER_HEADER + "\n" + order_row("L1", city="Düsseldorf") + "\n").encode("latin-1")
    write(landing, "shop/orders/latin1.csv", latin)
    bom = "\ufeff" + ORDER_HEADER + "\n" + order_row("B1", city="Köln") + "\n"
    write(landing, "shop/orders/bom.csv", bom)
    semicolon = (ORDER_HEADER + "\n" + order_row("S1", city='"Frankfurt; am Main"')).replace(",", ";") + "\n"
    write(landing, "shop/orders/semicolon.csv", semicolon)
    quoted = ORDER_HEADER + ",notes\n" + order_row("Q1", city='"New\nYork"') + ',"say ""hi"""\n'
    write(landing, "shop/orders/quoted.csv", quoted)
    results = {r.path: r for r in load_landing(con, landing) if r.entity == "orders"}
    assert all(r.status == "loaded" and r.rows_quarantined == 0 for r in results.values()), results
    assert "notes" in results["shop/orders/quoted.csv"].warnings  # reported, not loaded
    cities = dict(con.execute("select order_id, city from raw.shop__orders").fetchall())
    assert cities == {"L1": "Düsseldorf", "B1": "Köln", "S1": "Frankfurt; am Main", "Q1": "New\nYork"}


def test_rows_with_wrong_field_count_are_quarantined_and_numbered(landing, con):
    rows = [order_row("O1"), order_row("O2") + ",extra", order_row("O3"), "O4,only,three", order_row("O5")]
    write(landing, "shop/orders/o.csv", ORDER_HEADER + "\n" + "\n".join(rows) + "\n")
    load_landing(con, landing)
    q = quarantined(con, "shop__orders")
    assert set(q) == {2, 4}
    assert all(v.startswith("parse:row") for v in q.values())
    numbers = dict(con.execute("select order_id, _row_number from raw.shop__orders").fetchall())
    assert numbers == {"O1": 1, "O3": 3, "O5": 5}
    assert_reconciles(con)


@pytest.mark.parametrize("with_bad_field_count", [False, True], ids=["duckdb reader", "python fallback"])
def test_row_numbers_count_records_not_lines_after_quoted_newlines(landing, con, with_bad_field_count):
    # A quoted field spanning three lines in row 1: row numbers are records (what a spreadsheet shows as
    # data rows), so the rows after it keep their numbers whichever reader parsed the file.
    rows = [
        order_row("O1", city='"Munich\nAltstadt\nNorth"'),
        order_row("O2", email="not-an-email"),
        order_row("O3") + (",extra" if with_bad_field_count else ""),
        order_row("O4"),
    ]
    write(landing, "shop/orders/o.csv", ORDER_HEADER + "\n" + "\n".join(rows) + "\n")
    load_landing(con, landing)
    q = quarantined(con, "shop__orders")
    assert q[2] == "format:email"
    assert set(q) == ({2, 3} if with_bad_field_count else {2})
    numbers = dict(con.execute("select order_id, _row_number from raw.shop__orders").fetchall())
    assert numbers == ({"O1": 1, "O4": 4} if with_bad_field_count else {"O1": 1, "O3": 3, "O4": 4})
    city = con.execute("select city from raw.shop__orders where order_id = 'O1'").fetchone()[0]
    assert city == "Munich\nAltstadt\nNorth"
    assert_reconciles(con)


def test_huge_values_and_parquet_and_jsonl(landing, con):
    frame = pd.DataFrame([dict(zip(ORDER_HEADER.split(","), order_row(f"P{k}").split(","), strict=True))
                          for k in range(3)])  # fmt: skip
    frame.loc[1, "discount_amount"] = "1e400"  # overflows a double: a type error
    (landing / "shop/orders").mkdir(parents=True, exist_ok=True)
    frame.to_parquet(landing / "shop/orders/p.parquet")
    frame.assign(order_id=frame["order_id"] + "j").to_json(
        landing / "shop/orders/j.jsonl", orient="records", lines=True
    )
    load_landing(con, landing)
    assert con.execute("select count(*) from raw.shop__orders").fetchone()[0] == 4
    assert quarantined_by_file(con, "shop__orders") == [
        ("shop/orders/j.jsonl", 2, "type:discount_amount"),
        ("shop/orders/p.parquet", 2, "type:discount_amount"),
    ]


def test_reload_is_idempotent_and_changed_file_replaces_its_rows(landing, con):
    path = write(
        landing, "shop/orders/o.csv", ORDER_HEADER + "\n" + order_row("O1") + "\n" + order_row("O2") + "\n"
    )
    load_landing(con, landing)
    snapshot = {t: con.execute(f'select * from raw."{t}" order by all').fetchall() for t in CONTRACTS}
    manifest_before = manifest(con)
    again = load_landing(con, landing)
    assert {r.status for r in again} <= {"unchanged"}
    assert {t: con.execute(f'select * from raw."{t}" order by all').fetchall() for t in CONTRACTS} == snapshot
    pd.testing.assert_frame_equal(manifest(con), manifest_before)

    path.write_text(ORDER_HEADER + "\n" + order_row("O1") + "\n" + order_row("O3") + "\n")
    load_landing(con, landing)
    assert [r[0] for r in con.execute("select order_id from raw.shop__orders order by 1").fetchall()] == [
        "O1",
        "O3",
    ]
    assert_reconciles(con)


def test_event_key_already_loaded_from_another_file_is_a_duplicate(landing, con):
    write(landing, "shop/orders/a.csv", ORDER_HEADER + "\n" + order_row("O1") + "\n")
    write(landing, "shop/orders/b.csv", ORDER_HEADER + "\n" + order_row("O1") + "\n" + order_row("O2") + "\n")
    load_landing(con, landing)
    assert con.execute("select count(*) from raw.shop__orders").fetchone()[0] == 2
    assert quarantined(con, "shop__orders") == {1: "unique:order_id"}


@pytest.mark.parametrize("batch_rows", [1, 2, 1_000])
def test_duplicate_keys_are_found_across_batches_and_files(landing, con, batch_rows):
    # Checked one file per batch, two or all at once: the same rows are quarantined (the first row of a key
    # wins, in file order), also when a later load brings a key loaded before.
    write(landing, "shop/orders/a.csv", ORDER_HEADER + "\n" + order_row("O1") + "\n" + order_row("O2") + "\n")
    write(landing, "shop/orders/b.csv", ORDER_HEADER + "\n" + order_row("O3") + "\n" + order_row("O1") + "\n")
    write(landing, "shop/orders/c.csv", ORDER_HEADER + "\n" + order_row("O2") + "\n" + order_row("O4") + "\n")
    load_entity(con, landing, CONTRACTS["shop__products"])
    load_entity(con, landing, CONTRACTS["shop__orders"], batch_rows=batch_rows)
    write(landing, "shop/orders/d.csv", ORDER_HEADER + "\n" + order_row("O4") + "\n" + order_row("O5") + "\n")
    load_entity(con, landing, CONTRACTS["shop__orders"], batch_rows=batch_rows)
    assert quarantined_by_file(con, "shop__orders") == [
        ("shop/orders/b.csv", 2, "unique:order_id"),
        ("shop/orders/c.csv", 1, "unique:order_id"),
        ("shop/orders/d.csv", 1, "unique:order_id"),
    ]
    loaded = con.execute("select order_id, _source_file from raw.shop__orders order by 1").fetchall()
    assert [k for k, _ in loaded] == ["O1", "O2", "O3", "O4", "O5"]
    assert_reconciles(con)


def test_snapshot_entities_keep_every_version(landing, con):
    write(
        landing,
        "shop/products/later.csv",
        PRODUCTS.replace("10.00", "12.00").replace("2024-01-01", "2024-06-01"),
    )
    load_landing(con, landing)
    prices = sorted(r[0] for r in con.execute("select list_price from raw.shop__products").fetchall())
    assert prices == [10.0, 12.0]  # staging keeps the latest version per key


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(TEXT, min_size=13, max_size=13), min_size=0, max_size=12))
def test_arbitrary_rows_never_crash_and_always_reconcile(tmp_path_factory, rows):
    root = tmp_path_factory.mktemp("prop") / "landing"
    frame = pd.DataFrame(rows, columns=ORDER_HEADER.split(","))
    path = root / "shop/orders/any.csv"
    path.parent.mkdir(parents=True)
    # Every field quoted: an unquoted bare carriage return is a line break in CSV, not part of a value.
    frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    con = duckdb.connect()
    try:
        (result,) = load_entity(con, root, CONTRACTS["shop__orders"])
        assert result.rows_read == len(rows)
        assert result.rows_read == result.rows_loaded + result.rows_quarantined
        n_raw = con.execute("select count(*) from raw.shop__orders").fetchone()[0]
        n_quarantine = con.execute("select count(*) from quarantine.shop__orders").fetchone()[0]
        assert (n_raw, n_quarantine) == (result.rows_loaded, result.rows_quarantined)
    finally:
        con.close()
        shutil.rmtree(root.parent, ignore_errors=True)


def test_files_no_contract_covers_are_listed_not_loaded(landing, con):
    write(landing, "shop/ordrs/typo_folder.csv", ORDER_HEADER + "\n" + order_row("X1") + "\n")
    write(landing, "shop/orders/export.xlsx", b"not a supported format")
    write(landing, "shop/orders/good.csv", ORDER_HEADER + "\n" + order_row("G1") + "\n")
    load_landing(con, landing)
    assert [p.relative_to(landing).as_posix() for p in unknown_files(landing)] == [
        "shop/orders/export.xlsx",
        "shop/ordrs/typo_folder.csv",
    ]
    assert con.execute("select count(*) from raw.shop__orders").fetchone()[0] == 1
