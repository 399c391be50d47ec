"""`ecrm import generic --mapping`: the worked WooCommerce example of the README, through the real loader."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.importers import ImportFailed, run_import
from orchestration.loading.loader import load_landing

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "data_contracts" / "mappings" / "woocommerce_orders.yml"
EXPORT = ROOT / "tests" / "fixtures" / "generic" / "woocommerce_orders.csv"


def test_worked_example_maps_by_header_and_the_contract_judges(tmp_path):
    landing = tmp_path / "landing"
    report = run_import("generic", [EXPORT], landing, mapping=MAPPING)
    written = pd.read_csv(landing / "shop" / "orders" / "generic_woocommerce_orders.csv", dtype=str)
    assert report.landing_files == {"shop/orders/generic_woocommerce_orders.csv": 4}
    rows = written.set_index("order_id")
    # Berlin switched to summer time at 02:00 on 2024-03-31: 01:30 is UTC+1, 03:30 is UTC+2.
    assert rows.loc["1001", "ordered_at"] == "2024-03-31T01:30:00+01:00"
    assert rows.loc["1002", "ordered_at"] == "2024-03-31T03:30:00+02:00"
    assert rows.loc["1002", "country"] == "AT"  # "Austria" by name
    assert rows.loc["1003", "sales_channel"] == "mobile_app"  # rest-api through the mapping's map
    assert rows.loc["1001", "discount_amount"] == "0"  # an empty cell takes the default
    assert rows.loc["1002", "promotion_code"] == "SPRING10"

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    (result,) = load_landing(con, landing)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 3, 1)
    rules = con.execute("select order_id, _rules from quarantine.shop__orders").fetchall()
    # The mapping hides nothing: a bad e-mail and a country that is no country are named by the contract.
    assert rules == [("1004", "format:email; format:country")]
    utc = con.execute(
        "select strftime(ordered_at at time zone 'UTC', '%H:%M') from raw.shop__orders where order_id = '1002'"
    ).fetchone()[0]
    assert utc == "01:30"


def test_a_mapping_naming_an_unknown_column_is_refused(tmp_path):
    mapping = tmp_path / "bad.yml"
    mapping.write_text("entity: shop/orders\ncolumns:\n  order_no: Order Number\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"bad\.yml: shop/orders has no column 'order_no'"):
        run_import("generic", [EXPORT], tmp_path / "landing", mapping=mapping)


def test_a_file_without_a_mapped_header_is_named(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Order Number,Date\n1,2024-01-01\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"export\.csv: lacks the column\(s\) .*Billing Email Address"):
        run_import("generic", [export], tmp_path / "landing", mapping=MAPPING)
    assert not (tmp_path / "landing" / "shop").exists()  # nothing half-written
