"""``ecrm forget``: erase a person everywhere (GDPR art. 17) and keep them out of later loads.

One call of :func:`forget`, holding the warehouse lock throughout:

1. **Resolve** the identifier given (e-mail, phone, unified customer id, or a source record) to one customer
   of ``marts.customer_identity_map`` and every record the identity graph joined into them: CRM records, shop
   accounts, guest e-mails, browsers. Their e-mails and phones are theirs only when no other customer's
   record holds them too (a household's shared address stays with the other person; placeholders such as
   ``test@test.com`` stay with everybody). An e-mail or phone held by several customers is refused as
   ambiguous: the operator chooses with ``--customer-id``.
2. **Plan**: find every row of raw and quarantine that is theirs (:mod:`orchestration.loading.erasure`
   decides what that means, for this command and for the loader alike), parents first, adding each erased
   row's key so the rows hanging off it follow. A dry run stops here and reports the counts.
3. **Erase**, in one transaction: record the erasure (``ops.erasure_log``) and the keyed hashes of every
   identifier (``ops.erased_identifiers``), delete the rows from raw and quarantine, move their counts in
   ``ops.load_manifest`` to ``rows_erased`` (so every file still reconciles), and delete every row of the
   tables Python writes (``ml.*``, ``ops.*`` such as the phone lookup) that holds one of their identifiers.
4. **Rebuild** everything downstream with the normal pipeline (:func:`orchestration.pipeline.run_pipeline`):
   landing files are unchanged, so it loads nothing new; dbt rebuilds staging, intermediate tables and marts
   from raw, the models are refitted and the copy is published. Rebuilding, rather than deleting from each
   mart, is what also takes the person out of aggregates (a cohort, a daily total, an association rule),
   with the same code that built them.
5. **Exports**: rewrite every CSV under the exports folder without the rows that name them.
6. **Compact** the warehouse: DuckDB keeps deleted rows in the file (marked deleted, not overwritten) until
   their row group is rewritten, and freed blocks keep their old bytes; measured here, an erased e-mail was
   still in the file 14 times after delete and checkpoint. ``COPY FROM DATABASE`` into a new file writes live
   rows only; the new file replaces the old one and is published again (publishing copies bytes).
7. **Verify**: no table or view of the warehouse or of the published copy holds any of their identifiers,
   and their e-mails and phones are not in the bytes of either file.

Landing files are never touched: they are the shop's, and re-reading them is harmless (the loader drops the
person's rows). The shop must erase the person in its own systems (shop, CRM, web analytics, e-mail tool)
and tell the recipients of exports already sent (art. 17(2), 19).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration import settings
from orchestration.contracts import load_contracts
from orchestration.loading.erasure import (
    CLEAR_VALUES,
    CUSTOMER,
    EMAIL,
    ERASED_IDENTIFIERS,
    ERASURE_LOG,
    HASH_MACRO,
    PERSON_COLUMNS,
    PHONE,
    PHONE_AS_ENTERED,
    PHONE_MAP,
    RECORD_OF,
    SOURCE_KINDS,
    country_column,
    create_key,
    drop_hash_macro,
    ensure_erasure_tables,
    hash_identifier,
    install_hash_macro,
    matching_rows_sql,
    normalised,
    phone_map,
    read_key,
)
from orchestration.loading.phones import to_e164
from orchestration.loading.sql import lit, q
from orchestration.warehouse import connect, publish

IDENTITY_MAP = "marts.customer_identity_map"
# Temp table of the person's identifiers that no other row of raw or quarantine holds (see _distinct_values).
DISTINCT_VALUES = "_ecrm_forget_distinct"
# Tables that record the erasure itself (hashes and counts only) or name files, not people.
OWN_TABLES = {"ops.erasure_log", "ops.erased_identifiers", "ops.load_manifest"}
# Schemas ``ecrm forget`` deletes from itself; every other schema holds dbt's models, rebuilt from raw.
LOADED_SCHEMAS = ("raw", "quarantine")
WRITTEN_SCHEMAS = ("ml", "ops")
# Kinds whose values are looked for in the bytes of the database files after compaction: the contact data.
# (Ids are short and often numeric in real shops; a byte match on them would mean nothing.)
BYTE_CHECKED_KINDS = (EMAIL, PHONE, PHONE_AS_ENTERED)
# dbt's subprocess may still hold the file for a while after the rebuild reports done (longer on a busy
# machine than the pipeline's own summary waits): wait this long for it before giving up.
DBT_EXIT_SECONDS = 120


class ForgetError(Exception):
    """A request ``ecrm forget`` cannot carry out as given; nothing was changed."""

    exit_code = 2


class PersonNotFound(ForgetError):
    """No record of the warehouse holds the identifier."""

    exit_code = 3


class AlreadyErased(ForgetError):
    """The identifier belongs to a person erased before, and nothing of theirs is left."""

    exit_code = 0


@dataclass
class Person:
    """Who is erased: the unified customers and every identifier of theirs, normalised (clear values: held
    in memory and in temp tables only, never written to the database file)."""

    given_kind: str  # email | phone | customer_id | source:<source>
    given: tuple[str, str]  # (kind, normalised value) of the identifier the request named
    customer_ids: list[str] = field(default_factory=list)
    records: list[tuple[str, str]] = field(default_factory=list)  # identity map (source, source_id)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)  # E.164
    shared: int = 0  # e-mails and phones on their records that other customers hold too (kept)

    def seeds(self) -> list[tuple[str, str]]:
        """(kind, value) of every identifier known before the rows are searched."""
        values = [(CUSTOMER, c) for c in self.customer_ids]
        values += [(SOURCE_KINDS[s], i) for s, i in self.records]
        values += [(EMAIL, e) for e in self.emails] + [(PHONE, p) for p in self.phones]
        if not self.customer_ids:
            # Only in raw or quarantine (never built into the identity map): the identifier itself.
            values.append(self.given)
        return sorted(set(values))


@dataclass
class ErasureReport:
    """What ``ecrm forget`` found and did, in counts (it never holds a clear identifier)."""

    dry_run: bool
    identifier_kind: str
    erasure_id: int | None = None
    customers: int = 0
    records: dict[str, int] = field(default_factory=dict)  # identity-map source -> records
    shared_identifiers: int = 0
    raw: dict[str, int] = field(default_factory=dict)  # table -> rows
    quarantine: dict[str, int] = field(default_factory=dict)
    ml: dict[str, int] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    derived: dict[str, int] = field(default_factory=dict)  # dbt tables naming them before the rebuild
    exports: dict[str, int] = field(default_factory=dict)  # export file -> rows
    exports_unchecked: list[str] = field(default_factory=list)
    audit_entries: int = 0  # entries of the dashboard's access log naming the person (identifiers replaced)
    manifest_files: int = 0
    rebuilt: bool | None = None
    rebuild_seconds: float = 0.0
    failed_steps: list[str] = field(default_factory=list)
    compacted: bool = False
    published: str | None = None
    residue: dict[str, int] = field(default_factory=dict)  # where identifiers are still found
    status: str = "planned"
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def layers(self) -> dict[str, int]:
        """Rows erased per layer."""
        return {
            "raw": sum(self.raw.values()),
            "quarantine": sum(self.quarantine.values()),
            "ml": sum(self.ml.values()),
            "ops": sum(self.ops.values()),
            "intermediate and marts (rebuilt)": sum(self.derived.values()),
            "exports": sum(self.exports.values()),
        }

    @property
    def exit_code(self) -> int:
        """0 when the person is gone (or a dry run / cancelled request), 1 when something is left."""
        return 1 if self.status in ("rebuild_failed", "residue_found") else 0

    def render(self) -> str:
        """The summary printed by ``ecrm forget``."""
        if self.cancelled:
            return "ecrm forget: cancelled, nothing was changed."
        head = "would erase" if self.dry_run else "erased"
        who = f"{self.customers} customer" + ("s" if self.customers != 1 else "")
        lines = [f"ecrm forget ({self.identifier_kind}): {head} {who}"]
        if self.erasure_id is not None:
            lines[0] += f", erasure {self.erasure_id} in {ERASURE_LOG}"
        if self.records:
            lines.append(
                "  records joined by the identity graph: "
                + ", ".join(f"{n} {s}" for s, n in sorted(self.records.items()))
            )
        if self.shared_identifiers:
            lines.append(
                f"  {self.shared_identifiers} e-mail/phone(s) on their records are also held by other customers: "
                "kept there, not erased"
            )
        lines.append("Rows " + ("to erase:" if self.dry_run else "erased:"))
        for layer, n in self.layers.items():
            lines.append(f"  {layer:<34}{n:>10,}")
        for name, tables in (("raw", self.raw), ("quarantine", self.quarantine)):
            detail = ", ".join(f"{t} {n:,}" for t, n in sorted(tables.items()) if n)
            if detail:
                lines.append(f"    {name}: {detail}")
        if self.exports:
            lines.append("    exports: " + ", ".join(f"{f} {n:,}" for f, n in sorted(self.exports.items())))
        if self.audit_entries:
            lines.append(f"    access log entries naming them (identifiers replaced): {self.audit_entries:,}")
        if self.exports_unchecked:
            lines.append("  export files not read (not CSV): " + ", ".join(self.exports_unchecked))
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
            return "\n".join(lines)
        if self.manifest_files:
            lines.append(f"  {self.manifest_files} load manifest row(s) now count them under rows_erased")
        if self.rebuilt:
            lines.append(f"Warehouse rebuilt without them in {self.rebuild_seconds:.0f} s.")
        elif self.rebuilt is False:
            lines.append(
                "REBUILD FAILED: their rows are deleted everywhere, but aggregates count them until a run "
                "succeeds. Fix the failure and run `ecrm run`:"
            )
            lines += [f"  {s}" for s in self.failed_steps]
        if self.compacted:
            lines.append("Warehouse compacted (deleted rows no longer in the file); published copy replaced.")
        if self.residue:
            lines.append("STILL FOUND (rows or bytes holding one of their identifiers):")
            lines += [f"  {where}: {n:,}" for where, n in sorted(self.residue.items())]
        elif self.rebuilt:
            lines.append("Verified: no table of the warehouse or the published copy holds their identifiers.")
        lines += [
            "",
            "The landing files still hold them (the loader keeps them out of every later load): erase the person",
            "in the shop's own systems too, and tell the recipients of exports sent before.",
            f"Done in {self.seconds:.0f} s.",
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Resolving the identifier to a person
# ---------------------------------------------------------------------------------------------------------


def _given(
    email: str | None,
    phone: str | None,
    customer_id: str | None,
    source: str | None,
    source_id: str | None,
    country: str | None,
) -> tuple[str, tuple[str, str]]:
    """(label, (kind, normalised value)) of the one identifier the request names."""
    named = [x is not None for x in (email, phone, customer_id, source)]
    if sum(named) != 1:
        raise ForgetError("name exactly one of: an e-mail, a phone, a customer id, or a source and its id")
    if email is not None:
        value = email.strip().lower()
        if not value:
            raise ForgetError("the e-mail address is empty")
        return "email", (EMAIL, value)
    if phone is not None:
        e164 = to_e164(phone, country or settings.default_phone_country())
        if e164 is None:
            raise ForgetError(
                "the phone number cannot be read as a number (write it with its country code, "
                "+49 151 ..., or give its country with --country)"
            )
        return "phone", (PHONE, e164)
    if customer_id is not None:
        return "customer_id", (CUSTOMER, customer_id.strip())
    if source not in SOURCE_KINDS:
        raise ForgetError(f"source must be one of {', '.join(SOURCE_KINDS)}, not {source!r}")
    if not source_id or not source_id.strip():
        raise ForgetError("--source needs --source-id")
    kind = SOURCE_KINDS[source]
    value = source_id.strip().lower() if kind == EMAIL else source_id.strip()
    return f"source:{source}", (kind, value)


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".", 1)
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_name = ?",
            [schema, name.strip('"')],
        ).fetchone()[0]
    )


def _register(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple], columns: list[str]) -> None:
    """A temp table ``name`` holding ``rows`` (all text)."""
    table = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})
    con.register("_ecrm_rows", table)
    try:
        con.execute(f"create or replace temp table {name} as select * from _ecrm_rows")
    finally:
        con.unregister("_ecrm_rows")


def _record_values(
    con: duckdb.DuckDBPyConnection, kind: str, phones: list[str] | None = None
) -> list[tuple[str, str, str]]:
    """(source, source_id, value) of every raw row holding an e-mail (``kind`` email) or a phone (E.164,
    only numbers that may be one of ``phones``) in the contracts of :data:`RECORD_OF`."""
    contracts = load_contracts()
    found: list[tuple[str, str, str]] = []
    for name, (source_sql, id_sql) in RECORD_OF.items():
        contract = contracts[name]
        relation = f"raw.{q(name)}"
        columns = [c for c, k in PERSON_COLUMNS[name].items() if k == kind and c in contract.column_names]
        if not columns or not _exists(con, relation):
            continue
        if kind == EMAIL:
            sql = " union ".join(
                f"select {source_sql} as source, {id_sql} as source_id, {normalised(EMAIL, q(c))} as v "
                f"from {relation}"
                for c in columns
            )
        else:
            suffixes = sorted({re.sub(r"\D", "", p)[-6:] for p in phones or []})
            phone_map(con, contract, relation, suffixes)
            country = country_column(contract)
            country_sql = f"upper(nullif(trim(r.{q(country)}), ''))" if country else "cast(null as varchar)"
            sql = " union ".join(
                f"select {source_sql} as source, {id_sql} as source_id, m.phone_e164 as v from {relation} r "
                f"join {PHONE_MAP} m on m.phone = nullif(trim(r.{q(c)}), '') "
                f"and m.country is not distinct from {country_sql}"
                for c in columns
            )
        found += con.execute(
            f"select distinct source, source_id, v from ({sql}) where v is not null"
        ).fetchall()
    return found


def _person_phones(con: duckdb.DuckDBPyConnection) -> list[str]:
    """E.164 of the phones on the person's own records (temp table ``_ecrm_person_records``)."""
    contracts = load_contracts()
    default = settings.default_phone_country()
    phones: set[str] = set()
    for name, (source_sql, id_sql) in RECORD_OF.items():
        contract = contracts[name]
        columns = [c for c, k in PERSON_COLUMNS[name].items() if k == PHONE and c in contract.column_names]
        if not columns or not _exists(con, f"raw.{q(name)}"):
            continue
        country = country_column(contract)
        country_sql = f"upper(nullif(trim({q(country)}), ''))" if country else "cast(null as varchar)"
        for c in columns:
            rows = con.execute(
                f"select distinct nullif(trim({q(c)}), ''), {country_sql} from raw.{q(name)} "
                f"where exists (select 1 from _ecrm_person_records p where p.source = {source_sql} "
                f"and p.source_id = {id_sql})"
            ).fetchall()
            phones |= {e for p, cc in rows if p and (e := to_e164(p, cc or default))}
    return sorted(phones)


