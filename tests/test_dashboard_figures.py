"""The figures of the pages test_dashboard.py does not check (Customer lookup, Audiences, Data quality) equal
the warehouse they read, on the session's real pipeline run.

The reference is the published copy read directly (customer_360 and fct_orders worked through with pandas,
so the pages' query layer takes no part) and, for Data quality, the generator's own truth: its landing files
and its list of the bad rows it planted.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from test_dashboard import mart, metrics, open_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def published(dashboard_published):
    return dashboard_published


def _money(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f} EUR"


def _share(value: float) -> str:
    return f"{value:.0%}"


def _count(value) -> int:
    return 0 if pd.isna(value) else int(value)


# --- Customer lookup ------------------------------------------------------------------------------------


def test_customer_lookup_shows_the_customers_own_figures(published):
    c360 = mart(published, "select * from marts.customer_360")
    scored = c360[c360["clv_12m"].notna() & c360["is_identified"]]
    row = scored.sort_values(["orders", "customer_id"], ascending=[False, True]).iloc[0]
    orders = mart(published, "select * from marts.fct_orders where customer_id = ?", (row["customer_id"],))

    at = open_page("app_pages/customer_lookup.py")
    at.text_input[0].set_value(row["customer_id"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = metrics(at)

    # The profile figures are the customer's customer_360 row, and that row reconciles with fct_orders.
    assert shown["Orders"] == f"{int(row['orders']):,}" == f"{len(orders):,}"
    assert shown["Revenue"] == _money(row["revenue"], 2) == _money(orders["revenue"].sum(), 2)
    assert shown["Gross margin"] == _money(row["gross_margin"], 2)
    assert shown["Last order"] == str(pd.Timestamp(orders["ordered_at"].max()).date())
    assert shown["Web sessions"] == f"{_count(row['sessions']):,}"
    assert shown["Support tickets"] == f"{_count(row['tickets']):,}"
    assert shown["Churn band"] == str(row["churn_band"])
    assert shown["E-mail consent"] == (
        "yes" if pd.notna(row["email_opt_in"]) and bool(row["email_opt_in"]) else "no"
    )
    # The predictions tab: the model's figures as customer_360 carries them.
    assert shown["Predicted 12-month value"] == _money(row["clv_12m"], 2)
    assert shown["Probability alive"] == _share(row["probability_alive"])
    assert shown["Churn risk"] == _share(row["churn_risk"])
    assert shown["Expected orders, 90 days"] == f"{row['expected_purchases_90d']:.2f}"
    assert shown["Expected order value"] == _money(row["expected_order_value"], 2)
    assert shown["80 % range of 12-month value"] == (
        f"{_money(row['clv_12m_low'], 2)} – {_money(row['clv_12m_high'], 2)}"
    )


# --- Audiences ------------------------------------------------------------------------------------------


def _expected_audience(c360: pd.DataFrame, consent: str, contact: str, keep: pd.Series) -> dict:
    """The builder's four figures counted here: identified customers the filters keep, split by consent
    (no statement is no consent) and by whether the channel's address is known."""
    chosen = c360[c360["is_identified"].fillna(False) & keep]
    consented = chosen[consent].fillna(False).astype(bool)
    reachable = consented & chosen[contact].notna()
    return {
        "Customers in the audience": f"{int(reachable.sum()):,}",
        "Predicted 12-month value": _money(chosen.loc[reachable, "clv_12m"].fillna(0).sum(), 2),
        "Excluded: no consent": f"{int((~consented).sum()):,}",
        "Excluded: no address": f"{int((consented & chosen[contact].isna()).sum()):,}",
    }


def test_audience_figures_are_counted_from_customer_360(published):
    c360 = mart(published, "select * from marts.customer_360")
    at = open_page("app_pages/audiences.py")
    shown = metrics(at)
    everyone = pd.Series(True, index=c360.index)
    expected = _expected_audience(c360, "email_opt_in", "email", everyone)
    assert {k: shown[k] for k in expected} == expected
    assert expected["Customers in the audience"] != "0"
    size = int(expected["Customers in the audience"].replace(",", ""))
    assert f"of {size:,}," in " ".join(c.value for c in at.caption)

    # SMS to the high churn band: other consent, other address, fewer customers.
    at.selectbox(key="channel_(new audience)").set_value("sms")
    at.multiselect(key="churn_bands_(new audience)").set_value(["high"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = metrics(at)
    expected = _expected_audience(c360, "sms_opt_in", "phone_e164", c360["churn_band"].eq("high"))
    assert {k: shown[k] for k in expected} == expected


# --- Data quality ---------------------------------------------------------------------------------------


def _landing_files(landing: Path) -> list[Path]:
    """The data files of the landing folder (hidden folders such as the importers' are not data)."""
    return [
        p
        for p in landing.rglob("*.csv")
        if not any(part.startswith(".") for part in p.relative_to(landing).parts)
    ]


def test_data_quality_figures_are_the_generators_files_and_bad_rows(published, pipeline_run):
    files = _landing_files(pipeline_run.landing)
    rows = 0
    for path in files:
        with path.open(encoding="utf-8", newline="") as fh:
            rows += sum(1 for _ in csv.reader(fh)) - 1
    bad = pd.read_csv(pipeline_run.truth / "bad_rows.csv", dtype=str)
    rejected_files = bad.loc[bad["rule"].str.startswith("missing_column:"), "file"].nunique()
    reviews = next(iter((pipeline_run.landing / "shop" / "reviews").glob("*.csv")), None)

    at = open_page("app_pages/data_quality.py")
    shown = metrics(at)
    assert shown["Files"] == f"{len(files):,}"
    assert shown["Rows read"] == f"{rows:,}"
    # Every planted bad row is quarantined, row-level and file-level alike (a file missing a required
    # column is rejected whole, all its rows quarantined).
    assert shown["Rows quarantined"] == f"{len(bad):,}"
    assert shown["Files rejected"] == f"{rejected_files:,}"
    assert rejected_files > 0
    assert shown["Rows erased"] == "0"
    if reviews is None:
        assert shown["Reviews loaded"] == "0"
    # The per-rule table adds up to the same total, and names the generator's rules.
    by_rule = next(d.value for d in at.dataframe if "rules" in d.value.columns)
    assert by_rule["rows"].sum() == len(bad)
