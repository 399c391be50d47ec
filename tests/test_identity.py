"""Identity resolution scored against the demo generator's truth, by pairs of source records.

A pair is two source records (CRM id, shop account, guest e-mail, browser) of ``truth/identity.csv``.
Precision is measured over every pair the warehouse puts in one customer, recall over every pair of records
of the same person in the truth. The generator makes every browser cookie identify its person at least once
(a login or a purchase), as it must for the truth to be recoverable at all; recall over the pairs the files
can link (two records of one person connected through evidence: a shared e-mail or phone, an account's
checkout e-mail, a browser's login or purchase) is reported beside it as the resolver's own ceiling.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pipeline_fixtures import Pipeline, built_pipeline, query
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

PREFIX = {"crm": "crm:", "shop": "shop:", "shop_guest": "email:", "web": "web:"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return built_pipeline(tmp_path_factory)


@pytest.fixture(scope="module")
def scored(pipeline: Pipeline) -> pd.DataFrame:
    """Truth records with their predicted customer and their evidence component within the person."""
    truth = pd.read_csv(pipeline.truth / "identity.csv", dtype=str)
    predicted = query(pipeline, "select source, source_id, customer_id from marts.customer_identity_map")
    scored = truth.merge(predicted, on=["source", "source_id"], how="left")
    assert scored["customer_id"].notna().all(), "every truth record must be in the identity map"
    scored["node"] = scored["source"].map(PREFIX) + scored["source_id"]
    scored["evidence_component"] = _evidence_components(pipeline, scored)
    return scored


def _read(pipeline: Pipeline, source: str, entity: str, columns: list[str]) -> pd.DataFrame:
    files = sorted((pipeline.landing / source / entity).glob("*.csv"))
    return pd.concat([pd.read_csv(f, dtype=str, usecols=columns) for f in files], ignore_index=True)


def _email(values: pd.Series) -> pd.Series:
    return values.str.strip().str.lower()


def _phone(values: pd.Series) -> pd.Series:
    # Within one person every phone style ends in the same subscriber digits.
    return values.map(lambda v: re.sub(r"\D", "", v)[-7:] if isinstance(v, str) else None)


def _evidence_components(pipeline: Pipeline, scored: pd.DataFrame) -> np.ndarray:
    """Component of each truth record in the graph of evidence links between records of the *same* person.

    Built from the landing files with pandas, independently of the warehouse: identifiers are keyed by
    person, so shared family or placeholder addresses never connect different people here.
    """
    person = dict(zip(scored["node"], scored["person_id"], strict=True))
    links: list[tuple[str, str]] = []

    crm = _read(pipeline, "crm", "customers", ["crm_customer_id", "email", "phone"])
    shop = _read(pipeline, "shop", "customers", ["shop_customer_id", "email", "phone"])
    orders = _read(pipeline, "shop", "orders", ["order_id", "shop_customer_id", "email"])
    for frame, key in ((crm, "crm_customer_id"), (shop, "shop_customer_id")):
        node = (PREFIX["crm"] if key.startswith("crm") else PREFIX["shop"]) + frame[key]
        links += list(zip(node, "e:" + _email(frame["email"]), strict=True))
        links += list(zip(node, "p:" + _phone(frame["phone"]).fillna(""), strict=True))
    account = orders.dropna(subset=["shop_customer_id"])
    links += list(zip("shop:" + account["shop_customer_id"], "e:" + _email(account["email"]), strict=True))
    guest = orders[orders["shop_customer_id"].isna()]
    links += list(zip("email:" + _email(guest["email"]), "e:" + _email(guest["email"]), strict=True))

    sessions = _read(pipeline, "web", "sessions", ["anonymous_id", "user_id"]).dropna()
    links += list(zip("web:" + sessions["anonymous_id"], "shop:" + sessions["user_id"], strict=True))
    events = _read(pipeline, "web", "events", ["anonymous_id", "user_id", "event_type", "order_id"])
    logged = events.dropna(subset=["user_id"])
    links += list(zip("web:" + logged["anonymous_id"], "shop:" + logged["user_id"], strict=True))
    bought = events[events["event_type"] == "purchase"].merge(orders, on="order_id", suffixes=("", "_order"))
    target = np.where(
        bought["shop_customer_id"].notna(),
        "shop:" + bought["shop_customer_id"].fillna(""),
        "email:" + _email(bought["email"]).fillna(""),
    )
    links += list(zip("web:" + bought["anonymous_id"], target, strict=True))

    edges = pd.DataFrame(links, columns=["a", "b"]).dropna()
    edges = edges[~edges["b"].isin(["e:", "p:"])]
    edges["person"] = edges["a"].map(person)
    # Identifier nodes are per person; record-to-record links count only within one person.
    is_record = edges["b"].map(person).notna()
    edges = edges[edges["person"].notna() & (~is_record | (edges["b"].map(person) == edges["person"]))]
    edges.loc[~is_record, "b"] = edges.loc[~is_record, "b"] + "|" + edges.loc[~is_record, "person"]

    nodes = pd.Index(pd.concat([scored["node"], edges["a"], edges["b"]]).unique())
    a, b = nodes.get_indexer(edges["a"]), nodes.get_indexer(edges["b"])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    return labels[nodes.get_indexer(scored["node"])]


def _pairs(frame: pd.DataFrame, keys: list[str]) -> int:
    sizes = frame.groupby(keys).size()
    return int((sizes * (sizes - 1) // 2).sum())


def test_precision_over_all_pairs(scored: pd.DataFrame) -> None:
    together = _pairs(scored, ["customer_id"])
    correct = _pairs(scored, ["customer_id", "person_id"])
    precision = correct / together
    print(f"precision {precision:.5f} ({correct} of {together} predicted pairs)")
    assert precision >= 0.995


def test_recall_over_all_truth_pairs(scored: pd.DataFrame) -> None:
    linkable = _pairs(scored, ["person_id", "evidence_component"])
    found = _pairs(scored, ["person_id", "evidence_component", "customer_id"])
    truth_pairs = _pairs(scored, ["person_id"])
    recall = _pairs(scored, ["person_id", "customer_id"]) / truth_pairs
    print(
        f"recall {recall:.5f} over {truth_pairs} truth pairs; {found / linkable:.5f} over {linkable} linkable"
    )
    assert truth_pairs > 1_000
    assert found / linkable >= 0.98
    assert recall >= 0.98


def test_placeholder_and_family_addresses_do_not_merge_people(
    pipeline: Pipeline, scored: pd.DataFrame
) -> None:
    crm = _read(pipeline, "crm", "customers", ["crm_customer_id", "email"])
    crm["email"] = _email(crm["email"])
    shared = crm.groupby("email")["crm_customer_id"].transform("nunique") > 1
    records = scored[scored["source"] == "crm"].merge(
        crm[shared], left_on="source_id", right_on="crm_customer_id"
    )
    # Addresses typed into several CRM records: placeholders, families and people entered twice.
    assert records["email"].nunique() > 3
    people_per_customer = records.groupby("customer_id")["person_id"].nunique()
    assert (people_per_customer == 1).mean() >= 0.99


def test_customer_ids_are_derived_from_members(pipeline: Pipeline) -> None:
    keys = query(
        pipeline,
        """
        select customer_id, count(distinct component_key) as keys
        from intermediate.int_identity__customer_keys group by customer_id
    """,
    )
    assert (keys["keys"] == 1).all()
    assert keys["customer_id"].str.fullmatch(r"cus_[0-9a-f]{16}").all()
