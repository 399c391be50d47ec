"""Tests of the deterministic demo data generator: byte-stable output, contract headers, exact bad-row
bookkeeping, complete identity truth, planted associations and recoverable BG/NBD parameters."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import email_validator
import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter

from orchestration.contracts import load_contracts
from orchestration.demo.generator import generate

CUSTOMERS = 1_200
CHUNK = 500  # several chunks, so chunk boundaries are exercised
WEEK = 7 * 86_400


def _is_email(address: str) -> bool:
    """email-validator's verdict with its own defaults and no DNS look-up (the generator does not use the
    library; the loader's options in ``codes.py`` are deliberately not borrowed)."""
    try:
        email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def test_the_email_check_tells_examples_apart():
    valid = ["anna.schmidt@example.com", "j.o-brien+shop@mail.example.co.uk", "jörg@bücher.de"]
    invalid = ["anna.schmidt.example.com", "anna@", "@example.com", "anna@@example.com", "anna @example.com",
               "anna@example", "anna..schmidt@example.com", ".anna@example.com", "anna@example..com", ""]  # fmt: skip
    assert [a for a in valid if not _is_email(a)] == []
    assert [a for a in invalid if _is_email(a)] == []


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _epoch(values: pd.Series) -> pd.Series:
    """Epoch seconds of ISO timestamps, whatever resolution pandas infers."""
    return (pd.to_datetime(values) - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)


def _parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _landing(out: Path, entity: str, skip: set[tuple[str, int]] | None = None) -> pd.DataFrame:
    """All rows of one ``source/entity`` folder, minus the (file, row) pairs in ``skip``."""
    frames = []
    for f in sorted((out / "landing" / entity).glob("*.csv")):
        rel = f.relative_to(out / "landing").as_posix()
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        if skip:
            drop = [r - 1 for (ff, r) in skip if ff == rel]
            df = df.drop(index=drop)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _bad(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "truth" / "bad_rows.csv", dtype={"file": str, "rule": str})


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("demo")
    out = {}
    for name, kwargs in {
        "a": {"seed": 7},
        "b": {"seed": 7},
        "other": {"seed": 8},
        "clean": {"seed": 7, "clean": True},
    }.items():
        generate(base / name, customers=CUSTOMERS, chunk_size=CHUNK, **kwargs)
        out[name] = base / name
    return out


def test_same_arguments_give_identical_bytes(runs):
    a, b = _files(runs["a"]), _files(runs["b"])
    assert a.keys() == b.keys()
    assert len(a) > 100
    assert [k for k in a if a[k] != b[k]] == []


def test_other_seed_gives_other_data(runs):
    a, other = _files(runs["a"]), _files(runs["other"])
    common = a.keys() & other.keys()
    assert "landing/shop/orders/orders_2024_03.csv" in common
    assert a["landing/shop/orders/orders_2024_03.csv"] != other["landing/shop/orders/orders_2024_03.csv"]
    assert a["truth/persons.csv"] != other["truth/persons.csv"]


def test_every_header_is_its_contract(runs):
    contracts = load_contracts()
    files = sorted((runs["a"] / "landing").rglob("*.csv"))
    # Reviews come only from real exports (Olist) so far: the demo does not simulate them.
    not_simulated = {"shop/reviews"}
    assert {f.parent.relative_to(runs["a"] / "landing").as_posix() for f in files} == {
        f"{c.source}/{c.entity}" for c in contracts.values()
    } - not_simulated
    for f in files:
        source, entity = f.parent.parent.name, f.parent.name
        expected = contracts[f"{source}__{entity}"].column_names
        header = f.open(encoding="utf-8").readline().rstrip("\n").split(",")
        if f.name == "returns_legacy_export.csv":
            expected = [c for c in expected if c != "refund_amount"]
        assert header == expected, f