def resolve(
    con: duckdb.DuckDBPyConnection,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    source: str | None = None,
    source_id: str | None = None,
    country: str | None = None,
) -> Person:
    """The person an identifier names, with every record and identifier of theirs.

    Raises :class:`ForgetError` when the identifier is malformed, the warehouse has no identity map yet or the
    identifier belongs to several customers (exit code 2), :class:`PersonNotFound` when nothing holds it.
    A person found only in raw or quarantine (their rows never reached the identity map) is returned with no
    customer id: their rows are found by the identifier itself.
    """
    label, (kind, value) = _given(email, phone, customer_id, source, source_id, country)
    person = Person(given_kind=label, given=(kind, value))
    if not _exists(con, IDENTITY_MAP):
        raise ForgetError(f"the warehouse has no {IDENTITY_MAP} yet: run `ecrm run` first")
    if kind == CUSTOMER:
        ids = con.execute(
            f"select distinct customer_id from {IDENTITY_MAP} where customer_id = ?", [value]
        ).fetchall()
    elif label.startswith("source:"):
        ids = con.execute(
            f"select distinct customer_id from {IDENTITY_MAP} where source = ? and source_id = ?",
            [source, value],
        ).fetchall()
    else:
        holders = [
            (s, i) for s, i, v in _record_values(con, kind, [value] if kind == PHONE else None) if v == value
        ]
        if kind == EMAIL:
            holders.append(("shop_guest", value))
        _register(con, "_ecrm_holders", holders, ["source", "source_id"])
        ids = con.execute(
            f"select distinct m.customer_id from {IDENTITY_MAP} m "
            "semi join _ecrm_holders h on h.source = m.source and h.source_id = m.source_id"
        ).fetchall()
        con.execute("drop table if exists _ecrm_holders")
    person.customer_ids = sorted(r[0] for r in ids)
    if len(person.customer_ids) > 1:
        raise ForgetError(
            f"this {label} belongs to {len(person.customer_ids)} different customers (a shared address or "
            f"number): erase one with --customer-id ({', '.join(person.customer_ids)})"
        )
    if not person.customer_ids:
        return person
    person.records = [
        (s, i)
        for s, i in con.execute(
            f"select source, source_id from {IDENTITY_MAP} where customer_id = ? order by 1, 2",
            [person.customer_ids[0]],
        ).fetchall()
    ]
    mine = set(person.records)
    _register(con, "_ecrm_person_records", person.records, ["source", "source_id"])
    try:
        emails = _record_values(con, EMAIL)
        own = {v for s, i, v in emails if (s, i) in mine} | {i for s, i in mine if s == "shop_guest"}
        others = {v for s, i, v in emails if (s, i) not in mine}
        person.emails = sorted(own - others)
        own_phones = _person_phones(con)
        phones = _record_values(con, PHONE, own_phones) if own_phones else []
        other_phones = {v for s, i, v in phones if (s, i) not in mine}
        person.phones = sorted(set(own_phones) - other_phones)
        person.shared = len(own & others) + len(set(own_phones) & other_phones)
    finally:
        con.execute("drop table if exists _ecrm_person_records")
        con.execute(f"drop table if exists {PHONE_MAP}")
    return person


