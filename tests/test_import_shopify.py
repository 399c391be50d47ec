"""The Shopify importer on hand-written exports (tests/fixtures/shopify): figures worked out by hand, the
landing files loaded through the real contracts, consent per customer, and refused files.

The fixtures: ``orders_export_1.csv`` (#1001-#1008) and an overlapping later export ``orders_export_2.csv``
(#1007 again, #1009); customers in the old (2021), 2022 and 2024+ layouts.
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.importers import ImportFailed, run_import
from orchestration.importers.shopify import is_relay_email, iso_time, sales_channel, unexcel, yes_no
from orchestration.loading.loader import load_landing

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
EXPORTED_AT = "2024-05-01T09:00:00Z"
ENTITIES = (
    "shop/orders",
    "shop/order_lines",
    "shop/products",
    "shop/returns",
    "shop/customers",
    "crm/customers",
)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def imported(landing: Path):
    """The report of importing every fixture file, with the customers export dated."""
    return run_import("shopify", [FIXTURES], landing, exported_at=EXPORTED_AT)


@pytest.fixture
def warehouse(tmp_path: Path, landing: Path, imported):
    """The landing files loaded by the contract loader into a fresh DuckDB file; (connection, results)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    results = load_landing(con, landing)
    yield con, results
    con.close()


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def by_file(report) -> dict[str, object]:
    return {Path(f.path).name: f for f in report.files}


# ---------------------------------------------------------------------------------------------------------
# Figures worked out by hand from the fixture text
# ---------------------------------------------------------------------------------------------------------


def fixture_sales() -> dict[str, dict]:
    """The orders of the fixture exports that are sales, read with the csv module only: grouped by Name, the
    first file that has an order wins, cancelled, test-tagged and anonymous (no e-mail) orders left out. Per order: currency,
    Σ line price × quantity and Discount Amount (from the order's first row)."""
    orders: dict[str, dict] = {}
    for path in sorted(FIXTURES.glob("orders_export_*.csv")):
        in_file: dict[str, dict] = {}
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                order = in_file.setdefault(row["Name"], {"lines": Decimal("0"), "head": row})
                order["lines"] += Decimal(row["Lineitem price"]) * int(row["Lineitem quantity"])
        for name, order in in_file.items():
            orders.setdefault(name, order)
    return {
        name: {
            "currency": o["head"]["Currency"],
            "revenue": o["lines"] - Decimal(o["head"]["Discount Amount"]),
        }
        for name, o in orders.items()
        if not o["head"]["Cancelled at"]
        and "test" not in o["head"]["Tags"].split(", ")
        and o["head"]["Email"]
    }


# By hand, per order (Σ line price × quantity − Discount Amount):
#   #1001  2×25.00 + 12.50 + 18.00 = 80.50 − 8.05 = 72.45 USD    (tax-exclusive: 72.45 + 5.00 + 6.16 = 83.61)
#   #1002  60.00 USD (refunded in full: 65.10, tax included in the refund)
#   #1003  29.00 + 2×9.50 = 48.00 − 5.00 = 43.00 EUR            (tax-inclusive: 43.00 + 4.90 = 47.90)
#   not a customer's: #1005 (3.00 + 18.00, a point-of-sale sale without e-mail)
#   #1006  60.00 USD (Amazon relay e-mail: marketplace)
#   #1007  27.00 USD (again in orders_export_2.csv: read once)
#   #1009  249.00 SEK                                             (tax-inclusive: 249.00 + 49.00 = 298.00)
#   not sales: #1004 cancelled, #1008 tagged test
REVENUE = {"USD": Decimal("219.45"), "EUR": Decimal("43.00"), "SEK": Decimal("249.00")}
REFUNDS = {"#1002": Decimal("65.10"), "#1003": Decimal("9.50")}


def test_hand_worked_revenue_agrees_with_the_fixture_text():
    sales = fixture_sales()
    assert sorted(sales) == ["#1001", "#1002", "#1003", "#1006", "#1007", "#1009"]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for order in sales.values():
        totals[order["currency"]] += order["revenue"]
    assert dict(totals) == REVENUE


