"""The UCI *Online Retail* and *Online Retail II* exports turned into the shop landing entities.

Both data sets are the invoice lines of one UK online retailer: *Online Retail* (``InvoiceNo, StockCode,
Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country``) and *Online Retail II* (``Invoice,
StockCode, Description, Quantity, InvoiceDate, Price, Customer ID, Country``), as CSV (any re-save: an
unnamed index column, Latin-1, a BOM, customer ids written as floats, US ``12/1/2010 08:26`` dates or Excel
serial numbers) or as the ``.xlsx`` workbook UCI distributes (every sheet is read; Online Retail II has one
per year). Files are recognised by their header names, never by column position.

What each input row becomes:

* a product line of an invoice -> ``shop/order_lines`` (and its invoice -> ``shop/orders``);
* postage (``POST``, ``DOT``, ``C2``) and discount (``D``) lines are not products: they are summed into their
  order's ``shipping_amount`` and ``discount_amount`` (counted as written to ``shop/orders``);
* a cancellation (an invoice number starting with ``C``, negative quantities) is a refund of earlier lines,
  not a negative order: each line is matched to the latest invoice of the same customer, at or before the
  cancellation, holding the same stock code, and becomes a ``shop/returns`` row (``return_id`` =
  cancellation number and line, e.g. ``C536379-1``). A cancelled postage line is an order-level refund
  (empty ``product_id``); a ``D`` discount credit note raises the matched order's ``discount_amount``.
  A cancellation that matches no invoice in the export is set aside;
* everything else is set aside with its reason and counted in the report: lines without a customer id
  (ecrm is customer-centric, and these anonymous lines, about a quarter of the UCI data, cannot be tied to
  anyone), adjustments that are not products (``M``, ``BANK CHARGES``, ``AMAZONFEE``, ``CRUK``, ``S``,
  ``B``, ``PADS``, ``ADJUST``…), sales with a quantity that is not positive or a negative price, invoices
  left with no product line, unreadable or cut-off rows, and invoices already read from an earlier file or
  sheet (Online Retail is the second year of Online Retail II: given both, each invoice is kept once, from
  the first file that holds it).

The export has no accounts, so ``shop/customers`` is derived from the invoices: one customer per
CustomerID, ``created_at`` = first invoice, ``updated_at`` = last invoice or return, ``country`` = the
country of most of the customer's orders (the latest on a tie); no e-mail and no marketing consent (empty,
which counts as none). ``shop/products`` holds every product sold: the most frequent description as its
name, the latest non-zero price as its list price and the last sale as ``updated_at``. Times are the shop's
local UK time (Europe/London), amounts are in GBP, and every order is a web order (an online retailer).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestration.importers.common import (
    ImportFailed,
    ImportReport,
    column,
    country_code,
    header_matches,
    iso_timestamps,
    read_csv_text,
    write_landing,
)

TIMEZONE = "Europe/London"
CURRENCY = "GBP"
SALES_CHANNEL = "web"

# Canonical name -> the column of each layout (looked up by name, case-insensitively).
LAYOUTS = {
    "online retail II": {
        "invoice": "Invoice",
        "code": "StockCode",
        "description": "Description",
        "quantity": "Quantity",
        "date": "InvoiceDate",
        "price": "Price",
        "customer": "Customer ID",
        "country": "Country",
    },
    "online retail (UCI)": {
        "invoice": "InvoiceNo",
        "code": "StockCode",
        "description": "Description",
        "quantity": "Quantity",
        "date": "InvoiceDate",
        "price": "UnitPrice",
        "customer": "CustomerID",
        "country": "Country",
    },
}
SHIPPING_CODES = frozenset({"POST", "DOT", "C2"})
DISCOUNT_CODES = frozenset({"D"})
# Stock codes that are bookkeeping, not goods (manual entries, fees, samples, bad debt, tests).
ADJUSTMENT_CODES = frozenset(
    {"M", "BANK CHARGES", "AMAZONFEE", "CRUK", "S", "B", "PADS", "ADJUST", "ADJUST2", "TEST001", "TEST002"}
)
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm"}

LINES = "shop/order_lines"
ORDERS = "shop/orders"
RETURNS = "shop/returns"
CUSTOMERS = "shop/customers"
PRODUCTS = "shop/products"

CUT_ROW = "last row cut short (truncated file)"
DUPLICATE = "invoice already read from an earlier file or sheet"
NO_CUSTOMER = "no customer id"
NOT_NEGATIVE = "cancellation with a quantity that is not negative"
NOT_POSITIVE = "sale with a quantity that is not positive"
NEGATIVE_PRICE = "negative unit price"
UNMATCHED = "cancellation of an invoice not in the export"
NO_PRODUCT_LINE = "invoice without a product line (only postage, discount or adjustments)"


def convert(files: list[Path], landing: Path, report: ImportReport, **options) -> None:
    """Convert Online Retail CSV files and workbooks into the shop landing entities of ``landing``.

    All inputs are read and recognised before anything is written, and converted together: a cancellation
    may refund an invoice of another file or sheet. Raises :class:`ImportFailed` for a file or sheet whose
    header is not an Online Retail one.
    """
    unknown = sorted(k for k, v in options.items() if v is not None)
    if unknown:
        raise ImportFailed(f"online-retail takes no options; got {', '.join(unknown)}")
    parts = []
    file_reports = []
    for path in files:
        for label, recognised, frame in _read(path):
            frame["file"] = len(file_reports)
            file_reports.append(report.file(label, recognised))
            parts.append(frame)
    if not parts:  # workbooks with only empty sheets: still replace an older import's files
        empty = pd.DataFrame(columns=list(LAYOUTS["online retail II"].values()), dtype="object")
        parts = [_normalise(empty, LAYOUTS["online retail II"])[0].assign(file=0)]
    rows = pd.concat(parts, ignore_index=True)
    _classify(rows)
    entities = _entities(rows)
    for entity, frame in entities.items():
        write_landing(landing, entity, report.format, frame, report)

    for number, item in enumerate(file_reports):
        mine = rows[rows["file"] == number]
        item.rows_read = len(mine)
        for entity, n in mine["dest"].value_counts().items():
            item.written(entity, n)
        for reason, n in mine["reason"].value_counts().items():
            item.aside(reason, n)
    report.notes.append(
        "Online Retail has no accounts: customers are derived from the invoices (created_at = first invoice, "
        "updated_at = last invoice or return), without e-mail and without marketing consent."
    )


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


def _expected() -> str:
    return " or ".join(f"{', '.join(cols.values())} ({name})" for name, cols in LAYOUTS.items())


def _layout(columns: list[str]) -> str | None:
    return next((name for name, cols in LAYOUTS.items() if header_matches(columns, cols.values())), None)


def _read(path: Path) -> list[tuple[str, str, pd.DataFrame]]:
    """(report label, recognised as, normalised rows) for a CSV file or for each sheet of a workbook."""
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return _read_workbook(path)
    raw = read_csv_text(path)
    layout = _layout(list(raw.columns))
    if layout is None:
        raise ImportFailed(
            f"{path}: not an Online Retail export; expected the columns {_expected()}; "
            f"the header has {', '.join(raw.columns)}"
        )
    frame, dates = _normalise(raw, LAYOUTS[layout])
    if len(frame) and raw.attrs["last_row_cut"]:
        frame.loc[frame.index[-1], "cut"] = True
    return [(str(path), layout + dates, frame)]


def _read_workbook(path: Path) -> list[tuple[str, str, pd.DataFrame]]:
    # calamine (Rust) reads UCI's 540k-row workbook about ten times faster than openpyxl.
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several kinds for a file that is not a workbook
        raise ImportFailed(f"{path}: cannot be read as a workbook ({exc})") from exc
    found = []
    try:
        for title in book.sheet_names:
            sheet = _Sheet(title)
            rows = [_cells(r) for r in book.get_sheet_by_name(title).to_python(skip_empty_area=False)]
            while (
                rows and all(v is None for v in rows[0]) and any(any(v is not None for v in r) for r in rows)
            ):
                rows.pop(0)  # calamine may start at the sheet's first used row or above it
            if not rows or all(v is None for v in rows[0]):
                continue  # an empty sheet holds nothing to convert or to lose
            header = [str(h).strip() if h is not None else "" for h in rows[0]]
            layout = _layout(header)
            if layout is None:
                raise ImportFailed(
                    f"{path} [sheet {sheet.title!r}]: not an Online Retail sheet; expected the columns "
                    f"{_expected()}; the header has {', '.join(h for h in header if h)}"
                )
            names = [h or f"Unnamed.{i}" for i, h in enumerate(header)]
            raw = pd.DataFrame.from_records(rows[1:], coerce_float=False).reindex(columns=range(len(names)))
            raw = raw.astype("object").set_axis(names, axis=1)
            # Formatted but empty rows at the end of a sheet are not rows of the export.
            raw = raw[~(raw.isna() | (raw == "")).all(axis=1)].reset_index(drop=True)
            frame, dates = _normalise(raw, LAYOUTS[layout])
            found.append((f"{path}[{sheet.title}]", f"{layout} (sheet {sheet.title}){dates}", frame))
    finally:
        book.close()
    return found


class _Sheet:
    def __init__(self, title: str) -> None:
        self.title = title


def _cells(row: list) -> list:
    """A calamine row as openpyxl gives it: empty cells as None, whole numbers as int (calamine gives every
    number as a float, so an invoice 489435 would read as 489435.0)."""
    return [None if v == "" else int(v) if isinstance(v, float) and v.is_integer() else v for v in row]


def _text(values: pd.Series) -> pd.Series:
    """Cells as trimmed text (empty -> NA), whether they came as CSV text or as workbook numbers/dates."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _integral(text: pd.Series) -> pd.Series:
    # Re-saves write ids as floats (17850.0); a workbook gives numbers. Strip only a zero fraction, so an
    # id that is really text is kept as written.
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