# ---------------------------------------------------------------------------------------------------------
# Finding their rows
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Hits:
    table: str  # raw."shop__orders"
    temp: str  # temp table of the rowids
    by_file: dict[str, int]


def _find_rows(con: duckdb.DuckDBPyConnection, phones: list[str]) -> list[_Hits]:
    """Find the person's rows in raw and quarantine, parents first, growing :data:`CLEAR_VALUES` with the key
    of every row found (so an order's lines follow the order) and with their phones as typed. One temp table
    of rowids per table; ``phones`` (E.164) limits the numbers converted to those that can be theirs."""
    kinds = {k for columns in PERSON_COLUMNS.values() for k in columns.values()}
    suffixes = sorted({re.sub(r"\D", "", p)[-6:] for p in phones})
    hits: list[_Hits] = []
    for i, contract in enumerate(load_contracts().values()):
        columns = PERSON_COLUMNS.get(contract.name)
        if not columns:
            continue
        key = contract.primary_key[0] if len(contract.primary_key) == 1 else None
        for layer in LOADED_SCHEMAS:
            relation = f"{layer}.{q(contract.name)}"
            if not _exists(con, relation):
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
            hits.append(_Hits(relation, temp, by_file))
    con.execute(f"drop table if exists {PHONE_MAP}")
    return hits


