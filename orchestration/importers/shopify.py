"""Shopify admin exports (``ecrm import shopify PATH... --landing DIR``): the **orders export** and the
**customers export** turned into the landing layout.

Files are recognised by their header, never by name or position, and columns are mapped by header name.
What the exports hold and what this importer makes of it:

Orders export (one row per line item)
    The order's own fields (``Financial Status``, totals, ``Id``, addresses, ...) stand only on the order's
    first row; later rows repeat ``Name``, ``Email``, ``Created at`` and the ``Lineitem ...`` columns. The
    order key is ``Name`` (``#1001``), the one field every row carries. An order already read from an
    earlier file (overlapping exports; files are read in path order) is set aside, so its lines are not
    counted twice.

Money and tax
    ``unit_price`` is ``Lineitem price`` and ``discount_amount`` is ``Discount Amount``, so revenue (Σ line
    price × quantity − discount, shipping excluded) is Shopify's ``Subtotal``; ``shipping_amount`` is
    ``Shipping``. Tax is not loaded (no contract has a column for it) and prices are **kept as the shop
    shows them**: in a tax-inclusive shop or market (EU VAT; ``Total`` = ``Subtotal`` + ``Shipping``) line
    prices include the tax, so revenue does too; in a tax-exclusive one (``Total`` = ``Subtotal`` +
    ``Shipping`` + ``Taxes``) revenue is net of sales tax. The export gives tax per order, not per line, so
    taking it out of line prices would be a guess. The report counts the orders of each kind, and those
    whose ``Subtotal`` differs from Σ lines − discount.

Refunds, cancellations, tests
    ``Refunded Amount`` of an order whose ``Financial Status`` is ``refunded`` or ``partially_refunded``
    becomes one order-level return (``<order>-refund``: no product, quantity 1 by convention, the amount as
    exported, which may include refunded shipping and tax). The export has no refund time; ``returned_at``
    is the latest known event of the order (``Fulfilled at``, else ``Paid at``, else ``Created at``): a
    lower bound. A cancelled order (``Cancelled at`` set, paid or not) or a voided one is not a sale: all its
    rows are set aside ("cancelled order", "voided order"), its refund is not written either. Orders tagged
    ``test`` are set aside too.

Discount codes
    Several codes stand comma-joined in ``Discount Code``; ``promotion_code`` is the first one, the code the
    marts compare with the promotions table (a joined string would match none). No promotions are written:
    the export carries neither a code's validity window nor its percentage, and deriving them from the
    orders that used it would invent them.

Timestamps
    ``2022-04-06 21:52:39 -0400`` becomes ``2022-04-06T21:52:39-04:00``: the local time and the offset that
    applied that day (it changes with daylight saving) are kept as written. A value in another form is
    passed through as written, so the contract quarantines it with ``type:<column>``.

Channels and e-mails
    ``Source`` maps to ``sales_channel`` (see :data:`SOURCE_CHANNELS`): ``web``, the Online Store's app id
    ``580111``, draft orders and ``pos`` to ``web`` (the contract has no store channel), ``iphone`` and
    ``android`` to ``mobile_app`` (device ``mobile``), marketplaces such as ``tiktok`` to ``marketplace``;
    anything else (another app's numeric id) to ``web``, listed in the report. An order whose e-mail is a
    marketplace relay address (``...@marketplace.amazon.com``) is a marketplace order whatever its source.
    Relay addresses are kept on orders (each names one marketplace buyer, so it groups that buyer's repeat
    orders and links nobody else) but never carry consent: nobody agreed to marketing at that address.
    Empty e-mails stay empty. Excel's leading apostrophe (``'+46 70...``, ``'02110``, ids) is removed.

Customers export
    Three header layouts are read: the old one (``Accepts Marketing``), the 2022 one (``Accepts Email
    Marketing``, ``Accepts SMS Marketing``) and the 2024+ one (``Customer ID`` first, ``Default Address
    ...``). The account key is ``Customer ID``; layouts without it use the account's e-mail (lower-cased),
    or the id a 2024+ export in the same import gives for that e-mail. A customer in several exports keeps
    the row of the newest layout (then the later file); the others are set aside. Rows tagged ``test`` are
    set aside (an ``example.com`` address alone is no proof of a test account, so it is kept).

Consent
    ``accepts_marketing`` (shop account) is the export's e-mail consent: ``yes`` true, ``no`` false, empty
    null (no consent). Files that state SMS consent (``Accepts SMS Marketing``: the 2022 and 2024+
    layouts) also give a CRM record ``shopify-<key>`` (names, e-mail, phone, ``email_opt_in``,
    ``sms_opt_in``; empty counts as no), because SMS consent lives in the CRM here; the identity graph joins
    it to the account by e-mail or phone. The old layout says nothing about SMS, so it gives no CRM record
    rather than a "no" that would override a real CRM's statement. ``Accepts Marketing`` on orders is not used as consent: it is that checkout's
    tick box, which Shopify already folds into the customer's consent, and it does not show a later
    unsubscribe.

Account times
    The customers export has no creation time. ``created_at`` is the customer's first order in this import
    (matched by e-mail, cancelled orders included: the person was there), ``updated_at`` the
    ``exported_at`` option when given (the snapshot's time), else the latest order. A customer with no
    order in the import is dated ``exported_at`` when given (reported as such), else set aside with the
    reason: no time is invented.

Products
    Keyed by ``Lineitem sku``, else ``Lineitem name`` (custom items and tips have no SKU). Name, list price,
    currency and brand (``Vendor``) come from the product's latest order line; ``updated_at`` is that
    order's time; category, cost and status are not in the orders export (null).

Every import writes every entity it produces (an empty one removes an older import's file), so import the
orders and customers exports together: a later customers-only import would replace the orders.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from orchestration.importers.common import (
    ImportFailed,
    ImportReport,
    country_code,
    header_matches,
    missing_columns,
    read_csv_text,
    write_landing,
)

FORMAT = "shopify"

# A file is taken for an orders or customers export when it holds most of these, so that one missing a
# required column is reported as such instead of as an unknown file.
ORDERS_SIGNATURE = (
    "Name",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
)
CUSTOMERS_SIGNATURE = ("First Name", "Last Name", "Email", "Total Spent", "Total Orders", "Tax Exempt")
# Without any of these the figures would change in silence (a cancelled order counted as a sale, a refund
# lost), so a file lacking one is refused.
ORDERS_REQUIRED = (
    "Name",
    "Email",
    "Financial Status",
    "Currency",
    "Subtotal",
    "Shipping",
    "Total",
    "Discount Amount",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Cancelled at",
    "Refunded Amount",
)
CUSTOMERS_REQUIRED = ("First Name", "Last Name", "Email")

# Source -> sales_channel. The contract allows web, mobile_app, marketplace only: point of sale and draft
# orders (typed in by staff) go to web, the shop's own channel.
SOURCE_CHANNELS = {
    "web": "web",
    "580111": "web",  # the app id of the Online Store sales channel, where an export names the app
    "shopify_draft_order": "web",
    "pos": "web",
    "iphone": "mobile_app",
    "android": "mobile_app",
    "shop_app": "mobile_app",
    "tiktok": "marketplace",
    "amazon": "marketplace",
    "ebay": "marketplace",
    "etsy": "marketplace",
    "walmart": "marketplace",
}
MOBILE_SOURCES = {"iphone", "android"}
# Domains of the relay addresses marketplaces give sellers instead of the buyer's own address.
RELAY_DOMAIN_PREFIXES = ("marketplace.amazon.", "members.ebay.")
RELAY_DOMAINS = {"relay.walmart.com"}

_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:([+-])(\d{2}):?(\d{2})|(Z|UTC))$"
)
_YES = {"yes", "true", "1", "y"}
_NO = {"no", "false", "0", "n"}


@dataclass
class _Line:
    """One line-item row of an orders export, with where it came from."""

    values: dict[str, str | None]
    file_index: int
    row_index: int


@dataclass
class _Order:
    """The rows of one order (by ``Name``) in one file, and the row that carries the order's own fields."""

    name: str
    file_index: int
    lines: list[_Line] = field(default_factory=list)

    @property
    def head(self) -> dict[str, str | None]:
        for line in self.lines:
            if line.values.get("financial status") or line.values.get("id"):
                return line.values
        return self.lines[0].values


