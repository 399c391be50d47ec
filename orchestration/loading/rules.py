"""The contract's rules as set-based SQL over one batch of staged text rows: which rows break which rule.

One rule needs Python: an e-mail address is judged by ``email-validator`` (see ``codes.py``). It stays
set-based: before the rule statement, :func:`apply_rules` asks the library once per DISTINCT address of the
batch that a conservative SQL pattern does not already vouch for, and writes the rejected ones into a temp
table; the ``format`` rule is then a lookup in that table.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa

from orchestration.contracts import Column, Contract
from orchestration.loading.codes import (
    EMAIL_FAST_PATH,
    EMAIL_FAST_PATH_MAX_LENGTH,
    ISO_COUNTRIES,
    ISO_CURRENCIES,
    SPECIAL_USE_DOMAINS,
    invalid_emails,
)
from orchestration.loading.sql import lit, q

# The temp table holding the batch of staged rows (every column as text, plus file and row bookkeeping).
BATCH = "_ecrm_batch"
# A batch row's data row number: given (fallback reader, unparsable rows) or from its position in the batch.
ROW_NUMBER = "coalesce(b._row_number, b.rowid - b._file_start + 1)"


# How far past the load time a ``not_future`` timestamp may be. Clocks of shop systems drift by seconds,
# but an export of local times written without an offset (read as UTC by the contract) runs up to 14 hours
# ahead (UTC+14, Kiribati): such rows are real orders, and a quarantined row of an unchanged file is never
# checked again. Errors the rule exists for are days to centuries off: a wrong year (2062 for 2026), day
# and month swapped, placeholders such as 2099-12-31 or 9999-12-31.
NOT_FUTURE_TOLERANCE = timedelta(days=1)

# An offset after a space ("2022-04-06 21:52:39 -0400", Shopify's export form), which DuckDB's timestamp
# cast refuses while it reads the same text without the space; the offset keeps its sign and digits.
_SPACED_OFFSET = r"(:[0-9]{2}(?:\.[0-9]+)?)\s+([+-][0-9]{2}(?::?[0-9]{2})?)$"


def value(column: str, table: str | None = None) -> str:
    """The column's text as compared by the rules: trimmed, empty as null."""
    ref = f"{table}.{q(column)}" if table else q(column)
    return f"nullif(trim({ref}), '')"


def timestamp_text(text: str) -> str:
    """``text`` (SQL) as DuckDB casts it to ``timestamptz``: ISO 8601 with ``T`` or a space, ``Z``, a
    numeric offset with or without colon, also after a space, or none (read as UTC, the session zone)."""
    # The cheap LIKE keeps the regular expression off the common forms (no space before a sign).
    return (
        f"(case when {text} like '% +%' or {text} like '% -%' "
        f"then regexp_replace({text}, {lit(_SPACED_OFFSET)}, '\\1\\2') else {text} end)"
    )


def cast_text(column: Column, text: str) -> str:
    """``try_cast`` of the text ``text`` (SQL) to the column's type."""
    if column.type == "timestamp":
        text = timestamp_text(text)
    return f"try_cast({text} as {column.duckdb_type})"


def email_table(column: Column) -> str:
    """The temp table of the batch's addresses in ``column`` that email-validator rejects."""
    return q(f"_ecrm_bad_email__{column.name}")


def email_fast_path(text: str) -> str:
    """SQL predicate: ``text`` is a plain address email-validator always accepts (see ``codes.py``).

    The special-use names are single labels and the pattern requires a dot after the @, so "the domain
    is or ends in one" is "the top-level domain is one".
    """
    special = ", ".join(lit(d) for d in SPECIAL_USE_DOMAINS)
    return (
        f"(length({text}) <= {EMAIL_FAST_PATH_MAX_LENGTH} and regexp_full_match({text}, {lit(EMAIL_FAST_PATH)}) "
        f"and lower(string_split({text}, '.')[-1]) not in ({special}))"
    )


