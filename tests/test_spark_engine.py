"""The same landing files built by the whole pipeline on DuckDB and on Apache Spark give the same warehouse.

About 2,000 generated customers are loaded once and run through ``ecrm run``'s pipeline twice, into two
warehouse files: once with dbt-duckdb (the default), once with ``ECRM_ENGINE=spark`` (dbt-spark, PySpark in
local mode). The DuckDB build is the reference the Spark build must reproduce: the same tables with the
same row counts and column types, the same customer for the same source records, the same key figures per
segment, and a published copy readers can use. Spark's own start-up makes this the slowest module (about
five minutes); it runs beside the rest of the suite on its own worker.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import duckdb
import pytest

from orchestration.engines import spark_unavailable
from tests.conftest import _run_on_landing, environment_kept

CUSTOMERS = 2_000
SEED = 23
# Relative tolerance for sums of floating-point columns: the engines add the same values in another order.
REL_TOL = 1e-9


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    reason = spark_unavailable()
    if reason:
        pytest.skip(reason)
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("engines")
    generate(root, customers=CUSTOMERS, seed=SEED)
    built = {}
    with environment_kept():
        # One core: the suite's other worker runs the browser tests at the same time, and a Spark session on
        # every core starved them (a CSV download waited more than a minute).
        os.environ["ECRM_SPARK_CORES"] = "1"
        for engine in ("duckdb", "spark"):
            built[engine] = _run_on_landing(
                root,
                min_repeat_customers="50",
                verbose=False,
                warehouse=root / engine / "ecrm.duckdb",
                engine=engine,
            )
    return built


def _tables(warehouse: Path, schemas: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Column types of every table of ``schemas``, by ``schema.table``."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select c.table_schema || '.' || c.table_name, c.column_name, c.data_type "
            "from information_schema.columns c join information_schema.tables t "
            "using (table_catalog, table_schema, table_name) "
            f"where t.table_type = 'BASE TABLE' and c.table_schema in ({', '.join('?' for _ in schemas)}) "
            "order by c.table_schema, c.table_name, c.ordinal_position",
            list(schemas),
        ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, {})[column] = data_type
    return tables


def _one(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _on_both(runs, sql: str) -> tuple[list[tuple], list[tuple]]:
    """The rows of ``sql`` in the DuckDB-built warehouse and in the Spark-built one."""
    return _one(runs["duckdb"].warehouse, sql), _one(runs["spark"].warehouse, sql)


def _agree(a, b, rel_tol: float, abs_tol: float = 0.0) -> bool:
    """Whether two figures of the engines agree: equal (both null included) or within the tolerance."""
    return a == b or (
        a is not None and b is not None and math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    )


def test_both_runs_succeed_and_spark_built_its_tables(runs):
    for engine, run in runs.items():
        assert run.report.success, f"{engine}:\n{run.report.render()}"
    spark_root = runs["spark"].warehouse.parent / "spark"
    # The marts were read back from Spark's own Parquet files, and the web events went out by month.
    assert (spark_root / "warehouse" / "marts.db" / "customer_360").is_dir()
    months = sorted(p.name for p in (spark_root / "lake" / "raw" / "web__events").iterdir())
    assert months
    assert all(m.startswith("_month=20") for m in months), months


def test_every_table_has_the_same_rows_and_the_marts_the_same_types(runs):
    duck = _tables(runs["duckdb"].warehouse, ("intermediate", "marts", "ml"))
    spark = _tables(runs["spark"].warehouse, ("intermediate", "marts", "ml"))
    assert sorted(spark) == sorted(duck)
    assert len([t for t in duck if t.startswith("marts.")]) >= 40
    for table, columns in duck.items():
        assert list(spark[table]) == list(columns), f"{table}: columns differ"
        if table.startswith("marts."):
            # Enforced contracts: the same declared type whichever engine built it.
            assert spark[table] == columns, table
    for table in duck:
        counts = [_one(run.warehouse, f"select count(*) from {table}")[0][0] for run in runs.values()]
        assert counts[0] == counts[1], f"{table}: {counts[0]} rows on DuckDB, {counts[1]} on Spark"


def test_every_mart_column_sums_to_the_same(runs):
    """Each numeric column's sum, each text column's distinct count, each column's non-null count."""
    duck = _tables(runs["duckdb"].warehouse, ("marts",))
    for table, columns in sorted(duck.items()):
        exprs = []
        for column, data_type in columns.items():
            exprs.append(f'count("{column}")')
            if data_type in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "HUGEINT") or data_type.startswith(
                "DECIMAL"
            ):
                exprs.append(f'sum("{column}")::double')
            elif data_type == "VARCHAR":
                exprs.append(f'count(distinct "{column}")')
        sql = f"select {', '.join(exprs)} from {table}"
        on_duckdb, on_spark = (rows[0] for rows in _on_both(runs, sql))
        for expr, a, b in zip(exprs, on_duckdb, on_spark, strict=True):
            assert _agree(a, b, REL_TOL), f"{table} {expr}: {a} on DuckDB, {b} on Spark"


