"""The DuckDB warehouse: connecting, the tables Python assets own, and publishing a read-only copy."""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

# Tables the Python models write and dbt reads back as the `ml` source. Created empty up front so that
# `dbt build` works on a warehouse where no model has run yet.
ML_TABLES = {
    "customer_predictions": """
        customer_id varchar, frequency double, recency double, "T" double, monetary_value double,
        probability_alive double, expected_purchases_30d double, expected_purchases_90d double,
        expected_purchases_365d double, expected_order_value double, clv_12m double, clv_margin_12m double,
        churn_risk double, churn_model varchar, expected_next_order_date date,
        predicted_at timestamptz,
        expected_purchases_90d_low double, expected_purchases_90d_high double, clv_12m_low double,
        clv_12m_high double, clv_3m double, clv_36m double, clv_annual_discount_rate double,
        churn_risk_relative double
    """,
    "recommendations": """
        customer_id varchar, rank integer, product_id varchar, score double, reason varchar, source varchar
    """,
    "association_rules": """
        level varchar, antecedents varchar, consequents varchar, n_items integer, support double,
        confidence double, lift double, leverage double, conviction double
    """,
    "model_quality": """
        model varchar, metric varchar, segment varchar, value double, lower_bound double, upper_bound double,
        threshold double, passed boolean, computed_at timestamptz
    """,
    "bundles": """
        product_a varchar, product_b varchar, count bigint, support double, lift double,
        confidence_a_to_b double, confidence_b_to_a double, combined_list_price double,
        combined_unit_cost double, combined_margin double, suggested_discount_pct double, bundle_price double,
        bundle_margin double, margin_kept double
    """,
}


@contextmanager
def connect(path: Path | str, read_only: bool = False, wait_seconds: float = 0.0):
    """A DuckDB connection to the warehouse file, closed on exit; session time zone UTC.

    DuckDB lets one process write a file at a time. With ``wait_seconds`` a lock still held by another
    process (dbt's subprocess closing the file just after Dagster reports its step done) is waited for,
    retrying every half second, before the lock error is raised.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
    try:
        con.execute("set TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def ensure_ml_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``ml`` schema and its tables if missing, and add columns a newer release declares to the
    tables of an older warehouse (null until the models run again)."""
    con.execute("create schema if not exists ml")
    for name, columns in ML_TABLES.items():
        con.execute(f"create table if not exists ml.{name} ({columns})")
        present = {
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'ml' and table_name = ?",
                [name],
            ).fetchall()
        }
        for column in (c.strip() for c in columns.split(",")):
            column_name, column_type = column.split()[0], " ".join(column.split()[1:])
            if column_name.strip('"') not in present:
                con.execute(f"alter table ml.{name} add column {column_name} {column_type}")


def replace_table(con: duckdb.DuckDBPyConnection, schema: str, name: str, frame) -> int:
    """Replace ``schema.name`` with the rows of a pandas DataFrame, keeping the declared ML column order."""
    con.execute(f"create schema if not exists {schema}")
    con.register("_ecrm_frame", frame)
    try:
        if schema == "ml" and name in ML_TABLES:
            ensure_ml_tables(con)
            cols = [c.strip().split()[0].strip('"') for c in ML_TABLES[name].split(",")]
            # By name, so a model may add or omit columns; what it omits is null.
            select = ", ".join(f'"{c}"' if c in frame.columns else f'null as "{c}"' for c in cols)
            con.execute(f"delete from ml.{name}")
            # Columns named, as a table from an older release has its added columns at the end.
            names = ", ".join(f'"{c}"' for c in cols)
            con.execute(f"insert into ml.{name} ({names}) select {select} from _ecrm_frame")
        else:
            con.execute(f"create or replace table {schema}.{name} as select * from _ecrm_frame")
    finally:
        con.unregister("_ecrm_frame")
    return int(con.execute(f"select count(*) from {schema}.{name}").fetchone()[0])


def publish(warehouse: Path, published: Path) -> Path:
    """Copy the warehouse to ``published`` atomically, for readers (one DuckDB writer at a time).

    Dashboards and notebooks open the copy read-only, so a running pipeline never blocks a manager's page.
    The copy is crash-safe: a checkpoint first moves everything committed out of DuckDB's write-ahead log
    (``<warehouse>.wal``, which is not copied) into the file; the file is copied to ``<published>.tmp``,
    flushed to disk, and renamed over the old copy in one step. A process killed at any point leaves the old
    copy whole (at worst a stale ``.tmp``, overwritten next time), and a reader that has the old copy open
    keeps reading it: the rename swaps the name, not the file under the reader.
    """
    # dbt's subprocess may still be closing the file just after its step reported done: wait for it.
    with connect(warehouse, wait_seconds=30) as con:
        con.execute("checkpoint")
    published.parent.mkdir(parents=True, exist_ok=True)
    tmp = published.with_name(published.name + ".tmp")
    with open(warehouse, "rb") as source, open(tmp, "wb") as target:
        shutil.copyfileobj(source, target, COPY_CHUNK_BYTES)
        target.flush()
        # Without it a power cut just after the rename can leave an empty file under the published name.
        os.fsync(target.fileno())
    os.replace(tmp, published)
    _fsync_directory(published.parent)
    return published


# 8 MiB reads: a gigabyte warehouse copies in a second or two either way; fewer system calls.
COPY_CHUNK_BYTES = 8 << 20


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open a folder and needs nothing)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
