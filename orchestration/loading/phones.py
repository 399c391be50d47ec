"""Phone numbers in E.164, computed in Python with Google's numbering plans and joined by staging.

A phone arrives as typed (``0151 2345678``, ``(11) 91234-5678``, ``00 44 20 7946 0018``) and means
something only together with a country. Turning it into E.164 needs the numbering plan of every country
(calling code, trunk prefix, exit code, number lengths), which ``phonenumbers`` (the Python port of
libphonenumber) keeps up to date for all of them; a table written by hand covered about 120.

SQL cannot call the library, so the work is split in two, set-based at both ends:

* after an entity with phone columns is loaded, :func:`refresh_phone_lookup` reads the DISTINCT
  (phone, country) pairs of its raw table that the lookup ``ops.phone_numbers`` does not hold yet, converts
  each once with :func:`to_e164`, and appends them: a pair is converted once, however many records and
  loads repeat it;
* the staging models left-join the lookup on the raw phone and the record's own country, exactly as
  loaded (null when the record has none), so ``phone_e164`` keeps its name and meaning.

The default country for records without one (``settings.default_phone_country``) is applied here, once,
and recorded in the lookup's ``region`` column: dbt needs no copy of the setting that could disagree with
it. When the setting changes, the pairs read with the old default are read again on the next load.

The lookup holds ``phone_e164`` null for a number that cannot be read, so a missing row (never computed)
and a null one (computed, unusable) differ.
"""

from __future__ import annotations

import duckdb
import phonenumbers
import pyarrow as pa

from orchestration import settings
from orchestration.contracts import Contract, load_contracts
from orchestration.loading.sql import q

LOOKUP = "ops.phone_numbers"

# Dialled in front of an international number in most of the world (ITU-T E.164 recommends it). A number
# written "00 44 ..." in a record of a country with another exit code (011 in North America) is still meant
# as international: nobody types a trunk 0 twice.
_COMMON_EXIT_CODE = "00"


def to_e164(raw: str | None, region: str | None) -> str | None:
    """The E.164 form (``+4915123456789``) of a phone number as typed, or None when it cannot be one.

    ``region`` is the ISO 3166-1 alpha-2 country of the record (any case), used to read a national number
    (``0151 2345678`` in ``DE``); a number written with ``+`` or an exit code needs none. Separators,
    ``(0)`` after the country code and extensions (``x123``, dropped) are understood.

    A number is kept when its length is possible for its country, even if ``phonenumbers`` says it is not
    valid (it knows no assigned range for it): ``phone_e164`` is first a key that links the records of one
    person, and a number typed the same way in two records links them whether or not it is dialable;
    and new ranges open before the library's next metadata release. A wrong length, by contrast, is
    a typo for sure. Numbers that cannot be parsed, whose length no number of that country has, or that
    are only a local number without area code give None. Germany and Austria have open numbering plans
    (subscriber numbers of many lengths), so there the length check catches little.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    region = (region or "").strip().upper() or None
    number = _parse(text, region)
    if number is None and text.startswith(_COMMON_EXIT_CODE):
        number = _parse("+" + text[len(_COMMON_EXIT_CODE) :], None)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The parsed number when it has a possible length for its country, else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # IS_POSSIBLE_LOCAL_ONLY (a subscriber number without its area code, "12" in Germany) is not enough:
    # it cannot be dialled from elsewhere, so it has no E.164 form.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return number


def ensure_phone_lookup(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``ops.phone_numbers`` if it does not exist yet (dbt declares it as a source: it must be there,
    even empty, before the first build and in a warehouse built before the lookup existed)."""
    con.execute("create schema if not exists ops")
    con.execute(
        f"create table if not exists {LOOKUP} (phone varchar, country varchar, region varchar, "
        "phone_e164 varchar)"
    )


def phone_columns(contract: Contract) -> tuple[list[str], str | None]:
    """The contract's ``format: phone`` columns and the country column they are read with (its only
    ``format: iso_country`` column, else None: then every number is read with the default country)."""
    phones = [c.name for c in contract.columns if c.format == "phone"]
    countries = [c.name for c in contract.columns if c.format == "iso_country"]
    return phones, countries[0] if len(countries) == 1 else None


def _pairs_sql(contract: Contract) -> str | None:
    """SELECT of the (phone, country) pairs in ``raw.<contract>``, or None without phone columns."""
    phones, country = phone_columns(contract)
    country_sql = q(country) if country else "cast(null as varchar)"
    return (
        " union ".join(
            f"select {q(p)} as phone, {country_sql} as country from raw.{q(contract.name)} where {q(p)} is not null"
            for p in phones
        )
        or None
    )


def forget_unused_phones(con: duckdb.DuckDBPyConnection) -> int:
    """Delete the lookup's pairs that no raw table holds any more (a person erased, a file replaced), so
    the lookup keeps no phone number the warehouse has forgotten; returns how many went."""
    ensure_phone_lookup(con)
    raw_tables = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' "
            "and database_name = current_database()"
        ).fetchall()
    }
    held = [
        sql for c in load_contracts().values() if c.name in raw_tables and (sql := _pairs_sql(c)) is not None
    ]
    if not held:
        return 0
    before = con.execute(f"select count(*) from {LOOKUP}").fetchone()[0]
    con.execute(
        f"delete from {LOOKUP} l where not exists (select 1 from ({' union '.join(held)}) h "
        "where h.phone = l.phone and h.country is not distinct from l.country)"
    )
    return before - con.execute(f"select count(*) from {LOOKUP}").fetchone()[0]


def refresh_phone_lookup(
    con: duckdb.DuckDBPyConnection, contract: Contract, default_country: str | None = None
) -> int:
    """Add to ``ops.phone_numbers`` the (phone, country) pairs of ``raw.<contract>`` it lacks; returns how
    many were added. Creates the lookup first; a contract without phone columns adds nothing, and after
    one with phone columns :func:`forget_unused_phones` removes the pairs no raw table holds any more.

    ``default_country`` (default: ``settings.default_phone_country()``) reads the numbers of records
    without a country. The whole raw table is compared, not only the last batch, so a warehouse loaded
    before the lookup existed is filled on its next load, even if no file changed.
    """
    ensure_phone_lookup(con)
    pairs = _pairs_sql(contract)
    if pairs is None:
        return 0
    forget_unused_phones(con)
    default_country = (default_country or settings.default_phone_country()).upper()
    # Pairs read with another default than today's are read again.
    con.execute(
        f"delete from {LOOKUP} where country is null and region is distinct from ?", [default_country]
    )
    new = con.execute(
        f"select distinct n.phone, n.country from ({pairs}) n anti join {LOOKUP} l "
        "on l.phone = n.phone and l.country is not distinct from n.country"
    ).fetchall()
    if not new:
        return 0
    regions = [c or default_country for _, c in new]
    rows = pa.table(
        {
            "phone": pa.array([p for p, _ in new], pa.string()),
            "country": pa.array([c for _, c in new], pa.string()),
            "region": pa.array(regions, pa.string()),
            "phone_e164": pa.array(
                [to_e164(p, r) for (p, _), r in zip(new, regions, strict=True)], pa.string()
            ),
        }
    )
    con.register("_ecrm_new_phones", rows)
    try:
        con.execute(f"insert into {LOOKUP} select phone, country, region, phone_e164 from _ecrm_new_phones")
    finally:
        con.unregister("_ecrm_new_phones")
    return len(new)