def column_rules(column: Column) -> list[tuple[str, str]]:
    """(rule name, SQL predicate that is TRUE when the row breaks it) for one column."""
    v = value(column.name)
    rules: list[tuple[str, str]] = []
    if not column.nullable:
        rules.append((f"not_null:{column.name}", f"{v} is null"))
    if column.type == "double":
        # Values too large for a double (1e400) read as infinity: a type error, not a number.
        cast = f"try_cast({v} as DOUBLE)"
        rules.append((f"type:{column.name}", f"{v} is not null and ({cast} is null or not isfinite({cast}))"))
    elif column.type != "varchar":
        rules.append((f"type:{column.name}", f"{v} is not null and {cast_text(column, v)} is null"))
    if column.not_future:
        rules.append(
            (
                f"not_future:{column.name}",
                f"{cast_text(column, v)} > now() + to_seconds({NOT_FUTURE_TOLERANCE.total_seconds():g})",
            )
        )
    if column.format == "email":
        # The verdicts are computed before the statement, once per distinct address (see apply_rules).
        rules.append((f"format:{column.name}", f"{v} in (select _value from {email_table(column)})"))
    elif column.format == "iso_country":
        codes = ", ".join(lit(c) for c in sorted(ISO_COUNTRIES))
        rules.append((f"format:{column.name}", f"{v} is not null and upper({v}) not in ({codes})"))
    elif column.format == "currency":
        codes = ", ".join(lit(c) for c in sorted(ISO_CURRENCIES))
        rules.append((f"format:{column.name}", f"{v} is not null and upper({v}) not in ({codes})"))
    if column.allowed:
        values = ", ".join(lit(a) for a in column.allowed)
        rules.append((f"allowed:{column.name}", f"{v} is not null and lower({v}) not in ({values})"))
    if column.min is not None or column.max is not None:
        num = f"try_cast({v} as double)"
        bounds = []
        if column.min is not None:
            bounds.append(f"{num} < {float(column.min)!r}")
        if column.max is not None:
            bounds.append(f"{num} > {float(column.max)!r}")
        rules.append((f"range:{column.name}", f"{num} is not null and ({' or '.join(bounds)})"))
    return rules


def typed(column: Column, table: str | None = None) -> str:
    """The column's value as loaded into raw: typed, codes upper-cased, allowed values lower-cased."""
    v = value(column.name, table)
    if column.format in ("iso_country", "currency"):
        v = f"upper({v})"
    elif column.allowed:
        v = f"lower({v})"
    return cast_text(column, v)


def prepare_email_checks(con: duckdb.DuckDBPyConnection, contract: Contract) -> list[str]:
    """Write, for each ``format: email`` column, the batch's addresses email-validator rejects into
    :func:`email_table`; returns the tables made (drop them after the rule statement).

    Each distinct address is judged once; the ones the SQL fast path vouches for are not judged at all
    (the library takes about 0.1 ms an address, SQL a fraction of a microsecond).
    """
    tables = []
    for column in contract.columns:
        if column.format != "email":
            continue
        v = value(column.name)
        # Distinct values first: the pattern then runs once per address, not once per row.
        # Distinct values first (materialised, or DuckDB pushes the pattern below the aggregate): the
        # pattern then runs once per address, not once per row.
        candidates = con.execute(
            f"with d as materialized (select distinct {v} as _value from {BATCH} where _file_rule is null) "
            f"select _value from d where _value is not null and not {email_fast_path('_value')}"
        ).fetchall()
        rejected = pa.table({"_value": pa.array(invalid_emails(r[0] for r in candidates), pa.string())})
        table = email_table(column)
        con.register("_ecrm_rejected_emails", rejected)
        try:
            con.execute(f"create or replace temp table {table} as select _value from _ecrm_rejected_emails")
        finally:
            con.unregister("_ecrm_rejected_emails")
        tables.append(table)
    return tables


