"""The ``ml`` tables the Python models write: created as declared, and brought up to date in an older warehouse."""

from __future__ import annotations

import duckdb
import pandas as pd

from orchestration.warehouse import ML_TABLES, ensure_ml_tables, replace_table


def test_an_older_predictions_table_gains_the_new_columns_and_rows_land_by_name():
    con = duckdb.connect()
    con.execute("create schema ml")
    # A warehouse written by an earlier release: fewer columns, in another order.
    con.execute("create table ml.customer_predictions (clv_12m double, customer_id varchar)")
    con.execute("insert into ml.customer_predictions values (1.0, 'old')")
    ensure_ml_tables(con)
    declared = {c.strip().split()[0].strip('"') for c in ML_TABLES["customer_predictions"].split(",")}
    present = {r[0] for r in con.execute("describe ml.customer_predictions").fetchall()}
    assert present == declared
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "clv_12m": [5.0, 7.5],
            "clv_12m_low": [0.0, 1.0],
            "churn_model": ["classifier"] * 2,
        }
    )
    assert replace_table(con, "ml", "customer_predictions", frame) == 2
    got = con.execute(
        "select customer_id, clv_12m, clv_12m_low, churn_model, frequency from ml.customer_predictions order by 1"
    ).fetchall()
    assert got == [("a", 5.0, 0.0, "classifier", None), ("b", 7.5, 1.0, "classifier", None)]
    ensure_ml_tables(con)  # idempotent
    assert {r[0] for r in con.execute("describe ml.customer_predictions").fetchall()} == declared
