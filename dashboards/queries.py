"""The dashboard's one query layer: a read-only connection and one cached function per figure.

Pages call these functions and only lay out what they return; aggregation happens here, in SQL.

Every cached result is keyed by the version of the published copy (:func:`published_version`), and the
connection is reopened when the copy is replaced, so a page never shows (and an audience download never
exports) data from before the latest publish, such as customers who have unsubscribed since.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import streamlit as st

from orchestration import settings

CACHE_SECONDS = 300
T = TypeVar("T")


def published_path() -> Path:
    """The published warehouse copy (``ECRM_PUBLISHED``, default beside the warehouse)."""
    return settings.published_path()


def published_version() -> str | None:
    """Identity of the published copy now on disk, or None when nothing is published yet.

    ``publish`` copies the warehouse to a temporary file and moves it over the copy with ``os.replace``: the
    file gets a new inode and modification time, so inode, mtime (ns) and size change with every publish.
    """
    try:
        stat = published_path().stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"


class _PublishedConnection:
    """The one open connection to the published copy, shared by every session, reopened per version."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[str, str] | None = None
        self.con: duckdb.DuckDBPyConnection | None = None

    def get(self, path: str, version: str) -> duckdb.DuckDBPyConnection:
        with self.lock:
            if self.key != (path, version):
                if self.con is not None:
                    # DuckDB keeps one database instance per file path in a process: while a connection
                    # to the replaced file is open, connecting again returns that old file's data.
                    self.con.close()
                    self.con = None
                con = duckdb.connect(path, read_only=True)
                con.execute("set TimeZone = 'UTC'")
                self.con, self.key = con, (path, version)
            return self.con


@st.cache_resource
def _published_connection() -> _PublishedConnection:
    return _PublishedConnection()


def connection() -> duckdb.DuckDBPyConnection | None:
    """Read-only connection to the published copy as it is now, or None when nothing is published yet."""
    version = published_version()
    if version is None:
        return None
    return _published_connection().get(str(published_path()), version)


def _on_published(work: Callable[[duckdb.DuckDBPyConnection], T]) -> T | None:
    """Run ``work`` on the current connection (None when nothing is published). A session that picked up
    the connection just before another one replaced it for a new copy retries once, on the new one."""
    for attempt in range(2):
        con = connection()
        if con is None:
            return None
        try:
            return work(con)
        except duckdb.ConnectionException:
            if attempt:
                raise
    return None


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _query(sql: str, params: tuple, version: str | None) -> pd.DataFrame:
    # `version` is only a cache key: a newly published copy has a new one, so nothing older is served.
    frame = _on_published(lambda con: con.cursor().execute(sql, list(params)).fetch_df())
    return pd.DataFrame() if frame is None else frame


def query(sql: str, params: tuple = ()) -> pd.DataFrame:
    """Run a read-only query on the published warehouse (cached for five minutes or until republished)."""
    return _query(sql, tuple(params), published_version())


def has_table(schema: str, name: str) -> bool:
    """Whether ``schema.name`` exists in the published warehouse."""
    return not query(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?", (schema, name)
    ).empty


def require(*tables: str) -> bool:
    """Show a notice and return False when the warehouse lacks one of ``tables`` (``schema.name``)."""
    if connection() is None:
        st.warning("No published warehouse yet. Run `ecrm run` (or `make demo`) first.")
        return False
    missing = [t for t in tables if not has_table(*t.split("."))]
    if missing:
        st.info(f"Not built yet: {', '.join(missing)}. Run `ecrm run`.")
        return False
    return True


def loaded_rows(source: str, entity: str) -> int:
    """Rows loaded from landing files of ``source/entity`` (0 when the shop sent none)."""
    if not has_table("ops", "load_manifest"):
        return 0
    frame = query(
        "select coalesce(sum(rows_loaded), 0) as n from ops.load_manifest where source = ? and entity = ?",
        (source, entity),
    )
    return int(frame["n"].iloc[0]) if not frame.empty else 0


