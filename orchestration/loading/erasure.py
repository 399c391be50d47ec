"""People erased on request (GDPR art. 17, ``ecrm forget``): which rows are theirs, and keeping them out.

``ecrm forget`` (:mod:`orchestration.forget`) deletes a person's rows and records keyed hashes of their
identifiers in ``ops.erased_identifiers``; the loader calls :func:`mark_erased_rows` on every batch, so a
landing file that still holds the person (the shop re-sends an export, a file changes and is read again)
never brings them back: their rows go neither to raw nor to quarantine and are counted as ``rows_erased``.
Both sides find a person's rows with the same SQL (:func:`matching_rows_sql`); only the last comparison
differs (clear values while erasing, hashes while loading).

**Which rows are a person's** (:data:`PERSON_COLUMNS`, the one place this is decided): a row is theirs when
any of its person columns holds one of their identifiers, compared after the normalisation staging applies
(ids trimmed; e-mails trimmed and lower-cased; phones in E.164 read with the row's country, else the
default phone country, exactly as ``ops.phone_numbers`` reads them). The identifiers are, per *kind*:

* the records the identity graph joins into the person (``marts.customer_identity_map``): CRM ids, shop
  accounts (= web ``user_id``), guest e-mails and browsers (``anonymous_id``);
* the e-mails and phones on those records that no other customer's record holds (a household's shared
  address or a placeholder stays: it is someone else's too, see :mod:`orchestration.forget`);
* the primary key of every row erased, so rows hanging off it follow (an order's lines, returns and
  reviews, a session's events, a CRM record's contacts, tickets and sends), whether the reference is a
  declared foreign key or not (``web__events.order_id``).

A contract's composite key (order lines, reviews) is no identifier of its own: those rows are reached
through their order. Quarantined rows are matched on their text, and rows the reader could not parse on
the words of their ``_original_line`` (split at separators, so an id or address inside the line matches).

**Hashing**: HMAC-SHA256 with a random 256-bit key kept in a file beside the warehouse
(:func:`key_path`), not a plain SHA-256. A plain hash of an e-mail address or a phone number is no
protection: anyone with the published copy and a list of addresses (or all 10^8 numbers of a mobile range)
can hash them and learn who asked to be erased, which is itself personal data. Without the key the hashes
are random strings; the key never enters the database file, so the published copy, which is the file copied
byte for byte, does not carry it. The HMAC is computed in SQL (a temp macro holding the padded key, dropped
after use) so that hashing stays set-based. The price: without the key the loader can no longer recognise
anyone, so :func:`mark_erased_rows` refuses to load (:class:`ErasureKeyMissing`) rather than bring
erased people back; back the key up with the warehouse.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration import settings
from orchestration.contracts import Contract
from orchestration.loading.phones import to_e164
from orchestration.loading.sql import lit, q

ERASURE_LOG = "ops.erasure_log"
ERASED_IDENTIFIERS = "ops.erased_identifiers"
# Temp table the loader reads: the batch rows (``rowid`` of ``_ecrm_batch``) that belong to an erased person.
ERASED_ROWS = "_ecrm_erased"
# Temp table of clear identifiers while ``ecrm forget`` runs (never written to the database file).
CLEAR_VALUES = "_ecrm_forget_values"
PHONE_MAP = "_ecrm_phone_map"
HASH_MACRO = "_ecrm_identifier_hash"

# Kinds of identifier. Several columns share a kind when they hold the same thing (an order id in orders,
# order lines, returns, reviews and purchase events); each kind is compared only with its own kind.
EMAIL = "email"
PHONE = "phone"
CRM_CUSTOMER = "crm_customer_id"
SHOP_CUSTOMER = "shop_customer_id"  # also the web tracker's user_id once logged in
BROWSER = "anonymous_id"
ORDER = "order_id"
SESSION = "session_id"
# The unified customer of the identity graph: not in any landing file, only in marts, ml tables and exports.
CUSTOMER = "customer_id"
# A phone as typed ("0151 2345678"): used to find leftovers (``ops.phone_numbers``, staging's
# phone_as_entered), never to match rows, which compare E.164.
PHONE_AS_ENTERED = "phone_as_entered"

# contract -> {column: kind}: every column of a landing entity that names a person or hangs off one. Products,
# promotions and campaigns name nobody. tests/test_forget.py checks that this stays complete as contracts
# change: every e-mail and phone column, every foreign key into a person's row, every single-column primary
# key of a person's entity is listed.
PERSON_COLUMNS: dict[str, dict[str, str]] = {
    "crm__customers": {"crm_customer_id": CRM_CUSTOMER, "email": EMAIL, "phone": PHONE},
    "crm__contacts": {"contact_id": "contact_id", "crm_customer_id": CRM_CUSTOMER},
    "crm__tickets": {"ticket_id": "ticket_id", "crm_customer_id": CRM_CUSTOMER},
    "marketing__sends": {"send_id": "send_id", "crm_customer_id": CRM_CUSTOMER},
    "shop__customers": {"shop_customer_id": SHOP_CUSTOMER, "email": EMAIL, "phone": PHONE},
    # shop_customer_id is no declared foreign key (guests have none, an export may lack the account file);
    # email is the guest checkout's identity.
    "shop__orders": {"order_id": ORDER, "shop_customer_id": SHOP_CUSTOMER, "email": EMAIL},
    "shop__order_lines": {"order_id": ORDER},
    "shop__returns": {"return_id": "return_id", "order_id": ORDER},
    "shop__reviews": {"order_id": ORDER},
    # Browsers and logged-in accounts: web data declares no key into the shop or the CRM.
    "web__sessions": {"session_id": SESSION, "anonymous_id": BROWSER, "user_id": SHOP_CUSTOMER},
    "web__events": {
        "event_id": "event_id",
        "session_id": SESSION,
        "anonymous_id": BROWSER,
        "user_id": SHOP_CUSTOMER,
        "order_id": ORDER,
    },
}

# The identity map's (source, source_id) of a record, as the kind of identifier its source_id is.
SOURCE_KINDS = {"crm": CRM_CUSTOMER, "shop": SHOP_CUSTOMER, "shop_guest": EMAIL, "web": BROWSER}

# The record of the identity map a row with an e-mail or phone belongs to: (source, source_id) as SQL on
# the row (raw values). Used to tell a person's own addresses from those other customers hold too.
RECORD_OF: dict[str, tuple[str, str]] = {
    "crm__customers": ("'crm'", "trim(crm_customer_id)"),
    "shop__customers": ("'shop'", "trim(shop_customer_id)"),
    "shop__orders": (
        "case when nullif(trim(shop_customer_id), '') is null then 'shop_guest' else 'shop' end",
        "coalesce(nullif(trim(shop_customer_id), ''), lower(trim(email)))",
    ),
}

# Separators between the values of a line the reader could not parse (CSV, TSV, semicolons, pipes, quotes).
LINE_SEPARATORS = "[\\s,;|\"']+"


class ErasureKeyMissing(RuntimeError):
    """People were erased, but the key their identifiers were hashed with is not beside the warehouse."""


def ensure_erasure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``ops.erasure_log`` (one row per erasure) and ``ops.erased_identifiers`` (the keyed hashes
    that keep erased people out of later loads) if they do not exist yet."""
    con.execute("create schema if not exists ops")
    con.execute(
        f"""
        create table if not exists {ERASURE_LOG} (
            erasure_id bigint,          -- 1, 2, ...
            erased_at timestamptz,      -- when the rows were deleted
            identifier_kind varchar,    -- what the request named: email, phone, customer_id, source:<source>
            identifier_hash varchar,    -- HMAC-SHA256 of that identifier, normalised (never the clear value)
            reference varchar,          -- the operator's request or ticket number, if given
            customers integer,          -- unified customers erased (more than one only by --customer-id)
            source_records integer,     -- records the identity graph joined into them
            raw_rows bigint, quarantine_rows bigint, ml_rows bigint, ops_rows bigint,
            derived_rows bigint,        -- rows of intermediate tables and marts that named them (rebuilt)
            export_rows bigint, export_files integer,
            rows_by_table varchar,      -- JSON: table (or export file) -> rows erased
            status varchar,             -- erased (rebuild pending) | completed | rebuild_failed | residue_found
            finished_at timestamptz
        )
        """
    )
    con.execute(
        f"create table if not exists {ERASED_IDENTIFIERS} "
        "(erasure_id bigint, kind varchar, identifier_hash varchar)"
    )