def _number(text: pd.Series) -> pd.Series:
    # A decimal comma (2,55) comes from European spreadsheet re-saves; a thousands separator never appears.
    return pd.to_numeric(text.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True), errors="coerce")


def _normalise(raw: pd.DataFrame, names: dict[str, str]) -> tuple[pd.DataFrame, str]:
    """The canonical columns of one file or sheet, typed, and a note on how its dates were read."""
    get = {key: raw[column(raw, name)] for key, name in names.items()}
    quantity = _number(_text(get["quantity"]))
    dates, how = _dates(_text(get["date"]))
    countries = _text(get["country"])
    codes = {name: country_code(name) for name in countries.dropna().unique()}
    frame = pd.DataFrame(
        {
            "row": range(len(raw)),
            "invoice": _integral(_text(get["invoice"])).str.upper(),
            "code": _integral(_text(get["code"])).str.upper(),
            "description": _text(get["description"]),
            "quantity": quantity.where(quantity % 1 == 0),
            "price": _number(_text(get["price"])),
            "date": dates,
            "customer": _integral(_text(get["customer"])),
            "country": countries.map(codes).astype("object"),
            "cut": False,
        },
        index=raw.index,
    ).reset_index(drop=True)
    return frame, how


def _dates(text: pd.Series) -> tuple[pd.Series, str]:
    """Invoice dates as naive local datetimes (to the second) and a note naming a non-ISO form read.

    ISO text, ``m/d/yyyy h:mm`` (day first when some day exceeds 12 and no month does) and Excel serial
    numbers are read; anything else is tried by pandas and left empty (set aside) when unreadable.
    """
    # An invoice's lines share its time: parsing each distinct text once is ~20x less work.
    codes, uniques = pd.factorize(text)
    parsed, how = _parse_dates(pd.Series(uniques, dtype="string"))
    values = parsed.to_numpy()
    out = pd.Series(values[codes] if len(values) else pd.NaT, index=text.index, dtype="datetime64[ns]")
    return out.mask(codes < 0), how


