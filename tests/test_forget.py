"""``ecrm forget``: a person erased is gone from every table, the published copy and the exports, and stays
gone when the landing files that still hold them are read again."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main
from orchestration.contracts import load_contracts
from orchestration.forget import ForgetError, resolve, scrub_exports
from orchestration.loading.erasure import (
    CLEAR_VALUES,
    EMAIL,
    ORDER,
    PERSON_COLUMNS,
    PHONE,
    ErasureKeyMissing,
    create_key,
    drop_hash_macro,
    ensure_erasure_tables,
    hash_identifier,
    install_hash_macro,
    key_path,
    matching_rows_sql,
)
from orchestration.loading.loader import ensure_schemas, load_landing
from orchestration.loading.phones import to_e164
from tests.conftest import _run_on_landing, environment_kept

CONTRACTS = load_contracts()


# ---------------------------------------------------------------------------------------------------------
# What counts as a person's row, and the hash
# ---------------------------------------------------------------------------------------------------------


def test_person_columns_cover_every_column_that_names_a_person():
    """Every e-mail and phone column, every foreign key into a person's row and every single-column key of a
    person's entity is mapped, to the kind of the key it refers to; parents are erased before children."""
    order = list(CONTRACTS)
    for name, contract in CONTRACTS.items():
        columns = PERSON_COLUMNS.get(name, {})
        assert set(columns) <= set(contract.column_names), name
        for column in contract.columns:
            if column.format == "email":
                assert columns.get(column.name) == EMAIL, f"{name}.{column.name}"
            if column.format == "phone" or column.name == "phone":
                assert columns.get(column.name) == PHONE, f"{name}.{column.name}"
        for fk in contract.foreign_keys:
            referenced = PERSON_COLUMNS.get(fk.ref_table, {}).get(fk.ref_column)
            assert columns.get(fk.column) == referenced, f"{name}.{fk.column}"
        if columns and len(contract.primary_key) == 1:
            assert contract.primary_key[0] in columns, name
    # A kind that is some entity's key is only used by entities loaded (and erased) after it.
    for name, columns in PERSON_COLUMNS.items():
        for parent, parent_columns in PERSON_COLUMNS.items():
            key = CONTRACTS[parent].primary_key
            if parent != name and len(key) == 1 and parent_columns[key[0]] in columns.values():
                assert order.index(parent) < order.index(name), (parent, name)
    assert set(PERSON_COLUMNS) == set(CONTRACTS) - {
        "shop__products",
        "shop__promotions",
        "marketing__campaigns",
    }


def test_sql_hash_is_the_hmac_of_the_normalised_value():
    key = bytes(range(32))
    con = duckdb.connect()
    install_hash_macro(con, key)
    values = ["anna@x.de", "+4915112345678", "C0000001", "müller@bäckerei.de"]
    got = [con.execute("select _ecrm_identifier_hash(?)", [v]).fetchone()[0] for v in values]
    assert got == [hash_identifier(key, v) for v in values]
    assert got[0] != hashlib.sha256(b"anna@x.de").hexdigest()  # keyed: no dictionary attack without the key
    drop_hash_macro(con)
    with pytest.raises(duckdb.Error):
        con.execute("select _ecrm_identifier_hash('x')")


def test_words_of_an_unparsable_line_are_matched():
    con = duckdb.connect()
    con.execute("create temp table q (order_id varchar, email varchar, _original_line varchar)")
    con.execute(
        'insert into q values (null, null, \'O7,"S1",Anna@X.de,2024-01-01,EUR,"web\'), '
        "(null, null, 'O8,S2,other@y.de'), ('O9 ', null, null)"
    )
    con.execute(f"create temp table {CLEAR_VALUES} as select * from (values ('email', 'anna@x.de'), ('order_id', 'O9')) t(kind, value)")  # fmt: skip
    sql = matching_rows_sql(CONTRACTS["shop__orders"], "q", {EMAIL, ORDER}, against="clear", with_lines=True)
    assert sorted(r[0] for r in con.execute(sql).fetchall()) == [0, 2]


# ---------------------------------------------------------------------------------------------------------
# The loader keeps erased people out
# ---------------------------------------------------------------------------------------------------------

