"""Step 1 of ``ecrm forget``: resolve the identifier given to one customer of the identity map, with every record
and identifier of theirs (an e-mail or phone another customer holds too stays with them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from orchestration import settings
from orchestration.contracts import load_contracts
from orchestration.forget.database import register_rows, table_exists
from orchestration.forget.errors import ForgetError
from orchestration.loading.erasure import (
    CUSTOMER,
    EMAIL,
    PERSON_COLUMNS,
    PHONE,
    PHONE_MAP,
    RECORD_OF,
    SOURCE_KINDS,
    country_column,
    normalised,
    phone_map,
)
from orchestration.loading.phones import to_e164
from orchestration.loading.sql import q

IDENTITY_MAP = "marts.customer_identity_map"


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
        if not columns or not table_exists(con, relation):
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
        if not columns or not table_exists(con, f"raw.{q(name)}"):
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
    if not table_exists(con, IDENTITY_MAP):
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
        register_rows(con, "_ecrm_holders", holders, ["source", "source_id"])
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
    register_rows(con, "_ecrm_person_records", person.records, ["source", "source_id"])
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
