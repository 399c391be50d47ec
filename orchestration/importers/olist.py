"""``ecrm import olist``: the Olist Brazilian e-commerce public data set, in Kaggle's table layout.

Recognised by header (any subset of the tables may be given, in any file names):

| table | recognised by | becomes |
|---|---|---|
| customers | ``customer_id, customer_unique_id`` | ``shop/customers`` (one row per person) |
| orders | ``order_id, customer_id, order_status, order_purchase_timestamp`` | ``shop/orders`` |
| order items | ``order_id, order_item_id, product_id, price, freight_value`` | ``shop/order_lines``; freight → the order's shipping |
| products | ``product_id, product_category_name`` | ``shop/products`` |
| category translation | ``product_category_name, product_category_name_english`` | English category names |
| reviews | ``review_id, order_id, review_score`` | ``shop/reviews`` |
| payments | ``order_id, payment_sequential, payment_value`` | nothing (the totals come from the items) |
| sellers | ``seller_id, seller_zip_code_prefix`` | nothing (sellers are not customers) |

Olist's own meaning, kept as it is:
- **A person is ``customer_unique_id``.** Olist's ``customer_id`` is issued per order, so it is only used to
  find the person behind an order. Without the customers table no order can be given to a person; such
  orders are set aside with that reason rather than loaded as strangers.
- **Times are Brazilian local time** without an offset; they are written with the offset São Paulo had on
  that day (Brazil still had daylight saving in 2016-2018), so the warehouse holds true UTC.
- **A line is one unit**: Olist repeats an item row per unit (``order_item_id`` 1, 2, ...), so each row is a
  line of quantity 1 at ``price``; ``freight_value`` summed over the order is its shipping.
- **Canceled and unavailable orders are not sales** and are set aside with the status as the reason; every
  other status (delivered, shipped, invoiced, processing, approved, created) is an order.
- Olist has no e-mail, phone, list price, cost or account dates. Nothing is invented: e-mail and cost stay
  empty (the contracts allow it), a customer's ``created_at``/``updated_at`` are their first and last
  purchase in the export, a product's ``list_price`` is the latest price it sold at (empty if it never sold)
  and its ``updated_at`` the last time it sold (else the export's last purchase). See ``DECISIONLOG.md``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestration.importers.common import (
    FileReport,
    ImportFailed,
    ImportReport,
    header_matches,
    iso_timestamps,
    read_csv_text,
    write_landing,
)

FORMAT = "olist"
TIMEZONE = "America/Sao_Paulo"
CURRENCY = "BRL"
NOT_SALES = ("canceled", "unavailable")

# Table name -> the header columns that identify it, most specific first (the translation table also has
# product_category_name, so it is tested before products).
TABLES = {
    "category translation": ("product_category_name", "product_category_name_english"),
    "order items": ("order_id", "order_item_id", "product_id", "price", "freight_value"),
    "payments": ("order_id", "payment_sequential", "payment_value"),
    "reviews": ("review_id", "order_id", "review_score"),
    "orders": ("order_id", "customer_id", "order_status", "order_purchase_timestamp"),
    "customers": ("customer_id", "customer_unique_id"),
    "products": ("product_id", "product_category_name"),
    "sellers": ("seller_id", "seller_zip_code_prefix"),
}


def recognise(columns: list[str]) -> str | None:
    """Which Olist table a header belongs to, or ``None``."""
    for table, required in TABLES.items():
        if header_matches(columns, required):
            return table
    return None


def convert(files: list[Path], landing: Path, report: ImportReport) -> None:
    """Convert the Olist tables among ``files`` into landing files and fill ``report``.

    Raises :class:`ImportFailed` for a file that is no Olist table (naming it and the tables expected) or
    for a table given twice.
    """
    tables: dict[str, tuple[pd.DataFrame, FileReport]] = {}
    for path in files:
        if path.suffix.lower() not in (".csv", ".txt"):
            raise ImportFailed(f"{path}: Olist tables are CSV files")
        frame = read_csv_text(path)
        frame.columns = [c.strip().lower() for c in frame.columns]
        table = recognise(list(frame.columns))
        if table is None:
            expected = "; ".join(f"{t}: {', '.join(cols)}" for t, cols in TABLES.items())
            raise ImportFailed(
                f"{path}: not an Olist table (header {', '.join(frame.columns)}); expected one of: {expected}"
            )
        if table in tables:
            raise ImportFailed(f"{path}: a second Olist {table} table (first: {tables[table][1].path})")
        item = report.file(path, f"olist {table}")
        item.rows_read = len(frame)
        tables[table] = (frame, item)
    if "orders" not in tables:
        report.notes.append("no orders table given: customers, orders and lines are not written")

    orders, lines, people = _orders(tables, report)
    write_landing(landing, "shop/customers", FORMAT, people, report)
    write_landing(landing, "shop/orders", FORMAT, orders, report)
    write_landing(landing, "shop/order_lines", FORMAT, lines, report)
    write_landing(landing, "shop/products", FORMAT, _products(tables, lines, orders), report)
    write_landing(landing, "shop/reviews", FORMAT, _reviews(tables, orders), report)
    for table, reason in (
        ("payments", "payments have no landing entity; order totals come from the items"),
        ("sellers", "sellers are not customers and have no landing entity"),
    ):
        if table in tables:
            frame, item = tables[table]
            item.aside(reason, len(frame))
    if "category translation" in tables:
        frame, item = tables["category translation"]
        item.written("(English category names of shop/products)", len(frame))


def _orders(
    tables: dict[str, tuple[pd.DataFrame, FileReport]], report: ImportReport
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """shop/orders, shop/order_lines and shop/customers, with every order and item row accounted for."""
    empty = pd.DataFrame()
    if "orders" not in tables:
        for table in ("order items", "customers"):
            if table in tables:
                tables[table][1].aside("no orders table given", len(tables[table][0]))
        return empty, empty, empty
    orders, order_report = tables["orders"]
    items, item_report = tables.get("order items", (pd.DataFrame(columns=list(TABLES["order items"])), None))
    customers, customer_report = tables.get(
        "customers",
        (pd.DataFrame(columns=[*list(TABLES["customers"]), "customer_city", "customer_state"]), None),
    )
    orders = orders.drop_duplicates("order_id", keep="first").assign(
        ordered_at=lambda f: iso_timestamps(f["order_purchase_timestamp"], TIMEZONE)
    )
    order_report.aside("a second row for the same order_id", int(len(tables["orders"][0]) - len(orders)))

    # Who ordered: Olist's per-order customer_id -> the person (customer_unique_id) and the order's address.
    who = customers.drop_duplicates("customer_id")[
        [
            "customer_id",
            "customer_unique_id",
            *[c for c in ("customer_city", "customer_state") if c in customers],
        ]
    ]
    orders = orders.merge(who, on="customer_id", how="left")
    status = orders["order_status"].fillna("").str.strip().str.lower()
    has_items = orders["order_id"].isin(items["order_id"])
    reasons = pd.Series(None, index=orders.index, dtype="object")
    reasons[status.isin(NOT_SALES)] = "order " + status[status.isin(NOT_SALES)] + " (not a sale)"
    reasons[reasons.isna() & orders["customer_unique_id"].isna()] = (
        "customer_id not in the customers table (no person to give the order to)"
    )
    reasons[reasons.isna() & ~has_items] = "order without items"
    for reason, n in reasons.value_counts().items():
        order_report.aside(str(reason), int(n))
    kept = orders[reasons.isna()].copy()

    # Lines: every item row is one unit of its order; rows of orders set aside follow their order.
    items = items.assign(_kept=items["order_id"].isin(kept["order_id"]))
    if item_report is not None:
        dropped = items[~items["_kept"]].merge(
            reasons.rename("reason").to_frame().assign(order_id=orders["order_id"]), on="order_id", how="left"
        )
        for reason, n in dropped["reason"].fillna("order not in the orders table").value_counts().items():
            item_report.aside(f"item of an order set aside: {reason}", int(n))
    lines = items[items["_kept"]]
    freight = pd.to_numeric(lines["freight_value"], errors="coerce").groupby(lines["order_id"]).sum()
    kept["shipping_amount"] = kept["order_id"].map(freight).fillna(0.0).round(2)
    order_lines = pd.DataFrame(
        {
            "order_id": lines["order_id"],
            "line_number": lines["order_item_id"],
            "product_id": lines["product_id"],
            "quantity": 1,
            "unit_price": lines["price"],
        }
    )
    if item_report is not None:
        item_report.written("shop/order_lines", len(order_lines))

    out_orders = pd.DataFrame(
        {
            "order_id": kept["order_id"],
            "shop_customer_id": kept["customer_unique_id"],
            "ordered_at": kept["ordered_at"],
            "currency": CURRENCY,
            "sales_channel": "marketplace",  # Olist sells through the marketplaces it integrates
            "country": "BR",
            "region": kept.get("customer_state"),
            "city": kept.get("customer_city"),
            "discount_amount": 0.0,
            "shipping_amount": kept["shipping_amount"],
        }
    )
    order_report.written("shop/orders", len(out_orders))

    # People: one row per customer_unique_id that placed a kept order; address of their latest order.
    people = pd.DataFrame()
    if customer_report is not None:
        ordered = kept.assign(_t=pd.to_datetime(kept["ordered_at"], utc=True, format="ISO8601")).sort_values(
            "_t"
        )
        by_person = ordered.groupby("customer_unique_id")
        people = pd.DataFrame(
            {
                "created_at": by_person["ordered_at"].first(),
                "updated_at": by_person["ordered_at"].last(),
                "region": by_person["customer_state"].last() if "customer_state" in kept else None,
                "city": by_person["customer_city"].last() if "customer_city" in kept else None,
            }
        ).reset_index(names="shop_customer_id")
        people["country"] = "BR"
        # Every customers row is one order's customer_id: it is written when its person is.
        written = customers["customer_unique_id"].isin(people["shop_customer_id"])
        customer_report.written("shop/customers (one row per customer_unique_id)", int(written.sum()))
        customer_report.aside("customer with no order kept in this export", int((~written).sum()))
    return out_orders, order_lines, people


def _products(
    tables: dict[str, tuple[pd.DataFrame, FileReport]], lines: pd.DataFrame, orders: pd.DataFrame
) -> pd.DataFrame:
    """shop/products: Olist's catalogue with English category names, latest selling price and time."""
    if "products" not in tables:
        return pd.DataFrame()
    products, item = tables["products"]
    products = products.drop_duplicates("product_id")
    item.aside("a second row for the same product_id", int(len(tables["products"][0]) - len(products)))
    category = products["product_category_name"]
    if "category translation" in tables:
        translation = tables["category translation"][0].drop_duplicates("product_category_name")
        english = category.map(
            translation.set_index("product_category_name")["product_category_name_english"]
        )
        category = english.fillna(category)
    sold_at = pd.Series(dtype="object")
    latest_price = pd.Series(dtype="object")
    export_end = None
    if not lines.empty:
        timed = lines.merge(orders[["order_id", "ordered_at"]], on="order_id")
        timed = timed.assign(_t=pd.to_datetime(timed["ordered_at"], utc=True, format="ISO8601")).sort_values(
            "_t"
        )
        last = timed.groupby("product_id").last()
        sold_at, latest_price = last["ordered_at"], last["unit_price"]
        export_end = timed["ordered_at"].iloc[-1]
    if export_end is None:
        item.aside("products without any order in the export (no time to date them)", len(products))
        return pd.DataFrame()
    out = pd.DataFrame(
        {
            "product_id": products["product_id"],
            "category": category,
            "list_price": products["product_id"].map(latest_price),
            "currency": CURRENCY,
            "updated_at": products["product_id"].map(sold_at).fillna(export_end),
        }
    )
    item.written("shop/products", len(out))
    return out


def _reviews(tables: dict[str, tuple[pd.DataFrame, FileReport]], orders: pd.DataFrame) -> pd.DataFrame:
    """shop/reviews for the orders written; reviews of orders set aside follow them."""
    if "reviews" not in tables:
        return pd.DataFrame()
    reviews, item = tables["reviews"]
    known = reviews["order_id"].isin(orders["order_id"]) if not orders.empty else reviews["order_id"].isna()
    item.aside("review of an order not written (set aside or absent)", int((~known).sum()))
    reviews = reviews[known]
    out = pd.DataFrame(
        {
            "review_id": reviews["review_id"],
            "order_id": reviews["order_id"],
            "score": reviews["review_score"],
            "title": reviews.get("review_comment_title"),
            "comment": reviews.get("review_comment_message"),
            "created_at": iso_timestamps(reviews["review_creation_date"], TIMEZONE)
            if "review_creation_date" in reviews
            else None,
            "answered_at": iso_timestamps(reviews["review_answer_timestamp"], TIMEZONE)
            if "review_answer_timestamp" in reviews
            else None,
        }
    )
    item.written("shop/reviews", len(out))
    return out