# ---------------------------------------------------------------------------------------------------------
# The key and the hash
# ---------------------------------------------------------------------------------------------------------


def key_path(warehouse: Path) -> Path:
    """The erasure key of a warehouse: ``<warehouse>.erasure-key`` beside it (never inside the file)."""
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".erasure-key")


def read_key(warehouse: Path) -> bytes | None:
    """The warehouse's erasure key, or None when it has none yet."""
    path = key_path(warehouse)
    if not path.exists():
        return None
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def create_key(warehouse: Path) -> bytes:
    """The warehouse's erasure key, made (256 random bits, readable by its owner only) if it has none."""
    key = read_key(warehouse)
    if key is not None:
        return key
    path = key_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key


def hash_identifier(key: bytes, value: str) -> str:
    """HMAC-SHA256 (hex) of an already normalised identifier: what the SQL macro computes."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def install_hash_macro(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """``_ecrm_identifier_hash(v)``: HMAC-SHA256 (RFC 2104) of ``v`` as a temp macro of this connection.

    The padded key is a literal of the macro, which lives in the connection's temporary catalog only (drop it
    with :func:`drop_hash_macro`); DuckDB's ``sha256`` of a blob does the two hashing rounds.
    """
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in block).hex()
    outer = bytes(b ^ 0x5C for b in block).hex()
    con.execute(
        f"create or replace temp macro {HASH_MACRO}(v) as "
        f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(v))))"
    )


def drop_hash_macro(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the hash macro (and with it the key) from the connection."""
    con.execute(f"drop macro if exists {HASH_MACRO}")


