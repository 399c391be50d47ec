"""Value & churn: predicted value and probability alive with their spread, churn bands from low to high
risk, the valuable customers at risk with their next expected order and what to offer them, and the
models' holdout quality as plots."""

import components as ui
import filters
import pandas as pd
import plotly.express as px
import queries
import streamlit as st


def band_order(bands: pd.DataFrame) -> dict[str, list[str]]:
    """Plotly's category order for the churn bands: the marts' order, low to high risk."""
    return {"churn_band": list(bands["churn_band"])}


def churn_bands(bands: pd.DataFrame) -> None:
    """Buyers and predicted value per churn band, low risk first."""
    c = st.columns(len(bands))
    for col, band in zip(c, bands.itertuples(), strict=True):
        col.metric(f"{band.churn_band.capitalize()} risk", ui.number(band.customers),
                   f"{ui.money(band.clv_12m)} predicted", delta_color="off", delta_arrow="off")  # fmt: skip
    left, right = st.columns(2)
    order = band_order(bands)
    fig = px.bar(bands, x="churn_band", y="customers", title="Buyers by churn band (low to high risk)",
                 category_orders=order, labels={"churn_band": "Churn band", "customers": "Buyers"})  # fmt: skip
    left.plotly_chart(fig, width="stretch")
    fig = px.bar(bands, x="churn_band", y="clv_12m", title="Predicted 12-month value by churn band",
                 category_orders=order, labels={"churn_band": "Churn band"})  # fmt: skip
    right.plotly_chart(ui.money_axis(fig, title=f"Predicted 12-month CLV ({ui.currency()})"), width="stretch")
    ui.table(bands, "churn bands")


def value_spread(bands: pd.DataFrame, f: filters.Filters) -> None:
    """How the predicted 12-month CLV and the probability alive spread, per churn band."""
    clv = queries.value_distribution("clv_12m", f.country, f.rfm_segment)
    alive = queries.value_distribution("probability_alive", f.country, f.rfm_segment)
    if clv.empty:
        st.info("No buyer is scored yet: the models need enough repeat buyers (see the models' quality).")
        return
    money = ui.currency()
    clv["range"] = [
        f"{low:,.0f}+ {money}" if pd.isna(high) else f"{low:,.0f}–{high:,.0f} {money}"
        for low, high in zip(clv["bin_low"], clv["bin_high"], strict=True)
    ]
    alive["range"] = [
        f"{low:.2f}–{high:.2f}" for low, high in zip(alive["bin_low"], alive["bin_high"], strict=True)
    ]
    left, right = st.columns(2)
    order = band_order(bands)
    fig = px.bar(
        clv, x="range", y="customers", color="churn_band", category_orders=order,
        title="Spread of the predicted 12-month CLV, by churn band",
        labels={"range": f"Predicted 12-month CLV ({money})", "customers": "Buyers", "churn_band": "Churn band"},
    )  # fmt: skip
    left.plotly_chart(fig, width="stretch")
    fig = px.bar(
        alive, x="bin_low", y="customers", color="churn_band", category_orders=order,
        hover_data=["range"], title="Spread of the probability alive, by churn band",
        labels={"bin_low": "Probability alive (bins of 0.05)", "customers": "Buyers", "churn_band": "Churn band"},
    )  # fmt: skip
    right.plotly_chart(fig, width="stretch")


def customers_at_risk(f: filters.Filters) -> None:
    """The scored customers of one churn band, most valuable first, with what to offer them."""
    band = st.selectbox("Churn band", ["high", "medium", "low"], key="risk_band")
    at_risk = queries.customers_at_risk(f.country, f.rfm_segment, band)
    st.caption("Most valuable first, with the products the recommender suggests offering them.")
    ui.table(at_risk, "customers at risk", empty="No scored customer in this band for the filters.")


def on_bands(f: filters.Filters, section) -> None:
    """``section`` drawn on the churn bands of the filters' buyers, or a notice if there is none."""
    bands = queries.churn_bands(f.country, f.rfm_segment)
    if bands.empty:
        st.info("No buyers for the filters: predictions come from orders in `data/landing/shop/orders/`.")
        return
    section(bands)


def model_quality() -> None:
    """The models' holdout: predicted against actual purchases, and the churn models' calibration."""
    st.caption("Measured on a holdout: the last months of history, hidden from the models while they fit.")
    holdout = queries.holdout_by_frequency()
    calibration = queries.calibration()
    if holdout.empty and calibration.empty:
        st.info("The models were not validated: the history is too short (see `ecrm run`'s eligibility).")
    left, right = st.columns(2)
    if not holdout.empty:
        long = holdout.melt(id_vars="frequency_cal", value_vars=["mean_predicted_purchases", "mean_actual_purchases"],
                            var_name="figure", value_name="purchases")  # fmt: skip
        fig = px.bar(long, x="frequency_cal", y="purchases", color="figure", barmode="group",
                     title="Purchases in the holdout: predicted against actual, by earlier purchases",
                     labels={"frequency_cal": "Repeat purchases before the holdout",
                             "purchases": "Mean purchases per customer"})  # fmt: skip
        left.plotly_chart(fig, width="stretch")
    if not calibration.empty:
        fig = px.line(calibration, x="mean_predicted", y="observed_rate", color="model", markers=True,
                      title="Calibration of the churn models (deciles)",
                      labels={"mean_predicted": "Predicted probability", "observed_rate": "Observed rate"})  # fmt: skip
        fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot"})
        right.plotly_chart(fig, width="stretch")
    with st.expander("All holdout metrics"):
        ui.table(queries.model_quality(), "model quality")


st.title("Value & churn")
queries.notice_missing_sources("shop/orders", fills="every prediction")
if queries.require(
    "marts.profiling__churn_bands",
    "marts.profiling__value_distribution",
    "marts.customer_360",
    "ml.model_quality",
):
    f = filters.current()
    filters.not_applying(
        "dates", "sales_channel", why="predictions are per customer, as of the last order loaded."
    )
    ui.sections(__file__, {
        "Churn bands": lambda: on_bands(f, churn_bands),
        "Spread of value": lambda: on_bands(f, lambda bands: value_spread(bands, f)),
        "Valuable customers at risk": lambda: customers_at_risk(f),
        "How good the models are": model_quality,
    })  # fmt: skip
