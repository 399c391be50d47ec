"""Customers: segments, most valuable and at-risk customers, and a 360° view of one customer."""

import plotly.express as px
import queries
import streamlit as st

st.title("Customers")
queries.notice_missing_sources("crm/customers", fills="CRM details and support history")
if queries.require("marts.customer_360"):
    seg = queries.segments()
    left, right = st.columns(2)
    left.plotly_chart(
        px.bar(seg, x="segment", y="customers", title="Customers by RFM segment"), width="stretch"
    )
    right.plotly_chart(px.bar(seg, x="segment", y="revenue", title="Revenue by RFM segment"), width="stretch")
    st.dataframe(seg, hide_index=True, width="stretch")

    st.subheader("Most valuable customers")
    order = st.radio("Rank by", ["clv_12m", "revenue", "churn_risk"], horizontal=True)
    st.dataframe(queries.top_customers(order), hide_index=True, width="stretch")

    st.subheader("Customer 360")
    text = st.text_input("Find a customer by id, e-mail or name")
    if text:
        found = queries.find_customers(text)
        if found.empty:
            st.write("No customer matches.")
        else:
            chosen = st.selectbox("Customer", found["customer_id"].tolist())
            row = queries.customer(chosen)
            if row is not None:
                cols = st.columns(4)
                cols[0].metric("Orders", int(row.get("orders") or 0))
                cols[1].metric("Revenue", f"{(row.get('revenue') or 0):,.2f}")
                cols[2].metric("Predicted 12-month value", f"{(row.get('clv_12m') or 0):,.2f}")
                cols[3].metric("Churn risk", str(row.get("churn_band") or "n/a"))
                st.dataframe(row.to_frame("value").astype(str), width="stretch")
                st.write("Orders")
                st.dataframe(queries.customer_orders(chosen), hide_index=True, width="stretch")
                st.write("Recommended products")
                st.dataframe(queries.customer_recommendations(chosen), hide_index=True, width="stretch")