def _distinct_values(con: duckdb.DuckDBPyConnection, hits: list[_Hits]) -> None:
    """:data:`DISTINCT_VALUES`: the identifiers found nowhere in raw or quarantine outside the person's rows.

    Outside raw and quarantine a value is compared in every text column, whatever the column means; a value
    that other rows hold as well (an order number ``1001`` that is also a product id, common in shops with
    numeric ids) would then name someone else's rows, so it is left to the rebuild, which takes the
    person's rows out of every derived table whatever their ids look like.
    """
    temps = {h.table: h.temp for h in hits}
    parts = []
    for ref, name, columns in _tables(con, LOADED_SCHEMAS):
        schema, table = name.split(".", 1)
        temp = temps.get(f"{schema}.{q(table)}")
        outside = f"rowid not in (select _rid from {temp})" if temp else "true"
        parts += [f"select nullif(trim({q(c)}), '') as v from {ref} where {outside}" for c in columns]
    shared = " union ".join(parts) or "select cast(null as varchar) as v"
    con.execute(
        f"create or replace temp table {DISTINCT_VALUES} as select distinct value from {CLEAR_VALUES} "
        f"where value not in (select v from ({shared}) where v in (select value from {CLEAR_VALUES}))"
    )


def _tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] | None, views: bool = False):
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
    for ref, name, columns in _tables(con, schemas, views):
        n = con.execute(f"select count(*) from {ref} where {_naming_predicate(columns)}").fetchone()[0]
        if n:
            found[name] = int(n)
    return found


