"""End to end: demo landing files -> contracts -> dbt build, checked against the landing files themselves.

The expected figures are computed from the CSV files with pandas, independently of the warehouse: the
landing files minus the rows listed in ``truth/bad_rows.csv`` are exactly the clean data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pipeline_fixtures import DBT_PROJECT, Pipeline, built_pipeline, private_copy, query, run_dbt


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return built_pipeline(tmp_path_factory)


def _clean_rows(pipeline: Pipeline, source: str, entity: str) -> pd.DataFrame:
    """All rows of an entity's landing files minus the generator's listed bad rows."""
    bad = pd.read_csv(pipeline.truth / "bad_rows.csv", dtype=str)
    bad_keys = set(zip(bad["file"], bad["row_number"].astype(int), strict=True))
    frames = []
    for path in sorted((pipeline.landing / source / entity).glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        rel = path.relative_to(pipeline.landing).as_posix()
        keep = [(rel, i + 1) not in bad_keys for i in range(len(frame))]
        frames.append(frame[keep])
    return pd.concat(frames, ignore_index=True)


def test_dbt_build_ran_every_model_and_test(pipeline: Pipeline) -> None:
    results = json.loads(pipeline.build_results.read_text())["results"]
    statuses = {r["status"] for r in results}
    assert statuses <= {"success", "pass"}, statuses
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test", "unit_test"} <= kinds
    models = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert {
        "customer_360",
        "fct_orders",
        "customer_identity_map",
        "promotion__campaign_effectiveness",
    } <= models


def test_orders_and_revenue_reconcile_with_landing_files(pipeline: Pipeline) -> None:
    orders = _clean_rows(pipeline, "shop", "orders")
    lines = _clean_rows(pipeline, "shop", "order_lines")
    lines = lines[lines["order_id"].isin(orders["order_id"])]
    gross = (
        (lines["quantity"].astype(int) * lines["unit_price"].astype(float)).groupby(lines["order_id"]).sum()
    )
    expected = orders.set_index("order_id")["discount_amount"].astype(float).mul(-1).add(gross, fill_value=0)

    facts = query(pipeline, "select order_id, revenue from marts.fct_orders").set_index("order_id")["revenue"]

    assert len(facts) == len(orders)
    assert set(facts.index) == set(orders["order_id"])
    assert facts.sum() == pytest.approx(expected.sum(), abs=0.01)
    assert (facts - expected.reindex(facts.index)).abs().max() < 0.005


def test_order_lines_of_missing_orders_are_excluded(pipeline: Pipeline) -> None:
    orders = _clean_rows(pipeline, "shop", "orders")
    lines = _clean_rows(pipeline, "shop", "order_lines")
    kept = lines[lines["order_id"].isin(orders["order_id"])]
    n_lines = query(pipeline, "select count(*) as n from marts.fct_order_lines")["n"].iloc[0]
    assert n_lines == len(kept)


def test_customer_360_has_one_row_per_customer_and_reconciles(pipeline: Pipeline) -> None:
    c360 = query(pipeline, "select customer_id, orders, revenue, tickets from marts.customer_360")
    identity = query(pipeline, "select distinct customer_id from marts.customer_identity_map")
    assert c360["customer_id"].is_unique
    assert set(c360["customer_id"]) == set(identity["customer_id"])

    facts = query(
        pipeline,
        """
        select
            (select count(*) from marts.fct_orders) as orders,
            (select sum(revenue) from marts.fct_orders) as revenue,
            (select count(*) from marts.fct_support_tickets) as tickets
    """,
    ).iloc[0]
    assert c360["orders"].sum() == facts["orders"]
    assert c360["revenue"].sum() == pytest.approx(facts["revenue"], abs=0.01)
    assert c360["tickets"].sum() == facts["tickets"]

    # Every clean ticket of the landing files reaches a customer.
    tickets = _clean_rows(pipeline, "crm", "tickets")
    assert facts["tickets"] == len(tickets)

    per_customer = query(
        pipeline,
        """
        select c.customer_id, c.orders, count(o.order_id) as fact_orders
        from marts.customer_360 c left join marts.fct_orders o using (customer_id)
        group by c.customer_id, c.orders
        having c.orders <> count(o.order_id)
    """,
    )
    assert per_customer.empty


def test_rfm_segments_cover_all_buyers(pipeline: Pipeline) -> None:
    seg = query(
        pipeline,
        "select rfm_segment, count(*) as n, min(orders) as min_orders "
        "from marts.customer_360 group by rfm_segment",
    )
    by_segment = seg.set_index("rfm_segment")
    assert by_segment.loc["prospect", "min_orders"] == 0
    buyers = query(pipeline, "select count(*) as n from marts.customer_360 where orders > 0")["n"].iloc[0]
    assert seg.loc[seg["rfm_segment"] != "prospect", "n"].sum() == buyers
    assert {"champions", "lost", "new"} <= set(seg["rfm_segment"])


def _table_fingerprint(pipeline: Pipeline, table: str) -> tuple:
    return tuple(
        query(
            pipeline,
            f"select count(*) as n, hash(string_agg(t::varchar, '' order by t::varchar)) as h from {table} t",
        ).iloc[0]
    )


def test_predictions_and_rules_flow_into_the_marts(pipeline: Pipeline, tmp_path: Path) -> None:
    shared = pipeline
    before = {t: _table_fingerprint(shared, t) for t in ("ml.customer_predictions", "marts.customer_360")}
    pipeline = private_copy(shared, tmp_path / "own_warehouse")
    con = duckdb.connect(str(pipeline.warehouse))
    try:
        buyers = [
            r[0]
            for r in con.execute(
                "select customer_id from marts.fct_orders group by customer_id order by customer_id limit 20"
            ).fetchall()
        ]
        products = [
            r[0]
            for r in con.execute(
                "select product_id from marts.dim_products order by product_id limit 7"
            ).fetchall()
        ]
        con.executemany(
            "insert into ml.customer_predictions (customer_id, probability_alive, clv_12m, churn_risk, "
            "churn_risk_relative, expected_next_order_date, predicted_at) values (?, 0.8, 120.5, 0.2, 0.2, "
            "date '2026-02-01', timestamptz '2026-01-01 00:00:00+00')",
            [[c] for c in buyers],
        )
        con.executemany(
            "insert into ml.recommendations values (?, ?, ?, ?, 'bought together', 'rules')",
            [[c, rank, p, 1.0 / rank] for c in buyers[:5] for rank, p in enumerate(products, start=1)],
        )
        con.execute(
            "insert into ml.association_rules values (?, ?, ?, 3, 0.01, 0.5, 3.2, 0.004, 1.8)",
            ["product", f"{products[0]} | {products[1]}", products[2]],
        )
    finally:
        con.close()
    run_dbt(pipeline, "build", "--select", "customer_360+", "product__affinities")

    c360 = query(
        pipeline, "select customer_id, clv_12m, churn_band, recommended_product_ids from marts.customer_360"
    )
    scored = c360[c360["clv_12m"].notna()]
    assert set(scored["customer_id"]) == set(buyers)
    # A relative risk of 0.2 is below the first threshold (0.3): dbt calls it low.
    assert (scored["churn_band"] == "low").all()
    recommended = c360.dropna(subset=["recommended_product_ids"])
    assert len(recommended) == 5
    assert (recommended["recommended_product_ids"] == ", ".join(products[:5])).all()
    rules = query(pipeline, "select antecedent_names, consequent_names from marts.product__affinities")
    names = query(
        pipeline,
        "select product_name from marts.dim_products where product_id in (?, ?, ?) order by product_id",
        products[:3],
    )
    assert rules["antecedent_names"].iloc[0] == " | ".join(names["product_name"][:2])
    assert rules["consequent_names"].iloc[0] == names["product_name"].iloc[2]
    # The fake predictions went into this test's own copy only.
    assert {t: _table_fingerprint(shared, t) for t in before} == before


def test_docs_describe_every_mart_column(pipeline: Pipeline) -> None:
    run_dbt(pipeline, "docs", "generate")
    catalog = json.loads((pipeline.target / "catalog.json").read_text())
    manifest = json.loads((pipeline.target / "manifest.json").read_text())
    missing = []
    marts = 0
    for unique_id, entry in catalog["nodes"].items():
        if entry["metadata"]["schema"] != "marts":
            continue
        marts += 1
        node = manifest["nodes"][unique_id]
        documented = {
            name.lower(): col.get("description", "").strip() for name, col in node["columns"].items()
        }
        if not node.get("description", "").strip():
            missing.append(unique_id)
        missing += [f"{unique_id}.{c}" for c in entry["columns"] if not documented.get(c.lower())]
    assert marts >= 19
    assert missing == []


def test_staging_normalises_phones_and_emails(pipeline: Pipeline) -> None:
    crm = query(pipeline, "select email, phone_e164, phone_as_entered from staging.stg_crm__customers")
    emails = crm["email"].dropna()
    assert (emails == emails.str.strip().str.lower()).all()
    phones = crm.dropna(subset=["phone_as_entered"])
    # Every phone typed in any of the common styles is readable as E.164.
    assert phones["phone_e164"].notna().mean() > 0.99
    assert phones["phone_e164"].dropna().str.fullmatch(r"\+[1-9]\d{7,14}").all()


def test_sql_follows_the_style_rules(pipeline: Pipeline) -> None:
    """SQLFluff (config in dbt_project/.sqlfluff, dbt templater) finds nothing to complain about."""
    # dbt's templater parses into a target folder of this test's own: the project's default one holds the
    # manifest every other process of the suite (another worker's `ecrm run`, say) reads the assets from.
    env = {
        **os.environ,
        "ECRM_WAREHOUSE": str(pipeline.warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DBT_TARGET_PATH": str(pipeline.root / "sqlfluff_target"),
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sqlfluff")), "lint", "models", "tests", "--format", "json"],
        cwd=DBT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    problems = [
        f"{f['filepath']}:{v.get('start_line_no', v.get('line_no'))} {v['code']} {v['description']}"
        for f in report
        for v in f["violations"]
    ]
    assert len(report) >= 40
    assert problems == []


def test_project_files_are_where_dagster_expects_them() -> None:
    project = Path(__file__).resolve().parents[1] / "dbt_project"
    assert (project / "dbt_project.yml").exists()
    assert (project / "profiles.yml").exists()
    staging = sorted(p.stem for p in (project / "models" / "staging").rglob("stg_*.sql"))
    raw = [s for s in staging if not s.startswith("stg_ml__")]
    # One staging model per data contract, named stg_<source>__<entity>.
    from orchestration.contracts import load_contracts

    assert raw == sorted(f"stg_{name}" for name in load_contracts())