def notice_missing_sources(*entities: str, fills: str) -> list[str]:
    """Show which landing entities (``source/entity``) would fill part of a page when none of their rows
    were loaded (an Olist or Online Retail export has no web or marketing data, say); returns them."""
    missing = [e for e in entities if loaded_rows(*e.split("/")) == 0]
    if missing:
        folders = ", ".join(f"`data/landing/{e}/`" for e in missing)
        st.info(
            f"No {', '.join(missing)} data was loaded, so {fills} stays empty. Files in {folders} fill it."
        )
    return missing


# --- Overview -----------------------------------------------------------------------------------------


def kpis() -> dict:
    """Headline figures: known customers (a CRM record, account or checkout e-mail), anonymous visitors,
    buyers, orders, revenue, margin, average order value, repeat rate."""
    row = query(
        """
        select
            (select count(*) from marts.customer_360 where is_identified) as customers,
            (select count(*) from marts.customer_360 where not is_identified) as anonymous_visitors,
            count(distinct customer_id) as buyers,
            count(*) as orders,
            sum(revenue) as revenue,
            sum(gross_margin) as gross_margin,
            sum(refund_amount) as refunds,
            avg(revenue) as average_order_value,
            max(ordered_at) as as_of
        from marts.fct_orders
        """
    ).iloc[0]
    repeat = query(
        "select avg(case when orders > 1 then 1.0 else 0 end) as r from "
        "(select customer_id, count(*) as orders from marts.fct_orders group by 1)"
    ).iloc[0]["r"]
    return {**row.to_dict(), "repeat_rate": float(repeat)}


def revenue_by_month() -> pd.DataFrame:
    """Revenue, margin, orders and buyers by calendar month."""
    return query(
        """
        select date_trunc('month', ordered_at)::date as month, sum(revenue) as revenue,
               sum(gross_margin) as gross_margin, count(*) as orders, count(distinct customer_id) as buyers
        from marts.fct_orders group by 1 order by 1
        """
    )


def sales_by(dimension: str) -> pd.DataFrame:
    """Revenue and margin by one of: category, sales_channel, country, device."""
    allowed = {"category": "p.category", "sales_channel": "o.sales_channel", "country": "o.country",
               "device": "o.device"}  # fmt: skip
    column = allowed[dimension]
    return query(
        f"""
        select {column} as {dimension}, sum(l.quantity * l.unit_price) as gross_sales,
               count(distinct o.order_id) as orders, count(distinct o.customer_id) as buyers
        from marts.fct_order_lines l join marts.fct_orders o using (order_id)
        join marts.dim_products p using (product_id)
        group by 1 order by 2 desc
        """
    )


def products_in_category(category: str) -> pd.DataFrame:
    """Drill-down: the products of one category by revenue."""
    return query(
        """
        select p.product_id, p.product_name, p.brand, sum(l.quantity) as units,
               sum(l.quantity * l.unit_price) as gross_sales, count(distinct l.order_id) as orders
        from marts.fct_order_lines l join marts.dim_products p using (product_id)
        where p.category = ? group by all order by gross_sales desc limit 50
        """,
        (category,),
    )


# --- Customers ----------------------------------------------------------------------------------------


def segments() -> pd.DataFrame:
    """RFM segments: size, revenue, average CLV and churn risk."""
    return query(
        """
        select rfm_segment as segment, count(*) as customers, sum(revenue) as revenue,
               avg(clv_12m) as avg_clv_12m, avg(churn_risk) as avg_churn_risk
        from marts.customer_360 where orders > 0 group by 1 order by revenue desc
        """
    )


def find_customers(text: str) -> pd.DataFrame:
    """Customers whose id, e-mail or name contains ``text`` (case-insensitive), most valuable first."""
    like = f"%{text.strip().lower()}%"
    return query(
        """
        select customer_id, email, first_name, last_name, country, orders, revenue, rfm_segment
        from marts.customer_360
        where lower(customer_id) like ? or lower(coalesce(email, '')) like ?
           or lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) like ?
        order by revenue desc nulls last limit 50
        """,
        (like, like, like),
    )


