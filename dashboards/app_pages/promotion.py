"""Promotion: campaigns with their uplift against a random control group and its 95 % interval, the
incremental revenue and ROI, uplift by segment, discount codes, and the customers a campaign reached."""

import components as ui
import filters
import pandas as pd
import plotly.graph_objects as go
import queries
import streamlit as st

NO_EFFECT = "no measurable effect"


def verdict(row) -> str:
    """A campaign's uplift in words: measurable only when its 95 % interval excludes zero (the mart's
    ``is_significant``; without a control group nothing is measurable)."""
    significant = row["is_significant"]
    if pd.isna(significant) or not bool(significant):
        return NO_EFFECT
    return "more orders than control" if row["uplift"] > 0 else "fewer orders than control"


def uplift_chart(frame, label: str, title: str) -> go.Figure:
    """Uplift with its 95 % interval as error bars; grey where the interval spans zero."""
    palette = {"more orders than control": "#2ca02c", "fewer orders than control": "#d62728"}
    colours = [palette.get(v, "#999999") for v in frame["effect"]]
    fig = go.Figure(go.Scatter(
        x=frame[label], y=frame["uplift"], mode="markers", marker={"size": 10, "color": colours},
        error_y={"type": "data", "array": frame["uplift_ci_high"] - frame["uplift"],
                 "arrayminus": frame["uplift"] - frame["uplift_ci_low"]},
        text=frame["effect"], hovertemplate="%{x}<br>uplift %{y:.1%}<br>%{text}<extra></extra>",
    ))  # fmt: skip
    fig.add_hline(y=0, line_dash="dot")
    fig.update_layout(title=title, xaxis_title=label.replace("_", " ").capitalize(),
                      yaxis_title="Uplift (treated − control)")  # fmt: skip
    fig.update_yaxes(tickformat=".0%")
    return fig


st.title("Promotion")
queries.notice_missing_sources("marketing/campaigns", "marketing/sends", fills="campaign effectiveness")
if queries.require(
    "marts.promotion__campaign_effectiveness", "marts.promotion__uplift_by_segment",
    "marts.promotion__discount_codes", "marts.fct_campaign_sends",
):  # fmt: skip
    f = filters.current()
    st.caption("The date range selects campaigns by their start.")
    filters.not_applying(
        "sales_channel",
        "country",
        why="a campaign's uplift counts every order within its attribution window.",
    )
    eff = queries.campaigns(f.start, f.end)
    if eff.empty:
        st.info("No campaign started in the date range: campaigns come from `data/landing/marketing/`.")
    else:
        eff["effect"] = eff.apply(verdict, axis=1)
        st.plotly_chart(
            uplift_chart(
                eff,
                "campaign_name",
                "Uplift per campaign with its 95 % interval (grey: " + NO_EFFECT + "; red: fewer orders)",
            ),
            width="stretch",
        )
        measurable = eff[eff["effect"] != NO_EFFECT]
        st.caption(
            f"{len(measurable)} of {len(eff)} campaigns had a measurable effect; the others' interval spans zero "
            "(too few sends or controls to tell)."
        )
        ui.table(
            eff[["campaign_id", "campaign_name", "channel", "started_at", "treated_sends", "control_sends",
                 "treated_conversion_rate", "control_conversion_rate", "uplift", "uplift_ci_low",
                 "uplift_ci_high", "effect", "incremental_revenue", "incremental_gross_margin", "cost", "roi",
                 "open_rate", "click_rate", "unsubscribes"]],
            "campaigns",
        )  # fmt: skip

        st.subheader("A campaign in detail")
        names = dict(zip(eff["campaign_id"], eff["campaign_name"], strict=True))
        campaign = st.selectbox("Campaign", list(names), format_func=names.get, key="promotion_campaign")
        by_segment = queries.uplift_by_segment(campaign, f.rfm_segment)
        if by_segment.empty:
            st.info("No sends of this campaign to the segment chosen.")
        else:
            by_segment["effect"] = by_segment.apply(verdict, axis=1)
            st.plotly_chart(
                uplift_chart(
                    by_segment, "rfm_segment", f"Uplift by RFM segment at send time: {names[campaign]}"
                ),
                width="stretch",
            )
            ui.table(by_segment, "uplift by segment")
        group = st.radio("Customers", ["treated", "control"], horizontal=True, key="promotion_group")
        ui.table(queries.campaign_customers(campaign, group), "campaign customers")

    st.subheader("Discount codes")
    ui.table(queries.discount_codes(), "discount codes", empty="No order used a discount code.")
