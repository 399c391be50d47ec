"""The per-customer features defined once in dbt, against pandas recomputations from the fact tables.

``marts.customer_churn_features`` is what the churn classifier reads (no feature SQL in the Dagster asset), and
``marts.product__customer_categories`` is where the favourite category of ``customer_360`` and of the
recommendations' fill-up comes from. Each expected value is computed here from the ``fct_*`` marts.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.assets.analytics import _churn_features


def _utc_naive(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


@pytest.fixture(scope="module")
def facts(pipeline_run):
    with duckdb.connect(str(pipeline_run.published), read_only=True) as con:

        def read(sql: str) -> pd.DataFrame:
            return _utc_naive(con.execute(sql).fetch_df())

        yield {
            "orders": read("select customer_id, order_id, ordered_at from marts.fct_orders"),
            "sessions": read(
                "select customer_id, started_at from marts.fct_sessions where customer_id is not null"
            ),
            "tickets": read(
                "select customer_id, opened_at, satisfaction_score from marts.fct_support_tickets"
            ),
            "reviews": read("select customer_id, created_at, score from marts.fct_reviews"),
            "sends": read(
                "select customer_id, campaign_id, sent_at, opened_at, unsubscribed_at "
                "from marts.fct_campaign_sends where not is_control"
            ),
            "lines": read(
                "select customer_id, order_id, category, quantity, revenue from marts.fct_order_lines"
            ),
            "features": read("select * from marts.customer_churn_features"),
            "categories": read("select * from marts.product__customer_categories"),
            "favourite": read("select customer_id, favourite_category from marts.customer_360"),
            "asset_features": _churn_features(con),
        }


def _expected_features(facts: dict, day: pd.Timestamp) -> pd.DataFrame:
    """The features at the end of ``day``, written out with pandas."""
    past = day + pd.Timedelta(days=1)
    buyers = pd.Index(
        sorted(facts["orders"].loc[facts["orders"]["ordered_at"] < past, "customer_id"].unique())
    )
    sessions = facts["sessions"]
    recent = sessions[
        (sessions["started_at"] < past) & (sessions["started_at"] >= past - pd.Timedelta(days=90))
    ]
    tickets = facts["tickets"][facts["tickets"]["opened_at"] < past]
    reviews = facts["reviews"][facts["reviews"]["created_at"] < past]
    sends = facts["sends"][facts["sends"]["sent_at"] < past]
    sends = sends.assign(
        opened=(sends["opened_at"] < past).astype(float), unsub=(sends["unsubscribed_at"] < past).astype(int)
    )
    frame = pd.DataFrame(index=buyers)
    frame["sessions_90d"] = recent.groupby("customer_id").size().reindex(buyers).fillna(0)
    frame["tickets"] = tickets.groupby("customer_id").size().reindex(buyers).fillna(0)
    frame["mean_satisfaction"] = tickets.groupby("customer_id")["satisfaction_score"].mean().reindex(buyers)
    frame["campaigns_received"] = (
        sends.groupby("customer_id")["campaign_id"].nunique().reindex(buyers).fillna(0)
    )
    frame["open_rate"] = sends.groupby("customer_id")["opened"].mean().reindex(buyers)
    frame["unsubscribed"] = sends.groupby("customer_id")["unsub"].max().reindex(buyers).fillna(0)
    frame["mean_review_score"] = reviews.groupby("customer_id")["score"].mean().reindex(buyers)
    return frame


def test_cutoffs_are_the_last_order_day_and_one_and_two_horizons_before(facts):
    last_day = facts["orders"]["ordered_at"].max().floor("D")
    days = facts["features"].groupby("cutoff_role")["as_of_date"].agg(["min", "max"])
    assert (days["min"] == days["max"]).all()
    got = {role: pd.Timestamp(day) for role, day in days["min"].items()}
    assert got == {
        "score": last_day,
        "evaluate": last_day - pd.Timedelta(days=90),
        "train": last_day - pd.Timedelta(days=180),
    }


@pytest.mark.parametrize("role", ["score", "evaluate", "train"])
def test_churn_features_equal_a_pandas_recomputation(facts, role):
    rows = facts["features"][facts["features"]["cutoff_role"] == role].set_index("customer_id").sort_index()
    day = pd.Timestamp(rows["as_of_date"].iloc[0])
    expected = _expected_features(facts, day)
    assert list(rows.index) == list(expected.index), "customers at the cutoff are those who had ordered by it"
    assert rows["sessions_90d"].sum() > 0, "features must not be empty"
    assert rows["campaigns_received"].sum() > 0, "features must not be empty"
    for column in expected.columns:
        np.testing.assert_allclose(
            rows[column].astype(float).to_numpy(), expected[column].astype(float).to_numpy(), rtol=1e-9,
            err_msg=f"{role}: {column}",
        )  # fmt: skip


def test_the_customer_models_asset_reads_the_dbt_features_unchanged(facts):
    frame, horizon = facts["asset_features"]
    assert horizon == 90
    mart = facts["features"]
    assert len(frame) == len(mart)
    assert set(frame.columns) == set(mart.columns) - {"cutoff_role", "as_of_date"} | {"as_of"}
    assert sorted(frame["as_of"].dt.floor("D").unique()) == sorted(
        pd.to_datetime(mart["as_of_date"]).unique()
    )


def test_customer_categories_reconcile_with_the_lines_and_rank_by_revenue(facts):
    lines = facts["lines"].dropna(subset=["category"])
    expected = lines.groupby(["customer_id", "category"]).agg(
        orders=("order_id", "nunique"), units=("quantity", "sum"), revenue=("revenue", "sum")
    )
    got = facts["categories"].set_index(["customer_id", "category"]).sort_index()
    assert got.index.equals(expected.sort_index().index)
    np.testing.assert_array_equal(got["orders"], expected.sort_index()["orders"])
    np.testing.assert_array_equal(got["units"], expected.sort_index()["units"])
    np.testing.assert_allclose(got["revenue"], expected.sort_index()["revenue"], rtol=1e-9)
    # Favourite: the most revenue, ties broken by the category's name.
    ranked = expected.reset_index().sort_values(
        ["customer_id", "revenue", "category"], ascending=[True, False, True]
    )
    favourite = ranked.groupby("customer_id")["category"].first()
    top = facts["categories"].query("category_rank == 1").set_index("customer_id")["category"]
    assert top.sort_index().equals(favourite.sort_index().rename("category"))


def test_customer_360_favourite_category_is_the_categories_mart_rank_one(facts):
    top = facts["categories"].query("category_rank == 1").set_index("customer_id")["category"]
    shown = facts["favourite"].set_index("customer_id")["favourite_category"]
    assert shown.dropna().sort_index().equals(top.sort_index().rename("favourite_category"))
    assert shown.isna().sum() == len(shown) - len(top)


def test_the_churn_classifier_is_trained_on_the_dbt_features(pipeline_run):
    # The demo exports no reviews: an empty feature must not make the classifier fall back to BG/NBD silently.
    with duckdb.connect(str(pipeline_run.published), read_only=True) as con:
        models = {m for (m,) in con.execute("select distinct model from ml.model_quality").fetchall()}
        empty_reviews = con.execute(
            "select count(mean_review_score) from marts.customer_churn_features"
        ).fetchone()
    assert empty_reviews == (0,)
    assert "churn_classifier" in models
