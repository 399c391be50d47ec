"""Customer lookup: find one customer by e-mail, phone, name or any source id and see everything about them.

The 360° profile, a timeline across channels (orders, returns, tickets, web sessions, campaign sends, opens
and clicks, reviews), the predictions and the recommended products with their reasons. Contacts are masked
unless the dashboard runs with the analyst role; every lookup and every download is written to the audit
log.
"""

import audit
import components as ui
import filters
import pandas as pd
import privacy
import queries
import streamlit as st

st.title("Customer lookup")
st.caption(
    "Search by e-mail, phone, name, customer id or any source id (CRM id, shop account, browser id). "
    + (
        "Contacts are shown in clear (analyst role)."
        if privacy.shows_contacts()
        else "E-mail addresses and phone numbers are masked; every lookup is logged."
    )
)


def _log_once(action: str, searched: str, ids: list[str]) -> None:
    """Append to the audit log once per distinct thing shown (Streamlit reruns the page on every click)."""
    key = (action, searched, tuple(ids))
    logged = st.session_state.setdefault("_audit_logged", set())
    if key not in logged:
        audit.record(action, searched=searched, customer_ids=ids, details={"page": "Customer lookup"})
        logged.add(key)


def _table(frame: pd.DataFrame, name: str, searched: str, ids: list[str], **options) -> None:
    """Show ``frame`` with contacts masked, and a CSV download of exactly that, logged when clicked."""
    shown = privacy.mask_contacts(frame)
    st.dataframe(shown, hide_index=True, width="stretch", **options)

    def download() -> bytes:
        # Called when the button is clicked (not when the page is drawn): the log holds real downloads.
        audit.record(
            "download",
            searched=searched,
            customer_ids=ids,
            details={"page": "Customer lookup", "table": name},
        )
        return shown.to_csv(index=False).encode()

    st.download_button(
        f"Download {name} (CSV)", download, file_name=f"{name.replace(' ', '_')}.csv", mime="text/csv",
        key=f"download_{name}", on_click="ignore",
    )  # fmt: skip


def _money(value) -> str:
    return "n/a" if value is None or pd.isna(value) else ui.money(float(value), 2)


def _share(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.0%}"


def _day(value, missing: str = "n/a") -> str:
    return missing if value is None or pd.isna(value) else str(pd.Timestamp(value).date())


def _yes(flag) -> str:
    """A consent flag as the page says it: no statement is no consent."""
    return "yes" if flag is not None and not pd.isna(flag) and bool(flag) else "no"


def _masked_sources(frame: pd.DataFrame) -> pd.DataFrame:
    """Guest-checkout source ids are e-mail addresses: masked like every other e-mail."""
    if privacy.shows_contacts() or frame.empty:
        return frame
    frame = frame.copy()
    guest = frame["source"] == "shop_guest"
    frame.loc[guest, "source_id"] = frame.loc[guest, "source_id"].map(privacy.mask_email)
    return frame


def _heading(row: pd.Series, chosen: str) -> None:
    profile = privacy.mask_contacts(row)
    name = " ".join(str(v) for v in (profile.get("first_name"), profile.get("last_name")) if pd.notna(v))
    st.header(name or chosen)
    facts = [chosen] + [profile.get(k) for k in ("email", "phone_e164", "city", "country", "rfm_segment")]
    st.caption(" · ".join(str(v) for v in facts if v is not None and pd.notna(v)))
    cols = st.columns(5)
    cols[0].metric("Orders", f"{int(row.get('orders') or 0):,}")
    cols[1].metric("Revenue", _money(row.get("revenue")))
    cols[2].metric("Gross margin", _money(row.get("gross_margin")))
    cols[3].metric("Predicted 12-month value", _money(row.get("clv_12m")))
    cols[4].metric("Churn band", str(row.get("churn_band") or "n/a"))
    cols = st.columns(5)
    cols[0].metric("E-mail consent", _yes(row.get("email_opt_in")))
    cols[1].metric("SMS consent", _yes(row.get("sms_opt_in")))
    cols[2].metric("Last order", _day(row.get("last_order_at"), missing="never"))
    cols[3].metric("Web sessions", f"{int(row.get('sessions') or 0):,}")
    cols[4].metric("Support tickets", f"{int(row.get('tickets') or 0):,}")


def _timeline(chosen: str, searched: str) -> None:
    timeline = queries.customer_timeline(chosen)
    if timeline.empty:
        st.info("Nothing recorded for this customer yet: orders, web sessions and campaign sends fill it.")
        return
    channels = sorted(timeline["channel"].unique())
    picked = st.multiselect("Channels", channels, default=channels)
    _table(
        timeline[timeline["channel"].isin(picked)], "timeline", searched, [chosen],
        column_config={
            "happened_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm"),
            "amount": st.column_config.NumberColumn("Amount", format="%.2f"),
        },
    )  # fmt: skip


