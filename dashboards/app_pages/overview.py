"""Overview: the headline figures with their change against the previous period, revenue and margin over
time, new against returning customers, and the customers behind a figure."""

import components as ui
import filters
import plotly.express as px
import queries
import streamlit as st

PERIODS = {"Month": "month", "Quarter": "quarter", "Year": "year"}
DRILL_DOWN = {"Active customers": "active", "New customers": "new", "Lapsed customers (churned)": "lapsed"}

st.title("Overview")
if queries.require("marts.performance__kpis", "marts.customer_360", "marts.fct_orders"):
    f = filters.current()
    period_label = st.radio("Compare by", list(PERIODS), horizontal=True, key="overview_period")
    period_type = PERIODS[period_label]
    running = queries.kpi_row(period_type, f.end, f.cell())
    include_running = st.toggle(
        f"Include the running {period_label.lower()}", value=False, key="overview_running",
        help="A period still running has had fewer days than the one before it: by default the figures are "
        "those of the latest complete period, against the one before.",
    )  # fmt: skip
    k = running if include_running else queries.kpi_row(period_type, f.end, f.cell(), complete_only=True)
    if k is None and running is not None:
        st.info(f"No complete {period_label.lower()} yet for {f.describe()}: showing the running one.")
        k = running
    if k is None:
        st.info(
            f"No orders for {f.describe()}. Orders come from `data/landing/shop/orders/`; widen the filters."
        )
    else:
        state = "" if k["is_complete"] else " (still running)"
        which = (
            "holding the end of the date range"
            if include_running
            else "latest complete one in the date range"
        )
        st.caption(
            f"{period_label} from {k['period_start']:%Y-%m-%d} to before {k['period_end']:%Y-%m-%d}{state}: "
            f"the {period_label.lower()} {which}, against the one before; {f.describe()}."
        )
        row1, row2 = st.columns(4), st.columns(4)
        row1[0].metric(
            "Customers", ui.number(k["customers"]), ui.relative_change(k["customers_change"]),
            help="customers with an order before the end of the period",
        )  # fmt: skip
        row1[1].metric(
            "Active customers", ui.number(k["active_customers"]), ui.relative_change(k["active_customers_change"]),
            help="customers with an order in the period",
        )  # fmt: skip
        row1[2].metric("Revenue", ui.money(k["revenue"]), ui.relative_change(k["revenue_change"]))
        row1[3].metric(
            "Gross margin", ui.money(k["gross_margin"]), ui.relative_change(k["gross_margin_change"])
        )
        row2[0].metric(
            "Average order value", ui.money(k["average_order_value"], 2),
            ui.relative_change(k["average_order_value_change"]),
        )  # fmt: skip
        row2[1].metric(
            "Repeat rate", ui.share(k["repeat_rate"]), ui.point_change(k["repeat_rate_change"]),
            help="share of the customers with two or more orders",
        )  # fmt: skip
        row2[2].metric(
            "Churn rate", ui.share(k["churn_rate"]), ui.point_change(k["churn_rate_change"]),
            delta_color="inverse", help="share of the customers whose last order is a year or more old",
        )  # fmt: skip
        row2[3].metric(
            "Predicted 12-month value", ui.money((running if running is not None else k)["predicted_clv_12m"]),
            help="sum of the customers' predicted 12-month CLV; the models are scored as of now and keep no "
            "history, so it has no previous period: the figure is today's, whichever period is shown",
        )  # fmt: skip

        series = queries.kpi_series(period_type, f.start, f.end, f.cell())
        left, right = st.columns(2)
        fig = px.line(
            series, x="period_start", y=["revenue", "gross_margin"], markers=True,
            title=f"Revenue and gross margin by {period_label.lower()}",
            labels={"period_start": period_label, "value": "Amount", "variable": "Figure"},
        )  # fmt: skip
        left.plotly_chart(ui.money_axis(fig), width="stretch")
        fig = px.bar(
            series, x="period_start", y=["new_customers", "returning_customers"],
            title=f"New and returning customers by {period_label.lower()}",
            labels={"period_start": period_label, "value": "Customers", "variable": "Customers"},
        )  # fmt: skip
        right.plotly_chart(fig, width="stretch")
        ui.table(
            series[["period_start", "customers", "active_customers", "new_customers", "returning_customers",
                    "orders", "revenue", "gross_margin", "new_customer_revenue", "returning_customer_revenue",
                    "average_order_value", "repeat_rate", "churn_rate"]],
            "kpis by period",
        )  # fmt: skip

        st.subheader("Customers behind a figure")
        kind = st.selectbox("Show the customers behind", list(DRILL_DOWN), key="overview_drill")
        people = queries.kpi_customers(
            DRILL_DOWN[kind], k["period_start"], k["period_end"], f.sales_channel, f.country, f.rfm_segment
        )
        st.caption(
            f"{len(people):,} customers (the {kind.lower()} of the period above; at most 5,000 listed)."
        )
        ui.table(people, "customers behind the kpi", empty="No customers behind this figure for the filters.")
