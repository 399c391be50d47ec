"""The engine-specific macros (dbt_project/macros/portable.sql) give the same answers on DuckDB and on Spark.

A small dbt project that holds a copy of the project's macros builds the same case tables with dbt-duckdb
and with dbt-spark (PySpark in local mode, dbt-spark's ``session`` method); the answers must be equal
between the engines and equal to truths the macros do not produce: Winkler's published Jaro-Winkler
figures, accent folding by Python's ``unicodedata``, edit distances worked out by hand, and time stamps
converted by hand.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pipeline_fixtures import DBT_PROJECT

from orchestration.engines import spark_unavailable

pytestmark = pytest.mark.e2e

NAMES = [
    "meyer", "meier", "maier", "mayer", "muller", "mueller", "schmidt", "schmitt", "smith", "jon", "john",
    "johnny", "jonathan", "martha", "marhta", "dwayne", "duane", "dixon", "dicksonx", "uwe", "uew", "vos",
    "vs", "a", "ab", "ba", "anna", "hannah", "deluca", "luca", "crate", "trace", "aaab", "abaa", "x",
    "abcdefgh", "abcdefhg", "nguyen", "ngyuen", "oconnor", "oconner", "wojciechowski", "wojciechowsky",
]  # fmt: skip

# Winkler (1990), "String comparator metrics and enhanced decision rules in the Fellegi-Sunter model of
# record linkage", Table 6 as reproduced throughout the record-linkage literature (three decimals).
WINKLER_PUBLISHED = {("martha", "marhta"): 0.961, ("dwayne", "duane"): 0.840, ("dixon", "dicksonx"): 0.813}

TEXTS = [
    "  Anna   Maria\tvon  Berg ", "Müller", "François", "Łukasz Żółć", "Nguyễn Thị Ánh", "O'Brien-Smith",
    "Ærøskøbing", "ÀÉÎÕÜ àéîõü", "a|b|c", "single", "",
]  # fmt: skip

# Every character of the blocks the Spark table covers.
ACCENT_BLOCKS = [chr(c) for lo, hi in ((0xC0, 0x250), (0x1E00, 0x1F00)) for c in range(lo, hi)]

# (group, order, value): ties on the order key, a null value, a group of nulls only.
AGGREGATED = [
    (1, 2, "b"), (1, 1, "a"), (1, 3, "c"), (2, 1, "y"), (2, 1, "x"), (2, 0, None), (3, 1, None),
]  # fmt: skip

# A time stamp with an offset, and its UTC wall clock worked out by hand.
TIMES = [
    ("2024-03-31 01:30:00+02:00", "2024-03-30 23:30:00"),
    ("2024-10-27 02:30:00+01:00", "2024-10-27 01:30:00"),
    ("2023-12-31 23:59:59-05:00", "2024-01-01 04:59:59"),
]

# A chain of 40 nodes whose smallest key is at one end (39 steps from the other end: the most a component of
# `identity_max_component_size` = 40 nodes can need), a triangle, a star and a node without edges.
CHAIN = [f"n{i:02d}" for i in range(40)]
GRAPH_EDGES = [
    *itertools.pairwise(CHAIN),
    ("c3", "c1"),
    ("c1", "c2"),
    ("c2", "c3"),
    ("s9", "s1"),
    ("s9", "s2"),
]
GRAPH_NODES = sorted({n for edge in GRAPH_EDGES for n in edge} | {"z"})
COMPONENT_OF = {**dict.fromkeys(CHAIN, "n00"), **dict.fromkeys(["c1", "c2", "c3"], "c1"),
                **dict.fromkeys(["s1", "s2", "s9"], "s1"), "z": "z"}  # fmt: skip

PROFILES = """
ecrm:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: "{warehouse}"
      threads: 1
      # A session zone other than UTC: to_utc must not depend on it.
      settings:
        TimeZone: America/New_York
    spark:
      type: spark
      method: session
      host: localhost
      schema: portable
      server_side_parameters:
        spark.sql.warehouse.dir: "{spark_dir}"
        spark.sql.session.timeZone: America/New_York
        # As in the project's profile: TIMESTAMP means Spark's TIMESTAMP_NTZ, like DuckDB's TIMESTAMP.
        spark.sql.timestampType: TIMESTAMP_NTZ
        spark.sql.shuffle.partitions: "1"
        spark.ui.enabled: "false"
