"""Tests that kill surviving mutants of orchestration/loading/loader.py (mutation check, issue 17).

Each test asserts a hand-worked truth the code does not produce itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.contracts import load_contracts
from orchestration.loading import loader
from orchestration.loading.loader import discover_files, drift_warnings, load_entity, unknown_files

CONTRACTS = load_contracts()


def _touch(landing: Path, rel: str, content: bytes = b"x\n") -> None:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _rel(landing: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(landing).as_posix() for p in paths]


def test_unknown_files_are_judged_against_the_contracts_passed_in(tmp_path):
    """unknown_files(landing, contracts) counts only the given contracts as known: with the orders contract
    alone, a customers export is a file no contract (of those given) covers."""
    _touch(tmp_path, "shop/orders/o.csv")
    _touch(tmp_path, "shop/customers/c.csv")
    only_orders = {"shop__orders": CONTRACTS["shop__orders"]}
    assert _rel(tmp_path, unknown_files(tmp_path, only_orders)) == ["shop/customers/c.csv"]
    assert _rel(tmp_path, unknown_files(tmp_path)) == []


def test_hidden_files_and_folders_are_neither_data_nor_unknown(tmp_path):
    """Hidden files (editor lock files) and hidden folders (an importer's .imports/ reports) are skipped by
    both discover_files and unknown_files; a visible stray file is still reported."""
    _touch(tmp_path, "shop/orders/.~lock.orders.csv#")
    _touch(tmp_path, "shop/orders/.hidden.csv")
    _touch(tmp_path, ".imports/report.txt")
    _touch(tmp_path, "shop/.cache/x.csv")
    _touch(tmp_path, "shop/orders/orders.csv")
    _touch(tmp_path, "notes.txt")
    assert _rel(tmp_path, discover_files(tmp_path)["shop__orders"]) == ["shop/orders/orders.csv"]
    assert _rel(tmp_path, unknown_files(tmp_path)) == ["notes.txt"]


def test_discover_files_takes_supported_suffixes_in_any_case_sorted_by_path(tmp_path):
    """Every supported suffix is found whatever its case, in path order; partial copies (.part, .tmp) and
    folders named like files are not data."""
    for name in ("b.CSV", "a.parquet", "c.jsonl", "d.ndjson", "e.txt", "f.csv.part", "g.tmp"):
        _touch(tmp_path, f"shop/orders/{name}")
    (tmp_path / "shop/orders/h.csv").mkdir()
    found = discover_files(tmp_path, {"shop__orders": CONTRACTS["shop__orders"]})
    assert list(found) == ["shop__orders"]
    assert _rel(tmp_path, found["shop__orders"]) == [
        "shop/orders/a.parquet",
        "shop/orders/b.CSV",
        "shop/orders/c.jsonl",
        "shop/orders/d.ndjson",
        "shop/orders/e.txt",
    ]


def test_a_drift_warning_lists_every_column_of_both_kinds():
    """The schema-drift warning names every missing nullable column and every undeclared one, separated by
    commas, the two parts by a semicolon (the text shown in the run summary, written out by hand)."""
    assert drift_warnings(["region", "city"], ["Notes", "gift"]) == (
        "declared column(s) missing, loaded as empty: region, city; undeclared column(s) ignored: Notes, gift"
    )
    assert drift_warnings([], ["gift"]) == "undeclared column(s) ignored: gift"
    assert drift_warnings([], []) is None


def test_loaded_at_is_the_utc_instant_of_the_load_whatever_the_machines_time_zone(tmp_path, monkeypatch):
    """raw's _loaded_at and the manifest's loaded_at hold the moment of the load as a UTC instant, also on
    a machine whose local time zone is not UTC (here New York, five or four hours behind)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        _touch(
            tmp_path,
            "shop/products/p.csv",
            b"product_id,product_name,category,subcategory,brand,list_price,unit_cost,currency,is_active,"
            b"updated_at\nP1,Mug,home,kitchen,Acme,10.00,4.00,EUR,true,2024-01-01T00:00:00Z\n",
        )
        con = duckdb.connect()
        before = datetime.now(UTC)
        [result] = load_entity(con, tmp_path, CONTRACTS["shop__products"])
        after = datetime.now(UTC)
        loaded_at = con.execute("select _loaded_at from raw.shop__products").fetchone()[0]
        manifest_at = con.execute("select loaded_at from ops.load_manifest").fetchone()[0]
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert result.status == "loaded"
    assert before <= loaded_at <= after
    assert manifest_at == loaded_at


def _orders_file(landing: Path, name: str, ids: list[str]) -> None:
    from tests.test_rules import ORDER_COLUMNS, order, write_csv

    write_csv(landing, f"shop/orders/{name}", ORDER_COLUMNS, [order(i) for i in ids])


def test_a_file_seen_before_is_reported_unchanged_with_its_hash_and_no_rows(tmp_path):
    """Loading the same file twice: the second result names the file, its SHA-256 (from hashlib), the
    contract's source and entity, no rows read, loaded or quarantined, no error, and the time of that call."""
    import hashlib

    landing, con = tmp_path / "landing", duckdb.connect()
    _orders_file(landing, "o.csv", ["A1", "A2"])
    contract = CONTRACTS["shop__orders"]
    [first] = load_entity(con, landing, contract)
    assert (first.status, first.rows_read, first.rows_loaded) == ("loaded", 2, 2)
    before = datetime.now(UTC)
    [again] = load_entity(con, landing, contract)
    after = datetime.now(UTC)
    digest = hashlib.sha256((landing / "shop/orders/o.csv").read_bytes()).hexdigest()
    assert (again.path, again.sha256, again.source, again.entity) == (
        "shop/orders/o.csv",
        digest,
        "shop",
        "orders",
    )
    assert (again.rows_read, again.rows_loaded, again.rows_quarantined) == (0, 0, 0)
    assert (again.status, again.error) == ("unchanged", None)
    assert before <= again.loaded_at <= after


def test_files_checked_in_several_batches_each_keep_their_result(tmp_path):
    """Five files of three orders with batches of about four rows: the batch is checked after files 2 and
    4 and at the end (three flushes). Every file still has its own result, in file order, with its three
    rows loaded and the call's time; all fifteen orders are in raw."""
    landing, con = tmp_path / "landing", duckdb.connect()
    for f in range(1, 6):
        _orders_file(landing, f"o{f}.csv", [f"F{f}-{i}" for i in range(3)])
    before = datetime.now(UTC)
    results = load_entity(con, landing, CONTRACTS["shop__orders"], batch_rows=4)
    assert [(r.path, r.rows_loaded, r.status) for r in results] == [
        (f"shop/orders/o{f}.csv", 3, "loaded") for f in range(1, 6)
    ]
    assert all(before <= r.loaded_at <= datetime.now(UTC) for r in results)
    assert con.execute("select count(distinct order_id) from raw.shop__orders").fetchone()[0] == 15


def test_a_json_lines_file_broken_midway_is_rejected_whole_with_the_readers_message(tmp_path):
    """A JSON-lines file broken early is refused when its columns are read; one broken after 20,500 good
    lines (beyond the lines DuckDB samples for the columns) is refused while its rows are inserted. Either
    way none of its rows is loaded, the result and the manifest say rejected with 0 rows, and the message
    names the file, its format and DuckDB's first error line."""
    import json

    from tests.test_rules import order

    good, broken = json.dumps(order("J1")), '{"order_id": "J2", "email": '
    for name, lines in (("early.jsonl", [good, broken, good]), ("late.jsonl", [good] * 20_500 + [broken])):
        landing, con = tmp_path / name / "landing", duckdb.connect()
        (landing / "shop/orders").mkdir(parents=True)
        (landing / "shop/orders" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        [result] = load_entity(con, landing, CONTRACTS["shop__orders"])
        assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == (
            "rejected",
            0,
            0,
            0,
        )
        prefix = f"shop/orders/{name}: the file cannot be read as json: Invalid Input Error: Malformed JSON"
        assert result.error.startswith(prefix)
        assert "\n" not in result.error
        assert con.execute(
            "select rows_read, rows_loaded, rows_quarantined, status from ops.load_manifest"
        ).fetchall() == [(0, 0, 0, "rejected")]
        assert con.execute("select count(*) from raw.shop__orders").fetchone()[0] == 0


def test_a_file_missing_two_required_columns_names_both(tmp_path):
    """Without ``currency`` and ``sales_channel`` (both required by the orders contract) the file is
    rejected with both names, comma-separated, and its rows are quarantined under the first one's rule."""
    from tests.test_rules import ORDER_COLUMNS, order, write_csv

    landing, con = tmp_path / "landing", duckdb.connect()
    columns = [c for c in ORDER_COLUMNS if c not in ("currency", "sales_channel")]
    write_csv(landing, "shop/orders/o.csv", columns, [order("M1"), order("M2")])
    [result] = load_entity(con, landing, CONTRACTS["shop__orders"])
    assert result.error == (
        "shop/orders/o.csv: required column(s) missing: currency, sales_channel (rule missing_column:currency)"
    )
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        "rejected",
        2,
        0,
        2,
    )


def test_a_failure_while_writing_a_batch_rolls_it_back_and_raises_the_original_error(tmp_path, monkeypatch):
    """If writing the manifest fails after the batch's rows were inserted, the transaction is rolled back:
    the error raised is the original one, raw and the manifest hold nothing of the batch, and the connection
    takes the next load (no transaction is left open)."""
    landing, con = tmp_path / "landing", duckdb.connect()
    _orders_file(landing, "o.csv", ["R1", "R2"])
    original = loader._write_manifest

    def failing(*args, **kwargs):
        raise OSError("disk full (raised by the test)")

    monkeypatch.setattr(loader, "_write_manifest", failing)
    with pytest.raises(OSError, match=r"^disk full \(raised by the test\)$"):
        load_entity(con, landing, CONTRACTS["shop__orders"])
    assert con.execute("select count(*) from raw.shop__orders").fetchone()[0] == 0
    assert con.execute("select count(*) from ops.load_manifest").fetchone()[0] == 0
    monkeypatch.setattr(loader, "_write_manifest", original)
    [result] = load_entity(con, landing, CONTRACTS["shop__orders"])
    assert (result.status, result.rows_loaded) == ("loaded", 2)
