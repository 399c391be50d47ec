"""The ``online-retail`` importer: UCI Online Retail and Online Retail II exports (CSV and workbook) into the
shop landing entities, checked against figures worked out by hand and, on the real sample, against an
independent pandas computation and the contract loader."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from support.datasets import SHARED_DATASETS

from orchestration.importers import ImportFailed, run_import
from orchestration.importers.common import load_reports

SAMPLE = SHARED_DATASETS / "online_retail_sample" / "online_retail_first30k.csv"
ENTITIES = ("customers", "orders", "order_lines", "products", "returns")

# Online Retail layout: unnamed index column, Latin-1, customer ids as floats, US month/day/year dates
# (1/13/2011 proves the month comes first). The comment after each row is what it must become.
UCI_ROWS = """\
,InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
0,536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 08:26,2.55,17850.0,United Kingdom
1,536365,71053,WHITE METAL LANTERN,6,12/1/2010 08:26,3.39,17850.0,United Kingdom
2,536365,85123a,WHITE HANGING HEART T-LIGHT HOLDER ,2,12/1/2010 08:26,2.55,17850.0,United Kingdom
3,536365,POST,POSTAGE,1,12/1/2010 08:26,18,17850.0,United Kingdom
4,536366,22633,CAFÉ HAND WARMER,6,12/1/2010 08:28,1.85,17850.0,United Kingdom
5,536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,12/1/2010 08:34,1.69,13047.0,EIRE
6,536367,POST,POSTAGE,2,12/1/2010 08:34,15,13047.0,EIRE
7,536368,22960,JAM MAKING SET WITH JARS,6,12/1/2010 08:35,4.25,,United Kingdom
8,536368,POST,POSTAGE,1,12/1/2010 08:35,18,,United Kingdom
9,536369,POST,POSTAGE,1,12/2/2010 09:00,40,12583.0,France
10,536370,M,Manual,1,12/2/2010 09:10,10,12583.0,France
11,536370,21730,GLASS STAR FROSTED T-LIGHT HOLDER,0,12/2/2010 09:10,4.25,12583.0,France
12,C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,12/3/2010 10:00,2.55,17850.0,United Kingdom
13,C536379,POST,POSTAGE,-1,12/3/2010 10:00,18,17850.0,United Kingdom
14,C536380,22633,CAFÉ HAND WARMER,-1,12/1/2010 08:00,1.85,17850.0,United Kingdom
15,C536381,99999,NOT SOLD HERE,-1,12/3/2010 11:00,1.00,13047.0,EIRE
16,536390,22633,CAFÉ HAND WARMER,12,1/13/2011 10:05,1.65,17850.0,United Kingdom
17,536390,22634,CHILDS BREAKFAST SET,1,1/13/2011 10:05,0,17850.0,United Kingdom
18,C536391,22633,CAFÉ HAND WARMER,-3,1/14/2011 09:00,1.65,17850.0,United Kingdom
19,536392,84879,ASSORTED COLOUR BIRD ORNAMENT,5,1/14/2011 12:00,-1.69,13047.0,EIRE
20,C536393,71053,WHITE METAL LANTERN,2,1/14/2011 12:30,3.39,17850.0,United Kingdom
21,536394,85123A,WHITE HANGING HEART T-LIGHT HOLDER,3,7/1/2011 09:30,2.95,17850.0,Unspecified
"""
# 0-2: three lines of 536365 (85123A twice, once lower-case); 3: its shipping 18; 4, 5: lines; 6: shipping
# 2 x 15 = 30; 7-8: no customer id; 9: an invoice of postage only; 10: adjustment M; 11: quantity 0;
# 12: refund of 2 x 85123A from 536365; 13: refund of 536365's postage (no product); 14: cancels an invoice
# before any sale of 22633 to 17850; 15: a code never sold to 13047; 16-17: lines (17 free); 18: refund
# from 536390 (the latest, not 536366); 19: negative price; 20: cancellation with a positive quantity;
# 21: a July line (British Summer Time, +01:00) with no country.

# Online Retail II layout: UTF-8 with BOM, Excel serial dates (40513.5 = 2010-12-01 12:00), a cancellation
# refunding an invoice of the other file, a discount line and a discount credit note, an invoice already
# read from the first file, and a last line cut mid-row (no line break at the end).
RETAIL_II_ROWS = (
    "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
    "489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,40513.5,6.95,13085.0,United Kingdom\n"
    "489434,DOT,DOTCOM POSTAGE,1,40513.5,5.5,13085.0,United Kingdom\n"
    "489434,D,Discount,1,40513.5,2.5,13085.0,United Kingdom\n"
    "C489435,D,Discount,-1,40514.25,3.0,13085.0,United Kingdom\n"
    "C489436,84879,ASSORTED COLOUR BIRD ORNAMENT,-4,40516.5,1.69,13047.0,EIRE\n"
    "489437,22633,CAFÉ HAND WARMER,3,40517.75,1.85,,United Kingdom\n"
    "489438,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,1,not a date,6.95,13085.0,United Kingdom\n"
    "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,1,40513.4,1.69,13047.0,EIRE\n"
    "489439,C2,CARRIAGE,1,40518.5,50,12583.0,France\n"
    "489440,22633,CAFÉ HAND WARMER,2,40518.6"
)


def _read(landing: Path, entity: str) -> pd.DataFrame:
    return pd.read_csv(landing / "shop" / entity / "online-retail.csv", dtype=str, keep_default_na=False)


def _balanced(item) -> bool:
    return item.rows_read == sum(item.rows_written.values()) + sum(item.set_aside.values())


@pytest.fixture
def hand_export(tmp_path: Path) -> list[Path]:
    """The two hand-written files, in the order given to the importer."""
    uci = tmp_path / "export" / "a_online_retail.csv"
    uci.parent.mkdir()
    uci.write_bytes(UCI_ROWS.encode("latin-1"))
    retail_ii = tmp_path / "export" / "b_online_retail_ii.csv"
    retail_ii.write_bytes(b"\xef\xbb\xbf" + RETAIL_II_ROWS.encode("utf-8"))
    return [uci, retail_ii]


def test_hand_written_export_converts_to_hand_worked_figures(hand_export: list[Path], tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    report = run_import("online-retail", hand_export, landing)

    uci, retail_ii = report.files
    assert uci.recognised_as == "online retail (UCI); dates read as month/day/year"
    assert retail_ii.recognised_as == "online retail II; dates read as Excel serial numbers"
    assert (uci.rows_read, retail_ii.rows_read) == (22, 10)
    assert uci.rows_written == {"shop/order_lines": 8, "shop/orders": 2, "shop/returns": 3}
    assert uci.set_aside == {
        "no customer id": 2,
        "invoice without a product line (only postage, discount or adjustments)": 1,
        "adjustment, not a product (M)": 1,
        "sale with a quantity that is not positive": 1,
        "cancellation of an invoice not in the export": 2,
        "negative unit price": 1,
        "cancellation with a quantity that is not negative": 1,
    }
    assert retail_ii.rows_written == {"shop/order_lines": 1, "shop/orders": 3, "shop/returns": 1}
    assert retail_ii.set_aside == {
        "no customer id": 1,
        "unreadable invoice date": 1,
        "invoice already read from an earlier file or sheet": 1,
        "invoice without a product line (only postage, discount or adjustments)": 1,
        "last row cut short (truncated file)": 1,
    }
    assert all(_balanced(f) for f in report.files)

    orders = _read(landing, "orders")
    assert orders.to_dict("records") == [
        {"order_id": "489434", "shop_customer_id": "13085", "email": "", "ordered_at": "2010-12-01T12:00:00+00:00",
         "currency": "GBP", "sales_channel": "web", "device": "", "country": "GB",
         "discount_amount": "5.5", "shipping_amount": "5.5"},
        {"order_id": "536365", "shop_customer_id": "17850", "email": "", "ordered_at": "2010-12-01T08:26:00+00:00",
         "currency": "GBP", "sales_channel": "web", "device": "", "country": "GB",
         "discount_amount": "0.0", "shipping_amount": "18.0"},
        {"order_id": "536366", "shop_customer_id": "17850", "email": "", "ordered_at": "2010-12-01T08:28:00+00:00",
         "currency": "GBP", "sales_channel": "web", "device": "", "country": "GB",
         "discount_amount": "0.0", "shipping_amount": "0.0"},
        {"order_id": "536367", "shop_customer_id": "13047", "email": "", "ordered_at": "2010-12-01T08:34:00+00:00",
         "currency": "GBP", "sales_channel": "web", "device": "", "country": "IE",
         "discount_amount": "0.0", "shipping_amount": "30.0"},
        {"order_id": "536390", "shop_customer_id": "17850", "email": "", "ordered_at": "2011-01-13T10:05:00+00:00",
         "currency": "GBP", "sales_channel": "web", "device": "", "country": "GB",
         "discount_amount": "0.0", "shipping_amount": "0.0"},
        {"order_id": "536394", "shop_customer_id": "17850", "email": "", "ordered_at": "2011-07-01T09:30:00+01:00",
         "currency": "GBP", "sales_channel": "web", "device": "", "country": "",
         "discount_amount": "0.0", "shipping_amount": "0.0"},
    ]  # fmt: skip

    lines = _read(landing, "order_lines")
    assert lines.values.tolist() == [
        ["489434", "1", "85048", "12", "6.95"],
        ["536365", "1", "85123A", "6", "2.55"],
        ["536365", "2", "71053", "6", "3.39"],
        ["536365", "3", "85123A", "2", "2.55"],
        ["536366", "1", "22633", "6", "1.85"],
        ["536367", "1", "84879", "32", "1.69"],
        ["536390", "1", "22633", "12", "1.65"],
        ["536390", "2", "22634", "1", "0.0"],
        ["536394", "1", "85123A", "3", "2.95"],
    ]
    revenue = (lines["quantity"].astype(int) * lines["unit_price"].astype(float)).sum()
    assert revenue == pytest.approx(217.97)  # 15.3 + 20.34 + 5.1 + 11.1 + 54.08 + 19.8 + 0 + 8.85 + 83.4

    returns = _read(landing, "returns")
    assert returns.values.tolist() == [
        ["C489436-1", "536367", "84879", "4", "6.76", "2010-12-04T12:00:00+00:00", ""],
        ["C536379-1", "536365", "85123A", "2", "5.1", "2010-12-03T10:00:00+00:00", ""],
        ["C536379-2", "536365", "", "1", "18.0", "2010-12-03T10:00:00+00:00", ""],
        ["C536391-1", "536390", "22633", "3", "4.95", "2011-01-14T09:00:00+00:00", ""],
    ]

    customers = _read(landing, "customers")
    assert customers.values.tolist() == [
        ["13047", "", "IE", "", "2010-12-01T08:34:00+00:00", "2010-12-04T12:00:00+00:00"],
        ["13085", "", "GB", "", "2010-12-01T12:00:00+00:00", "2010-12-01T12:00:00+00:00"],
        ["17850", "", "GB", "", "2010-12-01T08:26:00+00:00", "2011-07-01T09:30:00+01:00"],
    ]

    products = _read(landing, "products")
    assert products[["product_id", "product_name", "list_price", "updated_at"]].values.tolist() == [
        ["22633", "CAFÉ HAND WARMER", "1.65", "2011-01-13T10:05:00+00:00"],
        ["22634", "CHILDS BREAKFAST SET", "0.0", "2011-01-13T10:05:00+00:00"],
        ["71053", "WHITE METAL LANTERN", "3.39", "2010-12-01T08:26:00+00:00"],
        ["84879", "ASSORTED COLOUR BIRD ORNAMENT", "1.69", "2010-12-01T08:34:00+00:00"],
        ["85048", "15CM CHRISTMAS GLASS BALL 20 LIGHTS", "6.95", "2010-12-01T12:00:00+00:00"],
        ["85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.95", "2011-07-01T09:30:00+01:00"],
    ]
    assert set(products["currency"]) == {"GBP"}
    assert set(products["category"]) == set(products["unit_cost"]) == set(products["is_active"]) == {""}

    (saved,) = load_reports(landing)
    assert saved["landing_files"]["shop/orders/online-retail.csv"] == 6


def test_hand_written_export_loads_without_quarantine(hand_export: list[Path], tmp_path: Path) -> None:
    import duckdb

    from orchestration.loading.loader import load_landing

    landing = tmp_path / "landing"
    run_import("online-retail", hand_export, landing)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    results = load_landing(con, landing)
    assert {r.rows_quarantined for r in results} == {0}
    assert sum(r.rows_loaded for r in results) == 3 + 6 + 9 + 6 + 4


def test_a_truncated_last_line_is_set_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
        "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,178",
        encoding="utf-8",
    )
    (item,) = run_import("online-retail", [path], tmp_path / "landing").files
    assert item.rows_read == 2
    assert item.rows_written == {"shop/order_lines": 1}
    assert item.set_aside == {"last row cut short (truncated file)": 1}


def test_a_file_that_is_not_online_retail_names_the_file_and_the_expected_columns(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer,total\n1,2,3.5\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"orders\.csv: not an Online Retail export") as failed:
        run_import("online-retail", [path], tmp_path / "landing")
    assert "InvoiceNo, StockCode, Description" in str(failed.value)
    assert "Customer ID, Country (online retail II)" in str(failed.value)
    assert not (tmp_path / "landing" / "shop").exists()


def _uk_time(*parts: int) -> datetime:
    # A workbook cell holds a naive local date-time (UK time here), exactly what the importer must localise.
    return datetime(*parts)  # noqa: DTZ001


def _workbook(path: Path, sheets: dict[str, list[tuple]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


RETAIL_II_HEADER = (
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
)


def test_workbook_reads_every_sheet(tmp_path: Path) -> None:
    # As UCI ships it: numbers for invoices, codes and customer ids, real date-times, one sheet per year.
    path = _workbook(
        tmp_path / "online_retail_II.xlsx",
        {
            "Year 2009-2010": [
                RETAIL_II_HEADER,
                (489434, 85048, "15CM CHRISTMAS GLASS BALL 20 LIGHTS", 12, _uk_time(2009, 12, 1, 7, 45), 6.95, 13085.0, "United Kingdom"),
                (489434, "79323P", "PINK CHERRY LIGHTS", 12, _uk_time(2009, 12, 1, 7, 45), 6.75, 13085.0, "United Kingdom"),
                (489435, 22350, "CAT BOWL", 12, _uk_time(2009, 12, 1, 7, 46), 2.55, None, "United Kingdom"),
            ],
            "Year 2010-2011": [
                RETAIL_II_HEADER,
                ("C536379", 85048, "15CM CHRISTMAS GLASS BALL 20 LIGHTS", -2, _uk_time(2010, 12, 1, 9, 41), 6.95, 13085.0, "United Kingdom"),
                (536380, 22350, "CAT BOWL", 4, _uk_time(2010, 6, 1, 9, 41), 2.55, 12346.0, "EIRE"),
                (None, None, None, None, None, None, None, None),
            ],
        },
    )  # fmt: skip
    landing = tmp_path / "landing"
    report = run_import("online-retail", [path], landing)

    first, second = report.files
    assert first.path.endswith("online_retail_II.xlsx[Year 2009-2010]")
    assert first.recognised_as == "online retail II (sheet Year 2009-2010)"
    assert (first.rows_read, first.rows_written, first.set_aside) == (
        3, {"shop/order_lines": 2}, {"no customer id": 1},
    )  # fmt: skip
    assert second.path.endswith("[Year 2010-2011]")
    assert (second.rows_read, second.rows_written, second.set_aside) == (
        2, {"shop/order_lines": 1, "shop/returns": 1}, {},
    )  # fmt: skip
    assert _read(landing, "order_lines").values.tolist() == [
        ["489434", "1", "85048", "12", "6.95"],
        ["489434", "2", "79323P", "12", "6.75"],
        ["536380", "1", "22350", "4", "2.55"],
    ]
    assert _read(landing, "returns").values.tolist() == [
        ["C536379-1", "489434", "85048", "2", "13.9", "2010-12-01T09:41:00+00:00", ""]
    ]
    assert _read(landing, "orders")[
        ["order_id", "shop_customer_id", "ordered_at", "country"]
    ].values.tolist() == [
        ["489434", "13085", "2009-12-01T07:45:00+00:00", "GB"],
        ["536380", "12346", "2010-06-01T09:41:00+01:00", "IE"],
    ]


def test_workbook_with_an_unexpected_sheet_names_the_file_sheet_and_columns(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "export.xlsx",
        {
            "Year 2009-2010": [
                RETAIL_II_HEADER,
                (489434, 85048, "BALL", 12, _uk_time(2009, 12, 1), 6.95, 13085.0, "UK"),
            ],
            "Notes": [("remark", "by"), ("prices exclude VAT", "finance")],
        },
    )
    with pytest.raises(ImportFailed) as failed:
        run_import("online-retail", [path], tmp_path / "landing")
    message = str(failed.value)
    assert "export.xlsx [sheet 'Notes']: not an Online Retail sheet" in message
    assert "Invoice, StockCode, Description, Quantity, InvoiceDate, Price, Customer ID, Country" in message
    assert "the header has remark, by" in message


def test_importing_twice_gives_identical_landing_files(hand_export: list[Path], tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    run_import("online-retail", hand_export, first)
    run_import("online-retail", hand_export, first)  # over an earlier import: replaced in place
    run_import("online-retail", hand_export, second)
    for entity in ENTITIES:
        written = first / "shop" / entity / "online-retail.csv"
        assert written.read_bytes() == (second / "shop" / entity / "online-retail.csv").read_bytes()
    assert sorted(p.name for p in (first / "shop").rglob("*") if p.is_file()) == ["online-retail.csv"] * 5


# ---------------------------------------------------------------------------------------------------------
# The real UCI sample (first 30,000 rows of Online Retail), when the shared data sets are present
# ---------------------------------------------------------------------------------------------------------

needs_sample = pytest.mark.skipif(
    not SAMPLE.is_file(),
    reason="the UCI Online Retail sample is absent (../shared/datasets/online_retail_sample/ beside the repo)",
)
# Stock codes the independent computation treats as not products (postage, discount, adjustments).
NOT_PRODUCTS = {"POST", "DOT", "C2", "D", "M", "BANK CHARGES", "AMAZONFEE", "CRUK", "S", "B", "PADS", "ADJUST",
                "ADJUST2", "TEST001", "TEST002"}  # fmt: skip


@pytest.fixture(scope="module")
def sample_import(tmp_path_factory: pytest.TempPathFactory):
    landing = tmp_path_factory.mktemp("online_retail") / "landing"
    started = time.perf_counter()
    report = run_import("online-retail", [SAMPLE], landing)
    return landing, report, time.perf_counter() - started


@needs_sample
def test_sample_matches_an_independent_pandas_computation(sample_import) -> None:
    landing, report, seconds = sample_import
    raw = pd.read_csv(SAMPLE, index_col=0, dtype={"InvoiceNo": str, "StockCode": str})
    code = raw["StockCode"].str.strip().str.upper()
    sold = raw[
        ~raw["InvoiceNo"].str.startswith("C")
        & raw["CustomerID"].notna()
        & ~code.isin(NOT_PRODUCTS)
        & (raw["Quantity"] > 0)
        & (raw["UnitPrice"] >= 0)
    ]
    lines = _read(landing, "order_lines")
    orders = _read(landing, "orders")
    customers = _read(landing, "customers")

    assert len(customers) == sold["CustomerID"].nunique()
    assert len(orders) == sold["InvoiceNo"].nunique()
    assert len(lines) == len(sold)
    revenue = (lines["quantity"].astype(int) * lines["unit_price"].astype(float)).sum()
    assert revenue == pytest.approx((sold["Quantity"] * sold["UnitPrice"]).sum(), rel=1e-9)
    assert set(customers["shop_customer_id"]) == {str(int(c)) for c in sold["CustomerID"].unique()}
    assert report.files[0].set_aside["no customer id"] == raw["CustomerID"].isna().sum()
    assert _balanced(report.files[0])
    assert seconds < 15, f"the 30,000-row sample took {seconds:.1f} s to convert"


@needs_sample
def test_sample_loads_through_the_contracts_without_quarantine(sample_import, tmp_path: Path) -> None:
    import duckdb

    from orchestration.loading.loader import load_landing

    landing, report, _ = sample_import
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    results = load_landing(con, landing)
    assert {r.status for r in results} == {"loaded"}
    assert [(r.path, r.rows_quarantined) for r in results if r.rows_quarantined] == []
    loaded = {Path(r.path).parent.name: r.rows_loaded for r in results}
    assert loaded == {Path(p).parent.name: n for p, n in report.landing_files.items()}


@needs_sample
def test_sample_imports_byte_identically_twice(sample_import, tmp_path: Path) -> None:
    landing, _, _ = sample_import
    again = tmp_path / "again"
    run_import("online-retail", [SAMPLE], again)
    for entity in ENTITIES:
        path = Path("shop") / entity / "online-retail.csv"
        assert (landing / path).read_bytes() == (again / path).read_bytes(), entity
