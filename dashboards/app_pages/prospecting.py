"""Prospecting: the web funnel by traffic source, the visitors showing buying intent now, and the
three-month forecast of new and repeat business with its bounds."""

import components as ui
import filters
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import queries
import streamlit as st

STEPS = {"sessions": "Sessions", "product_view_sessions": "Viewed a product", "cart_sessions": "Added to cart",
         "checkout_sessions": "Checked out", "purchase_sessions": "Purchased"}  # fmt: skip

st.title("Prospecting")
queries.notice_missing_sources("web/sessions", "web/events", fills="the web funnel and high-intent visitors")
if queries.require(
    "marts.prospecting__acquisition_monthly", "marts.prospecting__high_intent_visitors",
    "marts.prospecting__forecast_monthly",
):  # fmt: skip
    f = filters.current()
    filters.not_applying(
        "sales_channel", "country", "rfm_segment", why="the funnel counts web sessions by traffic source."
    )
    funnel = queries.acquisition_funnel(f.start, f.end)
    if funnel.empty or funnel["sessions"].fillna(0).eq(0).all():
        st.info("No web sessions in the date range: they come from `data/landing/web/sessions/`.")
    else:
        long = funnel.melt(id_vars="channel", value_vars=list(STEPS), var_name="step", value_name="count")
        long["step"] = long["step"].map(STEPS)
        fig = px.funnel(long, x="count", y="step", color="channel", title="Web funnel by traffic source",
                        labels={"count": "Sessions", "step": "Step", "channel": "Source"})  # fmt: skip
        st.plotly_chart(fig, width="stretch")
        ui.table(funnel, "web funnel by source")
        ui.table(queries.acquisition_monthly(f.start, f.end), "acquisition by month")

    st.subheader("High-intent visitors (last 30 days)")
    ui.table(
        queries.high_intent_visitors(), "high intent visitors",
        empty="Nobody showed buying intent in the last 30 days of web data (`data/landing/web/events/`).",
    )  # fmt: skip

    st.subheader("Forecast: the next three months")
    filters.not_applying("dates", why="the forecast starts after the last order loaded.")
    fc = queries.forecast()
    if fc.empty:
        st.info("No forecast: it needs several months of orders in `data/landing/shop/orders/`.")
    else:
        fig = go.Figure()
        for expected, low, high, name in (
            ("expected_repeat_revenue", "repeat_revenue_low", "repeat_revenue_high", "Repeat revenue"),
        ):
            fig.add_trace(go.Scatter(
                x=fc["month"], y=fc[expected], name=name, mode="lines+markers",
                error_y={"type": "data", "array": fc[high] - fc[expected], "arrayminus": fc[expected] - fc[low]},
            ))  # fmt: skip
        fig.add_trace(
            go.Scatter(x=fc["month"], y=fc["expected_revenue"], name="Expected revenue", mode="lines+markers")
        )
        fig.update_layout(title="Expected revenue with the bounds of repeat revenue", xaxis_title="Month")
        st.plotly_chart(ui.money_axis(fig), width="stretch")
        fig = go.Figure(go.Scatter(
            x=fc["month"], y=fc["expected_new_customers"], mode="lines+markers", name="New customers",
            error_y={"type": "data", "array": fc["new_customers_high"] - fc["expected_new_customers"],
                     "arrayminus": fc["expected_new_customers"] - fc["new_customers_low"]},
        ))  # fmt: skip
        fig.update_layout(
            title="Expected new customers with bounds", xaxis_title="Month", yaxis_title="Customers"
        )
        st.plotly_chart(fig, width="stretch")
        ui.table(pd.DataFrame(fc), "forecast")
