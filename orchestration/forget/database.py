"""Shared SQL helpers of ``ecrm forget``: temp tables of clear values, the text columns of every table, and the
rows that hold one of the person's distinct identifiers."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from orchestration.loading.sql import q

# Temp table of the person's identifiers that no other row of raw or quarantine holds (see distinct_values).
DISTINCT_VALUES = "_ecrm_forget_distinct"
# Tables that record the erasure itself (hashes and counts only) or name files, not people.
OWN_TABLES = {"ops.erasure_log", "ops.erased_identifiers", "ops.load_manifest"}
# Schemas ``ecrm forget`` deletes from itself; every other schema holds dbt's models, rebuilt from raw.
LOADED_SCHEMAS = ("raw", "quarantine")
WRITTEN_SCHEMAS = ("ml", "ops")


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Whether the table or view ``schema.name`` (the name may be quoted) exists in the open database."""
    schema, name = qualified.split(".", 1)
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_name = ?",
            [schema, name.strip('"')],
        ).fetchone()[0]
    )


def register_rows(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple], columns: list[str]) -> None:
    """A temp table ``name`` holding ``rows`` (all text)."""
    table = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})
    con.register("_ecrm_rows", table)
    try:
        con.execute(f"create or replace temp table {name} as select * from _ecrm_rows")
    finally:
        con.unregister("_ecrm_rows")


def text_tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] | None, views: bool = False):
    """(quoted ref, ``schema.table``, varchar columns) of the base tables (and views) of ``schemas`` (None:
    every schema), leaving out the tables that record the erasure itself."""
    kinds = ("BASE TABLE", "VIEW") if views else ("BASE TABLE",)
    rows = con.execute(
        "select t.table_schema, t.table_name, list(c.column_name order by c.ordinal_position) "
        "from information_schema.tables t join information_schema.columns c "
        "on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema and c.table_name = t.table_name "
        "where t.table_catalog = current_database() and t.table_type in (select unnest(?::varchar[])) "
        "and c.data_type = 'VARCHAR' and t.table_schema not in ('information_schema', 'pg_catalog') "
        "group by 1, 2 order by 1, 2",
        [list(kinds)],
    ).fetchall()
    for schema, name, columns in rows:
        qualified = f"{schema}.{name}"
        if (schemas is None or schema in schemas) and qualified not in OWN_TABLES:
            yield f"{q(schema)}.{q(name)}", qualified, columns


def _naming_predicate(columns: list[str]) -> str:
    """SQL: the row holds one of :data:`DISTINCT_VALUES` in a text column (or inside an ``_original_line``)."""
    parts = [f"{q(c)} in (select value from {DISTINCT_VALUES})" for c in columns if c != "_original_line"]
    if "_original_line" in columns:
        parts.append(
            f"exists (select 1 from {DISTINCT_VALUES} v where contains(lower(_original_line), lower(v.value)))"
        )
    return " or ".join(parts)


def find_identifiers(
    con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] | None = None, views: bool = True
) -> dict[str, int]:
    """Rows per table (and view) of ``schemas`` (None: all) holding one of :data:`DISTINCT_VALUES` in a text
    column; tables holding none are left out."""
    found = {}
    for ref, name, columns in text_tables(con, schemas, views):
        n = con.execute(f"select count(*) from {ref} where {_naming_predicate(columns)}").fetchone()[0]
        if n:
            found[name] = int(n)
    return found


def delete_naming(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> dict[str, int]:
    """Delete from the base tables of ``schemas`` every row that holds one of :data:`DISTINCT_VALUES`."""
    deleted = {}
    for ref, name, columns in text_tables(con, schemas):
        n = con.execute(f"delete from {ref} where {_naming_predicate(columns)}").fetchone()[0]
        if n:
            deleted[name] = int(n)
    return deleted