def _delete_naming(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> dict[str, int]:
    """Delete from the base tables of ``schemas`` every row that holds one of :data:`DISTINCT_VALUES`."""
    deleted = {}
    for ref, name, columns in _tables(con, schemas):
        n = con.execute(f"delete from {ref} where {_naming_predicate(columns)}").fetchone()[0]
        if n:
            deleted[name] = int(n)
    return deleted


def _residue(
    con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]], phones: list[str]
) -> dict[str, int]:
    """Rows of any table or view that still name the person: their rows of raw and quarantine as the loader
    would recognise them, and every other table's text columns holding one of their distinct identifiers."""
    _register(con, CLEAR_VALUES, pairs, ["kind", "value"])
    found = {}
    for hit in _find_rows(con, phones):
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


# ---------------------------------------------------------------------------------------------------------
# Exports, compaction, files
# ---------------------------------------------------------------------------------------------------------


def scrub_exports(exports: Path, values: set[str], write: bool = True) -> tuple[dict[str, int], list[str]]:
    """Rows naming the person (a cell equal to one of ``values``, e-mails in any case) per CSV export file
    under ``exports``, rewritten without them when ``write``; and the export files that are not CSV (not
    read). Files are replaced atomically, header and line endings kept."""
    lowered = {v.lower() for v in values}
    found: dict[str, int] = {}
    unchecked: list[str] = []
    if not exports.is_dir():
        return found, unchecked
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        rel = path.relative_to(exports).as_posix()
        if any(part.startswith(".") for part in path.relative_to(exports).parts):
            continue
        if path.suffix.lower() != ".csv":
            unchecked.append(rel)
            continue
        raw = path.read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        kept = rows[:1] + [r for r in rows[1:] if not any(c.strip().lower() in lowered for c in r)]
        if len(kept) == len(rows):
            continue
        found[rel] = len(rows) - len(kept)
        if write:
            out = io.StringIO(newline="")
            csv.writer(out, lineterminator="\r\n" if "\r\n" in text[:4096] else "\n").writerows(kept)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes((b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8"))
            os.replace(tmp, path)
    return found, unchecked


ERASED_MARK = "[erased]"


def _names_person(text: str, lowered: set[str], digit_forms: set[str]) -> bool:
    """Whether ``text`` (a search typed in the dashboard, an id) names one of the person's values: contains
    one, or is a part of one at least four characters long (a search for ``anna.sch`` names
    ``anna.schmidt@...``); phones compared by their digits, without a leading trunk zero."""
    low = text.strip().lower()
    if not low:
        return False
    if any(v in low or (len(low) >= 4 and low in v) for v in lowered):
        return True
    # A national form (0151 ...) has the trunk zero where the E.164 form has the country code.
    digits = "".join(ch for ch in low if ch.isdigit()).lstrip("0")
    return len(digits) >= 6 and any(digits in d or d in digits for d in digit_forms)


def scrub_audit_log(path: Path, values: set[str], write: bool = True) -> int:
    """Entries of the dashboard's access log (``ECRM_AUDIT_LOG``) that name the person, with what names them
    replaced by ``[erased]`` when ``write``; returns how many entries do.

    DECISION: the entries stay (who looked at or exported customer data, and when, is the accountability
    record the log exists for), but the person's identifiers in them (the text searched, their customer and
    source ids) do not: after an erasure the log cannot tell who was looked up. The file is replaced
    atomically; an entry appended by a dashboard at that very moment can be lost.
    """
    if not path.is_file():
        return 0
    lowered = {v.strip().lower() for v in values if v and v.strip()}
    digit_forms = {d for d in ("".join(ch for ch in v if ch.isdigit()) for v in lowered) if len(d) >= 6}
    lines = path.read_text(encoding="utf-8").splitlines()
    out, changed = [], 0
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        hit = False
        searched = entry.get("searched")
        if isinstance(searched, str) and _names_person(searched, lowered, digit_forms):
            entry["searched"], hit = ERASED_MARK, True
        ids = [str(c) for c in entry.get("customer_ids") or []]
        if any(c.lower() in lowered for c in ids):
            entry["customer_ids"], hit = [ERASED_MARK if c.lower() in lowered else c for c in ids], True
        changed += hit
        out.append(json.dumps(entry, ensure_ascii=False, default=str) if hit else line)
    if changed and write:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(f"{line}\n" for line in out), encoding="utf-8")
        os.replace(tmp, path)
    return changed


def compact(warehouse: Path) -> None:
    """Rewrite the warehouse file with live rows only (``COPY FROM DATABASE`` into a new file, then swap), so
    that deleted rows and freed blocks do not keep erased values in its bytes. Tables, views, constraints and
    column types are copied as they are."""
    tmp = warehouse.with_name(warehouse.name + ".compacting")
    tmp.unlink(missing_ok=True)
    with connect(warehouse, wait_seconds=DBT_EXIT_SECONDS) as con:
        con.execute("checkpoint")
        name = con.execute("select current_database()").fetchone()[0]
        con.execute(f"attach {lit(str(tmp))} as _ecrm_compact")
        try:
            con.execute(f"copy from database {q(name)} to _ecrm_compact")
        finally:
            con.execute("detach _ecrm_compact")
    wal = warehouse.with_name(warehouse.name + ".wal")
    if wal.exists():  # a log left beside the old file would be replayed onto the new one
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"{wal} exists after a checkpoint; the warehouse was not compacted")
    os.replace(tmp, warehouse)


