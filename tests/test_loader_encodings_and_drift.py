"""Real-world files that used to load damaged without a word: legacy encodings and schema drift.

Each encoding test writes a marker string in that encoding the way the exporting program does and checks
that the very same characters arrive in ``raw``, and that the manifest records the encoding used.
"""

from __future__ import annotations

import duckdb
import pytest

from orchestration.loading.loader import load_landing
from orchestration.pipeline import RunReport, warehouse_summary
from tests.test_loader import ORDER_HEADER, order_row, write

MARKER = "Café – 5 €"  # en dash and euro sign: 0x96 and 0x80 in Windows-1252, control characters in Latin-1
APOSTROPHE = "it’s “fine”"  # curly quotes: 0x92, 0x93, 0x94 in Windows-1252


def orders_text(*rows: tuple[str, str, str], delimiter: str = ",") -> str:
    """An orders file whose rows carry (order id, city, region) and a line break after each row."""
    lines = [ORDER_HEADER] + [order_row(o, city=city, region=region) for o, city, region in rows]
    return "\r\n".join(line.replace(",", delimiter) for line in lines) + "\r\n"


def loaded(con, table: str = "shop__orders") -> dict[str, tuple[str, str]]:
    return {
        o: (c, r) for o, c, r in con.execute(f"select order_id, city, region from raw.{table}").fetchall()
    }


def manifest_row(con, path: str) -> dict:
    frame = con.execute("select * from ops.load_manifest where path = ?", [path]).fetch_df()
    assert len(frame) == 1, path
    return frame.iloc[0].to_dict()


@pytest.mark.parametrize(
    ("name", "encode", "expected_encoding"),
    [
        ("utf8", lambda text: text.encode("utf-8"), "utf-8"),
        ("utf8_bom", lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"), "utf-8-sig"),
        # Excel's "Unicode text": UTF-16 little-endian with a BOM, tab-separated.
        ("utf16", lambda text: text.replace(",", "\t").encode("utf-16"), "utf-16"),
        # Excel's plain "CSV" on a Western Windows.
        ("windows1252", lambda text: text.encode("cp1252"), "cp1252"),
    ],
)
def test_each_encoding_arrives_intact_and_is_recorded(landing, con, name, encode, expected_encoding):
    text = orders_text(("O1", MARKER, APOSTROPHE), ("O2", "Köln", "Nordrhein-Westfalen"))
    write(landing, f"shop/orders/{name}.csv", encode(text))
    results = {r.path: r for r in load_landing(con, landing)}
    result = results[f"shop/orders/{name}.csv"]
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 2, 0), result
    assert loaded(con) == {"O1": (MARKER, APOSTROPHE), "O2": ("Köln", "Nordrhein-Westfalen")}
    assert manifest_row(con, f"shop/orders/{name}.csv")["encoding"] == expected_encoding


def test_latin1_file_is_read_with_its_accents(landing, con):
    # ISO 8859-1 and Windows-1252 agree on every byte a Latin-1 text uses (0x80-0x9F are control characters
    # in Latin-1, never text), so reading such a file as Windows-1252 gives exactly its characters.
    text = orders_text(("O1", "Düsseldorf", "Nordrhein-Westfalen"), ("O2", "Besançon", "Franche-Comté"))
    write(landing, "shop/orders/latin1.csv", text.encode("latin-1"))
    load_landing(con, landing)
    assert loaded(con) == {"O1": ("Düsseldorf", "Nordrhein-Westfalen"), "O2": ("Besançon", "Franche-Comté")}
    assert manifest_row(con, "shop/orders/latin1.csv")["encoding"] in ("cp1252", "latin-1", "iso8859-1")


def test_windows1252_with_rows_duckdb_refuses_goes_through_the_fallback_reader_intact(landing, con):
    # A row with too many fields sends the file to the Python reader: it must decode the same way.
    text = orders_text(("O1", MARKER, APOSTROPHE)) + order_row("O2") + ",extra\r\n"
    write(landing, "shop/orders/ragged.csv", text.encode("cp1252"))
    result = next(r for r in load_landing(con, landing) if r.entity == "orders")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    assert loaded(con) == {"O1": (MARKER, APOSTROPHE)}