def _predictions(row: pd.Series) -> None:
    if pd.isna(row.get("predicted_at")):
        st.info(
            "No prediction for this customer: the customer models (`ecrm run`) predict for buyers once the "
            "shop has enough history."
        )
        return
    cols = st.columns(4)
    cols[0].metric("Probability alive", _share(row.get("probability_alive")))
    cols[1].metric(
        "Churn risk", _share(row.get("churn_risk")),
        help="Probability of no order in the next 90 days.",
    )  # fmt: skip
    cols[2].metric(
        "Churn risk for her rhythm", _share(row.get("churn_risk_relative")),
        help="The share of her usual chance of ordering in 90 days that is gone; the churn band cuts it at "
        "30 % and 70 %.",
    )  # fmt: skip
    cols[3].metric("Expected next order", _day(row.get("expected_next_order_date")))
    cols = st.columns(4)
    cols[0].metric(
        "Expected orders, 90 days", f"{float(row.get('expected_purchases_90d') or 0):.2f}",
        help=f"80 % range: {_count_range(row, 'expected_purchases_90d')}",
    )  # fmt: skip
    cols[1].metric("80 % range of orders, 90 days", _count_range(row, "expected_purchases_90d"))
    cols[2].metric("Expected order value", _money(row.get("expected_order_value")))
    cols[3].metric("Predicted 12-month margin", _money(row.get("clv_margin_12m")))
    cols = st.columns(4)
    cols[0].metric("Predicted 3-month value", _money(row.get("clv_3m")))
    cols[1].metric("Predicted 12-month value", _money(row.get("clv_12m")))
    cols[2].metric(
        "80 % range of 12-month value",
        f"{_money(row.get('clv_12m_low'))} – {_money(row.get('clv_12m_high'))}",
    )
    cols[3].metric("Predicted 36-month value", _money(row.get("clv_36m")))
    rate = row.get("clv_annual_discount_rate")
    st.caption(
        "Predictions of the customer models (probability alive and orders: BG/NBD; order value: "
        "Gamma-Gamma), with the central 80 % of what the model considers possible for this customer. "
        + (
            f"Values are discounted at {float(rate):.0%} a year. "
            if rate is not None and pd.notna(rate)
            else ""
        )
        + f"Predicted on {_day(row.get('predicted_at'))}; the models' holdout quality is on the Value & churn page."
    )


def _count_range(row: pd.Series, column: str) -> str:
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "n/a"
    return f"{int(low)} – {int(high)}"


if queries.require("marts.customer_360", "marts.customer_identity_map"):
    filters.not_applying(
        "dates", "sales_channel", "country", "rfm_segment", why="a lookup shows one customer's whole history."
    )
    text = st.text_input("Find a customer", placeholder="anna@example.com, +49 151 …, Schmidt, C000123 …")
    searched = text.strip()
    found = queries.lookup_customers(searched) if searched else pd.DataFrame()
    if searched and found.empty:
        _log_once("search", searched, [])
        st.info(
            "No customer matches. Try part of the e-mail address, the last digits of a phone number or a name."
        )
    elif searched:
        ids = found["customer_id"].tolist()
        _log_once("search", searched, ids)
        if len(found) > 1:
            st.write(f"{len(found):,} customers match (most valuable first).")
            _table(found, "matches", searched, ids)
        shown = privacy.mask_contacts(found)
        labels = {
            r.customer_id: " ".join(
                str(v) for v in (r.customer_id, r.first_name, r.last_name, r.country) if pd.notna(v)
            )
            for r in shown.itertuples()
        }
        chosen = st.selectbox("Customer", ids, format_func=lambda cid: labels.get(cid, cid))
        row = queries.customer(chosen)
        if row is not None:
            _log_once("lookup", searched, [chosen])
            _heading(row, chosen)
            timeline_tab, predictions_tab, recommended_tab, profile_tab = st.tabs(
                ["Timeline", "Predictions", "Recommended products", "Profile"]
            )
            with timeline_tab:
                _timeline(chosen, searched)
            with predictions_tab:
                _predictions(row)
            with recommended_tab:
                recs = queries.customer_recommendations(chosen)
                if recs.empty:
                    st.info("No recommendations yet: the recommender (`ecrm run`) fills them.")
                else:
                    _table(recs, "recommendations", searched, [chosen])
            with profile_tab:
                _table(privacy.mask_contacts(row).to_frame("value").astype(str).reset_index(names="field"),
                       "profile", searched, [chosen])  # fmt: skip
                st.write("Source records")
                _table(
                    _masked_sources(queries.customer_source_records(chosen)),
                    "source records",
                    searched,
                    [chosen],
                )
