"""Product: what sells together (association rules with product names, as a graph and a matrix, with
support, confidence and lift filters), bundles to offer, the wish-list ranking and first-product value."""

import components as ui
import filters
import plotly.express as px
import queries
import streamlit as st


def what_sells_together() -> None:
    """Association rules between products or categories above the chosen thresholds: graph, matrix, table."""
    level = st.radio("Rules between", ["product", "category"], horizontal=True, key="rules_level")
    c = st.columns(3)
    min_support = c[0].slider("Minimum support", 0.0, 0.2, 0.0, 0.001, format="%.3f", key="min_support")
    min_confidence = c[1].slider("Minimum confidence", 0.0, 1.0, 0.0, 0.05, key="min_confidence")
    min_lift = c[2].number_input("Minimum lift", min_value=0.0, value=1.0, step=0.5, key="min_lift")
    rules = queries.affinities(level, min_support, min_confidence, min_lift)
    if rules.empty:
        st.info(
            "No rule passes these thresholds (or the basket model found none: it needs orders with several "
            "products in `data/landing/shop/order_lines/`)."
        )
        return
    pairs = rules.head(40)
    left, right = st.columns(2)
    left.plotly_chart(ui.rule_graph(pairs, "Rules as a graph (top 40 by lift)"), width="stretch")
    matrix = pairs.pivot_table(
        index="antecedent_names", columns="consequent_names", values="lift", aggfunc="first"
    )
    fig = px.imshow(
        matrix, aspect="auto", color_continuous_scale="Oranges", title="Rules as a matrix (lift)",
        labels={"x": "Then also (consequent)", "y": "Who buys (antecedent)", "color": "Lift"},
    )  # fmt: skip
    right.plotly_chart(fig, width="stretch")
    ui.table(rules, "association rules")


def bundles_to_offer() -> None:
    """The bundles the basket model proposes."""
    ui.table(queries.bundle_offers(), "bundles", empty="No bundle: the basket model found no strong pair.")


def wishlist_ranking() -> None:
    """The most wanted products (wish lists, abandoned carts, searches, views), with the table."""
    wanted = queries.wishlist_ranking()
    if not wanted.empty:
        fig = px.bar(
            wanted.head(20), x="want_score", y="product_name", orientation="h", color="unmet_want",
            title="Most wanted products (wish lists, abandoned carts, searches, views)",
            labels={"want_score": "Want score", "product_name": "Product", "unmet_want": "Unmet want"},
        )  # fmt: skip
        fig.update_yaxes(autorange="reversed")
        st.plotly_chart(fig, width="stretch")
    ui.table(wanted, "wishlist ranking", empty="No web events: `data/landing/web/events/` fills the ranking.")


def value_by_first_purchase() -> None:
    """Revenue in the 12 months after the first order per customer, by first category or product."""
    first_level = st.radio("First purchase by", ["category", "product"], horizontal=True, key="first_level")
    first = queries.first_purchase_value(first_level)
    if not first.empty:
        fig = px.bar(
            first.head(20), x="first_purchase", y="revenue_12m_per_customer",
            title="Revenue in the 12 months after the first order, per customer",
            labels={"first_purchase": "First purchase", "revenue_12m_per_customer": "Revenue per customer"},
        )  # fmt: skip
        st.plotly_chart(ui.money_axis(fig, title=f"Revenue per customer ({ui.currency()})"), width="stretch")
    ui.table(first, "first purchase value")


st.title("Product")
queries.notice_missing_sources("shop/order_lines", fills="what sells together")
if queries.require(
    "marts.product__affinities", "marts.product__bundles", "marts.product__wishlist_ranking",
    "marts.product__first_purchase_ltv",
):  # fmt: skip
    filters.not_applying(
        "dates", "sales_channel", "country", "rfm_segment",
        why="the basket model and the rankings use every order loaded.",
    )  # fmt: skip
    ui.sections(__file__, {
        "What sells together": what_sells_together,
        "Bundles to offer": bundles_to_offer,
        "Wish-list ranking": wishlist_ranking,
        "Value by first purchase": value_by_first_purchase,
    })  # fmt: skip