def bytes_found(path: Path, values: list[str]) -> int:
    """How many of ``values`` occur in the raw bytes of ``path`` (read in blocks)."""
    if not path.exists() or not values:
        return 0
    needles = sorted({v.encode("utf-8") for v in values}, key=len, reverse=True)
    pattern = re.compile(b"|".join(re.escape(n) for n in needles))
    overlap = max(len(n) for n in needles)
    seen: set[bytes] = set()
    tail = b""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            chunk = tail + block
            seen |= {m.group(0) for m in pattern.finditer(chunk)}
            tail = chunk[-overlap:]
    return len(seen)


@contextlib.contextmanager
def _pipeline_environment(warehouse: Path, landing: Path) -> Iterator[None]:
    """The paths the pipeline's resources and dbt's profile read from the environment, for one run."""
    saved = {k: os.environ.get(k) for k in ("ECRM_WAREHOUSE", "ECRM_LANDING")}
    os.environ["ECRM_WAREHOUSE"] = str(warehouse)
    os.environ["ECRM_LANDING"] = str(landing)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------------------


def _already_erased(con: duckdb.DuckDBPyConnection, warehouse: Path, given: tuple[str, str]) -> str | None:
    """When and in which erasure the identifier was erased before, if it was."""
    key = read_key(warehouse)
    if key is None or not _exists(con, ERASED_IDENTIFIERS):
        return None
    row = con.execute(
        f"select l.erasure_id, l.erased_at from {ERASED_IDENTIFIERS} e join {ERASURE_LOG} l using (erasure_id) "
        "where e.kind = ? and e.identifier_hash = ? order by 1 limit 1",
        [given[0], hash_identifier(key, given[1])],
    ).fetchone()
    return f"erasure {row[0]} on {row[1]:%Y-%m-%d %H:%M} UTC" if row else None