def _parse_dates(text: pd.Series) -> tuple[pd.Series, str]:
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    notes = []
    iso = text.str.match(r"\d{4}-\d{1,2}-\d{1,2}").fillna(False).astype(bool)
    if iso.any():
        out[iso] = pd.to_datetime(text[iso], errors="coerce", format="ISO8601")
    parts = text.str.extract(r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
    slash = parts[0].notna()
    if slash.any():
        first, second = parts.loc[slash, 0].astype(int), parts.loc[slash, 1].astype(int)
        day_first = bool((first > 12).any() and not (second > 12).any())
        year = parts.loc[slash, 2].astype(int)
        pieces = pd.DataFrame(
            {
                "year": year.where(year >= 100, year + 2000),
                "month": second if day_first else first,
                "day": first if day_first else second,
                "hour": parts.loc[slash, 3].fillna("0").astype(int),
                "minute": parts.loc[slash, 4].fillna("0").astype(int),
                "second": parts.loc[slash, 5].fillna("0").astype(int),
            }
        )
        out[slash] = pd.to_datetime(pieces, errors="coerce")
        notes.append("day/month/year" if day_first else "month/day/year")
    serial = text.str.fullmatch(r"\d{4,5}(?:\.\d+)?").fillna(False).astype(bool)
    if serial.any():
        out[serial] = EXCEL_EPOCH + pd.to_timedelta(pd.to_numeric(text[serial]), unit="D")
        notes.append("Excel serial numbers")
    other = text.notna() & ~iso & ~slash & ~serial
    if other.any():
        out[other] = pd.to_datetime(text[other], errors="coerce", format="mixed")
    how = f"; dates read as {' and '.join(notes)}" if notes else ""
    return out.dt.round("s"), how


# ---------------------------------------------------------------------------------------------------------
# Deciding what each row becomes
# ---------------------------------------------------------------------------------------------------------


def _classify(rows: pd.DataFrame) -> None:
    """Add ``dest`` (landing entity) or ``reason`` (set aside) to every row, and ``order_id`` (the order a
    cancellation refunds). Each row gets exactly one of ``dest`` and ``reason``; rules apply in order."""
    reason = pd.Series(None, index=rows.index, dtype="object")

    def aside(mask: pd.Series, why: str | pd.Series) -> None:
        todo = mask & reason.isna()
        reason[todo] = why[todo] if isinstance(why, pd.Series) else why

    aside(rows["cut"], CUT_ROW)
    aside(rows["invoice"].isna(), "no invoice number")
    aside(rows["code"].isna(), "no stock code")
    aside(rows["quantity"].isna(), "unreadable quantity")
    aside(rows["price"].isna(), "unreadable unit price")
    aside(rows["date"].isna(), "unreadable invoice date")
    first_file = rows.groupby("invoice")["file"].transform("min")
    aside(first_file.notna() & (rows["file"] != first_file), DUPLICATE)
    aside(rows["customer"].isna(), NO_CUSTOMER)
    code = rows["code"].fillna("")
    aside(code.isin(ADJUSTMENT_CODES), "adjustment, not a product (" + code + ")")
    cancel = rows["invoice"].fillna("").str.startswith("C")
    aside(cancel & (rows["quantity"] >= 0), NOT_NEGATIVE)
    aside(~cancel & (rows["quantity"] <= 0), NOT_POSITIVE)
    aside(rows["price"] < 0, NEGATIVE_PRICE)

    kind = pd.Series("product", index=rows.index).mask(code.isin(SHIPPING_CODES), "shipping")
    kind = kind.mask(code.isin(DISCOUNT_CODES), "discount")
    rows["kind"] = kind
    open_ = reason.isna()
    line = open_ & ~cancel & (kind == "product")
    orders = set(rows.loc[line, "invoice"])
    charge = open_ & ~cancel & (kind != "product")
    aside(charge & ~rows["invoice"].isin(orders), NO_PRODUCT_LINE)
    rows["dest"] = None
    rows.loc[line, "dest"] = LINES
    rows.loc[charge & reason.isna(), "dest"] = ORDERS
    rows["order_id"] = rows["invoice"].where(rows["dest"].notna())

    refund = reason.isna() & cancel
    rows.loc[refund, "order_id"] = _match(rows, refund)
    aside(refund & rows["order_id"].isna(), UNMATCHED)
    matched = refund & rows["order_id"].notna()
    rows.loc[matched, "dest"] = RETURNS
    rows.loc[matched & (kind == "discount"), "dest"] = ORDERS
    rows["reason"] = reason


def _match(rows: pd.DataFrame, refund: pd.Series) -> pd.Series:
    """For each cancellation line, the latest written invoice of the same customer, at or before it, with
    the same stock code (any written order of the customer for a discount credit note); else NA."""
    written = rows[rows["dest"].notna()]
    candidates = pd.concat(
        [
            written[["customer", "code", "date", "invoice"]],
            # A discount credit note refunds no particular line: any order of the customer can carry it.
            written[["customer", "date", "invoice"]].assign(code=next(iter(DISCOUNT_CODES))),
        ]
    ).drop_duplicates()
    candidates = candidates.assign(key=candidates["customer"] + "\x1f" + candidates["code"])
    candidates = candidates.sort_values(["date", "invoice"], kind="stable")
    queries = rows.loc[refund, ["customer", "code", "date"]]
    queries = queries.assign(key=queries["customer"] + "\x1f" + queries["code"], pos=queries.index)
    queries = queries.sort_values(["date", "pos"], kind="stable")
    if queries.empty:
        return pd.Series(pd.NA, index=queries.index, dtype="object")
    found = pd.merge_asof(
        queries[["date", "key", "pos"]],
        candidates[["date", "key", "invoice"]],
        on="date",
        by="key",
        direction="backward",
        allow_exact_matches=True,
    )
    return pd.Series(found["invoice"].to_numpy(), index=found["pos"].to_numpy()).astype("object")


# ---------------------------------------------------------------------------------------------------------
# Building the landing entities
# ---------------------------------------------------------------------------------------------------------


def _local(dates: pd.Series) -> pd.Series:
    """Naive UK local datetimes as ISO 8601 text with the offset of the day (GMT or BST)."""
    return iso_timestamps(dates.dt.strftime("%Y-%m-%d %H:%M:%S"), TIMEZONE)


def _money(values: pd.Series) -> pd.Series:
    # Sums of float prices carry binary noise (0.30000000000000004); prices have at most a few decimals.
    return values.astype(float).round(6)


def _entities(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every landing entity this importer writes, in the order the loader checks them."""
    amount = rows["quantity"] * rows["price"]
    lines = rows[rows["dest"] == LINES]
    sale_rows = rows[rows["dest"].isin([LINES, ORDERS]) & ~rows["invoice"].str.startswith("C", na=False)]
    returns = rows[rows["dest"] == RETURNS]
    credits = rows[(rows["dest"] == ORDERS) & rows["invoice"].str.startswith("C", na=False)]

    heads = sale_rows.groupby("invoice", sort=True).agg(
        shop_customer_id=("customer", "first"), date=("date", "min"), country=("country", "first")
    )
    shipping = amount[sale_rows.index[sale_rows["kind"] == "shipping"]].groupby(sale_rows["invoice"]).sum()
    discount = pd.concat(
        [
            amount[sale_rows.index[sale_rows["kind"] == "discount"]].groupby(sale_rows["invoice"]).sum(),
            (-amount[credits.index]).groupby(credits["order_id"]).sum(),
        ]
    )
    discount = discount.groupby(level=0).sum()
    orders = pd.DataFrame(
        {
            "order_id": heads.index,
            "shop_customer_id": heads["shop_customer_id"].to_numpy(),
            "email": None,
            "ordered_at": _local(heads["date"]).to_numpy(),
            "currency": CURRENCY,
            "sales_channel": SALES_CHANNEL,
            "device": None,
            "country": heads["country"].to_numpy(),
            "discount_amount": _money(discount.reindex(heads.index, fill_value=0.0)).to_numpy(),
            "shipping_amount": _money(shipping.reindex(heads.index, fill_value=0.0)).to_numpy(),
        }
    )

    order_lines = pd.DataFrame(
        {
            "order_id": lines["invoice"],
            "line_number": lines.groupby("invoice").cumcount() + 1,
            "product_id": lines["code"],
            "quantity": lines["quantity"].astype("int64"),
            "unit_price": lines["price"].astype(float),
        }
    ).sort_values(["order_id", "line_number"])

    shop_returns = pd.DataFrame(
        {
            "return_id": returns["invoice"] + "-" + (returns.groupby("invoice").cumcount() + 1).astype(str),
            "order_id": returns["order_id"],
            "product_id": returns["code"].where(returns["kind"] == "product"),
            "quantity": (-returns["quantity"]).astype("int64"),
            "refund_amount": _money(-amount[returns.index]),
            "returned_at": _local(returns["date"]),
            "reason": None,
        }
    ).sort_values("return_id")

    return {
        CUSTOMERS: _customers(heads, returns),
        PRODUCTS: _products(lines),
        ORDERS: orders,
        LINES: order_lines,
        RETURNS: shop_returns,
    }


def _most_frequent(rows: pd.DataFrame, key: str, value: str) -> pd.Series:
    """Per ``key``, the ``value`` its rows carry most often (the latest ``date`` on a tie); empty values
    are not counted."""
    return (
        rows.dropna(subset=[value])
        .groupby([key, value])["date"]
        .agg(["size", "max"])
        .reset_index()
        .sort_values([key, "size", "max"], ascending=[True, False, False])
        .drop_duplicates(key)
        .set_index(key)[value]
    )


def _customers(heads: pd.DataFrame, returns: pd.DataFrame) -> pd.DataFrame:
    """One customer per CustomerID with an order: first and last activity, and the usual order country."""
    activity = pd.concat(
        [
            heads[["shop_customer_id", "date"]],
            returns[["customer", "date"]].rename(columns={"customer": "shop_customer_id"}),
        ]
    )
    first = heads.groupby("shop_customer_id")["date"].min()
    last = activity.groupby("shop_customer_id")["date"].max().reindex(first.index)
    by_country = _most_frequent(heads, "shop_customer_id", "country")
    return pd.DataFrame(
        {
            "shop_customer_id": first.index,
            "email": None,
            "country": by_country.reindex(first.index).to_numpy(),
            "accepts_marketing": None,
            "created_at": _local(first).to_numpy(),
            "updated_at": _local(last).to_numpy(),
        }
    )


def _products(lines: pd.DataFrame) -> pd.DataFrame:
    """One product per stock code sold: the most frequent description, latest price and last sale."""
    ordered = lines.sort_values(["date", "file", "row"], kind="stable")
    last_sold = ordered.groupby("code")["date"].max()
    latest = ordered.groupby("code")["price"].last()
    # A free line (price 0: a gift or a replacement) says nothing about the list price.
    priced = ordered[ordered["price"] > 0].groupby("code")["price"].last()
    list_price = priced.reindex(latest.index).fillna(latest)
    names = _most_frequent(ordered, "code", "description")
    return pd.DataFrame(
        {
            "product_id": last_sold.index,
            "product_name": names.reindex(last_sold.index).to_numpy(),
            "category": None,
            "list_price": list_price.reindex(last_sold.index).astype(float).to_numpy(),
            "unit_cost": None,
            "currency": CURRENCY,
            "is_active": None,
            "updated_at": _local(last_sold).to_numpy(),
        }
    )