def test_loaded_figures_equal_the_hand_worked_ones(warehouse):
    con, results = warehouse
    assert {r.path: r.status for r in results} == {f"{e}/shopify.csv": "loaded" for e in ENTITIES}
    assert sum(r.rows_quarantined for r in results) == 0, [r for r in results if r.rows_quarantined]
    assert rows(con, "select count(*) from raw.shop__orders") == [(6,)]
    assert rows(con, "select count(*) from raw.shop__order_lines") == [(9,)]
    revenue = rows(
        con,
        """
        select o.currency, sum(l.quantity * l.unit_price) - (
            select sum(discount_amount) from raw.shop__orders d where d.currency = o.currency)
        from raw.shop__order_lines l join raw.shop__orders o using (order_id)
        group by o.currency order by 1
        """,
    )
    assert {c: Decimal(str(round(v, 2))) for c, v in revenue} == REVENUE
    per_order = {
        name: Decimal(str(round(v, 2)))
        for name, v in rows(
            con,
            """
            select o.order_id, sum(l.quantity * l.unit_price) - any_value(o.discount_amount)
            from raw.shop__order_lines l join raw.shop__orders o using (order_id) group by 1
            """,
        )
    }
    assert per_order == {name: o["revenue"] for name, o in fixture_sales().items()}
    refunds = rows(
        con, "select order_id, refund_amount, quantity, product_id from raw.shop__returns order by 1"
    )
    assert [(o, Decimal(str(a)), q, p) for o, a, q, p in refunds] == [
        ("#1002", REFUNDS["#1002"], 1, None),
        ("#1003", REFUNDS["#1003"], 1, None),
    ]
    assert sum(Decimal(str(a)) for _, a, _, _ in refunds) == Decimal("74.60")


def test_orders_keep_local_time_and_offset_and_load_as_the_right_instant(landing, warehouse):
    con, _ = warehouse
    text = (landing / "shop/orders/shopify.csv").read_text(encoding="utf-8")
    assert "#1001,alice@example.com,alice@example.com,2022-04-06T21:52:39-04:00," in text
    assert ",2022-11-20T14:05:00-05:00," in text  # winter: the offset of that day, not of the summer
    loaded = dict(rows(con, "select order_id, ordered_at from raw.shop__orders"))
    assert loaded["#1001"] == datetime(2022, 4, 7, 1, 52, 39, tzinfo=UTC)
    assert loaded["#1003"] == datetime(2022, 11, 20, 19, 5, tzinfo=UTC)
    returned = dict(rows(con, "select order_id, returned_at from raw.shop__returns"))
    # No refund time in the export: the order's latest known event (Fulfilled at).
    assert returned == {
        "#1002": datetime(2022, 7, 16, 13, 0, tzinfo=UTC),
        "#1003": datetime(2022, 11, 22, 13, 30, tzinfo=UTC),
    }


def test_order_fields_channels_codes_and_accounts(warehouse):
    con, _ = warehouse
    got = {
        r[0]: r[1:]
        for r in rows(
            con,
            """select order_id, sales_channel, device, promotion_code, shop_customer_id, email, country,
                      discount_amount, shipping_amount from raw.shop__orders""",
        )
    }
    assert got == {
        "#1001": ("web", None, "WELCOME10", "alice@example.com", "alice@example.com", "US", 8.05, 5.0),
        "#1002": ("mobile_app", "mobile", None, "bob@example.com", "bob@example.com", "US", 0.0, 0.0),
        # Source 580111 (the Online Store app); two codes: the first is kept.
        "#1003": ("web", None, "SPRING5", "carla@example.org", "carla@example.org", "DE", 5.0, 4.9),
        # An unknown app id, but an Amazon relay address: a marketplace guest.
        "#1006": ("marketplace", None, None, None, "7xk2mq9w4p1z8c@marketplace.amazon.com", "US", 0.0, 0.0),
        "#1007": ("marketplace", None, None, "alice@example.com", "alice@example.com", "US", 0.0, 0.0),
        # E-mail in another case than the account's; the 2024 export gives the Customer ID.
        "#1009": ("mobile_app", "mobile", None, "6201234567890", "Erik.Lind@Example.net", "SE", 0.0, 49.0),
    }
    lines = rows(
        con, "select order_id, line_number, product_id, quantity, unit_price from raw.shop__order_lines"
    )
    assert sorted(lines) == [
        ("#1001", 1, "TEE-BLK-M", 2, 25.0),
        ("#1001", 2, "MUG-01", 1, 12.5),
        ("#1001", 3, "CAP-RED", 1, 18.0),
        ("#1002", 1, "HOOD-GRY-L", 1, 60.0),
        ("#1003", 1, "TEE-WHT-S", 1, 29.0),
        ("#1003", 2, "SOCK-3P", 2, 9.5),
        ("#1006", 1, "HOOD-GRY-L", 1, 60.0),
        ("#1007", 1, "TEE-BLK-M", 1, 27.0),
        ("#1009", 1, "SCARF-01", 1, 249.0),
    ]