def _erase(
    con: duckdb.DuckDBPyConnection, warehouse: Path, person: Person, hits: list[_Hits], report: ErasureReport,
    reference: str | None, derived_schemas: tuple[str, ...],
) -> int:  # fmt: skip
    """Delete the planned rows and record the erasure, in one transaction; returns the erasure id.

    Rows of dbt's tables (``derived_schemas``) that name them are deleted too, although the rebuild replaces
    those tables: if the rebuild fails, the warehouse (and the copy published from it) no longer names them.
    """
    ensure_erasure_tables(con)
    from orchestration.loading.loader import ensure_schemas

    ensure_schemas(con)  # the manifest's rows_erased column, on a warehouse loaded before it existed
    key = create_key(warehouse)
    install_hash_macro(con, key)
    now = datetime.now(UTC)
    con.execute("begin transaction")
    try:
        erasure_id = con.execute(f"select coalesce(max(erasure_id), 0) + 1 from {ERASURE_LOG}").fetchone()[0]
        # Every identifier the loader compares (and the unified customer id, so that a repeated request by
        # customer id is recognised); phones as typed are only for finding leftovers.
        con.execute(
            f"insert into {ERASED_IDENTIFIERS} select ?, n.kind, n.h from (select distinct kind, "
            f"{HASH_MACRO}(value) as h from {CLEAR_VALUES} where kind <> {lit(PHONE_AS_ENTERED)}) n "
            f"anti join {ERASED_IDENTIFIERS} e on e.kind = n.kind and e.identifier_hash = n.h",
            [erasure_id],
        )
        manifest: dict[str, list[int]] = {}
        for hit in hits:
            column = 0 if hit.table.startswith("raw.") else 1
            for path, n in hit.by_file.items():
                manifest.setdefault(path, [0, 0])[column] += n
            con.execute(f"delete from {hit.table} where rowid in (select _rid from {hit.temp})")
            con.execute(f"drop table {hit.temp}")
        con.executemany(
            "update ops.load_manifest set rows_loaded = rows_loaded - ?, rows_quarantined = rows_quarantined - ?, "
            "rows_erased = coalesce(rows_erased, 0) + ? where path = ?",
            [
                (loaded, quarantined, loaded + quarantined, path)
                for path, (loaded, quarantined) in manifest.items()
            ],
        )
        report.manifest_files = len(manifest)
        deleted = _delete_naming(con, (*WRITTEN_SCHEMAS, *derived_schemas))
        report.ml = {t: n for t, n in deleted.items() if t.startswith("ml.")}
        report.ops = {t: n for t, n in deleted.items() if t.startswith("ops.")}
        report.derived = {t: n for t, n in deleted.items() if t.split(".", 1)[0] in derived_schemas}
        con.execute(
            f"insert into {ERASURE_LOG} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'erased', null)",
            [
                erasure_id, now, person.given_kind, hash_identifier(key, person.given[1]), reference,
                report.customers, len(person.records), sum(report.raw.values()), sum(report.quarantine.values()),
                sum(report.ml.values()), sum(report.ops.values()), sum(report.derived.values()),
                sum(report.exports.values()), len(report.exports), json.dumps(_by_table(report)),
            ],
        )  # fmt: skip
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        drop_hash_macro(con)
    return int(erasure_id)


def _by_table(report: ErasureReport) -> dict[str, int]:
    tables = {f"raw.{t}": n for t, n in report.raw.items()}
    tables.update({f"quarantine.{t}": n for t, n in report.quarantine.items()})
    for part in (report.ml, report.ops, report.derived):
        tables.update(part)
    tables.update({f"exports/{f}": n for f, n in report.exports.items()})
    return dict(sorted(tables.items()))