def database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file of the connection's database (None in memory)."""
    row = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    return Path(row[0]) if row and row[0] else None


# ---------------------------------------------------------------------------------------------------------
# Which rows are a person's: the same SQL for the loader's batch, raw and quarantine
# ---------------------------------------------------------------------------------------------------------


def normalised(kind: str, ref: str) -> str:
    """SQL: the column ``ref`` normalised as staging compares it (phones excepted, see :func:`phone_map`)."""
    text = f"cast({ref} as varchar)"
    if kind == EMAIL:
        return f"nullif(lower(trim({text})), '')"
    return f"nullif(trim({text}), '')"


def country_column(contract: Contract) -> str | None:
    """The column phones of ``contract`` are read with: its only ``format: iso_country`` column, if any."""
    countries = [c.name for c in contract.columns if c.format == "iso_country"]
    return countries[0] if len(countries) == 1 else None


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def phone_map(
    con: duckdb.DuckDBPyConnection, contract: Contract, relation: str, suffixes: list[str] | None = None
) -> None:
    """Fill the temp table ``_ecrm_phone_map (phone, country, phone_e164)`` for the distinct (phone,
    country) pairs of ``relation``'s phone columns, as ``ops.phone_numbers`` reads them: trimmed phone,
    trimmed upper-case country, E.164 from :func:`~orchestration.loading.phones.to_e164` with the country
    or else the default phone country.

    Pairs the lookup already holds are taken from it; only the others are converted, once each (about 80 µs a
    number). ``suffixes`` (last six digits) keeps only numbers that can be one of a few known phones.
    """
    phones = [c for c, kind in PERSON_COLUMNS.get(contract.name, {}).items() if kind == PHONE]
    country = country_column(contract)
    country_sql = f"upper(nullif(trim({q(country)}), ''))" if country else "cast(null as varchar)"
    con.execute(
        f"create or replace temp table {PHONE_MAP} (phone varchar, country varchar, phone_e164 varchar)"
    )
    if not phones:
        return
    digits = "right(regexp_replace(phone, '[^0-9]', '', 'g'), 6)"
    keep = f"and {digits} in (select unnest(?::varchar[]))" if suffixes is not None else ""
    pairs = " union ".join(
        f"select nullif(trim({q(p)}), '') as phone, {country_sql} as country from {relation}" for p in phones
    )
    default = settings.default_phone_country()
    known_sql, found_sql = "cast(null as varchar)", "false"
    join = ""
    if _table_exists(con, "ops", "phone_numbers"):
        # The lookup's rows for records without a country are valid only if read with today's default.
        join = (
            "left join ops.phone_numbers l on l.phone = p.phone and l.country is not distinct from p.country "
            "and (p.country is not null or l.region = ?)"
        )
        # A number the lookup could not read is known too (its E.164 is null): not converted again.
        known_sql, found_sql = "l.phone_e164", "l.phone is not null"
    params: list = ([suffixes] if suffixes is not None else []) + ([default] if join else [])
    rows = con.execute(
        f"select distinct p.phone, p.country, {found_sql} as known, {known_sql} "
        f"from (select * from ({pairs}) where phone is not null {keep}) p {join}",
        params,
    ).fetchall()
    table = pa.table(
        {
            "phone": pa.array([r[0] for r in rows], pa.string()),
            "country": pa.array([r[1] for r in rows], pa.string()),
            "phone_e164": pa.array(
                [r[3] if r[2] else to_e164(r[0], r[1] or default) for r in rows], pa.string()
            ),
        }
    )
    con.register("_ecrm_phone_rows", table)
    try:
        con.execute(f"insert into {PHONE_MAP} select * from _ecrm_phone_rows where phone_e164 is not null")
    finally:
        con.unregister("_ecrm_phone_rows")


