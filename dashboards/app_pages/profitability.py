"""Profitability: the Pareto curve of profit, profit deciles, the loss-making customers, and acquisition
channels with their CAC, LTV:CAC and payback."""

import components as ui
import filters
import plotly.express as px
import queries
import streamlit as st


def profit_concentration() -> None:
    """The top tenth's share of profit, the loss-makers, the Pareto curve and the profit deciles."""
    curve = queries.pareto()
    if curve.empty:
        st.info("No customer profit yet: it comes from orders in `data/landing/shop/orders/`.")
        return
    top10 = curve[curve["percentile"] == 10]
    c = st.columns(3)
    if not top10.empty:
        c[0].metric(
            "Profit share of the top 10 % of customers", ui.share(top10["cumulative_share_of_profit"].iloc[0])
        )
    losses = queries.loss_summary()
    c[1].metric("Loss-making customers", ui.number(losses["loss_making_customers"]))
    c[2].metric("What they cost", ui.money(-losses["loss"]))
    left, right = st.columns(2)
    fig = px.line(
        curve, x="cumulative_share_of_customers", y="cumulative_share_of_profit",
        title="Pareto curve: share of net profit by share of customers (most profitable first)",
        labels={"cumulative_share_of_customers": "Share of customers",
                "cumulative_share_of_profit": "Share of net profit"},
    )  # fmt: skip
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(tickformat=".0%")
    left.plotly_chart(fig, width="stretch")
    columns = [
        "percentile",
        "cumulative_share_of_customers",
        "cumulative_net_profit",
        "cumulative_share_of_profit",
    ]
    deciles = curve[curve["percentile"] % 10 == 0][columns].rename(columns={"percentile": "up_to_percentile"})
    fig = px.bar(
        deciles, x="up_to_percentile", y="cumulative_net_profit",
        title="Cumulative net profit by decile of customers",
        labels={"up_to_percentile": "Top percent of customers", "cumulative_net_profit": "Net profit"},
    )  # fmt: skip
    right.plotly_chart(ui.money_axis(fig, title=f"Cumulative net profit ({ui.currency()})"), width="stretch")
    ui.table(deciles, "profit deciles")


def profit_customers(f: filters.Filters) -> None:
    """The customers of one profit decile, and the loss-making ones, in the country and segment filters."""
    st.caption("These lists honour the country and segment filters.")
    st.subheader("Customers of a profit decile")
    decile = st.selectbox(
        "Profit decile (1 = the most profitable tenth)", list(range(1, 11)), key="profit_decile"
    )
    ui.table(queries.profit_customers(f.country, f.rfm_segment, decile=decile), "customers in decile")
    st.subheader("Loss-making customers")
    ui.table(
        queries.profit_customers(f.country, f.rfm_segment, loss_only=True),
        "loss-making customers", empty="No loss-making customer for the filters.",
    )  # fmt: skip


def acquisition_channels(f: filters.Filters) -> None:
    """Per cohort and acquisition channel: the 12-month margin per customer against the CAC."""
    st.caption("The date range selects the cohorts by the month of their first order.")
    channels = queries.acquisition_channels(f.start, f.end)
    if channels.empty:
        st.info(
            "No acquisition cohort in the date range: they come from orders and `data/landing/marketing/`."
        )
        return
    known = channels.dropna(subset=["ltv_to_cac"]).assign(
        cohort=lambda d: d["cohort_month"].dt.strftime("%Y-%m"),
        payback_months=lambda d: d["payback_months"].astype("float"),
    )
    if known.empty:
        st.info(
            "No channel has an acquisition cost: campaign costs come from `data/landing/marketing/campaigns/`."
        )
    else:
        fig = px.scatter(
            known, x="cac", y="margin_12m_per_customer", color="acquisition_channel", size="new_customers",
            hover_data=["cohort", "ltv_to_cac", "payback_months"],
            title="12-month margin per customer against acquisition cost, per cohort and channel",
            labels={"cac": f"CAC ({ui.currency()})",
                    "margin_12m_per_customer": f"12-month margin per customer ({ui.currency()})"},
        )  # fmt: skip
        st.plotly_chart(fig, width="stretch")
    ui.table(channels, "acquisition channels")


st.title("Profitability")
if queries.require(
    "marts.profitability__pareto",
    "marts.profitability__customers",
    "marts.profitability__acquisition_channels",
):
    f = filters.current()
    filters.not_applying(
        "dates", "sales_channel", "country", "rfm_segment",
        why="the Pareto curve and deciles rank every customer's profit to date (the lists of customers "
        "honour country and segment, the acquisition channels the date range).",
    )  # fmt: skip
    ui.sections(__file__, {
        "Profit concentration": profit_concentration,
        "Customers by profit": lambda: profit_customers(f),
        "Acquisition channels": lambda: acquisition_channels(f),
    })  # fmt: skip