@dataclass
class _CustomerRow:
    """One row of a customers export, read into the fields the landing needs."""

    values: dict[str, str | None]
    layout: int  # 1 old, 2 the 2022 layout, 3 the 2024+ layout (Customer ID first)
    file_index: int
    row_index: int
    states_sms: bool  # the file has an Accepts SMS Marketing column


LAYOUT_NAMES = {1: "old layout", 2: "2022 layout", 3: "2024+ layout"}


def convert(
    files: list[Path], landing: Path, report: ImportReport, exported_at: str | None = None, **_: object
) -> None:
    """Convert Shopify orders and customers exports into the landing entities shop/orders, order_lines,
    products, returns, customers and crm/customers (see the module docstring for every mapping).

    ``exported_at`` (ISO 8601 with offset) is when the customers export was taken: the ``updated_at`` of
    every account and the date of accounts with no order in this import. Raises :class:`ImportFailed` for
    a file that is not one of the two exports or lacks a required column, before anything is written.
    """
    exported = _exported_at(exported_at)
    orders_files: list[tuple[Path, pd.DataFrame]] = []
    customer_files: list[tuple[Path, pd.DataFrame, int]] = []
    for path in files:
        frame = read_csv_text(path)
        kind = _recognise(path, frame)
        if kind == "orders":
            _require(path, frame, ORDERS_REQUIRED, "Shopify orders export")
            orders_files.append((path, frame))
        else:
            _require(path, frame, CUSTOMERS_REQUIRED, "Shopify customers export")
            customer_files.append((path, frame, _customers_layout(path, frame)))

    order_reports = [report.file(path, "shopify orders export") for path, _ in orders_files]
    orders = _read_orders(orders_files, order_reports)
    customer_reports = []
    customer_rows: list[_CustomerRow] = []
    for index, (path, frame, layout) in enumerate(customer_files):
        file_report = report.file(path, f"shopify customers export ({LAYOUT_NAMES[layout]})")
        file_report.rows_read = len(frame)
        customer_reports.append(file_report)
        states_sms = header_matches(frame.columns, ["Accepts SMS Marketing"])
        for row_index, values in enumerate(_records(frame)):
            customer_rows.append(_CustomerRow(values, layout, index, row_index, states_sms))

    kept = _sales(orders, order_reports)
    customers, crm = _customers(customer_rows, customer_reports, orders, exported, report)
    account_of = {(c["email"] or "").lower(): c["shop_customer_id"] for c in customers if c["email"]}
    order_rows, line_rows, return_rows = _order_entities(kept, account_of, order_reports, report)
    product_rows = _products(kept, order_reports)

    entities = {
        "shop/customers": customers,
        "shop/products": product_rows,
        "shop/orders": order_rows,
        "shop/order_lines": line_rows,
        "shop/returns": return_rows,
        "crm/customers": crm,
    }
    # An entity is (re)written only from the kind of export that yields it, so importing the customers
    # export on its own keeps the orders an earlier import of the orders export brought, and vice versa.
    from_customers = {"shop/customers", "crm/customers"}
    for entity, rows in entities.items():
        if customer_files if entity in from_customers else orders_files:
            write_landing(landing, entity, FORMAT, _frame(entity, rows), report)
        else:
            kind = "customers" if entity in from_customers else "orders"
            report.notes.append(f"no {kind} export given: {entity} from an earlier import is kept as it is")