def parent_keys(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Collect, once per entity load, the loaded keys each foreign key refers to (``_ecrm_fk_<i>``).

    Parents load before children (see ``load_contracts``), so the sets do not change while the entity's
    batches are checked.
    """
    for i, fk in enumerate(contract.foreign_keys, start=1):
        con.execute(
            f"create or replace temp table _ecrm_fk_{i} as select distinct cast({q(fk.ref_column)} as varchar) "
            f"as _k from raw.{q(fk.ref_table)} where {q(fk.ref_column)} is not null"
        )


def apply_rules(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Find the rows of ``_ecrm_batch`` that break a rule: ``_ecrm_bad`` gets their ``rowid``, file and list
    of broken rules, in one statement. Good rows are never copied: they go from the batch to raw directly.

    Order of evaluation: a file-level rule (a required column missing) replaces every row rule of that
    file; then column rules, then foreign keys (against the parent keys of :func:`parent_keys`), then the
    primary key among rows still good. The first row of a key wins, in file order then row order; event
    entities also reject a key already loaded from a file outside this batch (snapshot entities keep one row
    per key and file: every export's version; staging picks the latest).

    Duplicate keys are found by aggregation (a hash table of keys seen more than once) rather than by
    ranking every row in a window: the batch is millions of rows and duplicates are few.

    The e-mail verdicts are prepared first (:func:`prepare_email_checks`) and their tables dropped after.
    """
    email_tables = prepare_email_checks(con, contract)
    checks = [rule for c in contract.columns for rule in column_rules(c)]
    cases = ", ".join(f"case when {pred} then {lit(name)} end" for name, pred in checks) or "null"
    keys = [typed(contract.column(k)) for k in contract.primary_key]
    key_cols = [f"_key{j}" for j in range(len(keys))]
    fk_values = [f"{value(fk.column)} as _fk{i}" for i, fk in enumerate(contract.foreign_keys, start=1)]
    # Only what the checks need travels through the joins: row id, file, order, keys and referenced values.
    ctes = [
        f"""c0 as (
            select rowid as _rid, _source_file, _file_order::bigint * 10000000000 + {ROW_NUMBER} as _ord,
                {", ".join([*(f"{k} as {n}" for k, n in zip(keys, key_cols, strict=True)), *fk_values])},
                case when _file_rule is not null then [_file_rule]
                     else list_filter([{cases}], lambda x: x is not null) end as _rules
            from {BATCH} b
        )"""
    ]
    last = "c0"
    for i, fk in enumerate(contract.foreign_keys, start=1):
        ctes.append(
            f"""c{i} as (
                select s.* replace (case when len(s._rules) = 0 and s._fk{i} is not null and p._k is null
                    then list_append(s._rules, {lit("foreign_key:" + fk.column)}) else s._rules end as _rules)
                from {last} s left join _ecrm_fk_{i} p on p._k = s._fk{i}
            )"""
        )
        last = f"c{i}"
    group = key_cols + (["_source_file"] if contract.kind == "snapshot" else [])
    ctes.append(
        f"""dup as (
            select {", ".join(group)}, min(_ord) as _first from {last} where len(_rules) = 0
            group by all having count(*) > 1
        )"""
    )
    joins = f"left join dup d on {' and '.join(f'd.{n} = ck.{n}' for n in group)}"
    elsewhere = "false"
    others = f"select 1 from raw.{q(contract.name)} where _source_file not in (select _source_file from _ecrm_batch_files)"
    if contract.kind == "event" and con.execute(f"select exists ({others})").fetchone()[0]:
        # Only when rows from other files are loaded already (not on a first load). An inner join with the
        # batch's distinct keys on the build side: the loaded table is only scanned (and DuckDB skips its
        # row groups outside the batch's key range), where EXISTS would hash the whole table every batch.
        match = " and ".join(f"r.{q(k)} = b.{n}" for k, n in zip(contract.primary_key, key_cols, strict=True))
        ctes.append(
            f"""seen as (
                select distinct {", ".join(f"b.{n}" for n in key_cols)}
                from (select distinct {", ".join(key_cols)} from {last} where len(_rules) = 0) b
                join raw.{q(contract.name)} r on {match}
                where r._source_file not in (select _source_file from _ecrm_batch_files)
            )"""
        )
        joins += " left join seen e on " + " and ".join(f"e.{n} = ck.{n}" for n in key_cols)
        elsewhere = f"e.{key_cols[0]} is not null"
    rule = lit("unique:" + contract.primary_key[0])
    con.execute(
        f"""
        create or replace temp table _ecrm_bad as
        with {", ".join(ctes)}
        select _rid, _source_file, _rules from (
            select ck._rid, ck._source_file,
                case when len(ck._rules) = 0 and (ck._ord <> coalesce(d._first, ck._ord) or {elsewhere})
                     then list_append(ck._rules, {rule}) else ck._rules end as _rules
            from {last} ck {joins}
        ) where len(_rules) > 0
        """
    )
    for table in email_tables:
        con.execute(f"drop table if exists {table}")
