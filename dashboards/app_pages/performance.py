"""Performance: sales by category, sales channel, country and segment over time with the change against
the previous month, and a drill-down from a category to its products."""

import components as ui
import filters
import plotly.express as px
import queries
import streamlit as st

DIMENSIONS = {"Category": "category", "Sales channel": "sales_channel", "Country": "country",
              "RFM segment": "rfm_segment"}  # fmt: skip


def no_sales(chosen: filters.Filters) -> None:
    """The notice for a section whose filters (``chosen``) match no sale, naming where orders come from."""
    st.info(f"No sales for {chosen.describe()}. Orders come from `data/landing/shop/orders/`.")


def over_time(f: filters.Filters) -> None:
    """Monthly revenue by the chosen breakdown, or its change against the previous month, with the table."""
    label = st.radio("Sales by", list(DIMENSIONS), horizontal=True, key="performance_dimension")
    dimension = DIMENSIONS[label]
    sales = queries.sales_over_time(dimension, f.start, f.end, f.sales_channel, f.country, f.rfm_segment)
    if sales.empty:
        no_sales(f)
        return
    # One chart at a time: the change chart draws a line per breakdown value, and the two together took a
    # filter change past 1 s on 100,000 customers (benchmarks/README.md).
    shown = st.radio("Show", ["Revenue", "Change against the previous month"], horizontal=True,
                     key="performance_measure")  # fmt: skip
    if shown == "Revenue":
        fig = px.bar(
            sales, x="month", y="revenue", color=dimension, title=f"Revenue by month and {label.lower()}",
            labels={"month": "Month", dimension: label},
        )  # fmt: skip
        st.plotly_chart(ui.money_axis(fig, title=f"Revenue ({ui.currency()})"), width="stretch")
    else:
        fig = px.line(
            sales, x="month", y="revenue_change_previous_month", color=dimension, markers=True,
            title=f"Change of revenue against the previous month, by {label.lower()}",
            labels={"month": "Month", "revenue_change_previous_month": "Change against the previous month",
                    dimension: label},
        )  # fmt: skip
        fig.update_yaxes(tickformat=".0%")
        st.plotly_chart(fig, width="stretch")
    ui.table(sales, f"sales by {dimension}")


def day_by_day(f: filters.Filters) -> None:
    """Revenue and gross margin per day (not split by segment), with the table."""
    filters.not_applying("rfm_segment", why="daily sales are not split by segment.")
    daily = queries.sales_daily(f.start, f.end, f.sales_channel, f.country)
    if daily.empty:
        no_sales(f)
        return
    fig = px.line(
        daily, x="order_date", y=["revenue", "gross_margin"], title="Revenue and gross margin by day",
        labels={"order_date": "Day", "value": "Amount", "variable": "Figure"},
    )  # fmt: skip
    st.plotly_chart(ui.money_axis(fig), width="stretch")
    ui.table(daily, "sales by day")


def products_of_a_category(f: filters.Filters) -> None:
    """The drill-down from a chosen category to its top products by revenue, with the table."""
    filters.not_applying("rfm_segment", why="product sales are not split by segment.")
    categories = queries.sales_over_time("category", f.start, f.end, f.sales_channel, f.country, None)
    if categories.empty:
        no_sales(f)
        return
    names = sorted(categories["category"].unique())
    category = st.selectbox("Category", names, key="performance_category")
    products = queries.products_in_category(category, f.start, f.end, f.sales_channel, f.country)
    fig = px.bar(
        products.head(20), x="revenue", y="product_name", orientation="h",
        title=f"Top products of {category} by revenue", labels={"product_name": "Product"},
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    st.plotly_chart(ui.money_axis(fig, axis="x", title=f"Revenue ({ui.currency()})"), width="stretch")
    ui.table(products, "products in category")


st.title("Performance")
if queries.require("marts.performance__sales_monthly", "marts.performance__products_monthly"):
    f = filters.current()
    st.caption(
        "Country is the shipping country of the orders; the segment is the buyer's at the start of the month "
        "('prospect' in the month of a first order)."
    )
    ui.sections(__file__, {
        "Over time": lambda: over_time(f),
        "Day by day": lambda: day_by_day(f),
        "Products of a category": lambda: products_of_a_category(f),
    })  # fmt: skip
