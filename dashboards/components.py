"""Building blocks the pages share: a table with its CSV download, a notice for an empty result, and the
number formats of metrics and chart axes."""

from __future__ import annotations

import math

import audit
import pandas as pd
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
