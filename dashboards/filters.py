"""The dashboard's global filters: date range, sales channel, country and RFM segment, in the sidebar.

``sidebar()`` draws them once, in the entry file, so they keep their values from page to page;
``current()`` returns the values now chosen, for any page (a page run on its own gets the defaults).
A page states which filters its figures cannot honour with ``not_applying``, never ignoring one silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import queries
import streamlit as st

ALL = "All"
KEYS = {"dates": "filter_dates", "sales_channel": "filter_sales_channel", "country": "filter_country",
        "rfm_segment": "filter_rfm_segment"}  # fmt: skip
LABELS = {"dates": "date range", "sales_channel": "sales channel", "country": "country",
          "rfm_segment": "RFM segment"}  # fmt: skip


@dataclass(frozen=True)
class Filters:
    """The chosen filter values; a dimension is None when all its values are chosen."""

    start: dt.date | None
    end: dt.date | None
    sales_channel: str | None
    country: str | None
    rfm_segment: str | None

    def cell(self) -> tuple[str, str, str]:
        """The (sales channel, country, segment) cell of ``marts.performance__kpis``: '(all)' for All."""
        return tuple(v or queries.ALL_CELL for v in (self.sales_channel, self.country, self.rfm_segment))

    def describe(self) -> str:
        """The filters in words, for captions."""
        parts = []
        if self.start and self.end:
            parts.append(f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}")
        for name in ("sales_channel", "country", "rfm_segment"):
            value = getattr(self, name)
            if value:
                parts.append(f"{LABELS[name]} {value}")
        return ", ".join(parts) or "no filter"


def _choice(value) -> str | None:
    return None if value in (None, ALL) else str(value)


def current() -> Filters:
    """The filter values now chosen in the sidebar (the whole date range and All until one is changed)."""
    first, last = queries.order_date_range()
    dates = st.session_state.get(KEYS["dates"]) or (first, last)
    start, end = (*tuple(dates), None, None)[:2]
    if start is not None and end is None:  # the date picker while only a start is picked
        end = last
    return Filters(
        start=start,
        end=end,
        sales_channel=_choice(st.session_state.get(KEYS["sales_channel"])),
        country=_choice(st.session_state.get(KEYS["country"])),
        rfm_segment=_choice(st.session_state.get(KEYS["rfm_segment"])),
    )


def sidebar() -> Filters:
    """Draw the global filters in the sidebar and return their values."""
    first, last = queries.order_date_range()
    options = queries.filter_options()
    with st.sidebar:
        st.header("Filters")
        if first is not None:
            st.date_input(
                "Date range", value=(first, last), min_value=first, max_value=last, key=KEYS["dates"],
                help="Order dates (cohort or campaign start dates on the pages that say so).",
            )  # fmt: skip
        for name, label in (("sales_channel", "Sales channel"), ("country", "Country"),
                            ("rfm_segment", "RFM segment")):  # fmt: skip
            st.selectbox(label, [ALL, *options.get(name, [])], key=KEYS[name])
        st.caption("Each page says which filters its figures cannot honour.")
    return current()


def not_applying(*names: str, why: str = "") -> None:
    """Caption that the filters ``names`` (dates, sales_channel, country, rfm_segment) do not apply to the
    figures below, when one of them is set."""
    chosen = current()
    set_names = [
        n for n in names
        if (n == "dates" and _dates_narrowed(chosen)) or (n != "dates" and getattr(chosen, n) is not None)
    ]  # fmt: skip
    if set_names:
        listed = ", ".join(LABELS[n] for n in set_names)
        st.caption(f"The {listed} filter does not apply here{': ' + why if why else '.'}")


def _dates_narrowed(chosen: Filters) -> bool:
    first, last = queries.order_date_range()
    return (chosen.start, chosen.end) != (first, last)