PRODUCTS = (
    "product_id,product_name,category,subcategory,brand,list_price,unit_cost,currency,is_active,updated_at\n"
    "P1,Mug,home,kitchen,Acme,10.00,4.00,EUR,true,2024-01-01T00:00:00Z\n"
)
ORDERS = (
    "order_id,shop_customer_id,email,ordered_at,currency,sales_channel,device,country,region,city,"
    "promotion_code,discount_amount,shipping_amount\n"
    "O1,, Guest@X.de ,2024-01-01T10:00:00Z,EUR,web,desktop,DE,BY,Munich,,0,4.95\n"
    "O2,S2,keep@y.de,2024-01-02T10:00:00Z,EUR,web,desktop,DE,BY,Munich,,0,4.95\n"
    "O9,S3,new@z.de,2024-01-03T10:00:00Z,EUR,web,desktop,DE,BY,Munich,,0,4.95\n"
    "O3,,guest@x.de,not a time,EUR,web,desktop,DE,BY,Munich,,0,4.95\n"
)
LINES = (
    "order_id,line_number,product_id,quantity,unit_price\nO9,1,P1,1,10.00\nO2,1,P1,2,10.00\nO1,1,P1,1,10.00\n"
)
CUSTOMERS = (
    "shop_customer_id,email,phone,first_name,last_name,country,region,city,acquisition_channel,"
    "accepts_marketing,created_at,updated_at\n"
    "S7,s7@y.de,0151 2345 6789,Eva,Lang,DE,BY,Munich,direct,true,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z\n"
    "S2,keep@y.de,0151 9876 5432,Tom,Kurz,DE,BY,Munich,direct,true,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z\n"
)


