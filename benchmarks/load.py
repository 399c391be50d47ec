"""Loading speed through the contracts against DuckDB's own CSV reader (the floor).

    python benchmarks/load.py --lines 10000000

Writes synthetic shop files (products, orders, order lines; order lines = ``--lines``, in ten monthly
files, with 0.1 % bad rows), then measures in fresh processes: the contract loader (``load_landing``) and the
floor, ``CREATE TABLE AS SELECT * FROM read_csv(...)`` of the same files. Prints a table and writes
``benchmarks/results/load_<lines>.json``. Goal: 10 million lines well under a minute, within 2x the floor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import duckdb
from measure import measure

RESULTS = Path(__file__).resolve().parent / "results"

LOADER = """
import duckdb
from pathlib import Path
from orchestration.loading.loader import load_landing
con = duckdb.connect({db!r})
results = load_landing(con, Path({landing!r}))
assert all(r.rows_read == r.rows_loaded + r.rows_quarantined for r in results)
"""

FLOOR = """
import duckdb
con = duckdb.connect({db!r})
for entity in ("products", "orders", "order_lines"):
    con.execute(f"create table {{entity}} as select * from read_csv('{landing}/shop/{{entity}}/*.csv')")
"""


def write_files(landing: Path, lines: int) -> None:
    """Synthetic but contract-shaped shop files, written by DuckDB itself."""
    con = duckdb.connect()
    for entity in ("products", "orders", "order_lines"):
        (landing / "shop" / entity).mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""copy (select 'P' || i as product_id, 'Product ' || i as product_name, 'cat' || (i % 10) as category,
                  null as subcategory, 'brand' as brand, 10.0 + i % 50 as list_price, 5.0 as unit_cost,
                  'EUR' as currency, true as is_active, '2024-01-01T00:00:00Z' as updated_at
                  from range(500) t(i)) to '{landing}/shop/products/products.csv' (header)"""
    )
    orders = lines // 5
    for month in range(10):
        lo, hi = month * orders // 10, (month + 1) * orders // 10
        con.execute(
            f"""copy (select 'O' || i as order_id, 'S' || (i % 100000) as shop_customer_id,
                      'c' || (i % 100000) || '@example.com' as email,
                      strftime(timestamp '2024-01-01' + to_minutes(i % 500000), '%Y-%m-%dT%H:%M:%SZ') as ordered_at,
                      'EUR' as currency, 'web' as sales_channel, 'desktop' as device, 'DE' as country,
                      'BY' as region, 'Munich' as city, null as promotion_code, 0.0 as discount_amount,
                      4.95 as shipping_amount from range({lo}, {hi}) t(i))
                to '{landing}/shop/orders/orders_{month:02d}.csv' (header)"""
        )
        lo_l, hi_l = month * lines // 10, (month + 1) * lines // 10
        con.execute(
            f"""copy (select 'O' || (i // 5) as order_id, i % 5 + 1 as line_number, 'P' || (i % 500) as product_id,
                      case when i % 1000 = 7 then -1 else 1 + i % 3 end as quantity, 12.5 as unit_price
                      from range({lo_l}, {hi_l}) t(i))
                to '{landing}/shop/order_lines/lines_{month:02d}.csv' (header)"""
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ecrm_load_"))
    try:
        write_files(work / "landing", args.lines)
        loader = measure(LOADER.format(db=str(work / "a.duckdb"), landing=str(work / "landing")))
        floor = measure(FLOOR.format(db=str(work / "b.duckdb"), landing=str(work / "landing")))
        loader["seconds"], floor["seconds"] = loader["wall_s"], floor["wall_s"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = args.lines + args.lines // 5 + 500
    result = {"order_lines": args.lines, "rows_all_files": rows, "loader": loader, "floor_read_csv": floor,
              "ratio": loader["seconds"] / floor["seconds"]}  # fmt: skip
    print("| run | seconds | peak MB |\n|---|---:|---:|")
    print(f"| contract loader (load_landing) | {loader['seconds']:.1f} | {loader['peak_mb']:.0f} |")
    print(f"| floor: read_csv → table | {floor['seconds']:.1f} | {floor['peak_mb']:.0f} |")
    print(f"\n{rows:,} rows; loader / floor = {result['ratio']:.2f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"load_{args.lines}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
