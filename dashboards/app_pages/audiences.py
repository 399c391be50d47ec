"""Audiences: pick customers by value, risk and consent, with their recommended products, and download."""

import queries
import streamlit as st

st.title("Audiences")
queries.notice_missing_sources("crm/customers", fills="SMS consent (it lives in the CRM)")
if queries.require("marts.customer_360"):
    channel = st.selectbox("Channel (only customers who consented)", ["email", "sms"])
    bands = st.multiselect("Churn band", ["low", "medium", "high"], default=["medium", "high"])
    min_clv = st.number_input("Minimum predicted 12-month value", min_value=0.0, value=50.0, step=10.0)
    audience = queries.audience(channel, tuple(bands), float(min_clv))
    st.metric("Customers in the audience", f"{len(audience):,}")
    st.dataframe(audience.head(500), hide_index=True, use_container_width=True)
    st.download_button(
        "Download CSV",
        audience.to_csv(index=False).encode(),
        file_name=f"audience_{channel}.csv",
        mime="text/csv",
    )