"""


def _literal(text: str | None, engine: str) -> str:
    """``text`` as an SQL string literal of ``engine`` (Spark escapes quotes with a backslash)."""
    if text is None:
        return "cast(null as string)" if engine == "spark" else "cast(null as varchar)"
    if engine == "spark":
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + text.replace("'", "''") + "'"


def _values(rows: list[tuple], columns: str, engine: str) -> str:
    """An inline table of ``rows`` (ints and strings) named ``cases`` with ``columns``."""
    cells = [
        "(" + ", ".join(str(v) if isinstance(v, int) else _literal(v, engine) for v in row) + ")"
        for row in rows
    ]
    return f"select * from (values {', '.join(cells)}) as cases({columns})"


def _models(engine: str) -> dict[str, str]:
    """The case tables, written for ``engine`` (only the literals differ), each calling the macros."""
    pairs = list(itertools.product(NAMES, NAMES))
    timestamp = "timestamp_ltz" if engine == "spark" else "timestamptz"
    return {
        "strings": f"""
            with cases as ({_values([(i, t) for i, t in enumerate(TEXTS)], "id, text", engine)})
            select id,
                {{{{ collapse_whitespace('text') }}}} as collapsed,
                {{{{ fold_accents('text') }}}} as folded,
                {{{{ ascii_letters_only('lower(text)') }}}} as letters,
                {{{{ normalise_name('text') }}}} as normalised_name,
                {{{{ name_key('text') }}}} as name_key,
                {{{{ split_piece('text', "'|'", 1) }}}} as piece_1,
                {{{{ split_piece('text', "'|'", 'greatest(id - 6, 1)') }}}} as piece_by_column,
                {{{{ split_piece('text', "'|'", -1) }}}} as piece_last
            from cases""",
        "accents": f"""
            with cases as ({_values([(i, c) for i, c in enumerate(ACCENT_BLOCKS)], "id, ch", engine)})
            select id, {{{{ fold_accents('ch') }}}} as folded from cases""",
        "pairs": f"""
            with cases as ({_values([(i, a, b) for i, (a, b) in enumerate(pairs)], "id, a, b", engine)})
            select id, a, b,
                {{{{ within_one_edit('a', 'b') }}}} as within_one_edit,
                {{{{ jaro_winkler('a', 'b') }}}} as jaro_winkler,
                {{{{ names_similar('a', 'b') }}}} as names_similar
            from cases""",
        "aggregated": f"""
            with cases as ({_values(AGGREGATED, "grp, ord, val", engine)})
            select grp, {{{{ ordered_string_agg('val', "', '", 'ord') }}}} as joined
            from cases group by grp""",
        "components": f"""
            with
            graph_edges as ({_values(GRAPH_EDGES, "node_a, node_b", engine)}),
            graph_nodes as ({_values([(n,) for n in GRAPH_NODES], "node_key", engine)}),
            adjacency as (
                select node_a as node_key, node_b as neighbour_key from graph_edges
                union all
                select node_b, node_a from graph_edges
            ),
            components as ({{{{ connected_components('graph_nodes', 'adjacency') }}}})
            select node_key, component_key from components""",
        "calendar": """
            select
                {{ iso_weekday("cast('2024-01-01 10:00:00' as timestamp)") }} as monday,
                {{ iso_weekday("cast('2024-01-07 23:59:00' as timestamp)") }} as sunday,
                {{ iso_weekday("cast('2024-02-29 00:00:00' as timestamp)") }} as leap_thursday,
                cast({{ dbt.dateadd('month', 3, "cast('2024-01-31' as date)") }} as date) as end_of_april,
                {{ dbt.dateadd('day', 1, "cast('2024-12-31 22:00:00' as timestamp)") }} as next_day,
                {{ dbt.date_trunc('month', "cast('2024-03-15 10:30:00' as timestamp)") }} as month_start""",
        "month_steps": """
            select cast(spine.step as date) as step
            from (select 1 as one) as anchor
            cross join lateral {{ month_series("cast('2024-01-01' as date)", "cast('2024-07-01' as date)", 3) }}
                as spine (step)""",
        "times": f"""
            with cases as ({_values([(i, t) for i, (t, _) in enumerate(TIMES)], "id, stamp", engine)})
            select id, {{{{ to_utc('cast(stamp as {timestamp})') }}}} as utc from cases""",
    }


def _build(root: Path, engine: str) -> dict[str, pd.DataFrame]:
    """Build the case tables with ``engine`` in a project of their own; return them as frames."""
    project = root / engine
    models = _models(engine)
    shutil.copytree(DBT_PROJECT / "macros", project / "macros")
    (project / "models").mkdir()
    for name, sql in models.items():
        (project / "models" / f"{name}.sql").write_text(sql)
    (project / "dbt_project.yml").write_text(
        "name: ecrm\nversion: '1.0.0'\nconfig-version: 2\nprofile: ecrm\nmacro-paths: [macros]\n"
        "vars: {identity_name_similarity: 0.88, identity_max_component_size: 40}\n"
        "models: {ecrm: {+materialized: table, +file_format: parquet}}\n"
    )
    warehouse, spark_dir = project / "cases.duckdb", project / "spark-warehouse"
    (project / "profiles.yml").write_text(PROFILES.format(warehouse=warehouse, spark_dir=spark_dir))
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "run", "--target", engine, "--project-dir", str(project),
         "--profiles-dir", str(project)],
        cwd=project, env=env, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, f"dbt run on {engine} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"

    def table(name: str) -> str:
        # Spark's tables are Parquet files under its warehouse directory, one folder per table.
        return (
            f"main.{name}"
            if engine == "duckdb"
            else f"read_parquet('{spark_dir}/portable.db/{name}/*.parquet')"
        )

    with duckdb.connect(str(warehouse) if engine == "duckdb" else ":memory:") as con:
        return {name: con.execute(f"select * from {table(name)}").fetch_df() for name in models}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, pd.DataFrame]]:
    reason = spark_unavailable()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("portable")
    return {engine: _build(root, engine) for engine in ("duckdb", "spark")}


def _by(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values(key).reset_index(drop=True)


def test_string_macros_agree_between_engines_and_with_hand_worked_values(built) -> None:
    duck, spark = (_by(built[e]["strings"], "id") for e in ("duckdb", "spark"))
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False)
    row = {t: r for t, r in zip(TEXTS, duck.itertuples(), strict=True)}
    assert row["  Anna   Maria\tvon  Berg "].normalised_name == "Anna Maria von Berg"
    assert row["  Anna   Maria\tvon  Berg "].name_key == "annamariavonberg"
    assert row["Müller"].folded == "Muller"
    assert row["Nguyễn Thị Ánh"].name_key == "nguyenthianh"
    # Ł has no decomposition: it is not folded, and the name key drops it.
    assert row["Łukasz Żółć"].folded == "Łukasz Zołc"
    assert row["O'Brien-Smith"].name_key == "obriensmith"
    assert row[""].normalised_name is None or pd.isna(row[""].normalised_name)
    assert (row["a|b|c"].piece_1, row["a|b|c"].piece_last) == ("a", "c")
    # The piece chosen by a column: greatest(id - 6, 1) is 2 for "a|b|c" (id 8).
    assert row["a|b|c"].piece_by_column == "b"
    assert row["single"].piece_1 == "single"


def test_accent_folding_is_unicode_decomposition_on_both_engines(built) -> None:
    expected = []
    for ch in ACCENT_BLOCKS:
        decomposed = unicodedata.normalize("NFD", ch)
        folds = len(decomposed) > 1 and all(unicodedata.combining(c) for c in decomposed[1:])
        expected.append(decomposed[0] if folds else ch)
    for engine in ("duckdb", "spark"):
        folded = _by(built[engine]["accents"], "id")["folded"].tolist()
        wrong = [(c, f, e) for c, f, e in zip(ACCENT_BLOCKS, folded, expected, strict=True) if f != e]
        assert not wrong, (engine, wrong[:10])


def test_name_similarity_agrees_between_engines_and_with_winkler(built) -> None:
    duck, spark = (_by(built[e]["pairs"], "id") for e in ("duckdb", "spark"))
    assert len(duck) == len(NAMES) ** 2
    assert (duck["within_one_edit"].astype(bool) == spark["within_one_edit"].astype(bool)).all()
    assert (duck["names_similar"].astype(bool) == spark["names_similar"].astype(bool)).all()
    gap = (duck["jaro_winkler"] - spark["jaro_winkler"]).abs()
    assert gap.max() < 1e-9, duck.assign(spark=spark["jaro_winkler"])[gap >= 1e-9].head(10)
    score = {(r.a, r.b): r.jaro_winkler for r in spark.itertuples()}
    for pair, published in WINKLER_PUBLISHED.items():
        assert round(score[pair], 3) == published, pair
    edit = {(r.a, r.b): bool(r.within_one_edit) for r in spark.itertuples()}
    # One swap, one drop, one change; two edits; no common letter.
    assert edit["uwe", "uew"]
    assert edit["vos", "vs"]
    assert edit["meyer", "meier"]
    assert not edit["meyer", "maier"]
    assert not edit["ab", "x"]
    assert score["ab", "ba"] == 0  # the match window of two letters is 0: nothing matches


def test_ordered_string_aggregation_and_utc_agree(built) -> None:
    for engine in ("duckdb", "spark"):
        joined = dict(
            zip(built[engine]["aggregated"]["grp"], built[engine]["aggregated"]["joined"], strict=True)
        )
        # Ties on the order key fall back to the values' order; nulls are skipped; only nulls give null.
        assert joined[1] == "a, b, c", (engine, joined)
        assert joined[2] == "x, y", (engine, joined)
        assert joined[3] is None or pd.isna(joined[3]), (engine, joined)
        utc = _by(built[engine]["times"], "id")["utc"]
        assert [str(pd.Timestamp(v)) for v in utc] == [expected for _, expected in TIMES], engine


def test_connected_components_name_each_component_by_its_smallest_key_on_both_engines(built) -> None:
    for engine in ("duckdb", "spark"):
        components = built[engine]["components"]
        assert len(components) == len(GRAPH_NODES), engine
        assert dict(zip(components["node_key"], components["component_key"], strict=True)) == COMPONENT_OF, (
            engine
        )


def test_calendar_macros_agree_with_hand_worked_dates(built) -> None:
    for engine in ("duckdb", "spark"):
        day = built[engine]["calendar"].iloc[0]
        # 1 January 2024 was a Monday, 7 January a Sunday, 29 February a Thursday.
        assert (day["monday"], day["sunday"], day["leap_thursday"]) == (1, 7, 4), engine
        # Three months after 31 January is the last day of April; a day after 22:00 on 31 December.
        assert str(pd.Timestamp(day["end_of_april"]).date()) == "2024-04-30", engine
        assert str(pd.Timestamp(day["next_day"])) == "2025-01-01 22:00:00", engine
        # A time stamp without zone on both engines (Spark's date_trunc alone would give a zoned one).
        assert pd.Timestamp(day["month_start"]).tzinfo is None, engine
        assert str(pd.Timestamp(day["month_start"])) == "2024-03-01 00:00:00", engine
        steps = sorted(str(pd.Timestamp(v).date()) for v in built[engine]["month_steps"]["step"])
        assert steps == ["2024-01-01", "2024-04-01", "2024-07-01"], engine
