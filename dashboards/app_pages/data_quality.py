"""Data quality: every landing file with its counts, encoding and schema-drift warnings, and every
quarantined row with the rule it broke."""

import queries
import streamlit as st

NOT_RECORDED = "recorded from the next `ecrm run` on (this warehouse was loaded before the loader kept it)"


def _figure(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


st.title("Data quality")
if queries.require("ops.load_manifest"):
    summary = queries.load_summary()
    manifest = queries.load_manifest()
    c = st.columns(7)
    c[0].metric("Files", f"{summary['files']:,}")
    c[1].metric("Rows read", f"{summary['rows_read']:,}")
    c[2].metric("Rows quarantined", f"{summary['rows_quarantined']:,}")
    c[3].metric("Files rejected", f"{summary['files_rejected']:,}")
    c[4].metric(
        "Files with warnings",
        _figure(summary["files_with_warnings"]),
        help="schema drift: a declared nullable column missing or undeclared columns present"
        + ("" if summary["files_with_warnings"] is not None else f"; {NOT_RECORDED}"),
    )
    c[5].metric(
        "Rows erased",
        _figure(summary["rows_erased"]),
        help="rows of people erased on request, kept out of the warehouse"
        + ("" if summary["rows_erased"] is not None else f"; {NOT_RECORDED}"),
    )
    c[6].metric(
        "Reviews loaded", f"{queries.loaded_rows('shop', 'reviews'):,}", help="customers' reviews of orders"
    )
    st.dataframe(manifest, hide_index=True, width="stretch")
    warned = queries.files_with_warnings()
    if not warned.empty:
        st.subheader("Schema-drift warnings")
        st.dataframe(warned, hide_index=True, width="stretch")
    st.subheader("Quarantined rows by rule")
    by_rule = queries.quarantine_by_rule()
    st.dataframe(by_rule, hide_index=True, width="stretch")
    if not by_rule.empty:
        table = st.selectbox("Show quarantined rows of", sorted(by_rule["table_name"].unique()))
        st.dataframe(queries.quarantine_rows(table), hide_index=True, width="stretch")