def forget(
    warehouse: Path,
    landing: Path,
    exports: Path | None = None,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    source: str | None = None,
    source_id: str | None = None,
    country: str | None = None,
    dry_run: bool = False,
    reference: str | None = None,
    verbose: bool = False,
    wait: bool | float = False,
    confirm: Callable[[ErasureReport], bool] | None = None,
) -> ErasureReport:
    """Erase the person one identifier names from the warehouse, its published copy and the exports; see the
    module docstring for the steps. Returns the report (counts only).

    Name exactly one of ``email``, ``phone`` (read with ``country``, else the default phone country),
    ``customer_id`` (the unified id of ``marts.customer_360``) or ``source`` + ``source_id`` (a record of
    ``marts.customer_identity_map``: crm, shop, shop_guest, web). ``dry_run`` finds and counts, changes
    nothing. ``confirm``, when given, is shown the plan (a dry run's report) and may cancel. ``wait`` waits for a run holding the
    warehouse (see :func:`orchestration.locking.warehouse_lock`); ``verbose`` streams the rebuild's logs.

    Raises :class:`ForgetError` (and its :class:`PersonNotFound`, :class:`AlreadyErased`) before changing
    anything, :class:`orchestration.locking.WarehouseBusy` when another run holds the warehouse.
    """
    from orchestration.locking import warehouse_lock

    started = time.perf_counter()
    warehouse, landing = Path(warehouse).resolve(), Path(landing).resolve()
    exports = Path(exports) if exports is not None else settings.exports_path()
    if not warehouse.exists():
        raise ForgetError(f"no warehouse at {warehouse}: nothing to erase")
    with warehouse_lock(warehouse, wait=wait, holder="ecrm forget"):
        with connect(warehouse, read_only=dry_run) as con:
            person = resolve(con, email, phone, customer_id, source, source_id, country)
            report = ErasureReport(dry_run=dry_run, identifier_kind=person.given_kind)
            report.customers = len(person.customer_ids)
            for s, _ in person.records:
                report.records[s] = report.records.get(s, 0) + 1
            report.shared_identifiers = person.shared
            _register(con, CLEAR_VALUES, person.seeds(), ["kind", "value"])
            hits = _find_rows(con, person.phones)
            _distinct_values(con, hits)
            for hit in hits:
                part = report.raw if hit.table.startswith("raw.") else report.quarantine
                if sum(hit.by_file.values()):
                    part[hit.table.split(".", 1)[1].strip('"')] = sum(hit.by_file.values())
            if not report.customers and not report.raw and not report.quarantine:
                when = _already_erased(con, warehouse, person.given)
                if when:
                    raise AlreadyErased(
                        f"this {person.given_kind} was erased before ({when}); nothing of it is left"
                    )
                raise PersonNotFound(
                    f"no record of the warehouse holds this {person.given_kind}: nothing erased"
                )
            pairs = con.execute(f"select kind, value from {CLEAR_VALUES}").fetchall()
            values = {r[0] for r in con.execute(f"select value from {DISTINCT_VALUES}").fetchall()}
            contact = [v for k, v in pairs if k in BYTE_CHECKED_KINDS and v in values]
            derived_schemas = tuple(
                s
                for (s,) in con.execute(
                    "select distinct schema_name from duckdb_tables() where database_name = current_database()"
                ).fetchall()
                if s not in (*LOADED_SCHEMAS, *WRITTEN_SCHEMAS)
            )
            report.derived = find_identifiers(con, derived_schemas, views=False)
            report.exports, report.exports_unchecked = scrub_exports(exports, values, write=False)
            report.audit_entries = scrub_audit_log(settings.audit_log_path(), values, write=False)
            report.ml = find_identifiers(con, ("ml",), views=False)
            report.ops = find_identifiers(con, ("ops",), views=False)
            if dry_run:
                report.seconds = time.perf_counter() - started
                return report
            if confirm is not None and not confirm(dataclasses.replace(report, dry_run=True)):
                report.cancelled = True
                return report
            report.erasure_id = _erase(con, warehouse, person, hits, report, reference, derived_schemas)
            report.status = "erased"

        # Downstream: everything built from raw is built again without them, and published.
        from orchestration.pipeline import run_pipeline

        rebuild_started = time.perf_counter()
        try:
            with _pipeline_environment(warehouse, landing):
                run = run_pipeline(verbose=verbose, wait=wait)
            report.rebuilt = bool(run.success)
            report.failed_steps = list(run.failed_steps)
        except Exception as exc:  # the erasure stands; finish the exports, compaction and publishing
            report.rebuilt = False
            report.failed_steps = [f"{type(exc).__name__}: {exc}"]
        report.rebuild_seconds = time.perf_counter() - rebuild_started
        report.exports, report.exports_unchecked = scrub_exports(exports, values, write=True)
        report.audit_entries = scrub_audit_log(settings.audit_log_path(), values, write=True)

        distinct = [(v,) for v in sorted(values)]
        with connect(warehouse, wait_seconds=DBT_EXIT_SECONDS) as con:
            _register(con, DISTINCT_VALUES, distinct, ["value"])
            report.residue = _residue(con, pairs, person.phones)
            report.status = (
                "rebuild_failed" if not report.rebuilt else "residue_found" if report.residue else "completed"
            )
            con.execute(
                f"update {ERASURE_LOG} set status = ?, finished_at = ?, export_rows = ?, export_files = ?, "
                "rows_by_table = ? where erasure_id = ?",
                [report.status, datetime.now(UTC), sum(report.exports.values()), len(report.exports),
                 json.dumps(_by_table(report)), report.erasure_id],
            )  # fmt: skip
        compact(warehouse)
        report.compacted = True
        published = settings.published_path(warehouse)
        # Published even after a failed rebuild: the old copy names them, the scrubbed warehouse does not.
        if report.rebuilt or published.exists():
            publish(warehouse, published)
            report.published = str(published)
            with connect(published, read_only=True) as con:
                _register(con, DISTINCT_VALUES, distinct, ["value"])
                found = _residue(con, pairs, person.phones)
                report.residue |= {f"published {t}": n for t, n in found.items()}
        for label, path in (("warehouse", warehouse), ("published copy", published)):
            n = bytes_found(path, contact)
            if n:
                report.residue[f"bytes of the {label} file"] = n
        if report.residue and report.status == "completed":
            report.status = "residue_found"
    report.seconds = time.perf_counter() - started
    return report
