"""Persistency: cohort retention and cohort cumulative value (month of first order x months since), the
repeat-purchase curve and the time to the next order."""

import components as ui
import filters
import pandas as pd
import plotly.express as px
import queries
import streamlit as st

AXES = {"x": "Months since the first order", "y": "Cohort (month of first order)"}


def heatmap(grid: pd.DataFrame, colours: str, text: str, title: str, colour_label: str):
    """A cohort x months-since heatmap of ``grid``, with the figures written in the cells while there are
    few enough to read."""
    return px.imshow(
        grid, aspect="auto", color_continuous_scale=colours, text_auto=text if grid.size <= 300 else False,
        title=title, labels={**AXES, "color": colour_label},
    )  # fmt: skip


def cohort_retention(cohorts: pd.DataFrame) -> None:
    """The retention heatmap, the cohorts' table and the customers behind one cell."""
    retention = cohorts.pivot(index="cohort", columns="months_since_first_order", values="retention_rate")
    fig = heatmap(
        retention, "Blues", ".0%", "Retention: share of the cohort ordering in each month", "Retention"
    )
    st.plotly_chart(fig, width="stretch")
    ui.table(cohorts.drop(columns="cohort"), "cohort retention")

    st.subheader("Customers behind a cohort cell")
    c1, c2 = st.columns(2)
    cohort = c1.selectbox("Cohort", sorted(cohorts["cohort"].unique()), key="cohort_drill")
    ages = sorted(cohorts.loc[cohorts["cohort"] == cohort, "months_since_first_order"].unique())
    age = c2.selectbox("Months since the first order", ages, key="cohort_age")
    cell = cohorts[(cohorts["cohort"] == cohort) & (cohorts["months_since_first_order"] == age)].iloc[0]
    people = queries.cohort_customers(cell["cohort_month"], cell["activity_month"])
    st.caption(f"{len(people):,} of the cohort's {int(cell['cohort_customers']):,} customers ordered then.")
    ui.table(people, "cohort customers")


def cohort_value(cohorts: pd.DataFrame) -> None:
    """The cumulative revenue per cohort customer as a heatmap, and the cohort worth most by month 6."""
    month6 = cohorts[cohorts["months_since_first_order"] == 6]
    if not month6.empty:
        best = month6.sort_values("cumulative_revenue_per_customer", ascending=False).iloc[0]
        st.metric(
            "Cohort worth most by month 6", best["cohort"],
            f"{ui.money(best['cumulative_revenue_per_customer'])} per customer", delta_color="off", delta_arrow="off",
        )  # fmt: skip
    value = cohorts.pivot(
        index="cohort", columns="months_since_first_order", values="cumulative_revenue_per_customer"
    )
    title = f"Cumulative revenue per cohort customer ({ui.currency()})"
    st.plotly_chart(heatmap(value, "Greens", ",.0f", title, ui.currency()), width="stretch")


def repeat_purchase() -> None:
    """The share ordering again after their n-th order, and the days to the next one."""
    repeat = queries.repeat_purchase()
    if repeat.empty:
        st.info("No orders yet: the curve comes from `data/landing/shop/orders/`.")
        return
    left, right = st.columns(2)
    fig = px.line(
        repeat, x="order_number", y="share_ordering_again", markers=True,
        title="Share of customers placing another order after their n-th",
        labels={"order_number": "Order number (n)", "share_ordering_again": "Share ordering again"},
    )  # fmt: skip
    fig.update_yaxes(tickformat=".0%")
    left.plotly_chart(fig, width="stretch")
    gaps = repeat.dropna(subset=["median_days_to_next_order"])
    fig = px.scatter(
        gaps, x="order_number", y="median_days_to_next_order",
        error_y=gaps["days_to_next_order_p75"] - gaps["median_days_to_next_order"],
        error_y_minus=gaps["median_days_to_next_order"] - gaps["days_to_next_order_p25"],
        title="Days to the next order (median, bars from first to third quartile)",
        labels={"order_number": "Order number (n)", "median_days_to_next_order": "Days to the next order"},
    )  # fmt: skip
    right.plotly_chart(fig, width="stretch")
    ui.table(repeat, "repeat purchase")


def cohorts_in_range(f: filters.Filters, section) -> None:
    """``section`` drawn on the cohorts whose first month is in the date range, or a notice if none is."""
    st.caption("The date range selects the cohorts by the month of their first order.")
    cohorts = queries.cohort_retention(f.start, f.end)
    if cohorts.empty:
        st.info("No cohort in the date range: cohorts come from orders in `data/landing/shop/orders/`.")
        return
    section(cohorts.assign(cohort=cohorts["cohort_month"].dt.strftime("%Y-%m")))


st.title("Persistency")
if queries.require("marts.persistency__cohort_retention", "marts.persistency__repeat_purchase"):
    f = filters.current()
    filters.not_applying(
        "sales_channel", "country", "rfm_segment", why="cohorts hold every customer of their first month."
    )
    ui.sections(__file__, {
        "Retention": lambda: cohorts_in_range(f, cohort_retention),
        "Value per customer": lambda: cohorts_in_range(f, cohort_value),
        "Repeat purchase": repeat_purchase,
    })  # fmt: skip
