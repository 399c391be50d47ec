"""Value & churn: predicted lifetime value, probability alive, churn bands and how accurate the models are."""

import plotly.express as px
import queries
import streamlit as st

st.title("Value & churn")
queries.notice_missing_sources("shop/orders", fills="every prediction")
if queries.require("ml.customer_predictions", "ml.model_quality"):
    bands = queries.churn_bands()
    if bands.empty:
        st.info("No predictions: the shop's history is too short for the models (see model quality below).")
    else:
        st.dataframe(bands, hide_index=True, width="stretch")
        dist = queries.clv_distribution()
        left, right = st.columns(2)
        left.plotly_chart(
            px.histogram(dist, x="clv_12m", nbins=60, title="Predicted 12-month CLV"),
            width="stretch",
        )
        right.plotly_chart(
            px.histogram(dist, x="probability_alive", nbins=40, title="Probability alive"),
            width="stretch",
        )
    st.subheader("Model quality (holdout validation)")
    st.dataframe(queries.model_quality(), hide_index=True, width="stretch")