def person_values_sql(contract: Contract, relation: str, kinds: set[str]) -> str | None:
    """SQL ``(_rid, kind, v)``: every normalised person value of ``relation`` (rowid, kind, value), for the
    kinds asked for; phones through :data:`PHONE_MAP` (fill it first with :func:`phone_map`)."""
    parts = []
    country = country_column(contract)
    country_sql = f"upper(nullif(trim(r.{q(country)}), ''))" if country else "cast(null as varchar)"
    for column, kind in PERSON_COLUMNS.get(contract.name, {}).items():
        if kind not in kinds or column not in contract.column_names:
            continue
        if kind == PHONE:
            parts.append(
                f"select r.rowid as _rid, {lit(kind)} as kind, m.phone_e164 as v from {relation} r "
                f"join {PHONE_MAP} m on m.phone = nullif(trim(r.{q(column)}), '') "
                f"and m.country is not distinct from {country_sql}"
            )
        else:
            parts.append(
                f"select rowid as _rid, {lit(kind)} as kind, {normalised(kind, q(column))} as v from {relation}"
            )
    return " union all ".join(parts) or None


def line_words_sql(relation: str) -> str:
    """SQL ``(_rid, v)``: the words of each ``_original_line`` (a row the reader could not split into
    columns), as typed and lower-cased, so an id or an e-mail address inside the line can be matched."""
    return (
        f"select _rid, unnest(list_distinct([w, lower(w)])) as v from ("
        f"select rowid as _rid, unnest(string_split_regex(_original_line, {lit(LINE_SEPARATORS)})) as w "
        f"from {relation} where _original_line is not null) where w <> ''"
    )


