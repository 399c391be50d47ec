"""Data quality: every landing file with its counts, encoding and schema-drift warnings, and every
quarantined row with the rule it broke."""

import components as ui
import filters
import queries
import streamlit as st

NOT_RECORDED = "recorded from the next `ecrm run` on (this warehouse was loaded before the loader kept it)"


def _figure(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


st.title("Data quality")
if queries.require("ops.load_manifest"):
    filters.not_applying(
        "dates", "sales_channel", "country", "rfm_segment", why="it lists every file loaded."
    )
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
    # Rejected files first, then those with schema-drift warnings, then the rest.
    has_warning = manifest["warnings"].fillna("").str.strip() != ""
    manifest = manifest.assign(_rank=(manifest["status"] != "rejected") * 2 + (~has_warning) * 1)
    ui.table(manifest.sort_values(["_rank", "path"], kind="stable").drop(columns="_rank"), "landing files")
    warned = queries.files_with_warnings()
    if not warned.empty:
        st.subheader("Schema-drift warnings")
        ui.table(warned, "schema drift warnings")
    st.subheader("Quarantined rows by rule")
    by_rule = queries.quarantine_by_rule()
    ui.table(by_rule, "quarantine by rule", empty="No row was quarantined.")
    if not by_rule.empty:
        table = st.selectbox("Show quarantined rows of", sorted(by_rule["table_name"].unique()))
        ui.table(queries.quarantine_rows(table), "quarantined rows")