def test_products_take_their_latest_order_line(warehouse):
    con, _ = warehouse
    got = {
        r[0]: r[1:]
        for r in rows(
            con,
            "select product_id, product_name, brand, list_price, currency, category, unit_cost, updated_at "
            "from raw.shop__products",
        )
    }
    assert set(got) == {
        "TEE-BLK-M",
        "MUG-01",
        "CAP-RED",
        "HOOD-GRY-L",
        "TEE-WHT-S",
        "SOCK-3P",
        "SCARF-01",
    }
    # 25.00 in April 2022, 27.00 in June 2023: the later price is the list price.
    assert got["TEE-BLK-M"] == (
        "Tee - Black / M",
        "Acme Apparel",
        27.0,
        "USD",
        None,
        None,
        datetime(2023, 6, 1, 13, 15, tzinfo=UTC),
    )
    # Sold again in the cancelled #1004 and the test order #1008, which do not count.
    assert got["MUG-01"][5:] == (None, datetime(2022, 4, 7, 1, 52, 39, tzinfo=UTC))
    assert got["SCARF-01"][2:4] == (249.0, "SEK")
    # Later rows of an order carry no Vendor: a product seen only there has no brand.
    assert (got["SOCK-3P"][1], got["HOOD-GRY-L"][1]) == (None, "Acme Apparel")


def test_consent_and_account_times_per_customer(warehouse):
    con, _ = warehouse
    exported = datetime(2024, 5, 1, 9, tzinfo=UTC)
    shop = {
        r[0]: r[1:]
        for r in rows(
            con,
            "select shop_customer_id, email, phone, country, accepts_marketing, created_at, updated_at "
            "from raw.shop__customers",
        )
    }
    assert shop == {
        # Old-layout "yes" superseded by the 2022 export's "no"; dated by her first order.
        "alice@example.com": (
            "Alice@Example.com",
            "+1 212 555 0101",
            "US",
            False,
            datetime(2022, 4, 7, 1, 52, 39, tzinfo=UTC),
            exported,
        ),
        # Only order cancelled: still the first sign of the account.
        "dave@example.net": (
            "dave@example.net",
            None,
            "US",
            False,
            datetime(2022, 11, 28, 15, tzinfo=UTC),
            exported,
        ),
        "bob@example.com": (
            "bob@example.com",
            "+1 646 555 0199",
            "US",
            False,
            datetime(2022, 7, 15, 14, tzinfo=UTC),
            exported,
        ),
        "carla@example.org": (
            "carla@example.org",
            None,
            "DE",
            True,
            datetime(2022, 11, 20, 19, 5, tzinfo=UTC),
            exported,
        ),
        "6201234567890": (
            "erik.lind@example.net",
            "+46 70 123 45 67",
            "SE",
            True,
            datetime(2023, 9, 5, 22, 30, tzinfo=UTC),
            exported,
        ),
        # No order in the import: dated by exported_at.
        "6201234567891": ("fiona@example.org", None, "IE", True, exported, exported),
        # No e-mail; empty e-mail consent stays empty (no consent).
        "6201234567892": (None, "+44 7700 900123", "GB", None, exported, exported),
    }
    crm = {
        r[0]: (r[1], r[2])
        for r in rows(con, "select crm_customer_id, email_opt_in, sms_opt_in from raw.crm__customers")
    }
    # The old layout states no SMS consent, so Dave has no CRM record.
    assert crm == {
        "shopify-alice@example.com": (False, False),
        "shopify-bob@example.com": (False, True),
        "shopify-carla@example.org": (True, False),
        "shopify-6201234567890": (True, True),
        "shopify-6201234567891": (True, False),
        "shopify-6201234567892": (False, True),
    }


# ---------------------------------------------------------------------------------------------------------
# The report: every input row accounted for
# ---------------------------------------------------------------------------------------------------------


