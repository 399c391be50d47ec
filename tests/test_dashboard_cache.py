"""The dashboard's query layer never serves data from before the latest publish, without a browser.

Streamlit's caches work outside a running app (in memory), so the query layer is called directly: an
audience is read, a warehouse in which one customer has since unsubscribed from e-mail is published over the
copy, and the same call must return the new audience, as must the CSV the page's download button builds.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_consent import EMAIL_AUDIENCE, SMS_AUDIENCE, ConsentWarehouse, consent_warehouse, customer_ids

from orchestration.warehouse import publish

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> ConsentWarehouse:
    return consent_warehouse(tmp_path_factory)


@pytest.fixture(scope="module")
def customer_of(warehouse) -> dict[str, str]:
    return customer_ids(warehouse)


@pytest.fixture
def published(warehouse, tmp_path) -> Path:
    """A fresh published copy of the consent warehouse."""
    return publish(warehouse.path, tmp_path / "published" / "ecrm_published.duckdb")


@pytest.fixture
def queries(published, monkeypatch):
    """The dashboard's query layer on the published copy, its caches empty."""
    import streamlit as st

    monkeypatch.setenv("ECRM_PUBLISHED", str(published))
    # `streamlit run dashboards/app.py` puts dashboards/ on the path for the pages' `import queries`.
    monkeypatch.syspath_prepend(str(DASHBOARDS))
    import queries

    st.cache_data.clear()
    st.cache_resource.clear()
    yield queries
    st.cache_data.clear()
    st.cache_resource.clear()


def _republish_with_unsubscribe(warehouse: ConsentWarehouse, published: Path, customer_id: str) -> None:
    """Publish over ``published`` the warehouse as a rebuild after the customer's e-mail unsubscribe."""
    changed = published.parent.parent / "rebuilt" / "ecrm.duckdb"
    changed.parent.mkdir()
    shutil.copyfile(warehouse.path, changed)
    with duckdb.connect(str(changed)) as con:
        con.execute("update marts.customer_360 set email_opt_in = false where customer_id = ?", [customer_id])
    publish(changed, published)


def _ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["customer_id"])


def test_audience_follows_a_republished_copy(queries, published, warehouse, customer_of):
    before = _ids(queries.audience("email", (), 0.0))
    _republish_with_unsubscribe(warehouse, published, customer_of["both_yes"])
    after = _ids(queries.audience("email", (), 0.0))
    assert after == before - {customer_of["both_yes"]}
    assert before == {customer_of[label] for label in EMAIL_AUDIENCE}
    # The other channel is untouched by an e-mail unsubscribe.
    assert _ids(queries.audience("sms", (), 0.0)) == {customer_of[label] for label in SMS_AUDIENCE}


def test_downloaded_csv_is_built_from_the_copy_published_at_download(
    queries, published, warehouse, customer_of
):
    before = pd.read_csv(io.BytesIO(queries.audience_csv("email", (), 0.0)), dtype=str)
    assert customer_of["both_yes"] in set(before["customer_id"])
    _republish_with_unsubscribe(warehouse, published, customer_of["both_yes"])
    after = pd.read_csv(io.BytesIO(queries.audience_csv("email", (), 0.0)), dtype=str)
    assert set(after["customer_id"]) == set(before["customer_id"]) - {customer_of["both_yes"]}


def test_every_cached_query_follows_a_republished_copy(queries, published, warehouse, customer_of):
    sql = "select count(*) as n from marts.customer_360 where email_opt_in"
    before = int(queries.query(sql)["n"].iloc[0])
    assert before == len(EMAIL_AUDIENCE) + 2  # plus the two consenting people without a real address
    _republish_with_unsubscribe(warehouse, published, customer_of["both_yes"])
    assert int(queries.query(sql)["n"].iloc[0]) == before - 1


def test_connection_is_reopened_only_when_the_copy_is_replaced(queries, published, warehouse, customer_of):
    first = queries.connection()
    assert queries.connection() is first  # unchanged copy: one connection, no reopening per call
    _republish_with_unsubscribe(warehouse, published, customer_of["both_yes"])
    second = queries.connection()
    assert second is not first
    # The old connection is closed: DuckDB would otherwise hand the replaced file's data to new connections.
    with pytest.raises(duckdb.ConnectionException):
        first.execute("select 1")
    opted_in = second.execute(
        "select email_opt_in from marts.customer_360 where customer_id = ?", [customer_of["both_yes"]]
    ).fetchone()[0]
    assert opted_in is False


def test_results_stay_cached_while_the_copy_is_unchanged(
    queries, published, warehouse, customer_of, monkeypatch
):
    import orchestration.analytics.audiences as audiences

    calls = []
    real = audiences.build_audience

    def counting(*args, **kwargs):
        calls.append(kwargs.get("channel"))
        return real(*args, **kwargs)

    monkeypatch.setattr(audiences, "build_audience", counting)
    queries.audience("email", (), 0.0)
    queries.audience("email", (), 0.0)
    assert calls == ["email"]
    _republish_with_unsubscribe(warehouse, published, customer_of["both_yes"])
    queries.audience("email", (), 0.0)
    assert calls == ["email", "email"]


def test_nothing_published_yet(queries, tmp_path, monkeypatch):
    monkeypatch.setenv("ECRM_PUBLISHED", str(tmp_path / "nowhere" / "ecrm_published.duckdb"))
    assert queries.connection() is None
    assert queries.audience("email", (), 0.0).empty
    assert queries.query("select 1 as n").empty