def test_clean_run_is_landing_minus_bad_rows(runs):
    clean, dirty = runs["clean"], runs["a"]
    assert _bad(clean).empty
    assert not (clean / "landing" / "shop" / "returns" / "returns_legacy_export.csv").exists()
    bad = _bad(dirty)
    assert len(bad) > 50
    skip = {(f, int(r)) for f, r in zip(bad.file, bad.row_number, strict=True)}
    for f in sorted((clean / "landing").rglob("*.csv")):
        rel = f.relative_to(clean / "landing").as_posix()
        _, clean_rows = _read(f)
        _, dirty_rows = _read(dirty / "landing" / rel)
        kept = [row for i, row in enumerate(dirty_rows, start=1) if (rel, i) not in skip]
        assert kept == clean_rows, rel
    # Bad rows are about 0.5 % of all rows.
    total = sum(len(_read(f)[1]) for f in (dirty / "landing").rglob("*.csv"))
    assert 0.002 < len(bad) / total < 0.01


def test_bad_rows_are_where_listed_and_break_their_rule(runs):
    out = runs["a"]
    bad = _bad(out)
    assert set(bad.rule) == {
        "range:quantity",
        "type:ordered_at",
        "format:email",
        "foreign_key:order_id",
        "unique:order_id",
        "unique:event_id",
        "missing_column:refund_amount",
    }
    assert not bad.duplicated(["file", "row_number"]).any()
    good_orders = set(_landing(out, "shop/orders").order_id)
    rows_cache: dict[str, tuple[list[str], list[list[str]]]] = {}
    for f, r, rule in zip(bad.file, bad.row_number, bad.rule, strict=True):
        if f not in rows_cache:
            rows_cache[f] = _read(out / "landing" / f)
        header, rows = rows_cache[f]
        kind, col = rule.split(":")
        if kind == "missing_column":
            assert col not in header
            assert 1 <= r <= len(rows)
            continue
        row = dict(zip(header, rows[r - 1], strict=True))
        if kind == "range":
            assert int(row[col]) <= 0
        elif kind == "type":
            assert not _parses(row[col])
        elif kind == "format":
            assert not _is_email(row[col]), row[col]
        elif kind == "foreign_key":
            assert row[col] not in good_orders
        elif kind == "unique":
            earlier = [x for x in rows[: r - 1] if x[header.index(col)] == row[col]]
            assert earlier
            assert earlier[0] == rows[r - 1]
    # Orders with an unreadable date have no lines.
    lines = _landing(out, "shop/order_lines")
    bad_date_ids = {
        rows_cache[f][1][r - 1][0]
        for f, r, rule in zip(bad.file, bad.row_number, bad.rule, strict=True)
        if rule == "type:ordered_at"
    }
    assert not bad_date_ids & set(lines.order_id)


def test_rows_not_listed_as_bad_are_clean(runs):
    out = runs["a"]
    bad = _bad(out)
    skip = {(f, int(r)) for f, r in zip(bad.file, bad.row_number, strict=True)}
    orders = _landing(out, "shop/orders", skip)
    assert orders.order_id.is_unique
    assert orders.email.map(_is_email).all()
    pd.to_datetime(orders.ordered_at, format="ISO8601")
    lines = _landing(out, "shop/order_lines", skip)
    assert (lines.quantity.astype(int) > 0).all()
    assert lines.order_id.isin(orders.order_id).all()
    assert not lines.duplicated(["order_id", "line_number"]).any()
    crm = _landing(out, "crm/customers", skip)
    emails = crm.email[crm.email != ""].str.strip()
    assert emails.map(_is_email).all()
    events = _landing(out, "web/events", skip)
    assert events.event_id.is_unique
    sessions = _landing(out, "web/sessions")
    assert events.session_id.isin(sessions.session_id).all()
    purchases = events[events.event_type == "purchase"]
    assert purchases.order_id.isin(orders.order_id).all()
    web_orders = orders[orders.sales_channel != "marketplace"]
    assert set(web_orders.order_id) == set(purchases.order_id)