def test_every_input_row_is_written_or_set_aside_with_a_reason(imported):
    files = by_file(imported)
    assert {n: f.recognised_as for n, f in files.items()} == {
        "orders_export_1.csv": "shopify orders export",
        "orders_export_2.csv": "shopify orders export",
        "customers_export_2021.csv": "shopify customers export (old layout)",
        "customers_export_2022.csv": "shopify customers export (2022 layout)",
        "customers_export_2024.csv": "shopify customers export (2024+ layout)",
    }
    # Quoted notes with line breaks and JSON: 12 records on more lines than that.
    orders_text = (FIXTURES / "orders_export_1.csv").read_text(encoding="utf-8")
    assert len(orders_text.splitlines()) > 13
    assert files["orders_export_1.csv"].rows_read == 12
    assert files["orders_export_1.csv"].set_aside == {
        "cancelled order": 1,
        "test order, tagged test": 1,
        # #1005, a point-of-sale sale without e-mail: two lines.
        "no e-mail: an anonymous order, no customer to give it to": 2,
    }
    assert files["orders_export_2.csv"].set_aside == {"order already read from another file": 1}
    assert files["customers_export_2021.csv"].set_aside == {
        "customer also in a newer export": 1,
        "test customer, tagged test": 1,
    }
    for name, f in files.items():
        entity = "shop/order_lines" if name.startswith("orders") else "shop/customers"
        assert f.rows_read == f.rows_written.get(entity, 0) + sum(f.set_aside.values()), (name, f)
    assert imported.landing_files == {
        "shop/orders/shopify.csv": 6,
        "shop/order_lines/shopify.csv": 9,
        "shop/products/shopify.csv": 7,
        "shop/returns/shopify.csv": 2,
        "shop/customers/shopify.csv": 7,
        "crm/customers/shopify.csv": 6,
    }
    assert any("2 order(s) tax-inclusive" in n and "3 tax-exclusive" in n for n in imported.notes), (
        imported.notes
    )


def test_without_exported_at_accounts_without_orders_are_set_aside(landing):
    report = run_import("shopify", [FIXTURES], landing)
    files = by_file(report)
    assert files["customers_export_2024.csv"].set_aside == {
        "no order in this import to date the account (give exported_at)": 2
    }
    assert files["customers_export_2024.csv"].rows_written == {"shop/customers": 1, "crm/customers": 1}
    with (landing / "shop/customers/shopify.csv").open(newline="", encoding="utf-8") as fh:
        accounts = {r["shop_customer_id"]: r for r in csv.DictReader(fh)}
    assert sorted(accounts) == [
        "6201234567890",
        "alice@example.com",
        "bob@example.com",
        "carla@example.org",
        "dave@example.net",
    ]
    # Without the export's time, updated_at is the latest order (#1007).
    alice = accounts["alice@example.com"]
    assert (alice["created_at"], alice["updated_at"]) == (
        "2022-04-06T21:52:39-04:00",
        "2023-06-01T09:15:00-04:00",
    )


def test_importing_twice_gives_identical_landing_files(landing):
    run_import("shopify", [FIXTURES], landing, exported_at=EXPORTED_AT)
    first = {p: p.read_bytes() for p in sorted(landing.rglob("*.csv"))}
    run_import("shopify", [FIXTURES], landing, exported_at=EXPORTED_AT)
    second = {p: p.read_bytes() for p in sorted(landing.rglob("*.csv"))}
    assert len(first) == len(ENTITIES)
    assert first == second


# ---------------------------------------------------------------------------------------------------------
# Refused files
# ---------------------------------------------------------------------------------------------------------


def drop_column(source: Path, target: Path, name: str) -> Path:
    with source.open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    at = table[0].index(name)
    with target.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([r[:at] + r[at + 1 :] for r in table])
    return target


def test_orders_export_missing_a_required_column_names_file_and_column(tmp_path, landing):
    bad = drop_column(FIXTURES / "orders_export_1.csv", tmp_path / "orders_export.csv", "Lineitem price")
    with pytest.raises(ImportFailed, match=r"orders_export\.csv.*Lineitem price"):
        run_import("shopify", [bad], landing)
    assert not landing.exists()  # refused before anything was written


