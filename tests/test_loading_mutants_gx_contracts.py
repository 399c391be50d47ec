"""Tests that kill surviving mutants of orchestration/loading/gx_contracts.py (mutation check, issue 17).

Each test asserts a hand-worked truth the code does not produce itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from orchestration.contracts import load_contracts
from orchestration.loading.gx_contracts import (
    GX_DIR,
    contract_reference,
    suite_for,
    suite_json,
    validate_frame,
    write_suites,
)
from tests.test_rules import load_orders, order

CONTRACTS = load_contracts()


def _expectations(contract_name: str) -> list[tuple[str, dict]]:
    suite = suite_for(CONTRACTS[contract_name]).to_json_dict()
    return [
        (e["type"], {k: v for k, v in e["kwargs"].items() if k != "batch_id"}) for e in suite["expectations"]
    ]


def test_the_suite_carries_ranges_keys_and_the_contract_description():
    """Suites written out by hand from the contracts: promotions' discount_pct lies in [0, 100] and is a
    snapshot (no uniqueness); order lines' quantity has a minimum only; reviews are events keyed by
    (review_id, order_id) together; every suite carries its contract's description."""
    promotions = _expectations("shop__promotions")
    assert (
        "expect_column_values_to_be_between",
        {"column": "discount_pct", "min_value": 0, "max_value": 100},
    ) in (promotions)
    assert not [t for t, _ in promotions if "unique" in t]
    lines = _expectations("shop__order_lines")
    assert ("expect_column_values_to_be_between", {"column": "quantity", "min_value": 1}) in [
        (t, {k: v for k, v in kw.items() if v is not None}) for t, kw in lines
    ]
    reviews = _expectations("shop__reviews")
    assert ("expect_compound_columns_to_be_unique", {"column_list": ["review_id", "order_id"]}) in reviews
    suite = suite_for(CONTRACTS["shop__reviews"]).to_json_dict()
    assert suite["meta"]["description"] == CONTRACTS["shop__reviews"].description


def test_validation_names_failed_expectations_and_their_rows(con, tmp_path):
    """On loaded orders: a row two hours ahead (within the loader's one-day tolerance) passes; a column the
    contract does not declare fails the exact column set (named without a column); an unknown country and
    currency fail their code lists; each failing row is named as ``<file> row <n>``; ``evaluated`` counts
    every expectation of the suite."""
    ahead = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    load_orders(con, tmp_path, [order("A1"), order("A2", ordered_at=ahead), order("A3", country="DE")])
    frame = con.execute("select * from raw.shop__orders order by _row_number").fetch_df()
    contract = CONTRACTS["shop__orders"]
    result = validate_frame(contract, frame)
    assert result["success"], result
    assert result["evaluated"] == len(suite_for(contract).expectations)
    broken = frame.copy()
    broken.loc[1, "country"] = "XX"
    broken.loc[2, "currency"] = "XYZ"
    broken["undeclared"] = "x"
    result = validate_frame(contract, broken)
    assert sorted(result["failed"]) == [
        "expect_column_values_to_be_in_set(country)",
        "expect_column_values_to_be_in_set(currency)",
        "expect_table_columns_to_match_set()",
    ]
    assert sorted(result["failing_rows"]) == ["shop/orders/orders.csv row 2", "shop/orders/orders.csv row 3"]


def test_validation_names_at_most_twenty_failing_rows_per_expectation(con, tmp_path):
    """25 loaded orders, every one with an unknown country: one failed expectation, and the first 20 rows
    (rows 1 to 20 of the file, as the docstring promises) named, not all 25."""
    load_orders(con, tmp_path, [order(f"A{i:02d}") for i in range(1, 26)])
    frame = con.execute("select * from raw.shop__orders order by _row_number").fetch_df()
    frame["country"] = "XX"
    result = validate_frame(CONTRACTS["shop__orders"], frame)
    assert result["failed"] == ["expect_column_values_to_be_in_set(country)"]
    assert result["failing_rows"] == [f"shop/orders/orders.csv row {n}" for n in range(1, 21)]


def _without_ids(stored: dict) -> dict:
    """A suite as GX stores it, less the random ids of the suite and its expectations."""
    data = {k: v for k, v in stored.items() if k != "id"}
    data["expectations"] = [{k: v for k, v in e.items() if k != "id"} for e in data["expectations"]]
    return data


def test_the_committed_reference_and_suites_are_those_of_the_contracts():
    """CONTRACTS.md and gx/expectations/*.json are generated files users read: they must be what the
    contracts give now (regenerate with ``python -m orchestration.loading.gx_contracts``)."""
    committed = (GX_DIR.parent / "CONTRACTS.md").read_text(encoding="utf-8")
    assert contract_reference() == committed, "CONTRACTS.md is stale: regenerate it"
    stored = sorted(p.stem for p in (GX_DIR / "expectations").glob("*.json"))
    assert stored == sorted(CONTRACTS)
    for name, contract in CONTRACTS.items():
        on_disk = json.loads((GX_DIR / "expectations" / f"{name}.json").read_text())
        assert _without_ids(on_disk) == suite_json(contract), f"{name}.json is stale: regenerate it"


def test_the_reference_spells_out_each_rule():
    """Lines of the reference written out by hand from the contracts: a snapshot's kind and key, a range,
    the not-future tolerance, the phone rule, a code list and a foreign key."""
    reference = contract_reference().splitlines()
    assert reference[0] == "# Data contract reference"
    assert (
        "Folder `landing/shop/promotions/` · kind **snapshot** (latest version per key wins) · primary key "
        "`promotion_id`"
    ) in reference
    assert "| `discount_pct` | double | yes | ≥ 0; ≤ 100 | Discount in percent of the basket. |" in reference
    assert (
        "| `contacted_at` | timestamp | yes | not after the load (+ 1 day) | When the contact happened. |"
        in (reference)
    )
    assert any(
        line.startswith("| `phone` | varchar | no | phone (read as E.164 in staging") for line in reference
    )
    assert "Foreign key: `campaign_id` must exist in `marketing__campaigns.campaign_id`." in reference
    reviews = next(line for line in reference if line.startswith("Folder `landing/shop/reviews/`"))
    assert "kind **event** (one row per key) · primary key `review_id, order_id`" in reviews


def test_write_suites_fills_a_file_context_and_replaces_what_it_held(tmp_path):
    """Each contract's suite lands as ``<dir>/expectations/<name>.json``; writing again replaces a suite
    of the same name instead of failing or keeping the old one."""
    directory = tmp_path / "gx"
    written = write_suites(directory)
    assert sorted(p.name for p in written) == sorted(f"{name}.json" for name in CONTRACTS)
    assert all(p.parent == directory / "expectations" for p in written)
    orders = directory / "expectations" / "shop__orders.json"
    assert _without_ids(json.loads(orders.read_text())) == suite_json(CONTRACTS["shop__orders"])
    stale = json.loads(orders.read_text())
    stale["expectations"] = stale["expectations"][:1]
    orders.write_text(json.dumps(stale))
    assert write_suites(directory) == written
    assert _without_ids(json.loads(orders.read_text())) == suite_json(CONTRACTS["shop__orders"])
