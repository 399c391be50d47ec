"""Profiling: the RFM segments (size, revenue, profit, predicted value) and how customers move between
them from one month end to the next."""

import components as ui
import filters
import plotly.express as px
import queries
import streamlit as st


def segment_overview(seg, buyers, f: filters.Filters) -> None:
    """The segments' size, revenue, margin and predicted value, the most profitable named first."""
    top = buyers.sort_values("gross_margin", ascending=False).iloc[0] if not buyers.empty else None
    c = st.columns(3)
    c[0].metric("Segments", f"{len(buyers)}")
    if top is not None:
        c[1].metric("Most profitable segment", str(top["rfm_segment"]), help="by gross margin")
        c[2].metric("Its gross margin", ui.money(top["gross_margin"]))
    left, right = st.columns(2)
    fig = px.bar(
        buyers, x="rfm_segment", y=["revenue", "gross_margin", "clv_12m"], barmode="group",
        title="Revenue, gross margin and predicted 12-month value by segment",
        labels={"rfm_segment": "RFM segment", "value": "Amount", "variable": "Figure"},
    )  # fmt: skip
    left.plotly_chart(ui.money_axis(fig), width="stretch")
    fig = px.bar(
        seg, x="rfm_segment", y="customers", title="Customers by segment",
        labels={"rfm_segment": "RFM segment", "customers": "Customers"},
    )  # fmt: skip
    right.plotly_chart(fig, width="stretch")
    shown = seg if f.rfm_segment is None else seg[seg["rfm_segment"] == f.rfm_segment]
    ui.table(shown, "segments")


def segment_moves(f: filters.Filters) -> None:
    """How customers moved between segments at a month end in the date range, and who moved."""
    months = [m for m in queries.movement_months() if f.start is None or f.start <= m <= f.end]
    if not months:
        st.info("No month end in the date range: widen it (moves come from monthly RFM snapshots).")
        return
    month = st.selectbox("Month end", months, format_func=lambda m: f"{m:%Y-%m}", key="profiling_month")
    moves = queries.segment_movement(month)
    if f.rfm_segment:
        moves = moves[(moves["from_segment"] == f.rfm_segment) | (moves["to_segment"] == f.rfm_segment)]
    if moves.empty:
        st.info("No moves at this month end for the segment filter.")
        return
    fig = px.density_heatmap(
        moves, x="to_segment", y="from_segment", z="customers", histfunc="sum", text_auto=True,
        title=f"Customers moving between segments at the end of {month:%Y-%m}",
        labels={"to_segment": "Segment at the month end", "from_segment": "Segment a month before",
                "customers": "Customers"},
    )  # fmt: skip
    st.plotly_chart(fig, width="stretch")
    ui.table(moves, "segment moves")
    st.markdown("**Customers behind a move**")
    c1, c2 = st.columns(2)
    origin = c1.selectbox("From", sorted(moves["from_segment"].unique()), key="move_from")
    targets = sorted(moves.loc[moves["from_segment"] == origin, "to_segment"].unique())
    target = c2.selectbox("To", targets, key="move_to")
    ui.table(queries.segment_movers(month, origin, target), "customers behind the move")


def segment_members(buyers, f: filters.Filters) -> None:
    """The customers of the sidebar's segment, or of one picked here, in the country filter."""
    if f.rfm_segment:
        segment = f.rfm_segment
        st.caption(f"The segment chosen in the sidebar: {segment}.")
    else:
        segment = st.selectbox("Segment", buyers["rfm_segment"].tolist(), key="profiling_drill")
    ui.table(queries.segment_customers(segment, f.country), "customers in segment")


st.title("Profiling")
if queries.require("marts.profiling__segments", "marts.profiling__segment_movement", "marts.customer_360"):
    f = filters.current()
    filters.not_applying(
        "sales_channel",
        "country",
        why="segment figures are the customers' as of now (the list of a segment's customers honours the country).",
    )
    filters.not_applying("dates", why="the segment figures are as of now; the moves between segments use it.")
    seg = queries.segment_profile()
    if seg.empty:
        st.info("No segments yet: they come from orders in `data/landing/shop/orders/` (run `ecrm run`).")
    else:
        buyers = seg[seg["rfm_segment"] != "prospect"]
        ui.sections(__file__, {
            "Segments": lambda: segment_overview(seg, buyers, f),
            "Moves between segments": lambda: segment_moves(f),
            "Customers in a segment": lambda: segment_members(buyers, f),
        })  # fmt: skip