def test_identity_truth_covers_every_source_id(runs):
    out = runs["a"]
    bad = _bad(out)
    skip = {(f, int(r)) for f, r in zip(bad.file, bad.row_number, strict=True)}
    ident = pd.read_csv(out / "truth" / "identity.csv", dtype=str, keep_default_na=False)
    assert set(ident.source) == {"crm", "shop", "shop_guest", "web"}
    assert not ident.duplicated(["source", "source_id"]).any()
    ids = {s: set(g.source_id) for s, g in ident.groupby("source")}
    crm = _landing(out, "crm/customers", skip)
    assert set(crm.crm_customer_id) == ids["crm"]
    for entity in ("crm/tickets", "crm/contacts", "marketing/sends"):
        assert set(_landing(out, entity).crm_customer_id) <= ids["crm"]
    assert set(_landing(out, "shop/customers").shop_customer_id) == ids["shop"]
    orders = _landing(out, "shop/orders", skip)
    assert set(orders.shop_customer_id) - {""} <= ids["shop"]
    guest = orders[orders.shop_customer_id == ""]
    assert set(guest.email.str.strip().str.lower()) == ids["shop_guest"]
    sessions, events = _landing(out, "web/sessions"), _landing(out, "web/events", skip)
    assert set(sessions.anonymous_id) == ids["web"]
    assert set(events.anonymous_id) <= ids["web"]
    assert set(sessions.user_id) - {""} <= ids["shop"]
    # A logged-in cookie belongs to the person of the account it logged into.
    person = dict(zip(ident.source + "|" + ident.source_id, ident.person_id, strict=True))
    logged = sessions[sessions.user_id != ""]
    assert (("web|" + logged.anonymous_id).map(person) == ("shop|" + logged.user_id).map(person)).all()
    # Over-merge traps: one placeholder or family e-mail on CRM records of different people.
    crm["person"] = ("crm|" + crm.crm_customer_id).map(person)
    crm["norm"] = crm.email.str.strip().str.lower()
    shared = crm[crm.norm != ""].groupby("norm").person.nunique()
    assert (shared > 1).any()
    # People entered twice: one person, two CRM ids.
    assert (crm.groupby("person").size() > 1).any()


def test_planted_associations_have_high_lift(runs):
    out = runs["clean"]
    planted = pd.read_csv(out / "truth" / "planted_associations.csv")
    assert len(planted) >= 8
    lines = _landing(out, "shop/order_lines")
    n = lines.order_id.nunique()
    baskets = lines.groupby("product_id").order_id.agg(set)
    for a, b, lift, support in planted.itertuples(index=False):
        both = len(baskets[a] & baskets[b])
        observed = both * n / (len(baskets[a]) * len(baskets[b]))
        assert observed >= 2
        assert observed == pytest.approx(lift, rel=1e-3)
        assert both / n == pytest.approx(support, rel=1e-3)
        assert both / n >= 0.002


def test_products_and_promotions(runs):
    out = runs["clean"]
    products = _landing(out, "shop/products")
    latest = products.drop_duplicates("product_id", keep="last")
    assert len(latest) >= 500
    assert latest.category.nunique() == 10
    ratio = latest.unit_cost.astype(float) / latest.list_price.astype(float)
    assert ratio.between(0.39, 0.76).all()
    assert 0 < (latest.is_active == "false").sum() < 50
    orders = _landing(out, "shop/orders")
    promos = _landing(out, "shop/promotions").set_index("promotion_code")
    used = orders[orders.promotion_code != ""]
    assert 0.08 < len(used) / len(orders) < 0.25
    at = pd.to_datetime(used.ordered_at)
    assert (at >= pd.to_datetime(promos.starts_at.reindex(used.promotion_code)).to_numpy()).all()
    assert (at <= pd.to_datetime(promos.ends_at.reindex(used.promotion_code)).to_numpy()).all()


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("medium")
    generate(out, customers=8_000, seed=11, clean=True)
    return out


def _orders_with_person(out: Path) -> pd.DataFrame:
    ident = pd.read_csv(out / "truth" / "identity.csv", dtype=str)
    person = dict(zip(ident.source + "|" + ident.source_id, ident.person_id, strict=True))
    orders = _landing(out, "shop/orders")
    key = np.where(
        orders.shop_customer_id != "",
        "shop|" + orders.shop_customer_id,
        "shop_guest|" + orders.email.str.strip().str.lower(),
    )
    orders["person"] = pd.Series(key).map(person).to_numpy()
    orders["t"] = _epoch(orders.ordered_at)
    return orders


