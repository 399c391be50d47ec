"""The whole flow on generated data: landing files → contracts → dbt → models → published copy."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e


def landing_truth(landing, truth) -> tuple[int, float]:
    """Orders and revenue the landing files hold once the rows listed in bad_rows.csv are taken out."""
    bad = pd.read_csv(truth / "bad_rows.csv")
    bad_keys = set(zip(bad["file"], bad["row_number"], strict=True))

    def good_rows(entity: str) -> pd.DataFrame:
        frames = []
        for path in sorted((landing / "shop" / entity).glob("*.csv")):
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            rel = path.relative_to(landing).as_posix()
            df["_row_number"] = range(1, len(df) + 1)
            frames.append(df[[(rel, n) not in bad_keys for n in df["_row_number"]]])
        return pd.concat(frames, ignore_index=True)

    orders = good_rows("orders")
    lines = good_rows("order_lines")
    lines = lines[lines["order_id"].isin(orders["order_id"])]
    gross = (lines["quantity"].astype(float) * lines["unit_price"].astype(float)).sum()
    return len(orders), float(gross - orders["discount_amount"].astype(float).sum())


def test_run_succeeds_with_no_failed_blocking_checks(pipeline_run):
    report = pipeline_run.report
    assert report.success, report.render()
    assert not report.failed_steps
    assert not [c for c in report.failed_checks if "(ERROR)" in c], report.failed_checks


def test_orders_and_revenue_reconcile_from_landing_to_mart(pipeline_run):
    expected_orders, expected_revenue = landing_truth(pipeline_run.landing, pipeline_run.truth)
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
        orders, revenue = con.execute("select count(*), sum(revenue) from marts.fct_orders").fetchone()
    assert orders == expected_orders
    assert revenue == pytest.approx(expected_revenue, abs=0.01)


def test_every_bad_row_is_quarantined_with_its_rule_and_no_other(pipeline_run):
    bad = pd.read_csv(pipeline_run.truth / "bad_rows.csv")
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'quarantine'"
            ).fetchall()
        ]
        quarantined = pd.concat(
            [
                con.execute(
                    f"select _source_file as file, _row_number as row_number, _rules as rule "
                    f'from quarantine."{t}"'
                ).fetch_df()
                for t in tables
            ],
            ignore_index=True,
        )
        manifest = con.execute("select * from ops.load_manifest").fetch_df()
    expected = set(zip(bad["file"], bad["row_number"], bad["rule"], strict=True))
    actual = set(zip(quarantined["file"], quarantined["row_number"], quarantined["rule"], strict=True))
    assert actual == expected
    assert (manifest["rows_read"] == manifest["rows_loaded"] + manifest["rows_quarantined"]).all()


def test_models_wrote_predictions_rules_and_recommendations(pipeline_run):
    with duckdb.connect(str(pipeline_run.published), read_only=True) as con:
        n_customers = con.execute("select count(*) from marts.customer_360").fetchone()[0]
        n_rules = con.execute("select count(*) from ml.association_rules").fetchone()[0]
        buyers = con.execute("select count(distinct customer_id) from marts.fct_orders").fetchone()[0]
        with_recs = con.execute("select count(distinct customer_id) from ml.recommendations").fetchone()[0]
        quality = con.execute("select count(*) from ml.model_quality").fetchone()[0]
    assert n_customers >= buyers > 0
    assert n_rules > 0
    assert with_recs == buyers
    assert quality > 0


def test_second_run_changes_no_raw_table(pipeline_run):
    from orchestration.contracts import load_contracts
    from orchestration.pipeline import run_pipeline

    def snapshot():
        with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
            tables = {f"raw.{n}" for n in load_contracts()} | {f"quarantine.{n}" for n in load_contracts()}
            out = {
                t: con.execute(f"select count(*), sum(hash(t)) from {t} t").fetchone() for t in sorted(tables)
            }
            out["manifest"] = con.execute("select count(*), sum(hash(t)) from ops.load_manifest t").fetchone()
            return out

    before = snapshot()
    report = run_pipeline()
    assert report.success, report.render()
    assert snapshot() == before