def customer(customer_id: str) -> pd.Series | None:
    """The full customer_360 row of one customer."""
    df = query("select * from marts.customer_360 where customer_id = ?", (customer_id,))
    return None if df.empty else df.iloc[0]


def customer_orders(customer_id: str) -> pd.DataFrame:
    """One customer's orders, newest first."""
    return query(
        "select order_id, ordered_at, sales_channel, items, revenue, discount_amount, refund_amount "
        "from marts.fct_orders where customer_id = ? order by ordered_at desc",
        (customer_id,),
    )


def customer_recommendations(customer_id: str) -> pd.DataFrame:
    """One customer's recommended products with the reason."""
    return query(
        "select r.rank, r.product_id, p.product_name, r.reason, r.score from ml.recommendations r "
        "left join marts.dim_products p using (product_id) where r.customer_id = ? order by r.rank",
        (customer_id,),
    )


def top_customers(order_by: str = "clv_12m", limit: int = 100) -> pd.DataFrame:
    """The most valuable (or most at-risk valuable) customers."""
    column = {"clv_12m": "clv_12m", "revenue": "revenue", "churn_risk": "churn_risk"}[order_by]
    return query(
        f"""
        select customer_id, email, country, rfm_segment, orders, revenue, clv_12m, probability_alive,
               churn_risk, churn_band, expected_next_order_date
        from marts.customer_360 where orders > 0 order by {column} desc nulls last limit ?
        """,
        (limit,),
    )


# --- Models -------------------------------------------------------------------------------------------


def model_quality() -> pd.DataFrame:
    """Holdout metrics and diagnostics of the customer models."""
    return query("select * from ml.model_quality order by model, metric, segment")


def churn_bands() -> pd.DataFrame:
    """Customers, revenue and expected value per churn band."""
    return query(
        """
        select churn_band, count(*) as customers, sum(clv_12m) as clv_12m, avg(probability_alive) as p_alive
        from ml.customer_predictions group by 1 order by 1
        """
    )


def clv_distribution() -> pd.DataFrame:
    """Predicted 12-month CLV and probability alive per customer (for histograms)."""
    return query("select clv_12m, probability_alive, frequency from ml.customer_predictions")


# --- Baskets, campaigns, quality ------------------------------------------------------------------------


def rules(level: str, limit: int = 200) -> pd.DataFrame:
    """Top association rules by lift at product or category level."""
    return query(
        "select antecedents, consequents, support, confidence, lift from ml.association_rules "
        "where level = ? order by lift desc limit ?",
        (level, limit),
    )


def bundles() -> pd.DataFrame:
    """Suggested bundles with names."""
    return query(
        """
        select a.product_name as product_a, b.product_name as product_b, x.lift, x.support,
               x.combined_list_price, x.suggested_discount_pct, x.bundle_price
        from ml.bundles x join marts.dim_products a on a.product_id = x.product_a
        join marts.dim_products b on b.product_id = x.product_b order by x.lift desc
        """
    )


def campaign_effectiveness() -> pd.DataFrame:
    """Campaign uplift against control groups (from ``marts.promotion__campaign_effectiveness``)."""
    return query("select * from marts.promotion__campaign_effectiveness order by started_at")


# Manifest columns later loaders record, with their types: a warehouse loaded before has them as nulls.
MANIFEST_LATER_COLUMNS = {"encoding": "varchar", "warnings": "varchar", "rows_erased": "bigint"}
MANIFEST_ORDER = [
    "path", "source", "entity", "status", "encoding", "warnings", "rows_read", "rows_loaded",
    "rows_quarantined", "rows_erased", "error", "loaded_at", "sha256",
]  # fmt: skip


def _manifest_columns() -> list[str]:
    return list(
        query(
            "select column_name from information_schema.columns "
            "where table_schema = 'ops' and table_name = 'load_manifest' order by ordinal_position"
        ).get("column_name", [])
    )


def _manifest_column(name: str, present: list[str]) -> str:
    if name in present:
        return f'"{name}"'
    return f'cast(null as {MANIFEST_LATER_COLUMNS[name]}) as "{name}"'