def _landing(root: Path) -> Path:
    for rel, text in {
        "shop/products/products.csv": PRODUCTS,
        "shop/orders/orders.csv": ORDERS,
        "shop/order_lines/lines.csv": LINES,
        "shop/customers/customers.csv": CUSTOMERS,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_loader_drops_rows_of_erased_identifiers(tmp_path):
    """A guest e-mail (any case and spacing, also on a quarantined row), an order id (and so its lines), and
    a phone in national form are kept out of raw and quarantine and counted as erased per file."""
    landing = _landing(tmp_path / "landing")
    warehouse = tmp_path / "wh.duckdb"
    key = create_key(warehouse)
    phone = to_e164("0151 2345 6789", "DE")
    assert phone
    con = duckdb.connect(str(warehouse))
    ensure_erasure_tables(con)
    con.executemany(
        "insert into ops.erased_identifiers values (1, ?, ?)",
        [
            (kind, hash_identifier(key, v))
            for kind, v in ((EMAIL, "guest@x.de"), (ORDER, "O9"), (PHONE, phone))
        ],
    )
    load_landing(con, landing)
    manifest = {
        p: (r, lo, qu, er)
        for p, r, lo, qu, er in con.execute(
            "select path, rows_read, rows_loaded, rows_quarantined, rows_erased from ops.load_manifest"
        ).fetchall()
    }
    assert manifest["shop/orders/orders.csv"] == (4, 1, 0, 3)
    assert manifest["shop/order_lines/lines.csv"] == (3, 1, 0, 2)
    assert manifest["shop/customers/customers.csv"] == (2, 1, 0, 1)
    assert con.execute("select list(order_id) from raw.shop__orders").fetchone()[0] == ["O2"]
    assert con.execute("select count(*) from quarantine.shop__orders").fetchone()[0] == 0
    assert con.execute("select list(shop_customer_id) from raw.shop__customers").fetchone()[0] == ["S2"]
    # No temp table of the erasure survives the load.
    temp = con.execute("select list(table_name) from duckdb_tables() where temporary").fetchone()[0]
    assert not [t for t in temp or [] if t.startswith("_ecrm_")]
    # A line the reader cannot split into columns is matched on its words: the erased e-mail inside it keeps
    # it out of quarantine too (the other broken line stays there for the shop to fix).
    header = ORDERS.splitlines()[0]
    (landing / "shop/orders/more.csv").write_text(
        f"{header}\n"
        "O5,,GUEST@x.de,2024-01-05T10:00:00Z,EUR,web,desktop,DE,BY,Munich,,0,4.95,one,too,many\n"
        "O6,S2,keep@y.de,2024-01-06T10:00:00Z,EUR,web,desktop,DE,BY,Munich,,0,4.95,one,too,many\n"
        "O7,S2,keep@y.de,2024-01-07T10:00:00Z,EUR,web,desktop,DE,BY,Munich,,0,4.95\n"
    )
    load_landing(con, landing)
    counts = con.execute(
        "select rows_read, rows_loaded, rows_quarantined, rows_erased from ops.load_manifest "
        "where path = 'shop/orders/more.csv'"
    ).fetchone()
    assert counts == (3, 1, 1, 1)
    kept = con.execute("select list(_original_line) from quarantine.shop__orders").fetchone()[0]
    assert len(kept) == 1
    assert kept[0].startswith("O6,")
    # Without the key the loader refuses to load rather than let erased people back in, and says why.
    key_path(warehouse).unlink()
    (landing / "shop/orders/orders.csv").write_text(
        ORDERS + "O4,S2,keep@y.de,2024-01-04T10:00:00Z,EUR,web,,DE,,,,0,0\n"
    )
    with pytest.raises(ErasureKeyMissing, match="Restore the key file from the backup") as missing:
        load_landing(con, landing)
    assert str(key_path(warehouse)) in str(missing.value)
    con.close()


def test_scrub_exports_drops_only_rows_naming_the_person(tmp_path):
    (tmp_path / "a.csv").write_text(
        "customer_id,contact,first_name\ncus_1,Anna@X.de,Anna\ncus_2,b@y.de,Ben\n", encoding="utf-8"
    )
    (tmp_path / "b.csv").write_text("customer_id,contact\ncus_2,b@y.de\n", encoding="utf-8")
    (tmp_path / "c.parquet").write_bytes(b"PAR1")
    found, unchecked = scrub_exports(tmp_path, {"anna@x.de"}, write=False)
    assert found == {"a.csv": 1}
    assert unchecked == ["c.parquet"]
    assert "Anna" in (tmp_path / "a.csv").read_text(encoding="utf-8")
    scrub_exports(tmp_path, {"anna@x.de", "cus_1"})
    assert (tmp_path / "a.csv").read_text(
        encoding="utf-8"
    ) == "customer_id,contact,first_name\ncus_2,b@y.de,Ben\n"
    assert (tmp_path / "b.csv").read_text(encoding="utf-8") == "customer_id,contact\ncus_2,b@y.de\n"


# ---------------------------------------------------------------------------------------------------------
# Resolving an identifier to a person (a hand-made warehouse)
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def small_warehouse():
    con = duckdb.connect()
    ensure_schemas(con)
    con.execute(
        """
        insert into raw.crm__customers (crm_customer_id, first_name, last_name, email, phone, country) values
            ('C1', 'Anna', 'Berg', 'anna@x.de', '0151 11111111', 'DE'),
            ('C2', 'Peter', 'Lang', 'family@x.de', '+49 151 22222222', 'DE'),
            ('C3', 'Paula', 'Lang', 'family@x.de', '0151 22222222', 'DE')
        """
    )
    con.execute(
        "insert into raw.shop__customers (shop_customer_id, email, phone, country) values "
        "('S1', 'Anna@X.de ', '+4915111111111', null), ('S2', 'anna.b@y.de', null, 'DE')"
    )
    con.execute(
        "insert into raw.shop__orders (order_id, shop_customer_id, email) values "
        "('O1', 'S1', 'anna@x.de'), ('O2', null, 'family@x.de')"
    )
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.customer_identity_map as select * from (values
            ('crm', 'C1', 'cus_a'), ('shop', 'S1', 'cus_a'), ('crm', 'C2', 'cus_b'), ('crm', 'C3', 'cus_c'),
            ('shop_guest', 'family@x.de', 'cus_d'), ('shop', 'S2', 'cus_e')
        ) t(source, source_id, customer_id)
        """
    )
    yield con
    con.close()


def test_every_identifier_of_a_person_resolves_to_the_same_records(small_warehouse):
    by_email = resolve(small_warehouse, email=" ANNA@x.de")
    by_phone = resolve(small_warehouse, phone="0151 11111111", country="DE")
    by_id = resolve(small_warehouse, customer_id="cus_a")
    by_source = resolve(small_warehouse, source="shop", source_id="S1")
    for person in (by_phone, by_id, by_source):
        assert (person.customer_ids, person.records) == (by_email.customer_ids, by_email.records)
        assert (person.emails, person.phones) == (by_email.emails, by_email.phones)
    assert by_email.customer_ids == ["cus_a"]
    assert by_email.records == [("crm", "C1"), ("shop", "S1")]
    assert by_email.emails == ["anna@x.de"]
    assert by_email.phones == [to_e164("0151 11111111", "DE")]


def test_a_shared_address_is_ambiguous_and_kept_for_the_others(small_warehouse):
    with pytest.raises(ForgetError, match="3 different customers"):
        resolve(small_warehouse, email="family@x.de")
    peter = resolve(small_warehouse, source="crm", source_id="C2")
    assert peter.customer_ids == ["cus_b"]
    assert peter.emails == []
    assert peter.phones == []
    assert peter.shared == 2


def test_malformed_and_unknown_identifiers(small_warehouse):
    with pytest.raises(ForgetError, match="cannot be read"):
        resolve(small_warehouse, phone="12")
    with pytest.raises(ForgetError, match="exactly one"):
        resolve(small_warehouse, email="a@b.de", customer_id="cus_a")
    assert resolve(small_warehouse, email="nobody@nowhere.example").customer_ids == []


# ---------------------------------------------------------------------------------------------------------
# The whole thing on a demo warehouse
# ---------------------------------------------------------------------------------------------------------


def _scan(path: Path, needles: list[str]) -> dict[str, int]:
    """Rows per table or view (every schema) with a text column containing any needle, in any case."""
    pattern = "|".join(re.escape(n.lower()) for n in needles)
    found = {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name, list(column_name) from information_schema.columns "
            "where data_type = 'VARCHAR' and table_schema not in ('information_schema', 'pg_catalog') group by 1, 2"
        ).fetchall()
        for schema, table, columns in tables:
            where = " or ".join(f'regexp_matches(lower("{c}"), ?)' for c in columns)
            n = con.execute(
                f'select count(*) from "{schema}"."{table}" where {where}', [pattern] * len(columns)
            )
            n = n.fetchone()[0]
            if n:
                found[f"{schema}.{table}"] = n
    finally:
        con.close()
    return found


def _person(con: duckdb.DuckDBPyConnection, audience: set[str]) -> dict:
    """A customer of the audience with a CRM record, a shop account, orders and browsers, whose records are
    linked to nobody else's (so erasing them changes no other customer), and all their identifiers."""
    rows = con.execute(
        """
        with mine as (select customer_id, node_key from intermediate.int_identity__customer_keys),
        crossing as (
            select distinct a.customer_id from intermediate.int_identity__edges e
            join mine a on a.node_key = e.node_a join mine b on b.node_key = e.node_b
            where a.customer_id <> b.customer_id
        )
        select m.customer_id, count(distinct m.source) filter (where m.source in ('crm', 'shop', 'web')) as kinds,
               count(*) filter (where m.source = 'web') as browsers, max(c.orders) as orders
        from marts.customer_identity_map m join marts.customer_360 c using (customer_id)
        where m.customer_id not in (select customer_id from crossing)
        group by 1 having kinds = 3 and orders >= 2 order by browsers desc, orders desc, 1
        """
    ).fetchall()
    customer_id = next(r[0] for r in rows if r[0] in audience)
    records = con.execute(
        "select source, source_id from marts.customer_identity_map where customer_id = ?", [customer_id]
    ).fetchall()
    ids = {s: [i for src, i in records if src == s] for s in ("crm", "shop", "shop_guest", "web")}
    emails = {
        r[0]
        for r in con.execute(
            "select lower(trim(email)) from raw.crm__customers where crm_customer_id in (select unnest(?)) "
            "union select lower(trim(email)) from raw.shop__customers where shop_customer_id in (select unnest(?)) "
            "union select lower(trim(email)) from raw.shop__orders where shop_customer_id in (select unnest(?))",
            [ids["crm"], ids["shop"], ids["shop"]],
        ).fetchall()
        if r[0]
    } | set(ids["shop_guest"])
    phones = {
        r[0]
        for r in con.execute(
            "select phone from raw.crm__customers where crm_customer_id in (select unnest(?)) "
            "union select phone from raw.shop__customers where shop_customer_id in (select unnest(?)) "
            "union select phone_e164 from staging.stg_crm__customers where crm_customer_id in (select unnest(?)) "
            "union select phone_e164 from staging.stg_shop__customers where shop_customer_id in (select unnest(?))",
            [ids["crm"], ids["shop"], ids["crm"], ids["shop"]],
        ).fetchall()
        if r[0]
    }
    orders = [
        r[0]
        for r in con.execute(
            "select order_id from raw.shop__orders where shop_customer_id in (select unnest(?)) "
            "or (shop_customer_id is null and lower(email) in (select unnest(?)))",
            [ids["shop"], ids["shop_guest"]],
        ).fetchall()
    ]
    sessions = [
        r[0]
        for r in con.execute(
            "select session_id from raw.web__sessions where anonymous_id in (select unnest(?)) "
            "or user_id in (select unnest(?))",
            [ids["web"], ids["shop"]],
        ).fetchall()
    ]
    assert ids["crm"]
    assert ids["shop"]
    assert ids["web"]
    assert len(orders) >= 2
    assert emails
    email = sorted(e for e in emails if e not in ids["shop_guest"] or len(emails) == 1)[0]
    needles = [customer_id, *(i for v in ids.values() for i in v), *emails, *phones, *orders, *sessions]
    return {"customer_id": customer_id, "email": email, "shop": ids["shop"][0], "needles": needles}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 300-customer demo warehouse with an e-mail audience exported; the person to forget; a copy of the
    warehouse from before (for dry runs)."""
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("forget")
    with environment_kept():
        generate(root, customers=300, seed=23)
        run = _run_on_landing(root, min_repeat_customers="50", verbose=True)
        assert run.report.success, run.report.render()
        exports = root / "exports"
        assert (
            main(
                ["audience", "--warehouse", str(run.warehouse), "--out", str(exports / "audience_email.csv")]
            )
            == 0
        )
        with (exports / "audience_email.csv").open(encoding="utf-8") as fh:
            audience = list(csv.DictReader(fh))
        con = duckdb.connect(str(run.warehouse), read_only=True)
        person = _person(con, {r["customer_id"] for r in audience})
        customers = con.execute("select count(*) from marts.customer_360").fetchone()[0]
        con.close()
        before = root / "before.duckdb"
        shutil.copyfile(run.warehouse, before)
        yield {
            "run": run, "exports": exports, "audience": audience, "person": person, "customers": customers,
            "before": before,
        }  # fmt: skip


def _cli(demo, warehouse: Path, *args: str) -> int:
    run = demo["run"]
    return main(
        [
            "forget",
            *args,
            "--warehouse",
            str(warehouse),
            "--landing",
            str(run.landing),
            "--exports",
            str(demo["exports"]),
        ]
    )


def test_dry_run_names_the_same_person_by_every_identifier_and_changes_nothing(demo, capsys):
    person, before = demo["person"], demo["before"]
    digest = hashlib.sha256(before.read_bytes()).hexdigest()
    outputs = []
    for args in (
        ["--email", person["email"].upper()],
        ["--customer-id", person["customer_id"]],
        ["--source", "shop", "--source-id", person["shop"]],
    ):
        assert _cli(demo, before, *args, "--dry-run") == 0
        outputs.append(capsys.readouterr().out)
    assert "would erase 1 customer" in outputs[0]
    assert "Dry run: nothing was changed." in outputs[0]
    # Everything after the first line (which names the kind of identifier) is the same plan.
    assert len({o.split("\n", 1)[1] for o in outputs}) == 1
    assert hashlib.sha256(before.read_bytes()).hexdigest() == digest
    assert not (before.parent / (before.name + ".erasure-key")).exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_plan_is_shown_and_no_cancels(demo, capsys, monkeypatch):
    before = demo["before"]
    digest = hashlib.sha256(before.read_bytes()).hexdigest()
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert _cli(demo, before, "--customer-id", demo["person"]["customer_id"]) == 0
    out = capsys.readouterr().out
    assert "would erase 1 customer" in out
    assert "cancelled, nothing was changed" in out
    assert hashlib.sha256(before.read_bytes()).hexdigest() == digest


def test_unknown_and_ambiguous_requests_exit_with_a_message(demo, capsys):
    before = demo["before"]
    assert _cli(demo, before, "--email", "nobody@nowhere.example", "--yes") == 3
    assert "no record of the warehouse holds this email" in capsys.readouterr().err
    assert _cli(demo, before, "--source", "crm", "--yes") == 2
    assert "--source-id" in capsys.readouterr().err


@pytest.fixture(scope="module")
def forgotten(demo):
    """``ecrm forget --email`` on the demo warehouse; the output and the customer count after."""
    run, person = demo["run"], demo["person"]
    with environment_kept():
        os.environ["DAGSTER_HOME"] = str(run.root / "dagster_home")
        os.environ["ECRM_MIN_REPEAT_CUSTOMERS"] = "50"
        code = _cli(
            demo, run.warehouse, "--email", f"  {person['email'].upper()} ", "--yes", "--reference", "T-1"
        )
    return code


def test_forget_erases_the_person_everywhere(demo, forgotten, capsys):
    run, person = demo["run"], demo["person"]
    assert forgotten == 0, capsys.readouterr()
    # Not one row of any table or view, in the warehouse or its published copy, holds any of their ids,
    # e-mails or phones (text columns, _original_line included), and the files' bytes hold no e-mail.
    for path in (run.warehouse, run.published):
        assert _scan(path, person["needles"]) == {}, path
        data = path.read_bytes()
        assert not [e for e in person["needles"] if "@" in e and e.encode() in data], path
    con = duckdb.connect(str(run.warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from marts.customer_360").fetchone()[0] == demo["customers"] - 1
        bad = con.execute(
            "select count(*) from ops.load_manifest where rows_read <> rows_loaded + rows_quarantined + rows_erased"
        ).fetchone()[0]
        assert bad == 0
        assert con.execute("select sum(rows_erased) from ops.load_manifest").fetchone()[0] > 0
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw'"
        ).fetchall():
            manifest = con.execute(
                "select coalesce(sum(rows_loaded), 0) from ops.load_manifest where source || '__' || entity = ?",
                [name],
            ).fetchone()[0]
            assert con.execute(f'select count(*) from raw."{name}"').fetchone()[0] == manifest, name
        log = con.execute(
            "select identifier_kind, identifier_hash, reference, customers, raw_rows, status from ops.erasure_log"
        ).fetchall()
        key = bytes.fromhex(key_path(run.warehouse).read_text().strip())
        assert log == [("email", hash_identifier(key, person["email"]), "T-1", 1, log[0][4], "completed")]
        assert log[0][4] > 10
    finally:
        con.close()
    # The export lost exactly their row.
    with (demo["exports"] / "audience_email.csv").open(encoding="utf-8") as fh:
        audience = list(csv.DictReader(fh))
    assert len(audience) == len(demo["audience"]) - 1
    assert person["customer_id"] not in {r["customer_id"] for r in audience}


def test_landing_files_read_again_do_not_bring_them_back(demo, forgotten):
    """Every landing file that holds them is changed (rows in another order) and loaded again."""
    run, person = demo["run"], demo["person"]
    assert forgotten == 0
    changed = []
    for path in sorted(run.landing.rglob("*.csv")):
        text = path.read_text(encoding="utf-8")
        if any(n in text for n in person["needles"]):
            lines = text.splitlines(keepends=True)
            path.write_text(lines[0] + "".join(reversed(lines[1:])), encoding="utf-8")
            changed.append(path.relative_to(run.landing).as_posix())
    assert len(changed) >= 5
    con = duckdb.connect(str(run.warehouse))
    try:
        results = {r.path: r for r in load_landing(con, run.landing)}
        assert sum(results[p].rows_erased for p in changed) > 0
        for path in changed:
            r = results[path]
            assert r.status in ("loaded", "rejected")
            assert r.rows_read == r.rows_loaded + r.rows_quarantined + r.rows_erased
        erased = con.execute(
            "select coalesce(sum(rows_erased), 0) from ops.load_manifest where path in (select unnest(?))",
            [changed],
        ).fetchone()[0]
        assert erased == sum(results[p].rows_erased for p in changed)
    finally:
        con.close()
    found = _scan(run.warehouse, person["needles"])
    assert not {t: n for t, n in found.items() if t.split(".")[0] in ("raw", "quarantine")}
