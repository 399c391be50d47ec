"""The dashboard's one query layer: a read-only connection and one cached function per figure.

Pages call these functions and only lay out what they return. Every figure is defined in a dbt mart; these
functions select it, turn filters into WHERE clauses and add up additive mart rows over the filtered cells,
ratios from the summed parts (DECISIONLOG: "Filters become WHERE clauses and sums of additive mart rows").

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


# --- Global filters and Overview -----------------------------------------------------------------------

ALL_CELL = "(all)"  # the value of a dimension of marts.performance__kpis that holds every value


def order_date_range() -> tuple:
    """First and last order date in the published copy (the date filter's bounds); (None, None) without
    orders."""
    if connection() is None or not has_table("marts", "fct_orders"):
        return None, None
    row = query("select min(order_date) as first, max(order_date) as last from marts.fct_orders").iloc[0]
    if pd.isna(row["first"]):
        return None, None
    return pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()


def filter_options() -> dict[str, list[str]]:
    """The values each sidebar filter offers (sales channel, country, RFM segment), from the KPI mart."""
    if connection() is None or not has_table("marts", "performance__kpis"):
        return {}
    frame = query(
        f"""
        select distinct 'sales_channel' as dimension, sales_channel as value from marts.performance__kpis
        where sales_channel <> '{ALL_CELL}'
        union select distinct 'country', country from marts.performance__kpis where country <> '{ALL_CELL}'
        union select distinct 'rfm_segment', rfm_segment from marts.performance__kpis
        where rfm_segment <> '{ALL_CELL}'
        order by 1, 2
        """
    )
    return {d: list(g["value"]) for d, g in frame.groupby("dimension")}


def _cell_where(cell: tuple[str, str, str]) -> tuple[str, tuple]:
    return "sales_channel = ? and country = ? and rfm_segment = ?", tuple(cell)


def kpi_row(
    period_type: str, at, cell: tuple[str, str, str], complete_only: bool = False
) -> pd.Series | None:
    """The ``marts.performance__kpis`` row of the ``period_type`` period holding the date ``at`` (or the
    latest one before it) for one (sales channel, country, segment) cell; None when there is none.

    ``complete_only`` skips a period still running (``is_complete`` false), so that a month of ten days is
    not compared with a whole one."""
    where, params = _cell_where(cell)
    complete = "and is_complete " if complete_only else ""
    frame = query(
        f"select * from marts.performance__kpis where period_type = ? and period_start <= ? and {where} "
        f"{complete}order by period_start desc limit 1",
        (period_type, at, *params),
    )
    return None if frame.empty else frame.iloc[0]


def kpi_series(period_type: str, start, end, cell: tuple[str, str, str]) -> pd.DataFrame:
    """The KPI rows of one cell for the periods overlapping ``start``..``end``, oldest first."""
    where, params = _cell_where(cell)
    return query(
        f"select * from marts.performance__kpis where period_type = ? and period_end > ? and period_start <= ? "
        f"and {where} order by period_start",
        (period_type, start, end, *params),
    )


# Contacts are listed so that a manager can reach the customers behind a figure; every page masks them
# (components.table) unless the role is analyst.
CUSTOMER_LIST = """c.customer_id, c.first_name, c.last_name, c.email, c.phone_e164, c.country, c.rfm_segment,
    c.orders, c.revenue,
    c.gross_margin, c.last_order_at, c.clv_12m, c.probability_alive, c.churn_band"""


def _customer_filter(country: str | None, segment: str | None, alias: str = "c") -> tuple[str, list]:
    clauses, params = [], []
    if country:
        clauses.append(f"coalesce({alias}.country, 'unknown') = ?")
        params.append(country)
    if segment:
        clauses.append(f"{alias}.rfm_segment = ?")
        params.append(segment)
    return (" and ".join(clauses) or "true"), params


def kpi_customers(
    kind: str, period_start, period_end, sales_channel: str | None, country: str | None,
    segment: str | None, limit: int = 5000,
) -> pd.DataFrame:  # fmt: skip
    """Drill-down: the customers behind a KPI of ``marts.performance__kpis`` for one period and cell, most
    valuable first. ``kind``: ``active`` (ordered in the period), ``new`` (first order, in the channel when
    one is chosen, in the period) or ``lapsed`` (last order before the period end a year or more before it)."""
    channel_clause = "sales_channel = ?" if sales_channel else "true"
    channel_params = [sales_channel] if sales_channel else []
    as_of = "(select max(ordered_at) from marts.fct_orders)"
    if kind == "active":
        ids = f"""select customer_id from marts.fct_orders where {channel_clause}
                  and ordered_at >= ? and ordered_at < ?"""
        id_params = [*channel_params, period_start, period_end]
    elif kind == "new":
        ids = f"""select customer_id from marts.fct_orders where {channel_clause}
                  qualify row_number() over (partition by customer_id order by ordered_at, order_id) = 1
                  and ordered_at >= ? and ordered_at < ?"""
        id_params = [*channel_params, period_start, period_end]
    elif kind == "lapsed":
        ids = f"""select customer_id from marts.fct_orders where {channel_clause} and ordered_at < ?
                  qualify row_number() over (partition by customer_id order by ordered_at desc, order_id desc) = 1
                  and ordered_at + interval 365 day < ? and ordered_at + interval 365 day <= {as_of}"""
        id_params = [*channel_params, period_end, period_end]
    else:
        raise ValueError(f"unknown KPI drill-down {kind!r}")
    where, params = _customer_filter(country, segment)
    return query(
        f"select {CUSTOMER_LIST} from marts.customer_360 c where c.customer_id in ({ids}) and {where} "
        "order by c.revenue desc nulls last, c.customer_id limit ?",
        (*id_params, *params, limit),
    )


# --- Profiling ----------------------------------------------------------------------------------------


def segment_profile() -> pd.DataFrame:
    """RFM segments with size, revenue, margin and predicted value (``marts.profiling__segments``)."""
    return query("select * from marts.profiling__segments order by revenue desc nulls last")


def movement_months() -> list:
    """The month ends of ``marts.profiling__segment_movement``, newest first."""
    frame = query("select distinct snapshot_month from marts.profiling__segment_movement order by 1 desc")
    return [pd.Timestamp(m).date() for m in frame["snapshot_month"]]


def segment_movement(snapshot_month) -> pd.DataFrame:
    """Moves between segments at one month end (``marts.profiling__segment_movement``)."""
    return query(
        "select from_segment, to_segment, customers, revenue_next_90d, is_next_90d_complete "
        "from marts.profiling__segment_movement where snapshot_month = ? order by customers desc",
        (snapshot_month,),
    )


def segment_movers(snapshot_month, from_segment: str, to_segment: str, limit: int = 5000) -> pd.DataFrame:
    """Drill-down: the customers who moved from ``from_segment`` (``prospect`` for a first order in the
    month) to ``to_segment`` at one month end (``marts.profiling__customer_segments_monthly``)."""
    return query(
        """select cur.customer_id, coalesce(prev.segment, 'prospect') as from_segment, cur.segment as to_segment,
                  cur.orders, cur.revenue, cur.recency_days, cur.recency_score, cur.frequency_score,
                  cur.monetary_score
           from marts.profiling__customer_segments_monthly cur
           left join marts.profiling__customer_segments_monthly prev
             on prev.customer_id = cur.customer_id and prev.snapshot_month = cur.snapshot_month - interval 1 month
           where cur.snapshot_month = ? and coalesce(prev.segment, 'prospect') = ? and cur.segment = ?
           order by cur.revenue desc, cur.customer_id limit ?""",
        (snapshot_month, from_segment, to_segment, limit),
    )


def segment_customers(segment: str, country: str | None = None, limit: int = 5000) -> pd.DataFrame:
    """Drill-down: the customers now in one RFM segment, most valuable first."""
    where, params = _customer_filter(country, segment)
    return query(
        f"select {CUSTOMER_LIST} from marts.customer_360 c where {where} "
        "order by c.revenue desc nulls last, c.customer_id limit ?",
        (*params, limit),
    )


# --- Persistency --------------------------------------------------------------------------------------


def cohort_retention(start, end) -> pd.DataFrame:
    """Cohort rows (``marts.persistency__cohort_retention``) of the cohorts acquired from ``start`` to
    ``end``."""
    return query(
        "select * from marts.persistency__cohort_retention where cohort_month >= date_trunc('month', ?::date) "
        "and cohort_month <= ? order by cohort_month, months_since_first_order",
        (start, end),
    )


def cohort_customers(cohort_month, activity_month, limit: int = 5000) -> pd.DataFrame:
    """Drill-down: the customers of one cohort (month of first order) who ordered in ``activity_month``."""
    return query(
        f"""select {CUSTOMER_LIST} from marts.customer_360 c
            where date_trunc('month', c.first_order_at) = ?
              and c.customer_id in (select customer_id from marts.fct_orders
                                    where date_trunc('month', ordered_at) = ?)
            order by c.revenue desc nulls last, c.customer_id limit ?""",
        (cohort_month, activity_month, limit),
    )


def repeat_purchase() -> pd.DataFrame:
    """The repeat-purchase curve (``marts.persistency__repeat_purchase``)."""
    return query("select * from marts.persistency__repeat_purchase order by order_number")


# --- Profitability ------------------------------------------------------------------------------------


def pareto() -> pd.DataFrame:
    """The Pareto curve of profit by customer percentile (``marts.profitability__pareto``)."""
    return query("select * from marts.profitability__pareto order by percentile")


def loss_summary() -> dict:
    """Loss-making customers and their total loss (the percentiles of ``marts.profitability__pareto`` add up)."""
    row = query(
        "select coalesce(sum(loss_making_customers), 0) as loss_making_customers, coalesce(sum(loss), 0) as loss "
        "from marts.profitability__pareto"
    ).iloc[0]
    return {"loss_making_customers": int(row["loss_making_customers"]), "loss": float(row["loss"])}


def profit_customers(
    country: str | None, segment: str | None, decile: int | None = None, loss_only: bool = False,
    limit: int = 5000,
) -> pd.DataFrame:  # fmt: skip
    """Customers of ``marts.profitability__customers`` (optionally one profit decile or the loss-making
    ones), with their country and segment, least profitable first for losses, else most profitable."""
    where, params = _customer_filter(country, segment)
    if decile is not None:
        where += " and p.profit_decile = ?"
        params.append(decile)
    if loss_only:
        where += " and p.net_profit < 0"
    order = "p.net_profit" if loss_only else "p.net_profit desc"
    return query(
        f"""select p.customer_id, c.country, c.rfm_segment, p.orders, p.revenue, p.gross_margin,
                   p.refund_amount, p.service_cost, p.marketing_cost, p.net_profit, p.profit_decile
            from marts.profitability__customers p join marts.customer_360 c using (customer_id)
            where {where} order by {order}, p.customer_id limit ?""",
        (*params, limit),
    )


def acquisition_channels(start, end) -> pd.DataFrame:
    """CAC, LTV:CAC and payback per cohort month and acquisition channel
    (``marts.profitability__acquisition_channels``) for cohorts from ``start`` to ``end``."""
    return query(
        "select * from marts.profitability__acquisition_channels "
        "where cohort_month >= date_trunc('month', ?::date) and cohort_month <= ? "
        "order by cohort_month, acquisition_channel",
        (start, end),
    )


# --- Performance --------------------------------------------------------------------------------------

SALES_DIMENSIONS = ("category", "sales_channel", "country", "rfm_segment")


def _sales_where(start, end, sales_channel, country, segment, segment_column="rfm_segment"):
    clauses = ["month >= date_trunc('month', ?::date)", "month <= ?"]
    params: list = [start, end]
    for column, value in (("sales_channel", sales_channel), ("country", country), (segment_column, segment)):
        if value and column:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " and ".join(clauses), params


def sales_over_time(
    dimension: str, start, end, sales_channel: str | None, country: str | None, segment: str | None
) -> pd.DataFrame:
    """Monthly revenue, margin, units and the previous month's revenue by one of ``SALES_DIMENSIONS``, from
    ``marts.performance__sales_monthly`` (filters are WHERE clauses; the mart's rows add up)."""
    if dimension not in SALES_DIMENSIONS:
        raise ValueError(dimension)
    where, params = _sales_where(start, end, sales_channel, country, segment)
    return query(
        f"""select month, {dimension}, sum(revenue) as revenue, sum(gross_margin) as gross_margin,
                   sum(units) as units, sum(revenue_previous_month) as revenue_previous_month,
                   (sum(revenue) - sum(revenue_previous_month)) / nullif(sum(revenue_previous_month), 0)
                       as revenue_change_previous_month
            from marts.performance__sales_monthly where {where} group by all order by month, {dimension}""",
        tuple(params),
    )


def products_in_category(
    category: str, start, end, sales_channel: str | None = None, country: str | None = None
) -> pd.DataFrame:
    """Drill-down: the products of one category by revenue (``marts.performance__products_monthly``)."""
    where, params = _sales_where(start, end, sales_channel, country, None, segment_column=None)
    return query(
        f"""select product_id, product_name, brand, sum(units) as units, sum(revenue) as revenue,
                   sum(gross_margin) as gross_margin
            from marts.performance__products_monthly where category = ? and {where}
            group by all order by revenue desc limit 100""",
        (category, *params),
    )


def sales_daily(start, end, sales_channel: str | None, country: str | None) -> pd.DataFrame:
    """Daily revenue and margin (``marts.performance__sales_daily``) within the filters."""
    clauses, params = ["order_date between ? and ?"], [start, end]
    for column, value in (("sales_channel", sales_channel), ("country", country)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = " and ".join(clauses)
    return query(
        f"""select order_date, sum(revenue) as revenue, sum(gross_margin) as gross_margin
            from marts.performance__sales_daily where {where} group by 1 order by 1""",
        tuple(params),
    )


# --- Prospecting --------------------------------------------------------------------------------------


def acquisition_funnel(start, end) -> pd.DataFrame:
    """Sessions through the web funnel and new customers per marketing channel
    (``marts.prospecting__acquisition_monthly``) for the months from ``start`` to ``end``."""
    return query(
        """select channel, sum(sessions) as sessions, sum(product_view_sessions) as product_view_sessions,
                  sum(cart_sessions) as cart_sessions, sum(checkout_sessions) as checkout_sessions,
                  sum(purchase_sessions) as purchase_sessions, sum(new_customers) as new_customers,
                  sum(first_order_revenue) as first_order_revenue
           from marts.prospecting__acquisition_monthly
           where month >= date_trunc('month', ?::date) and month <= ? group by 1 order by sessions desc""",
        (start, end),
    )


def acquisition_monthly(start, end) -> pd.DataFrame:
    """Rows of ``marts.prospecting__acquisition_monthly`` from ``start`` to ``end``."""
    return query(
        "select * from marts.prospecting__acquisition_monthly "
        "where month >= date_trunc('month', ?::date) and month <= ? order by month, channel",
        (start, end),
    )


def high_intent_visitors(limit: int = 500) -> pd.DataFrame:
    """People showing buying intent in the last 30 days (``marts.prospecting__high_intent_visitors``)."""
    return query(
        "select * from marts.prospecting__high_intent_visitors "
        "order by cart_adds desc, wishlist_adds desc, last_intent_at desc limit ?",
        (limit,),
    )


def forecast() -> pd.DataFrame:
    """The three-month forecast with its bounds (``marts.prospecting__forecast_monthly``)."""
    return query("select * from marts.prospecting__forecast_monthly order by month")


# --- Product ------------------------------------------------------------------------------------------


def affinities(
    level: str, min_support: float = 0.0, min_confidence: float = 0.0, min_lift: float = 0.0,
    limit: int = 300,
) -> pd.DataFrame:  # fmt: skip
    """Association rules with product names (``marts.product__affinities``) above the given thresholds,
    highest lift first."""
    return query(
        """select rule_id, antecedents, consequents, antecedent_names, consequent_names, support,
                  confidence, lift, leverage, conviction
           from marts.product__affinities
           where rule_level = ? and support >= ? and confidence >= ? and lift >= ?
           order by lift desc, rule_id limit ?""",
        (level, min_support, min_confidence, min_lift, limit),
    )


def bundle_offers() -> pd.DataFrame:
    """Bundles to offer with names, prices and margins (``marts.product__bundles``)."""
    return query("select * from marts.product__bundles order by lift desc")


def wishlist_ranking(limit: int = 100) -> pd.DataFrame:
    """The most wanted products (``marts.product__wishlist_ranking``)."""
    return query("select * from marts.product__wishlist_ranking order by want_rank limit ?", (limit,))


def first_purchase_value(level: str) -> pd.DataFrame:
    """Value of customers by what they bought first (``marts.product__first_purchase_ltv``)."""
    return query(
        "select * from marts.product__first_purchase_ltv where level = ? "
        "order by revenue_12m_per_customer desc nulls last, customers desc limit 200",
        (level,),
    )


# --- Promotion ----------------------------------------------------------------------------------------


def campaigns(start, end) -> pd.DataFrame:
    """Campaigns started from ``start`` to ``end`` with uplift, its 95 % interval, incremental revenue and
    ROI (``marts.promotion__campaign_effectiveness``)."""
    return query(
        "select * from marts.promotion__campaign_effectiveness "
        "where cast(started_at as date) between ? and ? order by started_at, campaign_id",
        (start, end),
    )


def uplift_by_segment(campaign_id: str | None = None, segment: str | None = None) -> pd.DataFrame:
    """Uplift per campaign and RFM segment at send time (``marts.promotion__uplift_by_segment``)."""
    clauses, params = ["true"], []
    if campaign_id:
        clauses.append("campaign_id = ?")
        params.append(campaign_id)
    if segment:
        clauses.append("rfm_segment = ?")
        params.append(segment)
    return query(
        f"select * from marts.promotion__uplift_by_segment where {' and '.join(clauses)} "
        "order by campaign_id, rfm_segment",
        tuple(params),
    )


def discount_codes() -> pd.DataFrame:
    """Discount codes with their orders, new customers and revenue (``marts.promotion__discount_codes``)."""
    return query("select * from marts.promotion__discount_codes order by revenue desc")


def campaign_customers(campaign_id: str, group: str = "treated", limit: int = 5000) -> pd.DataFrame:
    """Drill-down: the customers a campaign was sent to (``treated``) or held out from (``control``), with
    whether they converted."""
    return query(
        """select s.customer_id, c.country, c.rfm_segment, s.is_control, s.sent_at, s.is_opened,
                  s.is_clicked, s.has_converted, s.conversion_revenue
           from marts.fct_campaign_sends s left join marts.customer_360 c using (customer_id)
           where s.campaign_id = ? and s.is_control = ?
           order by s.has_converted desc, s.conversion_revenue desc nulls last, s.customer_id limit ?""",
        (campaign_id, group == "control", limit),
    )


# --- Customers ----------------------------------------------------------------------------------------


def segments() -> pd.DataFrame:
    """RFM segments: size, revenue, predicted value and churn risk (``marts.profiling__segments``)."""
    return query(
        "select rfm_segment as segment, customers, revenue, clv_12m_per_customer as avg_clv_12m, "
        "mean_churn_risk as avg_churn_risk from marts.profiling__segments where rfm_segment <> 'prospect' "
        "order by revenue desc"
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


def churn_bands(country: str | None = None, segment: str | None = None) -> pd.DataFrame:
    """Buyers, revenue and predicted value per churn band, low risk first (``marts.profiling__churn_bands``;
    its rows add up over countries and segments)."""
    where, params = _customer_filter(country, segment, alias="b")
    return query(
        f"""select b.churn_band, sum(b.customers) as customers, sum(b.scored_customers) as scored_customers,
                   sum(b.revenue) as revenue, sum(b.clv_12m) as clv_12m,
                   sum(b.clv_margin_12m) as clv_margin_12m,
                   sum(b.probability_alive_sum) / nullif(sum(b.scored_customers), 0) as mean_probability_alive
            from marts.profiling__churn_bands b where {where}
            group by b.churn_band, b.band_order order by b.band_order""",
        tuple(params),
    )


def value_distribution(measure: str, country: str | None = None, segment: str | None = None) -> pd.DataFrame:
    """Histogram of ``clv_12m`` or ``probability_alive`` per churn band, low risk first
    (``marts.profiling__value_distribution``; its bins add up over countries and segments)."""
    where, params = _customer_filter(country, segment, alias="d")
    return query(
        f"""select d.churn_band, d.bin, d.bin_low, d.bin_high, sum(d.customers) as customers
            from marts.profiling__value_distribution d where d.measure = ? and {where}
            group by d.churn_band, d.band_order, d.bin, d.bin_low, d.bin_high order by d.band_order, d.bin""",
        (measure, *params),
    )


def customers_at_risk(
    country: str | None = None, segment: str | None = None, band: str = "high", limit: int = 200
) -> pd.DataFrame:
    """The most valuable buyers of one churn band with their next expected order and the products to offer."""
    where, params = _customer_filter(country, segment)
    return query(
        f"""select c.customer_id, c.first_name, c.last_name, c.email, c.phone_e164, c.country, c.rfm_segment,
                   c.orders, c.revenue, c.clv_12m, c.probability_alive, c.churn_band, c.last_order_at,
                   c.expected_next_order_date,
                   c.recommended_products
            from marts.customer_360 c where c.churn_band = ? and {where}
            order by c.clv_12m desc nulls last, c.customer_id limit ?""",
        (band, *params, limit),
    )


def holdout_by_frequency() -> pd.DataFrame:
    """The CLV model's holdout check: mean predicted and actual purchases by calibration-period frequency."""
    return query(
        """select segment as frequency_cal,
                  max(value) filter (where metric = 'mean_predicted_purchases') as mean_predicted_purchases,
                  max(value) filter (where metric = 'mean_actual_purchases') as mean_actual_purchases,
                  max(value) filter (where metric = 'n_customers') as customers
           from ml.model_quality where model = 'clv_holdout' and segment like 'frequency_cal=%'
           group by 1 order by 1"""
    )


def calibration() -> pd.DataFrame:
    """The churn models' calibration on the holdout: mean predicted against observed rate per decile."""
    return query(
        """select model, cast(replace(segment, 'decile=', '') as integer) as decile,
                  max(value) filter (where metric = 'mean_predicted') as mean_predicted,
                  max(value) filter (where metric = 'observed_rate') as observed_rate,
                  max(value) filter (where metric = 'n') as customers
           from ml.model_quality where segment like 'decile=%' group by all order by model, decile"""
    )


def model_quality() -> pd.DataFrame:
    """Holdout metrics and diagnostics of the customer models."""
    return query("select * from ml.model_quality order by model, metric, segment")


# --- Data quality -------------------------------------------------------------------------------------

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


# --- Customer lookup and audiences ----------------------------------------------------------------------


def lookup_customers(text: str, limit: int = 50) -> pd.DataFrame:
    """Customers matching ``text``: part of an e-mail address, a name or a customer id, any source record's
    id (CRM id, shop account, guest e-mail, browser id) or the digits of a phone number; most valuable first.

    A phone number matches on its digits, with or without country code or leading zero
    (``0151 2200 0107`` finds ``+4915122000107``).
    """
    text = (text or "").strip().lower()
    if not text:
        return pd.DataFrame()
    like = f"%{text}%"
    digits = "".join(ch for ch in text if ch.isdigit()).lstrip("0")
    # Fewer than six digits would match almost everyone's number.
    phone = f"%{digits}%" if len(digits) >= 6 else None
    return query(
        """
        with hits as (
            select customer_id from marts.customer_360
            where lower(coalesce(email, '')) like ?
               or lower(concat_ws(' ', first_name, last_name)) like ?
               or lower(customer_id) like ?
               or regexp_replace(coalesce(phone_e164, ''), '[^0-9]', '', 'g') like ?
            union
            select customer_id from marts.customer_identity_map where lower(source_id) like ?
        )
        select c.customer_id, c.first_name, c.last_name, c.email, c.phone_e164, c.country, c.orders,
               c.revenue, c.rfm_segment
        from marts.customer_360 c
        where c.customer_id in (select customer_id from hits)
        order by c.is_identified desc, c.revenue desc nulls last, c.customer_id
        limit ?
        """,
        (like, like, like, phone, like, int(limit)),
    )


def customer_source_records(customer_id: str) -> pd.DataFrame:
    """The source records (CRM, shop account, guest e-mail, browser) unified into one customer."""
    return query(
        "select source, source_id, matched_on from marts.customer_identity_map where customer_id = ? "
        "order by source, source_id",
        (customer_id,),
    )


def customer_timeline(customer_id: str) -> pd.DataFrame:
    """Everything one customer did, across channels, newest first: orders, returns, support tickets, web
    sessions, campaign sends, opens and clicks, reviews (``happened_at, channel, event, reference, detail,
    amount``).

    One union of the facts, each only selected and filtered; ``amount`` is the order's revenue or the
    refund (negative).
    """
    return query(
        """
        select ordered_at as happened_at, 'shop' as channel, 'order' as event, order_id as reference,
               concat_ws(', ', sales_channel, items || ' items', 'code ' || promotion_code) as detail,
               revenue as amount
        from marts.fct_orders where customer_id = $1
        union all
        select returned_at, 'shop', 'return', order_id,
               concat_ws(', ', category, quantity || ' items', reason), -refund_amount
        from marts.fct_returns where customer_id = $1
        union all
        select opened_at, 'support', 'ticket (' || status || ')', ticket_id,
               concat_ws(', ', channel, category, 'satisfaction ' || satisfaction_score), null
        from marts.fct_support_tickets where customer_id = $1
        union all
        select started_at, 'web', 'session', session_id,
               concat_ws(', ', traffic_channel, device, page_views || ' pages',
                         case when has_purchase then 'purchased' when is_cart_abandoned then 'cart abandoned' end),
               null
        from marts.fct_sessions where customer_id = $1
        union all
        select sent_at, 'campaign', case when is_control then 'control group (not sent)' else 'sent' end,
               campaign_id, case when has_converted then 'converted' end, null
        from marts.fct_campaign_sends where customer_id = $1
        union all
        select opened_at, 'campaign', 'opened', campaign_id, null, null
        from marts.fct_campaign_sends where customer_id = $1 and opened_at is not null
        union all
        select clicked_at, 'campaign', 'clicked', campaign_id, null, null
        from marts.fct_campaign_sends where customer_id = $1 and clicked_at is not null
        union all
        select unsubscribed_at, 'campaign', 'unsubscribed', campaign_id, null, null
        from marts.fct_campaign_sends where customer_id = $1 and unsubscribed_at is not null
        union all
        select created_at, 'review', 'review ' || score || '/5', order_id, concat_ws(': ', title, comment), null
        from marts.fct_reviews where customer_id = $1
        order by happened_at desc nulls last, channel, event
        """,
        (customer_id,),
    )


def audience_options() -> dict[str, list]:
    """The values the audience builder offers: RFM segments, countries and product categories present, and
    the marts' reference date (``as_of``)."""
    segments = query(
        "select distinct rfm_segment as v from marts.customer_360 where is_identified and rfm_segment is not null "
        "order by 1"
    )
    countries = query(
        "select distinct country as v from marts.customer_360 where is_identified and country is not null "
        "order by 1"
    )
    categories = query(
        "select distinct category as v from marts.dim_products where category is not null order by 1"
    )
    # The reference date of the marts (the same on every row): date filters default to it, not to today.
    as_of = query("select as_of_at::date as v from marts.customer_360 where as_of_at is not null limit 1")
    return {
        "as_of": None if as_of.empty else as_of["v"].iloc[0],
        "segments": segments.get("v", pd.Series(dtype=str)).tolist(),
        "countries": countries.get("v", pd.Series(dtype=str)).tolist(),
        "categories": categories.get("v", pd.Series(dtype=str)).tolist(),
    }


def _spec(spec_json: str):
    import json

    from orchestration.analytics.audiences import AudienceSpec

    return AudienceSpec.from_dict(json.loads(spec_json))


def _spec_key(spec) -> str:
    import json

    return json.dumps(spec.to_dict(), sort_keys=True)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _audience_summary(spec_json: str, version: str | None) -> dict | None:
    from orchestration.analytics.audiences import audience_summary as summarise

    return _on_published(lambda con: summarise(con, _spec(spec_json)))


def audience_summary(spec) -> dict | None:
    """Size, predicted value and the customers left out (no consent, no address) of an audience
    (:class:`orchestration.analytics.audiences.AudienceSpec`) in the published copy; None when nothing is
    published."""
    return _audience_summary(_spec_key(spec), published_version())


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _audience_list(spec_json: str, version: str | None) -> pd.DataFrame:
    from orchestration.analytics.audiences import export_audience

    frame = _on_published(lambda con: export_audience(con, _spec(spec_json)))
    return pd.DataFrame() if frame is None else frame


def audience_list(spec) -> pd.DataFrame:
    """The audience of ``spec`` with recommended products and reasons (``export_audience``, the function
    ``ecrm export-audience`` writes with), on the published copy as it is now."""
    return _audience_list(_spec_key(spec), published_version())
