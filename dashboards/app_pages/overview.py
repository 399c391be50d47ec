"""Overview: headline KPIs, revenue over time, and sales by category/channel/country with drill-down."""

import plotly.express as px
import queries
import streamlit as st

st.title("Overview")
queries.notice_missing_sources("web/sessions", fills="the device breakdown")
if queries.require("marts.fct_orders", "marts.customer_360", "marts.dim_products"):
    k = queries.kpis()
    st.caption(f"Data up to {k['as_of']:%Y-%m-%d}")
    c = st.columns(6)
    c[0].metric(
        "Known customers", f"{int(k['customers']):,}",
        help=f"with a CRM record, shop account or checkout e-mail; plus {int(k['anonymous_visitors']):,} "
        "visitors known only by browser cookies",
    )  # fmt: skip
    c[1].metric("Buying customers", f"{int(k['buyers']):,}")
    c[2].metric("Orders", f"{int(k['orders']):,}")
    c[3].metric("Revenue", f"{k['revenue']:,.0f}")
    c[4].metric("Gross margin", f"{k['gross_margin']:,.0f}")
    c[5].metric("Repeat-buyer rate", f"{k['repeat_rate']:.1%}")

    monthly = queries.revenue_by_month()
    st.plotly_chart(
        px.bar(
            monthly, x="month", y=["revenue", "gross_margin"], barmode="overlay", title="Revenue by month"
        ),
        width="stretch",
    )

    dimension = st.radio("Sales by", ["category", "sales_channel", "country", "device"], horizontal=True)
    by = queries.sales_by(dimension)
    left, right = st.columns([2, 3])
    left.dataframe(by, hide_index=True, width="stretch")
    right.plotly_chart(px.bar(by, x=dimension, y="gross_sales"), width="stretch")

    if dimension == "category" and not by.empty:
        category = st.selectbox("Drill down into a category", by["category"].tolist())
        st.dataframe(queries.products_in_category(category), hide_index=True, width="stretch")