def test_a_file_mixing_utf8_and_windows1252_is_rejected_not_garbled(landing, con):
    # Two exports concatenated: reading it as either encoding would garble half of it.
    data = orders_text(("O1", "Köln", "NRW")).encode("utf-8") + (
        order_row("O2", city=MARKER) + "\r\n"
    ).encode("cp1252")
    write(landing, "shop/orders/mixed.csv", data)
    result = next(r for r in load_landing(con, landing) if r.entity == "orders")
    assert result.status == "rejected"
    assert "shop/orders/mixed.csv" in result.error
    assert "mixes text encodings" in result.error
    assert "line 3" in result.error  # the first line that is not UTF-8
    assert con.execute("select count(*) from raw.shop__orders").fetchone()[0] == 0


def test_a_binary_file_named_csv_is_rejected_with_a_message(landing, con):
    write(landing, "shop/orders/binary.csv", bytes(range(256)) * 64)
    result = next(r for r in load_landing(con, landing) if r.entity == "orders")
    assert result.status == "rejected"
    assert "shop/orders/binary.csv" in result.error
    assert "encoding" in result.error
    assert con.execute("select count(*) from raw.shop__orders").fetchone()[0] == 0


def test_missing_nullable_column_loads_with_a_warning(landing, con):
    # Without shop_customer_id every order would silently become a guest order.
    header = ORDER_HEADER.replace("shop_customer_id,", "")
    row = order_row("O1").split(",")
    del row[1]
    write(landing, "shop/orders/no_account.csv", header + "\n" + ",".join(row) + "\n")
    result = next(r for r in load_landing(con, landing) if r.entity == "orders")
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    assert result.error is None
    assert result.warnings == "declared column(s) missing, loaded as empty: shop_customer_id"
    assert manifest_row(con, "shop/orders/no_account.csv")["warnings"] == result.warnings


def test_undeclared_column_loads_with_a_warning_and_a_clean_file_has_none(landing, con):
    write(landing, "shop/orders/extra.csv", ORDER_HEADER + ",gift_note\n" + order_row("O1") + ",hi\n")
    write(landing, "shop/orders/clean.csv", ORDER_HEADER + "\n" + order_row("O2") + "\n")
    results = {r.path: r for r in load_landing(con, landing)}
    assert results["shop/orders/extra.csv"].warnings == "undeclared column(s) ignored: gift_note"
    assert results["shop/orders/clean.csv"].warnings is None
    assert results["shop/products/products.csv"].warnings is None
    assert loaded(con).keys() == {"O1", "O2"}


def test_missing_required_column_is_still_rejected(landing, con):
    header = ORDER_HEADER.replace(",ordered_at", "")
    row = order_row("O1").split(",")
    del row[3]
    write(landing, "shop/orders/no_date.csv", header + "\n" + ",".join(row) + "\n")
    result = next(r for r in load_landing(con, landing) if r.entity == "orders")
    assert result.status == "rejected"
    assert "ordered_at" in result.error
    assert result.rows_quarantined == 1


def test_drift_warning_is_in_the_run_summary(tmp_path, landing, monkeypatch):
    header = ORDER_HEADER.replace("shop_customer_id,", "")
    row = order_row("O1").split(",")
    del row[1]
    write(landing, "shop/orders/no_account.csv", header + "\n" + ",".join(row) + "\n")
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        load_landing(con, landing)
    monkeypatch.setenv("ECRM_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ECRM_LANDING", str(landing))
    text = warehouse_summary(RunReport(success=True, seconds=1.0)).render()
    assert "Files loaded with warnings" in text
    assert "shop/orders/no_account.csv: declared column(s) missing, loaded as empty: shop_customer_id" in text


def test_manifest_of_an_older_warehouse_gains_the_new_columns(landing, tmp_path):
    # A warehouse built before encodings, warnings and erasures were recorded keeps working.
    warehouse = tmp_path / "old.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops")
        con.execute(
            "create table ops.load_manifest (path varchar primary key, sha256 varchar, source varchar, "
            "entity varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint, status varchar, "
            "error varchar, loaded_at timestamptz)"
        )
        write(landing, "shop/orders/o.csv", ORDER_HEADER + "\n" + order_row("O1") + "\n")
        load_landing(con, landing)
        row = manifest_row(con, "shop/orders/o.csv")
    assert (row["rows_erased"], row["encoding"], row["warnings"]) == (0, "utf-8", None)
