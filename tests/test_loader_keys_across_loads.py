"""Primary keys checked against what an earlier load put in raw: a composite event key, and a snapshot
entity, whose every export keeps its own version of a key.

The other loader tests check single-column keys within one load; these load twice, so the rule that looks
at rows of files outside the batch is exercised. Expected rows are worked out from the contracts:
``shop__order_lines`` is an event entity keyed by (order_id, line_number), ``shop__products`` a snapshot
entity keyed by product_id.
"""

from __future__ import annotations

from orchestration.loading.loader import load_landing
from tests.test_loader import ORDER_HEADER, PRODUCTS, order_row, write

LINE_HEADER = "order_id,line_number,product_id,quantity,unit_price"


def test_a_composite_event_key_loaded_by_an_earlier_file_is_a_duplicate(landing, con):
    write(
        landing,
        "shop/orders/orders.csv",
        ORDER_HEADER + "\n" + order_row("O1") + "\n" + order_row("O2") + "\n",
    )
    write(landing, "shop/order_lines/a.csv", f"{LINE_HEADER}\nO1,1,P1,1,10\nO1,2,P1,2,10\n")
    load_landing(con, landing)
    # The second export repeats (O1, 2) and brings (O1, 3) and (O2, 2): same order or same line number as
    # a loaded line, but not both, so only (O1, 2) is a duplicate.
    write(landing, "shop/order_lines/b.csv", f"{LINE_HEADER}\nO1,2,P1,5,10\nO1,3,P1,1,10\nO2,2,P1,1,10\n")
    load_landing(con, landing)
    loaded = con.execute(
        "select order_id, line_number, quantity, _source_file from raw.shop__order_lines order by 1, 2"
    ).fetchall()
    assert loaded == [
        ("O1", 1, 1, "shop/order_lines/a.csv"),
        ("O1", 2, 2, "shop/order_lines/a.csv"),  # the first load's line wins
        ("O1", 3, 1, "shop/order_lines/b.csv"),
        ("O2", 2, 1, "shop/order_lines/b.csv"),
    ]
    bad = con.execute(
        "select order_id, line_number, _rules, _source_file, _row_number from quarantine.shop__order_lines"
    ).fetchall()
    assert bad == [("O1", "2", "unique:order_id", "shop/order_lines/b.csv", 1)]


def test_a_snapshot_export_loaded_later_keeps_its_version_of_a_key(landing, con):
    # The fixture's products.csv (P1 at 10.00) is loaded first; a later export has P1 at 12.00.
    load_landing(con, landing)
    write(
        landing,
        "shop/products/later.csv",
        PRODUCTS.replace("10.00", "12.00").replace("2024-01-01", "2024-06-01"),
    )
    load_landing(con, landing)
    versions = con.execute(
        "select product_id, list_price, _source_file from raw.shop__products order by list_price"
    ).fetchall()
    assert versions == [("P1", 10.0, "shop/products/products.csv"), ("P1", 12.0, "shop/products/later.csv")]
    assert con.execute("select count(*) from quarantine.shop__products").fetchone()[0] == 0
