"""Steps 2 and 7 of ``ecrm forget``: find the person's rows in raw and quarantine (parents first, so the rows
hanging off them follow), the identifiers nobody else holds, and what is left after the erasure."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from orchestration.contracts import load_contracts
from orchestration.forget.database import (
    DISTINCT_VALUES,
    LOADED_SCHEMAS,
    find_identifiers,
    register_rows,
    table_exists,
    text_tables,
)
from orchestration.loading.erasure import (
    CLEAR_VALUES,
    PERSON_COLUMNS,
    PHONE,
    PHONE_AS_ENTERED,
    PHONE_MAP,
    matching_rows_sql,
    normalised,
    phone_map,
)
from orchestration.loading.sql import lit, q


@dataclass
class Hits:
    """The person's rows found in one table of raw or quarantine."""

    table: str  # raw."shop__orders"
    temp: str  # temp table of the rowids
    by_file: dict[str, int]


def find_rows(con: duckdb.DuckDBPyConnection, phones: list[str]) -> list[Hits]:
    """Find the person's rows in raw and quarantine, parents first, growing :data:`CLEAR_VALUES` with the key
    of every row found (so an order's lines follow the order) and with their phones as typed. One temp table
    of rowids per table; ``phones`` (E.164) limits the numbers converted to those that can be theirs."""
    kinds = {k for columns in PERSON_COLUMNS.values() for k in columns.values()}
    suffixes = sorted({re.sub(r"\D", "", p)[-6:] for p in phones})
    hits: list[Hits] = []
    for i, contract in enumerate(load_contracts().values()):
        columns = PERSON_COLUMNS.get(contract.name)
        if not columns:
            continue
        key = contract.primary_key[0] if len(contract.primary_key) == 1 else None
        for layer in LOADED_SCHEMAS:
            relation = f"{layer}.{q(contract.name)}"
            if not table_exists(con, relation):
                continue
            phone_map(con, contract, relation, suffixes)
            con.execute(
                f"insert into {CLEAR_VALUES} select distinct {lit(PHONE_AS_ENTERED)}, phone from {PHONE_MAP} "
                f"where phone_e164 in (select value from {CLEAR_VALUES} where kind = {lit(PHONE)}) "
                f"and phone not in (select value from {CLEAR_VALUES} where kind = {lit(PHONE_AS_ENTERED)})"
            )
            sql = matching_rows_sql(
                contract, relation, kinds, against="clear", with_lines=layer == "quarantine"
            )
            temp = f"_ecrm_hits_{layer}_{i}"
            con.execute(f"create or replace temp table {temp} as {sql}")
            if key in columns:
                con.execute(
                    f"insert into {CLEAR_VALUES} select distinct {lit(columns[key])}, v from ("
                    f"select {normalised(columns[key], q(key))} as v from {relation} "
                    f"where rowid in (select _rid from {temp})) where v is not null and v not in "
                    f"(select value from {CLEAR_VALUES} where kind = {lit(columns[key])})"
                )
            by_file = dict(
                con.execute(
                    f"select _source_file, count(*) from {relation} where rowid in (select _rid from {temp}) "
                    "group by 1"
                ).fetchall()
            )
            hits.append(Hits(relation, temp, by_file))
    con.execute(f"drop table if exists {PHONE_MAP}")
    return hits


def distinct_values(con: duckdb.DuckDBPyConnection, hits: list[Hits]) -> None:
    """:data:`DISTINCT_VALUES`: the identifiers found nowhere in raw or quarantine outside the person's rows.

    Outside raw and quarantine a value is compared in every text column, whatever the column means; a value
    that other rows hold as well (an order number ``1001`` that is also a product id, common in shops with
    numeric ids) would then name someone else's rows, so it is left to the rebuild, which takes the
    person's rows out of every derived table whatever their ids look like.
    """
    temps = {h.table: h.temp for h in hits}
    parts = []
    for ref, name, columns in text_tables(con, LOADED_SCHEMAS):
        schema, table = name.split(".", 1)
        temp = temps.get(f"{schema}.{q(table)}")
        outside = f"rowid not in (select _rid from {temp})" if temp else "true"
        parts += [f"select nullif(trim({q(c)}), '') as v from {ref} where {outside}" for c in columns]
    shared = " union ".join(parts) or "select cast(null as varchar) as v"
    con.execute(
        f"create or replace temp table {DISTINCT_VALUES} as select distinct value from {CLEAR_VALUES} "
        f"where value not in (select v from ({shared}) where v in (select value from {CLEAR_VALUES}))"
    )


def residue(
    con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]], phones: list[str]
) -> dict[str, int]:
    """Rows of any table or view that still name the person: their rows of raw and quarantine as the loader
    would recognise them, and every other table's text columns holding one of their distinct identifiers."""
    register_rows(con, CLEAR_VALUES, pairs, ["kind", "value"])
    found = {}
    for hit in find_rows(con, phones):
        if sum(hit.by_file.values()):
            found[hit.table.replace('"', "")] = sum(hit.by_file.values())
        con.execute(f"drop table {hit.temp}")
    others = tuple(
        s
        for (s,) in con.execute(
            "select distinct table_schema from information_schema.tables where table_catalog = current_database()"
        ).fetchall()
        if s not in LOADED_SCHEMAS
    )
    return found | find_identifiers(con, others)
