"""Baskets & bundles: what sells together, at product and category level, and bundle suggestions."""

import queries
import streamlit as st

st.title("Baskets & bundles")
queries.notice_missing_sources("shop/order_lines", fills="what sells together")
if queries.require("ml.association_rules", "ml.bundles", "marts.dim_products"):
    level = st.radio("Rules between", ["product", "category"], horizontal=True)
    st.dataframe(queries.rules(level), hide_index=True, width="stretch")
    st.subheader("Suggested bundles")
    st.dataframe(queries.bundles(), hide_index=True, width="stretch")
