"""The moves between the DuckDB file and Spark (orchestration/engines.py), on hand-made tables.

The whole round trip through Spark is tests/test_spark_engine.py; here each move is checked on its own with
DuckDB reading back what was written, so a broken partitioning, swap or read-back fails in a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration import engines


@pytest.fixture
def con():
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema raw; create schema ml; create schema marts")
        con.execute(
            "create table raw.web__events as select * from (values "
            "('e1', timestamptz '2024-01-31 23:30:00+00'), ('e2', timestamptz '2024-02-01 00:30:00+01'), "
            "('e3', timestamptz '2024-02-29 12:00:00+00')) t(event_id, event_at)"
        )
        con.execute("create table raw.web__sessions (session_id varchar, started_at timestamptz)")
        con.execute("create table ml.bundles as select 'a' as product_a, 1.5::double as lift")
        con.execute("create table marts.not_a_source as select 1 as x")
        yield con


def test_events_are_written_by_utc_month_and_read_back_whole(con, tmp_path: Path):
    rows = engines.export_to_lake(con, tmp_path, ("raw", "ml"))
    assert rows == {"raw.web__events": 3, "raw.web__sessions": 0, "ml.bundles": 1}
    folder = tmp_path / "raw" / "web__events"
    # e2 is 2024-01-31 23:30 UTC: its month is January, not its local February.
    assert sorted(p.name for p in folder.iterdir()) == ["_month=2024-01", "_month=2024-02"]
    back = con.execute(
        f"select event_id, _month from read_parquet('{folder}/*/*.parquet', hive_partitioning = true) order by 1"
    ).fetchall()
    assert back == [("e1", "2024-01"), ("e2", "2024-01"), ("e3", "2024-02")]
    # An empty partitioned table still leaves one file with its columns, which Spark needs to read it.
    empty = con.execute(
        f"describe select * from read_parquet('{tmp_path}/raw/web__sessions/*.parquet')"
    ).fetchall()
    assert [c[0] for c in empty] == ["session_id", "started_at"]
    assert not (tmp_path / "marts").exists()


def test_a_new_export_replaces_the_folder_whole(con, tmp_path: Path):
    engines.export_to_lake(con, tmp_path, ("raw",))
    con.execute("delete from raw.web__events where event_id <> 'e3'")
    engines.export_to_lake(con, tmp_path, ("raw",))
    folder = tmp_path / "raw" / "web__events"
    assert [p.name for p in folder.iterdir()] == ["_month=2024-02"]
    assert not list(tmp_path.glob("raw/*.tmp"))
    assert not list(tmp_path.glob("raw/*.old"))


def _write_target(target: Path, nodes: dict, results: list) -> None:
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    (target / "run_results.json").write_text(json.dumps({"results": results}))


def test_built_tables_are_the_successful_table_models(tmp_path: Path):
    def node(schema, name, materialized, kind="model"):
        return {"resource_type": kind, "schema": schema, "name": name, "alias": name,
                "config": {"materialized": materialized}}  # fmt: skip

    nodes = {
        "model.ecrm.a": node("marts", "a", "table"),
        "model.ecrm.b": node("staging", "b", "view"),
        "model.ecrm.c": node("marts", "c", "table"),
        "model.ecrm.d": node("intermediate", "d", "incremental"),
        "test.ecrm.t": node("marts", "t", "test", kind="test"),
    }
    results = [
        {"unique_id": "model.ecrm.a", "status": "success"},
        {"unique_id": "model.ecrm.b", "status": "success"},
        {"unique_id": "model.ecrm.c", "status": "error"},
        {"unique_id": "model.ecrm.d", "status": "success"},
        {"unique_id": "test.ecrm.t", "status": "pass"},
    ]
    _write_target(tmp_path / "target", nodes, results)
    assert engines.built_tables(tmp_path / "target") == [("intermediate", "d"), ("marts", "a")]


def test_spark_tables_are_read_back_with_their_types(con, tmp_path: Path):
    folder = engines.spark_table_folder(tmp_path, "marts", "fct_orders")
    folder.mkdir(parents=True)
    # Two part files, as Spark writes them, with a timestamp without zone (Spark's timestamp_ntz).
    con.execute(f"copy (select 'o1' as order_id, timestamp '2024-01-01 10:00' as ordered_at, 2.5::double as revenue) "
                f"to '{folder}/part-00000.parquet'")  # fmt: skip
    con.execute(
        f"copy (select 'o2' as order_id, timestamp '2024-01-02 11:00' as ordered_at, 4.0::double as revenue) to '{folder}/part-00001.parquet'"
    )
    (folder / "_SUCCESS").write_text("")
    con.execute("create table marts.fct_orders as select 'stale' as order_id")
    rows = engines.import_from_spark(con, tmp_path, [("marts", "fct_orders")])
    assert rows == {"marts.fct_orders": 2}
    assert con.execute("select * from marts.fct_orders order by 1").fetchall()[1][0] == "o2"
    types = dict(con.execute("select column_name, column_type from (describe marts.fct_orders)").fetchall())
    assert types == {"order_id": "VARCHAR", "ordered_at": "TIMESTAMP", "revenue": "DOUBLE"}
    with pytest.raises(FileNotFoundError, match=r"marts\.missing"):
        engines.import_from_spark(con, tmp_path, [("marts", "missing")])


def test_each_engine_has_its_profile_target():
    profiles = (Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml").read_text()
    for engine, target in engines.DBT_TARGETS.items():
        assert f"\n    {target}:\n" in profiles, engine
    with pytest.raises(ValueError, match="unknown engine 'oracle'"):
        engines.dbt_target("oracle")


def test_a_cluster_output_is_chosen_by_name_on_spark_only(monkeypatch):
    monkeypatch.delenv("ECRM_SPARK_TARGET", raising=False)
    assert (engines.dbt_target("duckdb"), engines.dbt_target("spark")) == ("dev", "spark")
    monkeypatch.setenv("ECRM_SPARK_TARGET", "spark_cluster")
    assert (engines.dbt_target("duckdb"), engines.dbt_target("spark")) == ("dev", "spark_cluster")
    # The profile's commented cluster example carries the settings both engines' figures depend on.
    profiles = (Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml").read_text()
    example = profiles[profiles.index("#   spark_cluster:") :]
    for setting in (
        "method: thrift",
        "spark.sql.session.timeZone: UTC",
        "spark.sql.timestampType: TIMESTAMP_NTZ",
    ):
        assert setting in example, setting