# ---------------------------------------------------------------------------------------------------------
# Recognising files
# ---------------------------------------------------------------------------------------------------------


def _recognise(path: Path, frame: pd.DataFrame) -> str:
    """``orders`` or ``customers`` by the header; anything else is refused with what was expected."""
    columns = list(frame.columns)
    orders_hits = sum(header_matches(columns, [c]) for c in ORDERS_SIGNATURE)
    customers_hits = sum(header_matches(columns, [c]) for c in CUSTOMERS_SIGNATURE)
    if orders_hits >= 4:
        return "orders"
    if customers_hits >= 3:
        return "customers"
    raise ImportFailed(
        f"{path}: not a Shopify orders or customers export (expected a header with columns such as "
        f"{', '.join(ORDERS_SIGNATURE[:5])} or {', '.join(CUSTOMERS_SIGNATURE[:4])})"
    )


def _require(path: Path, frame: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = missing_columns(frame, required)
    if missing:
        raise ImportFailed(f"{path}: {what} lacks the required column(s) {', '.join(missing)}")


def _customers_layout(path: Path, frame: pd.DataFrame) -> int:
    columns = list(frame.columns)
    if header_matches(columns, ["Accepts Email Marketing"]):
        return 3 if header_matches(columns, ["Customer ID"]) else 2
    if header_matches(columns, ["Accepts Marketing"]):
        return 1
    raise ImportFailed(
        f"{path}: Shopify customers export lacks the required column Accepts Email Marketing "
        "(or Accepts Marketing in the old layout)"
    )


def _records(frame: pd.DataFrame) -> list[dict[str, str | None]]:
    """The rows as dicts keyed by the lower-cased header, values stripped (``None`` when empty)."""
    lowered = frame.rename(columns=lambda c: c.strip().lower())
    rows = lowered.to_dict("records")
    return [{k: (v.strip() or None) if isinstance(v, str) else None for k, v in r.items()} for r in rows]


# ---------------------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------------------


def iso_time(value: str | None) -> str | None:
    """Shopify's ``2022-04-06 21:52:39 -0400`` as ISO 8601 ``2022-04-06T21:52:39-04:00`` (local time and
    offset kept); ISO input stays ISO; anything else is returned as written for the contract to judge."""
    if value is None:
        return None
    match = _TIME.match(value.strip())
    if not match:
        return value
    date, time, sign, hours, minutes, utc = match.groups()
    return f"{date}T{time}{'+00:00' if utc else f'{sign}{hours}:{minutes}'}"


def _instant(iso: str | None) -> datetime | None:
    """The moment an ISO text names (only when it has an offset), for ordering times across offsets."""
    if iso is None:
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _exported_at(value: str | None) -> str | None:
    if value is None:
        return None
    iso = iso_time(value)
    if _instant(iso) is None:
        raise ImportFailed(
            f"exported_at {value!r}: expected ISO 8601 with an offset, e.g. 2024-05-01T09:00:00Z"
        )
    return iso


def _money(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value.replace(",", ""))
    except InvalidOperation:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(Decimal(value)) if value is not None and Decimal(value) == int(Decimal(value)) else None
    except InvalidOperation:
        return None


def unexcel(value: str | None) -> str | None:
    """A value without the apostrophe Excel users type to keep ``'+46...``, ``'02110`` or an id as text."""
    if value and value.startswith("'") and len(value) > 1:
        return value[1:].strip() or None
    return value


def yes_no(value: str | None) -> bool | None:
    """``yes``/``no`` (and true/false) as a boolean; empty or anything else ``None`` (no statement)."""
    text = (value or "").strip().lower()
    return True if text in _YES else False if text in _NO else None


def _bool_text(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def is_relay_email(email: str | None) -> bool:
    """Whether an address is a marketplace's relay for a buyer (Amazon, eBay, Walmart), not the buyer's own."""
    if not email or "@" not in email:
        return False
    domain = email.rsplit("@", 1)[1].strip().lower()
    return domain in RELAY_DOMAINS or domain.startswith(RELAY_DOMAIN_PREFIXES)


def sales_channel(source: str | None, email: str | None) -> str:
    """The contract's ``sales_channel`` for an order's ``Source`` and e-mail (see :data:`SOURCE_CHANNELS`);
    a relay e-mail makes it a marketplace order, an unknown source (another app's id) the web shop."""
    if is_relay_email(email):
        return "marketplace"
    return SOURCE_CHANNELS.get((source or "").strip().lower(), "web")


def _text(value: Decimal | int | None) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------------------


def _read_orders(files: list[tuple[Path, pd.DataFrame]], reports: list) -> list[_Order]:
    """Every order of every orders file, grouped by ``Name`` per file, in order of first appearance; rows
    without a name, and orders already read from an earlier file, are set aside here."""
    seen: set[str] = set()
    result: list[_Order] = []
    for index, (_, frame) in enumerate(files):
        report = reports[index]
        report.rows_read = len(frame)
        groups: dict[str, _Order] = {}
        for row_index, values in enumerate(_records(frame)):
            for name in ("id", "lineitem sku", "phone", "billing phone", "shipping phone"):
                if name in values:
                    values[name] = unexcel(values[name])
            name = values.get("name")
            if name is None:
                report.aside("no order name", 1)
                continue
            groups.setdefault(name, _Order(name, index)).lines.append(_Line(values, index, row_index))
        for name, order in groups.items():
            if name in seen:
                report.aside("order already read from another file", len(order.lines))
                continue
            seen.add(name)
            result.append(order)
    return result


# The orders export names the buyer only by e-mail: an order without one (a point-of-sale sale, a draft
# order) belongs to no customer, and ecrm's marts are per customer, so it is set aside and counted.
ANONYMOUS = "no e-mail: an anonymous order, no customer to give it to"


def _sales(orders: list[_Order], reports: list) -> list[_Order]:
    """The orders that are sales of a known buyer: cancelled, voided, test and anonymous orders are set
    aside with their rows."""
    kept = []
    for order in orders:
        head = order.head
        status = (head.get("financial status") or "").lower()
        tags = {t.strip().lower() for t in (head.get("tags") or "").split(",")}
        reason = (
            "cancelled order"
            if head.get("cancelled at")
            else "voided order"
            if status == "voided"
            else "test order, tagged test"
            if "test" in tags
            else ANONYMOUS
            if not (head.get("email") or any(x.values.get("email") for x in order.lines))
            else None
        )
        if reason:
            reports[order.file_index].aside(reason, len(order.lines))
        else:
            kept.append(order)
    return kept


def _product_id(line: dict[str, str | None]) -> str | None:
    return line.get("lineitem sku") or line.get("lineitem name")


def _order_entities(
    orders: list[_Order], account_of: dict[str, str], reports: list, report: ImportReport
) -> tuple[list[dict], list[dict], list[dict]]:
    """shop/orders, shop/order_lines and shop/returns rows of the orders that are sales."""
    order_rows, line_rows, return_rows = [], [], []
    kinds: Counter[str] = Counter()
    subtotal_mismatch: list[str] = []
    several_codes = refund_without_amount = 0
    unknown_sources: Counter[str] = Counter()
    for order in orders:
        head = order.head
        file_report = reports[order.file_index]
        email = head.get("email") or next(
            (x.values["email"] for x in order.lines if x.values.get("email")), None
        )
        source = head.get("source")
        if source is not None and source.lower() not in SOURCE_CHANNELS and not is_relay_email(email):
            unknown_sources[source] += 1
        codes = [c.strip() for c in (head.get("discount code") or "").split(",") if c.strip()]
        several_codes += len(codes) > 1
        discount = _money(head.get("discount amount")) if head.get("discount amount") else Decimal("0")
        shipping = _money(head.get("shipping")) if head.get("shipping") else Decimal("0")
        order_rows.append(
            {
                "order_id": order.name,
                "shop_customer_id": account_of.get((email or "").lower()) if email else None,
                "email": email,
                "ordered_at": iso_time(head.get("created at")),
                "currency": (head.get("currency") or "").upper() or None,
                "sales_channel": sales_channel(source, email),
                "device": "mobile" if (source or "").lower() in MOBILE_SOURCES else None,
                "country": country_code(head.get("shipping country") or head.get("billing country")),
                "region": head.get("shipping province name")
                or head.get("shipping province")
                or head.get("billing province name")
                or head.get("billing province"),
                "city": head.get("shipping city") or head.get("billing city"),
                "promotion_code": codes[0] if codes else None,
                # An unreadable amount is passed on as written, so the contract names it.
                "discount_amount": _text(discount) if discount is not None else head.get("discount amount"),
                "shipping_amount": _text(shipping) if shipping is not None else head.get("shipping"),
            }
        )
        file_report.written("shop/orders", 1)

        gross = Decimal("0")
        number = 0
        for line in order.lines:
            values = line.values
            product = _product_id(values)
            quantity = _int(values.get("lineitem quantity"))
            if product is None:
                file_report.aside("line without SKU or name", 1)
                continue
            if quantity == 0:
                file_report.aside("line with quantity 0 (item removed)", 1)
                continue
            number += 1
            price = _money(values.get("lineitem price"))
            if price is not None and quantity is not None:
                gross += price * quantity
            line_rows.append(
                {
                    "order_id": order.name,
                    "line_number": str(number),
                    "product_id": product,
                    "quantity": values.get("lineitem quantity") if quantity is None else str(quantity),
                    "unit_price": values.get("lineitem price"),
                }
            )
            file_report.written("shop/order_lines", 1)

        subtotal, taxes, total = (_money(head.get(k)) for k in ("subtotal", "taxes", "total"))
        if subtotal is not None and discount is not None and gross - discount != subtotal:
            subtotal_mismatch.append(order.name)
        kinds[_tax_kind(subtotal, shipping, taxes, total)] += 1

        refunded = _money(head.get("refunded amount"))
        status = (head.get("financial status") or "").lower()
        refund_without_amount += status in ("refunded", "partially_refunded") and not refunded
        if status in ("refunded", "partially_refunded") and refunded and refunded > 0:
            when = head.get("fulfilled at") or head.get("paid at") or head.get("created at")
            return_rows.append(
                {
                    "return_id": f"{order.name}-refund",
                    "order_id": order.name,
                    "product_id": None,
                    "quantity": "1",
                    "refund_amount": _text(refunded),
                    "returned_at": iso_time(when),
                    "reason": None,
                }
            )
            file_report.written("shop/returns", 1)

    if orders:
        report.notes.append(
            "shopify: tax is not loaded and line prices are kept as exported: "
            f"{kinds['inclusive']} order(s) tax-inclusive (revenue includes the tax), "
            f"{kinds['exclusive']} tax-exclusive, {kinds['untaxed']} without tax, "
            f"{kinds['unclear']} whose totals fit neither"
        )
    if subtotal_mismatch:
        report.notes.append(
            f"shopify: {len(subtotal_mismatch)} order(s) whose Subtotal differs from Σ line price × quantity − "
            f"Discount Amount (e.g. {', '.join(subtotal_mismatch[:5])}); loaded with the export's discount"
        )
    if refund_without_amount:
        report.notes.append(
            f"shopify: {refund_without_amount} refunded order(s) without a Refunded Amount: no return written"
        )
    if several_codes:
        report.notes.append(f"shopify: {several_codes} order(s) with several discount codes keep the first")
    if unknown_sources:
        listed = ", ".join(f"{s} ({n})" for s, n in sorted(unknown_sources.items()))
        report.notes.append(f"shopify: unknown order Source values mapped to sales channel web: {listed}")
    return order_rows, line_rows, return_rows


def _tax_kind(subtotal, shipping, taxes, total) -> str:
    """How an order's totals add up: tax included in the prices, added on top, no tax, or neither."""
    if None in (subtotal, shipping, total):
        return "unclear"
    taxes = taxes or Decimal("0")
    if taxes == 0 and subtotal + shipping == total:
        return "untaxed"
    if subtotal + shipping == total:
        return "inclusive"
    if subtotal + shipping + taxes == total:
        return "exclusive"
    return "unclear"


def _products(orders: list[_Order], reports: list) -> list[dict]:
    """shop/products from the lines written: each product as on its latest order line (by order time,
    then file and row order)."""
    latest: dict[str, tuple[tuple, dict, str | None, str | None, _Order]] = {}
    # Vendor stands only on an order's first row in some exports: the latest vendor seen names the brand.
    brand: dict[str, tuple[tuple, str]] = {}
    for order in orders:
        head = order.head
        ordered_at = iso_time(head.get("created at"))
        moment = _instant(ordered_at)
        for line in order.lines:
            product = _product_id(line.values)
            if product is None or _int(line.values.get("lineitem quantity")) == 0:
                continue
            rank = (moment.timestamp() if moment else float("-inf"), line.file_index, line.row_index)
            if product not in latest or rank >= latest[product][0]:
                latest[product] = (rank, line.values, ordered_at, head.get("currency"), order)
            vendor = line.values.get("vendor")
            if vendor and (product not in brand or rank >= brand[product][0]):
                brand[product] = (rank, vendor)
    rows = []
    for product, (_, values, ordered_at, currency, order) in latest.items():
        rows.append(
            {
                "product_id": product,
                "product_name": values.get("lineitem name"),
                "category": None,
                "brand": brand[product][1] if product in brand else None,
                "list_price": values.get("lineitem price"),
                "unit_cost": None,
                "currency": (currency or "").upper() or None,
                "is_active": None,
                "updated_at": ordered_at,
            }
        )
        reports[order.file_index].written("shop/products", 1)
    return rows


# ---------------------------------------------------------------------------------------------------------
# Customers
# ---------------------------------------------------------------------------------------------------------


def _customers(
    rows: list[_CustomerRow],
    reports: list,
    orders: list[_Order],
    exported_at: str | None,
    report: ImportReport,
) -> tuple[list[dict], list[dict]]:
    """shop/customers and crm/customers rows: one per account (the newest export's row), dated by the
    account's orders in this import or by ``exported_at``."""
    for row in rows:
        for name in ("customer id", "phone", "default address phone", "zip", "default address zip"):
            if name in row.values:
                row.values[name] = unexcel(row.values[name])
    # Layouts without Customer ID are keyed by e-mail, unless a newer export names the id of that e-mail.
    id_of_email = {
        r.values["email"].lower(): r.values["customer id"]
        for r in rows
        if r.values.get("customer id") and r.values.get("email")
    }
    accounts: dict[str, _CustomerRow] = {}
    for row in rows:
        values, file_report = row.values, reports[row.file_index]
        email = (values.get("email") or "").lower() or None
        key = values.get("customer id") or (id_of_email.get(email) if email else None) or email
        tags = {t.strip().lower() for t in (values.get("tags") or "").split(",")}
        if key is None:
            file_report.aside("no Customer ID or e-mail", 1)
            continue
        if "test" in tags:
            file_report.aside("test customer, tagged test", 1)
            continue
        rank = (row.layout, row.file_index, row.row_index)
        other = accounts.get(key)
        if other is None or rank > (other.layout, other.file_index, other.row_index):
            if other is not None:
                reports[other.file_index].aside("customer also in a newer export", 1)
            accounts[key] = row
        else:
            file_report.aside("customer also in a newer export", 1)

    times: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for order in orders:
        head = order.head
        email = head.get("email") or next(
            (x.values["email"] for x in order.lines if x.values.get("email")), None
        )
        ordered_at = iso_time(head.get("created at"))
        moment = _instant(ordered_at)
        if email and moment:
            times[email.lower()].append((moment, ordered_at))

    shop_rows, crm_rows = [], []
    dated_by_export = relay = 0
    for key, row in accounts.items():
        values, file_report = row.values, reports[row.file_index]
        email = values.get("email")
        seen = sorted(times.get((email or "").lower(), []))
        if seen:
            created_at, updated_at = seen[0][1], exported_at or seen[-1][1]
        elif exported_at:
            created_at = updated_at = exported_at
            dated_by_export += 1
        else:
            file_report.aside("no order in this import to date the account (give exported_at)", 1)
            continue
        prefix = "default address " if row.layout == 3 else ""
        country = values.get(f"{prefix}country code") or values.get(f"{prefix}country")
        place = {
            "country": country_code(country),
            "region": values.get(f"{prefix}province") or values.get(f"{prefix}province code"),
            "city": values.get(f"{prefix}city"),
        }
        accepts_email = yes_no(
            values.get("accepts email marketing" if row.layout > 1 else "accepts marketing")
        )
        if is_relay_email(email):
            accepts_email = None
            relay += 1
        person = {
            "email": email,
            "phone": values.get("phone") or values.get(f"{prefix}phone"),
            "first_name": values.get("first name"),
            "last_name": values.get("last name"),
            **place,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        shop_rows.append(
            {
                "shop_customer_id": key,
                **person,
                "acquisition_channel": None,
                "accepts_marketing": _bool_text(accepts_email),
            }
        )
        file_report.written("shop/customers", 1)
        if row.states_sms:
            crm_rows.append(
                {
                    "crm_customer_id": f"shopify-{key}",
                    **person,
                    "email_opt_in": _bool_text(bool(accepts_email)),
                    "sms_opt_in": _bool_text(bool(yes_no(values.get("accepts sms marketing")))),
                }
            )
            file_report.written("crm/customers", 1)
    if dated_by_export:
        report.notes.append(
            f"shopify: {dated_by_export} customer(s) with no order in this import have created_at = "
            f"exported_at ({exported_at}), an upper bound of the account's creation"
        )
    if relay:
        report.notes.append(
            f"shopify: {relay} customer(s) with a marketplace relay e-mail get no e-mail consent"
        )
    return shop_rows, crm_rows


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------

_COLUMNS = {
    "shop/customers": [
        "shop_customer_id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "country",
        "region",
        "city",
        "acquisition_channel",
        "accepts_marketing",
        "created_at",
        "updated_at",
    ],
    "shop/products": [
        "product_id",
        "product_name",
        "category",
        "brand",
        "list_price",
        "unit_cost",
        "currency",
        "is_active",
        "updated_at",
    ],
    "shop/orders": [
        "order_id",
        "shop_customer_id",
        "email",
        "ordered_at",
        "currency",
        "sales_channel",
        "device",
        "country",
        "region",
        "city",
        "promotion_code",
        "discount_amount",
        "shipping_amount",
    ],
    "shop/order_lines": ["order_id", "line_number", "product_id", "quantity", "unit_price"],
    "shop/returns": [
        "return_id",
        "order_id",
        "product_id",
        "quantity",
        "refund_amount",
        "returned_at",
        "reason",
    ],
    "crm/customers": [
        "crm_customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "country",
        "region",
        "city",
        "created_at",
        "updated_at",
        "email_opt_in",
        "sms_opt_in",
    ],
}


def _frame(entity: str, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_COLUMNS[entity], dtype="object")
