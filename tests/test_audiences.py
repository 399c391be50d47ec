"""Audiences on a warehouse of nine customers built by hand: every filter, the consent and contact rules per
channel, the order, the recommendation columns, the live counts and the saved-audience files, each against a
list worked out from the table below (the consent rule itself is built by dbt and tested in test_consent.py;
here customer_360 already carries its decision)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
import yaml

from orchestration.analytics.audiences import (
    AudienceSpec,
    audience_file,
    audience_summary,
    build_audience,
    check_name,
    export_audience,
    is_valid_name,
    load_audience,
    save_audience,
    saved_audiences,
    write_export,
)

C360_COLUMNS = [
    "customer_id", "is_identified", "rfm_segment", "monetary_score", "churn_band", "country", "clv_12m",
    "last_order_at", "email_opt_in", "sms_opt_in", "email", "phone_e164", "first_name",
]  # fmt: skip
# fmt: off
CUSTOMERS = [
    # id    identified segment      value band  country clv   last order             e-mail ok sms ok  e-mail          phone
    ("c1", True,  "champions", 5, "low",    "DE", 300.0, "2024-03-10 12:00", True,  True,  "c1@shop.test", "+4915100000001"),
    ("c2", True,  "at_risk",   4, "high",   "FR", 120.0, "2024-01-05 18:00", True,  False, "c2@shop.test", "+33600000002"),
    ("c3", True,  "champions", 5, "medium", "DE", None,  "2024-02-01 09:00", True,  None,  "c3@shop.test", None),
    ("c4", True,  "lost",      1, "high",   "DE", 10.0,  "2023-06-01 10:00", False, True,  "c4@shop.test", "+4915100000004"),
    ("c5", True,  "at_risk",   3, "high",   "FR", 120.0, "2024-01-05 23:30", None,  True,  "c5@shop.test", "+33600000005"),
    ("c6", True,  "champions", 5, "low",    "DE", 500.0, "2024-03-31 08:00", True,  True,  None,           "+4915100000006"),
    ("c7", False, "champions", 5, "low",    "DE", 900.0, "2024-03-30 08:00", True,  True,  "c7@shop.test", "+4915100000007"),
    ("c8", True,  "new",       2, "low",    "IT", 120.0, "2024-03-10 00:00", True,  True,  "c8@shop.test", None),
    ("c9", True,  "at_risk",   4, "medium", "FR", 60.0,  None,               True,  False, "c9@shop.test", None),
]
# fmt: on
PRODUCTS = [
    ("p1", "Rake", "Garden"),
    ("p2", "Pan", "Kitchen"),
    ("p3", "Kite", "Toys"),
    ("p4", "Hoe", "Garden"),
]
ORDER_LINES = [("c1", "p1"), ("c2", "p2"), ("c8", "p1"), ("c8", "p2"), ("c3", "p3"), ("c7", "p1")]
RECOMMENDATIONS = [  # customer, rank, product, reason
    ("c1", 1, "p2", "bought with Rake"),
    ("c1", 2, "p3", "popular"),
    ("c1", 3, "p4", "in Garden"),
    ("c1", 4, "p1", "popular"),  # beyond three: never exported with the default
    ("c2", 1, "p1", "popular"),
    ("c4", 1, "p1", "popular"),
]

# Worked out from the table: identified, consent true for the channel, an address for it, most valuable first
# (no value last), ties by id.
EMAIL_AUDIENCE = [
    "c1",
    "c2",
    "c8",
    "c9",
    "c3",
]  # c4 said no, c5 never said, c6 has no e-mail, c7 unidentified
SMS_AUDIENCE = ["c6", "c1", "c5", "c4"]  # c2 and c9 said no, c3 never said, c8 has no phone


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute("create schema marts; create schema ml")
    c360 = pd.DataFrame(CUSTOMERS, columns=C360_COLUMNS[:12])
    c360["first_name"] = c360["customer_id"].str.upper()
    c360["last_order_at"] = pd.to_datetime(c360["last_order_at"])
    c360["email_opt_in"] = c360["email_opt_in"].astype("boolean")
    c360["sms_opt_in"] = c360["sms_opt_in"].astype("boolean")
    # The ranges are the customer's own figure plus or minus a known amount, to see them carried through.
    c360["clv_12m_low"], c360["clv_12m_high"] = c360["clv_12m"] - 1, c360["clv_12m"] + 1
    c360["expected_purchases_90d"] = 1.5
    c360["expected_purchases_90d_low"], c360["expected_purchases_90d_high"] = 0.0, 3.0
    c360["probability_alive"] = 0.75
    con.register("c360_frame", c360)
    con.execute("create table marts.customer_360 as select * from c360_frame")
    products = pd.DataFrame(PRODUCTS, columns=["product_id", "product_name", "category"])
    lines = pd.DataFrame(ORDER_LINES, columns=["customer_id", "product_id"])
    recommendations = pd.DataFrame(RECOMMENDATIONS, columns=["customer_id", "rank", "product_id", "reason"])
    for name, frame in [("marts.dim_products", products), ("marts.fct_order_lines", lines)]:
        con.register("frame", frame)
        con.execute(f"create table {name} as select * from frame")
        con.unregister("frame")
    con.register("frame", recommendations)
    con.execute("create table ml.recommendations as select * from frame")
    yield con
    con.close()


def _ids(con, **filters) -> list[str]:
    return export_audience(con, AudienceSpec(**filters))["customer_id"].tolist()


# --- Who is in the audience ----------------------------------------------------------------------------


def test_each_channel_holds_the_identified_consenting_reachable_customers_most_valuable_first(con):
    assert _ids(con, channel="email") == EMAIL_AUDIENCE
    assert _ids(con, channel="sms") == SMS_AUDIENCE


def test_the_contact_column_is_the_channels_address(con):
    email = export_audience(con, AudienceSpec(channel="email")).set_index("customer_id")["contact"]
    sms = export_audience(con, AudienceSpec(channel="sms")).set_index("customer_id")["contact"]
    assert email["c1"] == "c1@shop.test"
    assert sms["c1"] == "+4915100000001"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"segments": ("champions",)}, ["c1", "c3"]),
        ({"segments": ("champions", "new")}, ["c1", "c8", "c3"]),
        ({"value_bands": (4, 5)}, ["c1", "c2", "c9", "c3"]),
        ({"value_bands": (2,)}, ["c8"]),
        ({"churn_bands": ("high",)}, ["c2"]),
        ({"churn_bands": ("medium", "low")}, ["c1", "c8", "c9", "c3"]),
        ({"countries": ("FR",)}, ["c2", "c9"]),
        # A customer without a predicted value counts as 0: out at 120, in at 0.
        ({"min_clv": 120}, ["c1", "c2", "c8"]),
        ({"min_clv": 0}, EMAIL_AUDIENCE),
        ({"max_clv": 120}, ["c2", "c8", "c9", "c3"]),
        ({"max_clv": 119.99}, ["c9", "c3"]),
        ({"min_clv": 60, "max_clv": 120}, ["c2", "c8", "c9"]),
        # Dates bound the day of the last order, both ends inclusive whatever the hour.
        ({"last_order_from": dt.date(2024, 3, 10)}, ["c1", "c8"]),
        ({"last_order_to": dt.date(2024, 1, 5)}, ["c2"]),
        ({"last_order_from": dt.date(2024, 1, 5), "last_order_to": dt.date(2024, 2, 1)}, ["c2", "c3"]),
        ({"categories": ("Garden",)}, ["c1", "c8"]),
        ({"categories": ("Garden", "Toys")}, ["c1", "c8", "c3"]),
        ({"categories": ("Shoes",)}, []),
        ({"value_bands": (5,), "countries": ("DE",)}, ["c1", "c3"]),
    ],
)
def test_filters_select_the_hand_worked_customers(con, filters, expected):
    assert _ids(con, channel="email", **filters) == expected


def test_an_unidentified_customer_is_never_selected_even_when_every_filter_fits(con):
    assert _ids(con, channel="sms", segments=("champions",), min_clv=800) == []


# --- What each row carries -----------------------------------------------------------------------------


def test_the_columns_and_the_customers_own_figures(con):
    frame = export_audience(con, AudienceSpec(channel="email"))
    assert list(frame.columns) == [
        "customer_id", "contact", "first_name", "country", "rfm_segment", "clv_12m", "clv_12m_low",
        "clv_12m_high", "expected_purchases_90d", "expected_purchases_90d_low", "expected_purchases_90d_high",
        "churn_band", "probability_alive", "recommended_1", "reason_1", "recommended_2", "reason_2",
        "recommended_3", "reason_3",
    ]  # fmt: skip
    c2 = frame.set_index("customer_id").loc["c2"]
    assert (c2["first_name"], c2["country"], c2["rfm_segment"], c2["churn_band"]) == (
        "C2",
        "FR",
        "at_risk",
        "high",
    )
    assert (c2["clv_12m"], c2["clv_12m_low"], c2["clv_12m_high"]) == (120.0, 119.0, 121.0)


def test_recommendations_are_pivoted_by_rank_and_cut_at_the_number_asked(con):
    frame = export_audience(con, AudienceSpec(channel="email")).set_index("customer_id")
    assert frame.loc["c1", ["recommended_1", "recommended_2", "recommended_3"]].tolist() == [
        "Pan",
        "Kite",
        "Hoe",
    ]
    assert frame.loc["c1", ["reason_1", "reason_2", "reason_3"]].tolist() == [
        "bought with Rake", "popular", "in Garden",
    ]  # fmt: skip
    assert frame.loc["c2", "recommended_1"] == "Rake"
    assert frame.loc["c2", ["recommended_2", "recommended_3"]].isna().all()
    assert frame.loc["c8", ["recommended_1", "reason_1"]].isna().all()  # no recommendations: still in

    one = export_audience(con, AudienceSpec(channel="email", recommendations=1))
    assert [c for c in one.columns if c.startswith(("recommended_", "reason_"))] == [
        "recommended_1",
        "reason_1",
    ]
    four = export_audience(con, AudienceSpec(channel="email", recommendations=4)).set_index("customer_id")
    assert four.loc["c1", "recommended_4"] == "Rake"
    assert four["recommended_4"].notna().sum() == 1


def test_no_recommendations_asked_gives_one_row_per_customer_and_no_recommendation_columns(con):
    frame = export_audience(con, AudienceSpec(channel="email", recommendations=0))
    assert frame["customer_id"].tolist() == EMAIL_AUDIENCE
    assert not [c for c in frame.columns if c.startswith(("recommended", "reason"))]


# --- The live counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # matching = identified customers the filters keep; then why each one is out; then the audience.
        ({"channel": "email"}, (8, 2, 1, 5, 600.0)),  # out: c4, c5 (consent), c6 (address)
        ({"channel": "sms"}, (8, 3, 1, 4, 930.0)),  # out: c2, c3, c9 (consent), c8 (address)
        ({"channel": "email", "churn_bands": ("high",)}, (3, 2, 0, 1, 120.0)),  # c2, c4, c5
        ({"channel": "sms", "countries": ("IT",)}, (1, 0, 1, 0, 0.0)),  # c8 alone, without a phone
        ({"channel": "email", "countries": ("ES",)}, (0, 0, 0, 0, 0.0)),
    ],
)
def test_summary_counts_the_hand_worked_exclusions(con, filters, expected):
    summary = audience_summary(con, AudienceSpec(**filters))
    keys = ("matching", "excluded_no_consent", "excluded_no_contact", "size", "predicted_value_12m")
    assert summary == dict(zip(keys, expected, strict=True))
    assert type(summary["size"]) is int
    assert type(summary["predicted_value_12m"]) is float


def test_summary_size_is_the_exported_list(con):
    for channel in ("email", "sms"):
        spec = AudienceSpec(channel=channel, value_bands=(4, 5))
        assert audience_summary(con, spec)["size"] == len(export_audience(con, spec))


# --- build_audience, the notebook's keyword form ---------------------------------------------------------


def test_build_audience_is_export_audience_of_the_same_filters(con):
    built = build_audience(
        con, "email", churn_bands=None, segments=["champions", "at_risk"], countries=("FR",)
    )
    exported = export_audience(
        con, AudienceSpec(channel="email", segments=("at_risk", "champions"), countries=("FR",))
    )
    pd.testing.assert_frame_equal(built, exported)
    assert built["customer_id"].tolist() == ["c2", "c9"]
    assert build_audience(con, "sms", min_clv=400)["customer_id"].tolist() == ["c6"]
    assert build_audience(con)["customer_id"].tolist() == EMAIL_AUDIENCE  # e-mail unless told
    assert build_audience(con, "email", churn_bands=("high",))["customer_id"].tolist() == ["c2"]
    assert "recommended_2" not in build_audience(con, "email", recommendations=1).columns


def test_build_audience_refuses_an_unknown_channel(con):
    with pytest.raises(ValueError, match=r"channel must be one of \['email', 'sms'\], got 'fax'"):
        build_audience(con, "fax")


# --- The spec ------------------------------------------------------------------------------------------


def test_spec_refuses_an_unknown_channel_or_churn_band():
    with pytest.raises(ValueError, match=r"channel must be one of \['email', 'sms'\], got 'post'"):
        AudienceSpec(channel="post")
    with pytest.raises(
        ValueError, match=r"churn bands must be among \('low', 'medium', 'high'\), got \['gone'\]"
    ):
        AudienceSpec(churn_bands=("high", "gone"))


def test_spec_sorts_its_lists_and_reads_value_bands_as_numbers():
    spec = AudienceSpec(
        segments=("new", "at_risk"), value_bands=("5", "4"), churn_bands=("medium", "high"),
        categories=("Toys", "Garden"), countries=("FR", "DE"),
    )  # fmt: skip
    assert spec.segments == ("at_risk", "new")
    assert spec.value_bands == (4, 5)
    assert spec.churn_bands == ("high", "medium")
    assert spec.categories == ("Garden", "Toys")
    assert spec.countries == ("DE", "FR")
    assert AudienceSpec(segments=None, churn_bands=None).segments == ()
    # Two specs with the same filters in another order are the same audience.
    assert AudienceSpec(countries=("FR", "DE")) == AudienceSpec(countries=("DE", "FR"))


def test_spec_to_dict_gives_plain_values_and_from_dict_reads_them_back():
    spec = AudienceSpec(
        channel="sms", segments=("at_risk",), value_bands=(5,), min_clv=10.5,
        last_order_from=dt.date(2024, 1, 2), last_order_to=dt.date(2024, 3, 4), recommendations=2,
    )  # fmt: skip
    assert spec.to_dict() == {
        "channel": "sms", "segments": ["at_risk"], "value_bands": [5], "churn_bands": [], "min_clv": 10.5,
        "max_clv": None, "last_order_from": "2024-01-02", "last_order_to": "2024-03-04", "categories": [],
        "countries": [], "recommendations": 2,
    }  # fmt: skip
    assert AudienceSpec.from_dict(spec.to_dict()) == spec
    # Dates may come as dates (YAML reads them so), lists may be missing.
    assert AudienceSpec.from_dict({"last_order_to": dt.date(2024, 3, 4)}).last_order_to == dt.date(2024, 3, 4)
    assert AudienceSpec.from_dict({"channel": "sms"}) == AudienceSpec(channel="sms")
    assert AudienceSpec.from_dict(None) == AudienceSpec()
    with pytest.raises(ValueError, match=r"unknown audience filters: \['colour', 'size'\]"):
        AudienceSpec.from_dict({"channel": "email", "size": 3, "colour": "red"})


# --- Names and files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "winback-sms", "Q4_2024", "9lives", "x" * 64])
def test_valid_names(name):
    assert check_name(name) == name
    assert is_valid_name(name)


@pytest.mark.parametrize("name", ["", None, "-x", "_x", "a b", "../up", "x" * 65, "name\n", "café", "a.b"])
def test_names_that_could_not_safely_name_a_file_are_refused(name):
    assert not is_valid_name(name)
    with pytest.raises(ValueError, match="audience name"):
        check_name(name)


def test_save_writes_the_name_then_the_filters_and_load_reads_them_back(tmp_path):
    folder = tmp_path / "not" / "yet"
    spec = AudienceSpec(
        channel="sms", countries=("DE",), last_order_from=dt.date(2024, 1, 1), categories=("Café",)
    )
    path = save_audience("winback", spec, folder)
    assert "- Café\n" in path.read_text(encoding="utf-8")  # readable as written, not escaped
    assert path == folder / "winback.yml" == audience_file("winback", folder)
    stored = yaml.safe_load(path.read_text())
    assert next(iter(stored)) == "name"
    assert stored == {"name": "winback", **spec.to_dict()}
    assert load_audience("winback", folder) == spec
    assert [p.name for p in folder.iterdir()] == ["winback.yml"]  # no temporary file left

    replaced = AudienceSpec(channel="email")
    save_audience("winback", replaced, folder)
    assert load_audience("winback", folder) == replaced


def test_load_of_an_unknown_or_empty_audience(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_audience("nobody", tmp_path)
    (tmp_path / "empty.yml").write_text("")
    assert load_audience("empty", tmp_path) == AudienceSpec()
    with pytest.raises(ValueError, match="audience name"):
        load_audience("../empty", tmp_path)


def test_saved_audiences_lists_valid_names_sorted(tmp_path):
    assert saved_audiences(tmp_path / "missing") == []
    for name in ("zeta", "Alpha", "beta"):
        save_audience(name, AudienceSpec(), tmp_path)
    (tmp_path / "bad name.yml").write_text("")
    (tmp_path / "half.yml.tmp").write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert saved_audiences(tmp_path) == ["Alpha", "beta", "zeta"]
    assert saved_audiences(str(tmp_path)) == ["Alpha", "beta", "zeta"]


def test_write_export_writes_the_frame_as_csv_and_leaves_no_temporary_file(tmp_path, con):
    frame = export_audience(con, AudienceSpec(channel="sms", recommendations=1))
    path = write_export(frame, tmp_path / "exports" / "2024" / "sms.csv")
    assert path == tmp_path / "exports" / "2024" / "sms.csv"
    back = pd.read_csv(path, dtype={"contact": str})
    assert back["customer_id"].tolist() == SMS_AUDIENCE
    assert back["contact"].tolist() == frame["contact"].tolist()
    assert list(back.columns) == list(frame.columns)
    assert [p.name for p in path.parent.iterdir()] == ["sms.csv"]
    write_export(frame.head(1), str(path))
    assert len(pd.read_csv(path)) == 1
