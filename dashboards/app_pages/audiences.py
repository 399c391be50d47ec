"""Audiences: build a list of customers over customer_360, save it by name and export it for a campaign.

The builder filters on segment, value band, churn band, predicted value, last order, category bought,
country and the channel whose consent is required; it shows the audience's size and predicted value live
and how many customers the filters select but consent leaves out. A saved audience is
``data/audiences/<name>.yml``; its export (``data/exports/<name>.csv``, or a download) carries each
customer's three recommended products and reasons and is the list ``ecrm export-audience NAME`` writes.
Every export is written to the audit log.
"""

import datetime as dt

import audit
import components as ui
import filters
import pandas as pd
import privacy
import queries
import streamlit as st

from orchestration import settings
from orchestration.analytics import audiences as aud

st.title("Audiences")
queries.notice_missing_sources("crm/customers", fills="SMS consent (it lives in the CRM)")

CONSENT_HELP = (
    "Consent per channel: the latest statement of the customer's CRM records and shop accounts; an "
    "unsubscribe withdraws only the consent of the campaign's channel (SMS for SMS campaigns, e-mail for "
    "all others), for good. Only customers with consent for the channel are in the audience."
)
VALUE_BAND_HELP = (
    "The RFM monetary score: the quintile of the customer's spend among all buyers (1 = lowest fifth, "
    "5 = highest fifth)."
)


def _export(spec: aud.AudienceSpec, name: str | None, action: str, path=None) -> bytes:
    """Build the export on the copy published now, log it, and return it as CSV (written to ``path``)."""
    frame = queries.audience_list(spec)
    if path is not None:
        aud.write_export(frame, path)
    audit.record(
        action,
        searched=name,
        customer_ids=frame["customer_id"].tolist() if not frame.empty else [],
        details={"audience": name, "filters": spec.to_dict(), "file": str(path) if path else None},
    )
    return frame.to_csv(index=False).encode()


if queries.require("marts.customer_360"):
    filters.not_applying(
        "dates",
        "sales_channel",
        "country",
        "rfm_segment",
        why="the audience builder below has its own filters.",
    )
    folder = settings.audiences_path()
    saved = aud.saved_audiences(folder)
    loaded = st.selectbox("Start from a saved audience", ["(new audience)", *saved], key="audience_saved")
    base = aud.load_audience(loaded, folder) if loaded != "(new audience)" else aud.AudienceSpec()
    options = queries.audience_options()
    suffix = f"_{loaded}"  # widgets start afresh from the audience picked

    left, right = st.columns(2)
    with left:
        channel = st.selectbox(
            "Channel (consent required)", list(aud.CHANNELS), index=list(aud.CHANNELS).index(base.channel),
            help=CONSENT_HELP, key="channel" + suffix,
        )  # fmt: skip
        segments = st.multiselect(
            "RFM segment", options["segments"], default=[s for s in base.segments if s in options["segments"]],
            key="segments" + suffix,
        )  # fmt: skip
        value_bands = st.multiselect(
            "Value band (spend quintile)", list(aud.VALUE_BANDS), default=list(base.value_bands),
            help=VALUE_BAND_HELP, key="value_bands" + suffix,
        )  # fmt: skip
        churn_bands = st.multiselect(
            "Churn band", list(aud.CHURN_BANDS), default=list(base.churn_bands), key="churn_bands" + suffix
        )
        min_clv = st.number_input(
            "Minimum predicted 12-month value", min_value=0.0, value=float(base.min_clv or 0.0), step=10.0,
            key="min_clv" + suffix,
        )  # fmt: skip
    with right:
        use_dates = st.checkbox(
            "Filter on the date of the last order",
            value=base.last_order_from is not None or base.last_order_to is not None,
            key="use_dates" + suffix,
        )
        last_order_from = last_order_to = None
        if use_dates:
            as_of = options["as_of"]
            today = pd.Timestamp(as_of).date() if as_of is not None else dt.datetime.now(dt.UTC).date()
            start = base.last_order_from or today - dt.timedelta(days=365)
            end = base.last_order_to or today
            picked = st.date_input("Last order between", (start, end), key="last_order" + suffix)
            if isinstance(picked, tuple) and len(picked) == 2:
                last_order_from, last_order_to = picked
        categories = st.multiselect(
            "Bought from category", options["categories"],
            default=[c for c in base.categories if c in options["categories"]], key="categories" + suffix,
        )  # fmt: skip
        countries = st.multiselect(
            "Country", options["countries"], default=[c for c in base.countries if c in options["countries"]],
            key="countries" + suffix,
        )  # fmt: skip

    spec = aud.AudienceSpec(
        channel=channel, segments=tuple(segments), value_bands=tuple(value_bands),
        churn_bands=tuple(churn_bands), min_clv=float(min_clv) if min_clv else None,
        last_order_from=last_order_from, last_order_to=last_order_to, categories=tuple(categories),
        countries=tuple(countries), recommendations=base.recommendations,
    )  # fmt: skip
    summary = queries.audience_summary(spec) or {}
    figures = st.columns(4)
    figures[0].metric("Customers in the audience", f"{summary.get('size', 0):,}")
    figures[1].metric("Predicted 12-month value", ui.money(summary.get("predicted_value_12m", 0.0), 2))
    figures[2].metric(
        "Excluded: no consent", f"{summary.get('excluded_no_consent', 0):,}",
        help=f"Customers the filters select who have not consented to {channel}.",
    )  # fmt: skip
    figures[3].metric(
        "Excluded: no address", f"{summary.get('excluded_no_contact', 0):,}",
        help=f"Customers with {channel} consent but no {'e-mail address' if channel == 'email' else 'phone number'}.",
    )  # fmt: skip

    audience = queries.audience_list(spec)
    if audience.empty:
        st.info(
            "No customer matches these filters with consent for this channel. Widen the filters, or load "
            "CRM records and shop accounts (`data/landing/crm/customers/`, `data/landing/shop/customers/`)."
        )
    else:
        st.caption(
            f"The first 500 of {len(audience):,}, most valuable first; contacts as your role shows them."
        )
        st.dataframe(
            privacy.mask_contacts(audience.rename(columns={"contact": aud.CHANNELS[channel][1]})).head(500),
            hide_index=True, width="stretch",
        )  # fmt: skip

    st.subheader("Save and export")
    name = st.text_input(
        "Audience name", value="" if loaded == "(new audience)" else loaded, key="name" + suffix
    )
    save_col, export_col, download_col = st.columns(3)
    valid = aud.is_valid_name(name)
    if name and not valid:
        st.warning("Use letters, digits, '_' and '-' for the name (it names the files).")
    if save_col.button("Save audience", disabled=not valid):
        path = aud.save_audience(name, spec, folder)
        st.success(f"Saved as {path.name}. Export it any time with `ecrm export-audience {name}`.")
    if export_col.button("Export to file", disabled=not valid):
        aud.save_audience(name, spec, folder)
        target = settings.exports_path() / f"{name}.csv"
        _export(spec, name, "export", target)
        st.success(f"{len(audience):,} customers exported to {target.name} (logged).")
    download_col.download_button(
        "Download CSV",
        # Built on click from the copy published then, so the file never holds anyone who unsubscribed since.
        lambda: _export(spec, name or None, "download"),
        file_name=f"{name or 'audience_' + channel}.csv",
        mime="text/csv",
        disabled=audience.empty,
    )