def test_the_same_source_records_make_the_same_customer(runs):
    sql = (
        "select source, source_id, customer_id from intermediate.int_identity__customer_keys "
        "order by source, source_id, customer_id"
    )
    on_duckdb, on_spark = _on_both(runs, sql)
    assert len(on_duckdb) > 4_000
    assert on_spark == on_duckdb
    customers = {row[2] for row in on_duckdb}
    assert 2_000 <= len(customers) <= 5_000


def test_key_figures_per_segment_agree(runs):
    sql = (
        "select rfm_segment, customers, revenue, gross_margin, orders_per_customer "
        "from marts.profiling__segments order by rfm_segment"
    )
    on_duckdb, on_spark = _on_both(runs, sql)
    assert len(on_duckdb) >= 5
    # The segments add up to the orders fact on each engine (a reconciliation between layers).
    for run, rows in zip(runs.values(), (on_duckdb, on_spark), strict=True):
        revenue = _one(run.warehouse, "select sum(revenue) from marts.fct_orders")[0][0]
        assert math.isclose(sum(float(r[2]) for r in rows), float(revenue), rel_tol=1e-9)
    for a, b in zip(on_duckdb, on_spark, strict=True):
        assert a[:2] == b[:2]
        assert all(_agree(x, y, REL_TOL) for x, y in zip(a[2:], b[2:], strict=True)), (a, b)


def test_every_order_carries_exactly_the_same_amounts(runs):
    """An order's sums of lines and returns do not depend on the order an engine adds them in."""
    sql = (
        "select order_id, gross_sales, cost, refund_amount, returned_cost, revenue, gross_margin, net_revenue, "
        "net_margin "
        "from marts.fct_orders order by order_id"
    )
    on_duckdb, on_spark = _on_both(runs, sql)
    assert len(on_duckdb) > 1_000
    assert on_spark == on_duckdb


def test_predictions_agree_customer_by_customer(runs):
    """The Python models read the Spark marts and fit the same models: the same value per customer."""
    sql = (
        "select customer_id, probability_alive, clv_12m, churn_risk "
        "from ml.customer_predictions order by customer_id"
    )
    on_duckdb, on_spark = _on_both(runs, sql)
    assert len(on_duckdb) > 1_000
    assert [r[0] for r in on_spark] == [r[0] for r in on_duckdb]
    for a, b in zip(on_duckdb, on_spark, strict=True):
        for x, y in zip(a[1:], b[1:], strict=True):
            assert _agree(x, y, rel_tol=1e-6, abs_tol=1e-9), (a, b)


def test_the_published_copy_holds_the_spark_marts(runs):
    run = runs["spark"]
    sql = "select count(*), sum(revenue) from marts.fct_orders"
    assert _one(run.published, sql) == _one(run.warehouse, sql)
    customers = _one(run.published, "select count(*) from marts.customer_360")[0][0]
    assert customers == _one(runs["duckdb"].published, "select count(*) from marts.customer_360")[0][0]
