"""The contract's rules as set-based SQL over one batch of staged text rows: which rows break which rule."""

from __future__ import annotations

import duckdb

from orchestration.contracts import Column, Contract
from orchestration.loading.codes import EMAIL_PATTERN, ISO_COUNTRIES, ISO_CURRENCIES
from orchestration.loading.sql import lit, q

# The temp table holding the batch of staged rows (every column as text, plus file and row bookkeeping).
BATCH = "_ecrm_batch"
# A batch row's data row number: given (fallback reader, unparsable rows) or from its position in the batch.
ROW_NUMBER = "coalesce(b._row_number, b.rowid - b._file_start + 1)"


def value(column: str, table: str | None = None) -> str:
    ref = f"{table}.{q(column)}" if table else q(column)
    return f"nullif(trim({ref}), '')"


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
        rules.append(
            (f"type:{column.name}", f"{v} is not null and try_cast({v} as {column.duckdb_type}) is null")
        )
    if column.format == "email":
        rules.append(
            (f"format:{column.name}", f"{v} is not null and not regexp_full_match({v}, {lit(EMAIL_PATTERN)})")
        )
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
    v = value(column.name, table)
    if column.format in ("iso_country", "currency"):
        v = f"upper({v})"
    elif column.allowed:
        v = f"lower({v})"
    return f"try_cast({v} as {column.duckdb_type})"


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
    """
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
