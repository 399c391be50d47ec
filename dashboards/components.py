"""Building blocks the pages share: a table with its CSV download, a notice for an empty result, the
number formats of metrics and chart axes, a page's sections, and the charts no Plotly Express function
draws."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import audit
import pandas as pd
import plotly.graph_objects as go
import privacy
import queries
import streamlit as st


def currency() -> str:
    """The shop's currency code, as on its orders (``EUR`` before any order is loaded)."""
    if queries.connection() is None or not queries.has_table("marts", "fct_orders"):
        return "EUR"
    frame = queries.query("select min(currency) as currency from marts.fct_orders")
    value = frame["currency"].iloc[0] if not frame.empty else None
    return value if isinstance(value, str) and value else "EUR"


SHOWN_ROWS = 1000


def table(frame: pd.DataFrame, name: str, *, empty: str | None = None, height: int | None = None) -> None:
    """Show ``frame`` (contact columns masked unless the role is analyst) with a CSV download of all its
    rows; a long list shows its first ``SHOWN_ROWS`` rows. ``empty`` is the notice for a frame without rows
    (naming what would fill it). The CSV is built only when the button is pressed; a download of a table
    that lists customers (a ``customer_id`` column) is appended to the access log then, with their ids."""
    if frame is None or frame.empty:
        st.info(empty or "Nothing matches the filters.")
        return
    shown = privacy.mask_contacts(frame)
    kwargs = {"height": height} if height else {}
    st.dataframe(shown.head(SHOWN_ROWS), hide_index=True, width="stretch", **kwargs)
    if len(shown) > SHOWN_ROWS:
        st.caption(f"The first {SHOWN_ROWS:,} of {len(shown):,} rows; the CSV holds them all.")

    def download() -> bytes:
        if "customer_id" in shown.columns:
            audit.record(
                "download",
                searched=name,
                customer_ids=shown["customer_id"].dropna().astype(str).tolist(),
                details={"table": name},
            )
        return shown.to_csv(index=False).encode()

    st.download_button(
        f"Download {name} (CSV)",
        download,
        file_name=f"{name.replace(' ', '_')}.csv",
        mime="text/csv",
        key=f"download_{name}",
        on_click="ignore",
    )


def section_key(page_file: str) -> str:
    """The widget key of a page's sections: ``<page file's stem>_section`` (``profiling_section`` for
    ``app_pages/profiling.py``). Its value is the open section's label, so a test or a link can open one."""
    return f"{Path(page_file).stem}_section"


def sections(page_file: str, parts: dict[str, Callable[[], None]]) -> None:
    """The page's sections as tabs, labelled by ``parts``' keys, running only the open one's function.

    Every Plotly chart costs the browser a few tenths of a second to draw, so opening a page or changing a
    filter draws one section, not all of them (benchmarks/README.md). A tab created with
    ``on_change="rerun"`` knows whether it is open; the others' functions are not called at all.
    """
    tabs = st.tabs(list(parts), key=section_key(page_file), on_change="rerun")
    for tab, draw in zip(tabs, parts.values(), strict=True):
        if tab.open:
            with tab:
                draw()


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def number(value, digits: int = 0) -> str:
    """``12,345`` (or ``—`` when unknown)."""
    return "—" if _missing(value) else f"{value:,.{digits}f}"


def money(value, digits: int = 0) -> str:
    """``12,345 EUR`` (or ``—`` when unknown)."""
    return "—" if _missing(value) else f"{value:,.{digits}f} {currency()}"


def share(value, digits: int = 1) -> str:
    """``12.3%`` (or ``—`` when unknown)."""
    return "—" if _missing(value) else f"{value:.{digits}%}"


def relative_change(value) -> str | None:
    """A relative change as a metric delta (``+4.2%``), None when there is no previous figure."""
    return None if _missing(value) else f"{value:+.1%}"


def point_change(value) -> str | None:
    """A change of a rate in percentage points (``+1.3 pp``), None without a previous figure."""
    return None if _missing(value) else f"{100 * value:+.1f} pp"


def money_axis(figure, axis: str = "y", title: str | None = None):
    """Label a chart's axis as an amount in the shop's currency; returns the figure."""
    update = {"title_text": title or f"Amount ({currency()})", "tickformat": ",.0f"}
    (figure.update_yaxes if axis == "y" else figure.update_xaxes)(**update)
    return figure


def rule_graph(rules, title: str) -> go.Figure:
    """Items as points on a circle, a line from each rule's left side to its right side (wider = more lift).

    Rules are drawn as one line trace per width step (1 to 6 px, rounded from ``1 + 5 * lift / top lift``),
    each holding its rules' segments separated by gaps, so the browser draws a handful of traces however
    many rules are shown; hovering a line's end names its rule.
    """
    items = sorted(set(rules["antecedent_names"]) | set(rules["consequent_names"]))
    where = {
        item: (math.cos(2 * math.pi * i / len(items)), math.sin(2 * math.pi * i / len(items)))
        for i, item in enumerate(items)
    }
    fig = go.Figure()
    top_lift = float(rules["lift"].max())
    by_width: dict[int, tuple[list, list, list]] = {}
    for rule in rules.itertuples():
        (x0, y0), (x1, y1) = where[rule.antecedent_names], where[rule.consequent_names]
        xs, ys, texts = by_width.setdefault(round(1 + 5 * rule.lift / top_lift), ([], [], []))
        label = (
            f"{rule.antecedent_names} → {rule.consequent_names}: lift {rule.lift:.1f}, "
            f"confidence {rule.confidence:.0%}"
        )
        xs += [x0, x1, None]
        ys += [y0, y1, None]
        texts += [label, label, None]
    for width, (xs, ys, texts) in sorted(by_width.items()):
        fig.add_trace(go.Scatter(
            x=xs, y=ys, text=texts, mode="lines", hoverinfo="text", showlegend=False,
            line={"width": width, "color": "rgba(31, 119, 180, 0.5)"},
        ))  # fmt: skip
    fig.add_trace(go.Scatter(
        x=[where[i][0] for i in items], y=[where[i][1] for i in items], mode="markers+text", text=items,
        textposition="top center", marker={"size": 10}, showlegend=False, hoverinfo="text",
    ))  # fmt: skip
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=600)
    return fig
