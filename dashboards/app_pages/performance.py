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


st.title("Performance")
if queries.require("marts.performance__sales_monthly", "marts.performance__products_monthly"):
    f = filters.current()
    st.caption(
        "Country is the shipping country of the orders; the segment is the buyer's at the start of the month "
        "('prospect' in the month of a first order)."
    )
    # Sections are tabs that run only while open: every Plotly chart costs the browser a few tenths of a
    # second to draw, so opening the page or changing a filter draws one section, not all three.
    over_time, by_day, in_category = st.tabs(
        ["Over time", "Day by day", "Products of a category"], key="performance_section", on_change="rerun"
    )
    if over_time.open:
        with over_time:
            label = st.radio("Sales by", list(DIMENSIONS), horizontal=True, key="performance_dimension")
            dimension = DIMENSIONS[label]
            sales = queries.sales_over_time(
                dimension, f.start, f.end, f.sales_channel, f.country, f.rfm_segment
            )
            if sales.empty:
                no_sales(f)
            else:
                # One chart at a time: the change chart draws a line per breakdown value, and the two together
                # took a filter change past 1 s on 100,000 customers (benchmarks/README.md).
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

    if by_day.open:
        with by_day:
            filters.not_applying("rfm_segment", why="daily sales are not split by segment.")
            daily = queries.sales_daily(f.start, f.end, f.sales_channel, f.country)
            if daily.empty:
                no_sales(f)
            else:
                fig = px.line(
                    daily, x="order_date", y=["revenue", "gross_margin"], title="Revenue and gross margin by day",
                    labels={"order_date": "Day", "value": "Amount", "variable": "Figure"},
                )  # fmt: skip
                st.plotly_chart(ui.money_axis(fig), width="stretch")
                ui.table(daily, "sales by day")

    if in_category.open:
        with in_category:
            filters.not_applying("rfm_segment", why="product sales are not split by segment.")
            categories = queries.sales_over_time("category", f.start, f.end, f.sales_channel, f.country, None)
            if categories.empty:
                no_sales(f)
            else:
                names = sorted(categories["category"].unique())
                category = st.selectbox("Category", names, key="performance_category")
                products = queries.products_in_category(category, f.start, f.end, f.sales_channel, f.country)
                fig = px.bar(
                    products.head(20), x="revenue", y="product_name", orientation="h",
                    title=f"Top products of {category} by revenue", labels={"product_name": "Product"},
                )  # fmt: skip
                fig.update_yaxes(autorange="reversed")
                st.plotly_chart(
                    ui.money_axis(fig, axis="x", title=f"Revenue ({ui.currency()})"), width="stretch"
                )
                ui.table(products, "products in category")