def load_manifest() -> pd.DataFrame:
    """Every landing file with its status, the encoding it was read with, its schema-drift warnings and its
    counts (the newer columns are null on a warehouse loaded before the loader recorded them)."""
    present = _manifest_columns()
    columns = [
        _manifest_column(c, present) if c in MANIFEST_LATER_COLUMNS else f'"{c}"' for c in MANIFEST_ORDER
    ]
    extra = [c for c in present if c not in MANIFEST_ORDER]
    select = ", ".join(columns + ['"' + c.replace('"', '""') + '"' for c in extra])
    return query(f"select {select} from ops.load_manifest order by source, entity, path")


def files_with_warnings() -> pd.DataFrame:
    """The landing files whose columns drifted from their contract, with the warning and the encoding."""
    present = _manifest_columns()
    if "warnings" not in present:
        return pd.DataFrame(columns=["path", "encoding", "warnings"])
    return query(
        f"select path, {_manifest_column('encoding', present)}, warnings from ops.load_manifest "
        "where nullif(trim(warnings), '') is not null order by path"
    )


def load_summary() -> dict:
    """Files, rows read and quarantined, files rejected, files with schema-drift warnings and rows erased on
    request; the last two are None on a warehouse loaded before the loader recorded them."""
    present = _manifest_columns()
    with_warnings = (
        "count(*) filter (where nullif(trim(warnings), '') is not null)" if "warnings" in present else "null"
    )
    erased = "coalesce(sum(rows_erased), 0)" if "rows_erased" in present else "null"
    row = query(
        f"""
        select count(*) as files, coalesce(sum(rows_read), 0) as rows_read,
               coalesce(sum(rows_quarantined), 0) as rows_quarantined,
               count(*) filter (where status = 'rejected') as files_rejected,
               {with_warnings} as files_with_warnings, {erased} as rows_erased
        from ops.load_manifest
        """
    ).iloc[0]
    return {k: None if pd.isna(v) else int(v) for k, v in row.items()}


def quarantine_by_rule() -> pd.DataFrame:
    """Quarantined rows per table and rule."""
    tables = query("select table_name from information_schema.tables where table_schema = 'quarantine'")
    parts = [
        f"select '{t}' as table_name, _rules as rules, count(*) as rows from quarantine.\"{t}\" group by 1, 2"
        for t in tables["table_name"]
    ]
    if not parts:
        return pd.DataFrame(columns=["table_name", "rules", "rows"])
    return query(" union all ".join(parts) + " order by rows desc")


def quarantine_rows(table: str, limit: int = 200) -> pd.DataFrame:
    """Sample quarantined rows of one table, with the rule, file and row number."""
    known = set(
        query("select table_name from information_schema.tables where table_schema = 'quarantine'")[
            "table_name"
        ]
    )
    if table not in known:
        return pd.DataFrame()
    return query(f'select * from quarantine."{table}" order by _source_file, _row_number limit ?', (limit,))


# --- Audiences ----------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _audience(
    channel: str, churn_bands: tuple[str, ...], min_clv: float, version: str | None
) -> pd.DataFrame:
    from orchestration.analytics.audiences import build_audience

    frame = _on_published(
        lambda con: build_audience(con, channel=channel, churn_bands=churn_bands or None, min_clv=min_clv)
    )
    return pd.DataFrame() if frame is None else frame


def audience(channel: str, churn_bands: tuple[str, ...], min_clv: float) -> pd.DataFrame:
    """The customers with consent for ``channel`` in the published copy as it is now (``build_audience``,
    the same function ``ecrm audience`` exports with)."""
    return _audience(channel, tuple(churn_bands), float(min_clv), published_version())


def audience_csv(channel: str, churn_bands: tuple[str, ...], min_clv: float) -> bytes:
    """The audience as CSV, built when it is downloaded: a copy published since the page was drawn (with
    new unsubscribes, say) is the one exported."""
    return audience(channel, churn_bands, min_clv).to_csv(index=False).encode()