def matching_rows_sql(
    contract: Contract, relation: str, kinds: set[str], against: str, with_lines: bool
) -> str | None:
    """SQL selecting ``_rid``, the rowids of ``relation``'s rows that belong to an erased person, or None
    when the contract has no column of the given kinds.

    ``against`` is ``"hashed"`` (the loader: values hashed with :data:`HASH_MACRO` and looked up in
    ``ops.erased_identifiers``) or ``"clear"`` (``ecrm forget``: looked up in :data:`CLEAR_VALUES`). Values
    are hashed once per distinct value, not per row.
    """
    values = person_values_sql(contract, relation, kinds)
    if values is None and not with_lines:
        return None
    if against == "hashed":
        by_kind = f"{ERASED_IDENTIFIERS} e on e.kind = d.kind and e.identifier_hash = {HASH_MACRO}(d.v)"
        by_word = f"{ERASED_IDENTIFIERS} e on e.identifier_hash = {HASH_MACRO}(d.v)"
    else:
        by_kind = f"{CLEAR_VALUES} e on e.kind = d.kind and e.value = d.v"
        by_word = f"{CLEAR_VALUES} e on e.value = d.v"
    ctes, selects = [], []
    if values is not None:
        ctes += [
            f"_vals as ({values})",
            f"""_hits as (
                select d.kind, d.v from (select distinct kind, v from _vals where v is not null) d
                semi join {by_kind}
            )""",
        ]
        selects.append("select x._rid from _vals x semi join _hits h on h.kind = x.kind and h.v = x.v")
    if with_lines:
        ctes += [
            f"_words as ({line_words_sql(relation)})",
            f"_word_hits as (select d.v from (select distinct v from _words) d semi join {by_word})",
        ]
        selects.append("select x._rid from _words x semi join _word_hits h on h.v = x.v")
    return f"with {', '.join(ctes)} select distinct _rid from ({' union all '.join(selects)})"


def erased_kinds(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The kinds of identifier erased so far (empty when nobody was ever erased, or no table)."""
    if not _table_exists(con, "ops", "erased_identifiers"):
        return set()
    return {r[0] for r in con.execute(f"select distinct kind from {ERASED_IDENTIFIERS}").fetchall()}


def _remember_keys(con: duckdb.DuckDBPyConnection, contract: Contract, relation: str) -> None:
    """Add the keys of the batch rows just found to ``ops.erased_identifiers`` (``erasure_id`` null: found
    by the loader), so rows hanging off them follow later in the same load: the lines of a new guest order
    with an erased address are dropped with it rather than quarantined for a missing order."""
    columns = PERSON_COLUMNS[contract.name]
    key = contract.primary_key[0] if len(contract.primary_key) == 1 else None
    if key not in columns:
        return
    con.execute(
        f"insert into {ERASED_IDENTIFIERS} select null, n.kind, n.h from ("
        f"select distinct {lit(columns[key])} as kind, {HASH_MACRO}(v) as h from ("
        f"select {normalised(columns[key], q(key))} as v from {relation} "
        f"where rowid in (select _rid from {ERASED_ROWS})) where v is not null"
        f") n anti join {ERASED_IDENTIFIERS} e on e.kind = n.kind and e.identifier_hash = n.h"
    )


def mark_erased_rows(con: duckdb.DuckDBPyConnection, contract: Contract) -> bool:
    """Find the rows of the loader's batch (``_ecrm_batch``) that belong to an erased person: the temp table
    ``_ecrm_erased (_rid)`` gets their ``rowid``, and their keys join ``ops.erased_identifiers`` (see
    :func:`_remember_keys`). Returns False (and makes no table) when the contract names nobody or nobody was
    ever erased, so the loader skips the exclusion.

    Raises :class:`ErasureKeyMissing` when people were erased but the key is gone: loading without it would
    bring them back.
    """
    from orchestration.loading.rules import BATCH

    if contract.name not in PERSON_COLUMNS:
        return False
    kinds = erased_kinds(con)
    if not kinds:
        return False
    warehouse = database_path(con)
    key = read_key(warehouse) if warehouse else None
    if key is None:
        where = key_path(warehouse) if warehouse else "beside the warehouse"
        raise ErasureKeyMissing(
            f"{ERASED_IDENTIFIERS} holds people erased on request (ecrm forget), but the key their identifiers "
            f"were hashed with ({where}) is missing: without it the loader cannot recognise them and would "
            "load them again. Restore the key file from the backup taken with the warehouse."
        )
    if PHONE in kinds:
        phone_map(con, contract, BATCH)
    install_hash_macro(con, key)
    try:
        sql = matching_rows_sql(contract, BATCH, kinds, against="hashed", with_lines=True)
        con.execute(f"create or replace temp table {ERASED_ROWS} as {sql}")
        _remember_keys(con, contract, BATCH)
    finally:
        drop_hash_macro(con)
        con.execute(f"drop table if exists {PHONE_MAP}")
    return True
