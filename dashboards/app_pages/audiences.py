"""Audiences: pick customers by value, risk and consent, with their recommended products, and download."""

import queries
import streamlit as st

st.title("Audiences")
queries.notice_missing_sources("crm/customers", fills="SMS consent (it lives in the CRM)")
if queries.require("marts.customer_360"):
    channel = st.selectbox(
        "Channel (only customers who consented)",
        ["email", "sms"],
        help="Consent per channel: the latest statement of the customer's CRM records and shop accounts; "
        "an unsubscribe withdraws only the consent of the campaign's channel (SMS for SMS campaigns, "
        "e-mail for all others), for good.",
    )
    bands = st.multiselect("Churn band", ["low", "medium", "high"], default=["medium", "high"])
    min_clv = st.number_input("Minimum predicted 12-month value", min_value=0.0, value=50.0, step=10.0)
    audience = queries.audience(channel, tuple(bands), float(min_clv))
    st.metric("Customers in the audience", f"{len(audience):,}")
    st.dataframe(audience.head(500), hide_index=True, width="stretch")
    # Built on click from the copy published then, so the file never holds anyone who unsubscribed since.
    st.download_button(
        "Download CSV",
        lambda: queries.audience_csv(channel, tuple(bands), float(min_clv)),
        file_name=f"audience_{channel}.csv",
        mime="text/csv",
    )