def test_bgnbd_parameters_are_recovered(medium):
    import json

    truth = json.loads((medium / "truth" / "model_params.json").read_text())
    orders = _orders_with_person(medium)
    assert orders.person.notna().all()
    end = int(pd.Timestamp(truth["observation_end"]).timestamp())
    g = orders.groupby("person").t.agg(["min", "max", "count"])
    fit = BetaGeoFitter().fit(g["count"] - 1, (g["max"] - g["min"]) / WEEK, (end - g["min"]) / WEEK)
    for name, key in (("r", "r"), ("alpha", "alpha"), ("a", "a"), ("b", "b")):
        assert fit.params_[key] == pytest.approx(truth["bgnbd"][name], rel=0.2), name
    persons = pd.read_csv(medium / "truth" / "persons.csv")
    buyers = persons[persons.is_buyer]
    assert len(buyers) == 8_000
    assert g["count"].sum() == buyers.n_orders.sum()


def test_campaign_uplift_truth_matches_observed(medium):
    ident = pd.read_csv(medium / "truth" / "identity.csv", dtype=str)
    crm = ident[ident.source == "crm"]
    sends = _landing(medium, "marketing/sends")
    sends["person"] = sends.crm_customer_id.map(dict(zip(crm.source_id, crm.person_id, strict=True)))
    sends["t"] = _epoch(sends.sent_at)
    orders = _orders_with_person(medium)[["person", "t"]]
    m = sends.merge(orders, on="person", how="left", suffixes=("", "_order"))
    m["hit"] = (m.t_order > m.t) & (m.t_order <= m.t + 14 * 86_400)
    sends["converted"] = sends.send_id.map(m.groupby("send_id").hit.any())
    assert (sends[sends.is_control == "true"].opened_at == "").all()
    assert (sends[sends.is_control == "true"].clicked_at == "").all()
    treated = sends[sends.is_control == "false"].converted.mean()
    control = sends[sends.is_control == "true"].converted.mean()
    truth = pd.read_csv(medium / "truth" / "campaign_uplift.csv")
    size = sends.groupby("campaign_id").size()
    expected = float((truth.set_index("campaign_id").true_uplift * size).sum() / size.sum())
    assert 0.002 < expected < 0.05
    n_t, n_c = (sends.is_control == "false").sum(), (sends.is_control == "true").sum()
    se = np.sqrt(control * (1 - control) / n_c + treated * (1 - treated) / n_t)
    assert abs((treated - control) - expected) < 3.5 * se


def test_send_uplift_truth_lists_every_send_and_averages_to_the_campaign_truth(medium):
    sends = _landing(medium, "marketing/sends")
    per_send = pd.read_csv(medium / "truth" / "campaign_send_uplift.csv", dtype=str, keep_default_na=False)
    keys = ["send_id", "campaign_id", "crm_customer_id", "is_control"]
    pd.testing.assert_frame_equal(per_send[keys], sends[keys])
    per_send["true_uplift"] = per_send.true_uplift.astype(float)
    campaigns = pd.read_csv(medium / "truth" / "campaign_uplift.csv").set_index("campaign_id").true_uplift
    means = per_send.groupby("campaign_id").true_uplift.mean()
    assert (means - campaigns.loc[means.index]).abs().max() < 1e-6
    # Zero exactly for people not alive at send (not a buyer, first purchase later, or dropped out before).
    ident = pd.read_csv(medium / "truth" / "identity.csv", dtype=str)
    crm = ident[ident.source == "crm"]
    persons = pd.read_csv(medium / "truth" / "persons.csv", dtype=str, keep_default_na=False).set_index(
        "person_id"
    )
    person = per_send.crm_customer_id.map(dict(zip(crm.source_id, crm.person_id, strict=True)))
    sent = pd.to_datetime(sends.sent_at)
    first = pd.to_datetime(person.map(persons.first_purchase_at).replace("", None))
    drop = pd.to_datetime(person.map(persons.dropout_at).replace("", None))
    alive = (person.map(persons.is_buyer) == "true") & (first <= sent) & (drop.isna() | (sent < drop))
    assert alive.any()
    assert ((per_send.true_uplift > 0) == alive).all()
