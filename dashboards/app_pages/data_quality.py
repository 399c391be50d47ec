"""Data quality: every landing file with its counts, and every quarantined row with the rule it broke."""

import queries
import streamlit as st

st.title("Data quality")
if queries.require("ops.load_manifest"):
    manifest = queries.load_manifest()
    c = st.columns(5)
    c[0].metric("Files", f"{len(manifest):,}")
    c[1].metric("Rows read", f"{int(manifest['rows_read'].sum()):,}")
    c[2].metric("Rows quarantined", f"{int(manifest['rows_quarantined'].sum()):,}")
    c[3].metric("Files rejected", f"{int((manifest['status'] == 'rejected').sum()):,}")
    c[4].metric(
        "Reviews loaded", f"{queries.loaded_rows('shop', 'reviews'):,}", help="customers' reviews of orders"
    )
    st.dataframe(manifest, hide_index=True, use_container_width=True)
    st.subheader("Quarantined rows by rule")
    by_rule = queries.quarantine_by_rule()
    st.dataframe(by_rule, hide_index=True, use_container_width=True)
    if not by_rule.empty:
        table = st.selectbox("Show quarantined rows of", sorted(by_rule["table_name"].unique()))
        st.dataframe(queries.quarantine_rows(table), hide_index=True, use_container_width=True)