def test_customers_export_without_consent_column_is_refused(tmp_path, landing):
    bad = drop_column(
        FIXTURES / "customers_export_2022.csv", tmp_path / "customers.csv", "Accepts Email Marketing"
    )
    with pytest.raises(ImportFailed, match=r"customers\.csv.*Accepts Email Marketing"):
        run_import("shopify", [bad], landing)


def test_a_file_that_is_no_shopify_export_is_refused(tmp_path, landing):
    other = tmp_path / "products.csv"
    other.write_text("Handle,Title,Variant SKU\nmug,Enamel Mug,MUG-01\n", encoding="utf-8")
    shutil.copy(FIXTURES / "orders_export_2.csv", tmp_path / "orders.csv")
    with pytest.raises(ImportFailed, match=r"products\.csv: not a Shopify orders or customers export"):
        run_import("shopify", [tmp_path], landing)


def test_exported_at_must_carry_an_offset(landing):
    with pytest.raises(ImportFailed, match="exported_at"):
        run_import("shopify", [FIXTURES], landing, exported_at="2024-05-01 09:00")


# ---------------------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-04-06 21:52:39 -0400", "2022-04-06T21:52:39-04:00"),
        ("2022-11-20 14:05:00 -0500", "2022-11-20T14:05:00-05:00"),
        ("2023-07-01 08:00:00 +0530", "2023-07-01T08:00:00+05:30"),
        ("2023-07-01 08:00:00 UTC", "2023-07-01T08:00:00+00:00"),
        ("2023-07-01T08:00:00+02:00", "2023-07-01T08:00:00+02:00"),
        ("01/07/2023 08:00", "01/07/2023 08:00"),  # passed on as written: the contract names it
        (None, None),
    ],
)
def test_iso_time(value, expected):
    assert iso_time(value) == expected


@pytest.mark.parametrize(
    ("source", "email", "expected"),
    [
        ("web", "a@b.com", "web"),
        ("580111", None, "web"),
        ("shopify_draft_order", None, "web"),
        ("pos", None, "web"),
        ("iphone", None, "mobile_app"),
        ("android", None, "mobile_app"),
        ("tiktok", None, "marketplace"),
        ("1234567", None, "web"),
        ("1234567", "x1@marketplace.amazon.de", "marketplace"),
        ("web", "buyer@members.ebay.com", "marketplace"),
        (None, None, "web"),
    ],
)
def test_sales_channel(source, email, expected):
    assert sales_channel(source, email) == expected


def test_small_value_rules():
    assert unexcel("'+46 70 123 45 67") == "+46 70 123 45 67"
    assert unexcel("'02110") == "02110"
    assert unexcel("O'Brien") == "O'Brien"
    assert [yes_no(v) for v in ("yes", "No", "", None, "pending")] == [True, False, None, None, None]
    assert is_relay_email("abc@marketplace.amazon.co.uk")
    assert not is_relay_email("someone@amazon.com")


def test_a_marketplace_relay_address_never_carries_consent(tmp_path, landing):
    header = (FIXTURES / "customers_export_2024.csv").read_text(encoding="utf-8").splitlines()[0]
    export = tmp_path / "customers.csv"
    export.write_text(
        header
        + "\n'6201234567899,J.,Doe,7xk2mq9w4p1z8c@marketplace.amazon.com,yes,,,,Austin,TX,US,,,,no,60.00,1,,no,\n",
        encoding="utf-8",
    )
    run_import("shopify", [FIXTURES], landing, exported_at=EXPORTED_AT)
    assert (landing / "shop/orders/shopify.csv").exists()
    report = run_import("shopify", [export], landing, exported_at=EXPORTED_AT)
    with (landing / "shop/customers/shopify.csv").open(newline="", encoding="utf-8") as fh:
        (account,) = csv.DictReader(fh)
    with (landing / "crm/customers/shopify.csv").open(newline="", encoding="utf-8") as fh:
        (record,) = csv.DictReader(fh)
    assert (account["email"], account["accepts_marketing"]) == ("7xk2mq9w4p1z8c@marketplace.amazon.com", "")
    assert (record["email_opt_in"], record["sms_opt_in"]) == ("false", "false")
    assert any("relay e-mail" in n for n in report.notes)
    # An import of the customers export alone keeps what the earlier import of the orders export brought.
    assert (landing / "shop/orders/shopify.csv").exists()
    assert any("no orders export given" in n for n in report.notes)
