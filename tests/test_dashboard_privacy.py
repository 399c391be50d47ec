"""Privacy by default on the dashboard: masked contacts, the audit log, and consent-respecting audiences.

* The masking rule on hand-worked examples.
* On the consent warehouse of ``test_consent`` (one person per consent rule, consent worked out by hand):
  an exported audience holds exactly the consenting people, and the count of people left out for missing
  consent equals an independent pandas count over ``customer_360``'s consent columns.
* On a real pipeline run: every page listed in ``dashboards/app.py`` shows no e-mail address or phone
  number of any customer in the default role (and the analyst role shows them); a lookup and an export are
  in the audit log with the right customer ids; an audience saved on the page exports the same list from
  the page and from ``ecrm export-audience``; and a real browser looks a customer up by e-mail.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_consent import EMAIL_AUDIENCE, SMS_AUDIENCE, consent_warehouse, customer_ids

from orchestration.dashboard_server import start_in_background

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
APP = DASHBOARDS / "app.py"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


# The dashboard's script run has finished (Streamlit's own attribute on the app element).
SCRIPT_DONE = """() => document.querySelector('[data-testid="stApp"]')
    ?.getAttribute('data-test-script-state') === 'notRunning'"""

# --- The masking rule -------------------------------------------------------------------------------


@pytest.fixture
def privacy(monkeypatch):
    monkeypatch.syspath_prepend(str(DASHBOARDS))
    monkeypatch.delenv("ECRM_DASHBOARD_ROLE", raising=False)
    import privacy

    return privacy


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("anna@gmail.com", "a***@gmail.com"),
        ("Bernd.Schmidt@kunden.de", "B***@kunden.de"),
        ("x@y.org", "x***@y.org"),
    ],
)
def test_email_keeps_first_character_and_domain(privacy, email, masked):
    assert privacy.mask_email(email) == masked


def test_a_table_download_is_logged_with_its_customers_when_clicked(privacy, monkeypatch, tmp_path):
    import audit
    import components

    log = tmp_path / "access.jsonl"
    monkeypatch.setenv("ECRM_AUDIT_LOG", str(log))
    pressed = {}
    monkeypatch.setattr(components.st, "dataframe", lambda *args, **kwargs: None)
    monkeypatch.setattr(components.st, "caption", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        components.st, "download_button", lambda label, data, **kwargs: pressed.update(data=data)
    )
    frame = pd.DataFrame({"customer_id": ["c1", "c2"], "email": ["anna@gmail.com", "bob@web.de"]})
    components.table(frame, "customers at risk")
    assert not log.exists(), "drawing the table logs nothing"
    csv = pressed["data"]().decode()
    assert "anna@gmail.com" not in csv
    assert "a***@gmail.com" in csv
    (entry,) = audit.read(log)
    assert (entry["action"], entry["customer_ids"], entry["details"]) == (
        "download", ["c1", "c2"], {"table": "customers at risk"},
    )  # fmt: skip
    # A table without customers (sales by month) is downloaded without an entry.
    components.table(pd.DataFrame({"month": ["2024-01"], "revenue": [10.0]}), "sales")
    pressed["data"]()
    assert len(audit.read(log)) == 1


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+4915122000167", "+49 *** ** 67"),
        ("+49 151 2200 0167", "+49 *** ** 67"),
        ("0151 2200 0167", "+49 *** ** 67"),  # no country code: the default phone country's (DE)
        ("+442079460958", "+44 *** ** 58"),
        ("+1 415 555 0199", "+1 *** ** 99"),
    ],
)
def test_phone_keeps_country_code_and_last_two_digits(privacy, phone, masked):
    assert privacy.mask_phone(phone) == masked


def test_contact_columns_are_masked_unless_analyst(privacy, monkeypatch):
    frame = pd.DataFrame(
        {
            "email": ["anna@gmail.com", None],
            "phone_e164": ["+4915122000167", None],
            "billing_email": ["b@shop.de", "c@shop.de"],
            "work_phone": ["+49301234567", None],
            "emails_sent": [3, 4],  # a count, not a contact
            "first_name": ["Anna", "Bernd"],
        }
    )
    masked = privacy.mask_contacts(frame)
    assert masked["email"].tolist()[0] == "a***@gmail.com"
    assert pd.isna(masked["email"].tolist()[1])
    assert masked["phone_e164"].tolist()[0] == "+49 *** ** 67"
    assert masked["billing_email"].tolist() == ["b***@shop.de", "c***@shop.de"]
    assert masked["work_phone"].tolist()[0] == "+49 *** ** 67"
    assert masked["emails_sent"].tolist() == [3, 4]
    assert masked["first_name"].tolist() == ["Anna", "Bernd"]
    assert frame["email"].tolist()[0] == "anna@gmail.com"  # the caller's frame is left alone
    monkeypatch.setenv("ECRM_DASHBOARD_ROLE", "analyst")
    assert privacy.role() == "analyst"
    pd.testing.assert_frame_equal(privacy.mask_contacts(frame), frame)
    monkeypatch.setenv("ECRM_DASHBOARD_ROLE", "superuser")  # anything unknown is the default role
    assert privacy.role() == "manager"


# --- The command line --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "environment", "role", "user"),
    [
        ([], {}, None, None),
        (["--role", "analyst", "--user", "jana"], {}, "analyst", "jana"),
        ([], {"ECRM_DASHBOARD_ROLE": "analyst", "ECRM_DASHBOARD_USER": "olaf"}, "analyst", "olaf"),
    ],
)
def test_dashboard_command_passes_role_and_user_to_streamlit(
    tmp_path, monkeypatch, argv, environment, role, user
):
    from orchestration import cli

    for key in ("ECRM_DASHBOARD_ROLE", "ECRM_DASHBOARD_USER", "ECRM_AUDIT_LOG", "ECRM_PUBLISHED"):
        monkeypatch.delenv(key, raising=False)
    # The command writes the resolved paths back into the environment: restored after the test.
    monkeypatch.setenv("ECRM_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("ECRM_WAREHOUSE", str(tmp_path / "warehouse" / "ecrm.duckdb"))
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    warehouse = tmp_path / "warehouse" / "ecrm.duckdb"
    warehouse.parent.mkdir()
    (tmp_path / "warehouse" / "ecrm_published.duckdb").touch()
    monkeypatch.chdir(tmp_path)
    seen = {}
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, env: seen.update(env) or 0)
    assert cli.main(["dashboard", "--warehouse", str(warehouse), *argv]) == 0
    assert seen.get("ECRM_DASHBOARD_ROLE") == role
    assert seen.get("ECRM_DASHBOARD_USER") == user
    # The audit log's relative default is resolved where the command was started.
    assert seen["ECRM_AUDIT_LOG"] == str(tmp_path / "data" / "audit" / "access.jsonl")


def test_export_audience_without_a_saved_audience_fails_cleanly(tmp_path, monkeypatch, capsys):
    from orchestration.cli import main

    monkeypatch.setenv("ECRM_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("ECRM_LANDING", str(tmp_path / "landing"))  # the command writes both back
    monkeypatch.setenv("ECRM_WAREHOUSE", str(tmp_path / "warehouse" / "ecrm.duckdb"))
    assert main(["export-audience", "nobody", "--audiences", str(tmp_path)]) == 2
    assert "No saved audience 'nobody'" in capsys.readouterr().err
    assert not (tmp_path / "audit.jsonl").exists()


# --- Consent in audiences, on the hand-made consent warehouse -------------------------------------------


@pytest.fixture(scope="module")
def consent(tmp_path_factory):
    warehouse = consent_warehouse(tmp_path_factory)
    return warehouse, customer_ids(warehouse)


def _customer_360(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select * from marts.customer_360").fetch_df()


def _without_consent(c360: pd.DataFrame, channel: str, keep=None) -> int:
    """Independently: identified customers (of those ``keep`` selects) whose consent flag is not true."""
    flag = {"email": "email_opt_in", "sms": "sms_opt_in"}[channel]
    people = c360[c360["is_identified"]]
    if keep is not None:
        people = people[keep(people)]
    return int((people[flag] != True).sum())  # noqa: E712 - a null flag is no consent too


@pytest.mark.parametrize(("channel", "expected"), [("email", EMAIL_AUDIENCE), ("sms", SMS_AUDIENCE)])
def test_export_holds_only_consenting_customers_and_counts_the_excluded(consent, channel, expected):
    from orchestration.analytics.audiences import AudienceSpec, audience_summary, export_audience

    warehouse, customer_of = consent
    spec = AudienceSpec(channel=channel)
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        exported = export_audience(con, spec)
        summary = audience_summary(con, spec)
    assert set(exported["customer_id"]) == {customer_of[label] for label in expected}
    c360 = _customer_360(warehouse.path)
    assert summary["excluded_no_consent"] == _without_consent(c360, channel)
    assert summary["size"] == len(expected)
    # Everyone the filters select is in the audience or excluded for one of the two reasons.
    assert summary["matching"] == int(c360["is_identified"].sum())
    assert (
        summary["size"] + summary["excluded_no_consent"] + summary["excluded_no_contact"]
        == summary["matching"]
    )


def test_excluded_count_follows_the_filters(consent):
    from orchestration.analytics.audiences import AudienceSpec, audience_summary

    warehouse, _ = consent
    c360 = _customer_360(warehouse.path)
    country = c360.loc[c360["is_identified"], "country"].dropna().mode().iloc[0]
    spec = AudienceSpec(channel="email", countries=(country,))
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        summary = audience_summary(con, spec)
    assert summary["excluded_no_consent"] == _without_consent(
        c360, "email", lambda p: p["country"] == country
    )


def test_saved_audience_round_trips_through_yaml(tmp_path):
    import datetime as dt

    from orchestration.analytics.audiences import AudienceSpec, load_audience, save_audience

    spec = AudienceSpec(
        channel="sms", segments=("at_risk", "cant_lose"), value_bands=(4, 5), churn_bands=("high",),
        min_clv=50.0, last_order_from=dt.date(2024, 1, 1), categories=("Garden",), countries=("DE",),
    )  # fmt: skip
    path = save_audience("winback-sms", spec, tmp_path)
    assert path == tmp_path / "winback-sms.yml"
    assert load_audience("winback-sms", tmp_path) == spec
    with pytest.raises(ValueError, match="audience name"):
        save_audience("../outside", spec, tmp_path)


# --- The dashboard on a real pipeline run ---------------------------------------------------------------


@pytest.fixture
def published(dashboard_published):
    return dashboard_published


def _log(tmp_path: Path) -> list[dict]:
    path = tmp_path / "audit" / "access.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _contacts(published: Path) -> tuple[set[str], set[str]]:
    """Every e-mail address and phone number the warehouse knows (customers, guest orders, source ids)."""
    with duckdb.connect(str(published), read_only=True) as con:
        emails = {
            r[0]
            for r in con.execute(
                "select email from marts.customer_360 where email is not null union "
                "select email from marts.fct_orders where email is not null union "
                "select source_id from marts.customer_identity_map where source = 'shop_guest'"
            ).fetchall()
        }
        phones = {
            r[0]
            for r in con.execute(
                "select phone_e164 from marts.customer_360 where phone_e164 is not null"
            ).fetchall()
        }
    return emails, phones


def _a_customer(published: Path) -> dict:
    """The identified buyer with an e-mail address, a phone number and the most orders."""
    with duckdb.connect(str(published), read_only=True) as con:
        frame = con.execute(
            "select customer_id, email, phone_e164 from marts.customer_360 where is_identified and email is "
            "not null and phone_e164 is not null and orders > 1 order by orders desc, customer_id limit 1"
        ).fetch_df()
    return frame.iloc[0].to_dict()


def _rendered_text(at) -> str:
    """The text of every element the page rendered (tables as CSV), except what the user typed in."""
    parts = []
    for node in at._tree:
        if getattr(node, "type", None) == "text_input":
            continue
        value = getattr(node, "value", None) if getattr(node, "type", None) == "arrow_data_frame" else None
        if isinstance(value, pd.DataFrame):
            parts.append(value.to_csv())
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    return "\n".join(parts)


def _pages() -> list[str]:
    """The page files the navigation entry lists, relative to it."""
    return list(dict.fromkeys(re.findall(r"[\"'](app_pages/[A-Za-z0-9_]+\.py)[\"']", APP.read_text())))


def _on_page(page: str, section: str | None = None, timeout: int = 90):
    """The app on ``page``; on a page in sections (tabs that run only while open) with ``section`` open."""
    import components
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    at.switch_page(page)
    at.run()
    if section is not None:
        at.session_state[components.section_key(page)] = section
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _sections(at, page: str) -> list[str]:
    """The labels of ``page``'s sections as ``at`` shows them (none for a page that is not in sections)."""
    import components

    if components.section_key(page) not in at.session_state:
        return []
    return [tab.label for tab in at.tabs]


def _look_up(text: str):
    at = _on_page("app_pages/customer_lookup.py")
    at.text_input[0].set_value(text)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _leaks(text: str, emails: set[str], phones: set[str]) -> list[str]:
    """The e-mail addresses and phone numbers (E.164, or its digits as one number) found in ``text``."""
    lowered = text.lower()
    found = [e for e in emails if e.lower() in lowered] + [p for p in phones if p in text]
    numbers = set(re.findall(r"\d{7,}", text))
    return found + [p for p in phones if re.sub(r"\D", "", p) in numbers]


@pytest.mark.e2e
def test_no_contact_in_clear_on_any_page_in_the_default_role(published):
    pages = _pages()
    assert "app_pages/customer_lookup.py" in pages
    assert "app_pages/audiences.py" in pages
    emails, phones = _contacts(published)
    assert emails
    assert phones
    someone = _a_customer(published)
    sections = 0
    for page in pages:
        at = _look_up(someone["email"]) if page.endswith("customer_lookup.py") else _on_page(page)
        leaks = _leaks(_rendered_text(at), emails, phones)
        assert not leaks, f"{page} shows contacts in clear: {leaks[:3]}"
        # Every other section of a page in sections: it is drawn only when opened.
        for label in _sections(at, page)[1:]:
            leaks = _leaks(_rendered_text(_on_page(page, label)), emails, phones)
            assert not leaks, f"{page}, section {label}: contacts in clear: {leaks[:3]}"
            sections += 1
    assert sections >= 12
    # The lookup did find them: the profile is there, with the masked address.
    at = _look_up(someone["email"])
    text = _rendered_text(at)
    assert someone["customer_id"] in text
    local, domain = someone["email"].split("@")
    assert f"{local[0]}***@{domain}" in text


# Every selectbox that picks the customers behind a figure (a drill-down), per page, with the section it is
# in (None: the page is not in sections, or the first is). (Promotion's campaign box shows labels of campaign
# ids, which AppTest cannot pick by index; its default campaign's customers are checked by the test above.)
DRILL_DOWNS = {
    "app_pages/overview.py": [("overview_drill", None)],
    "app_pages/profiling.py": [
        ("profiling_drill", "Customers in a segment"),
        ("move_from", "Moves between segments"),
    ],
    "app_pages/persistency.py": [("cohort_drill", None), ("cohort_age", None)],
    "app_pages/profitability.py": [("profit_decile", "Customers by profit")],
    "app_pages/value_churn.py": [("risk_band", "Valuable customers at risk")],
}


@pytest.mark.e2e
def test_drill_down_lists_mask_contacts_for_every_choice(published):
    """The customers behind a KPI, segment, cohort cell, decile, campaign or churn band are listed with
    their contacts masked, whatever the manager picks (up to three choices per drill-down)."""
    emails, phones = _contacts(published)
    walked = 0
    for page, boxes in DRILL_DOWNS.items():
        for key, section in boxes:
            for index in range(3):
                # A fresh page each time: choices of one box change the options of those after it.
                at = _on_page(page, section)
                box = at.selectbox(key=key)
                if index >= len(box.options):
                    break
                box.select_index(index).run()
                assert not at.exception, (page, key, index, [e.value for e in at.exception])
                leaks = _leaks(_rendered_text(at), emails, phones)
                assert not leaks, f"{page}, {box.label} #{index}: contacts in clear: {leaks[:3]}"
                walked += 1
    assert walked >= 10


@pytest.mark.e2e
def test_the_analyst_role_sees_contacts(published, monkeypatch):
    monkeypatch.setenv("ECRM_DASHBOARD_ROLE", "analyst")
    someone = _a_customer(published)
    text = _rendered_text(_look_up(someone["email"]))
    assert someone["email"] in text
    assert someone["phone_e164"] in text


@pytest.mark.e2e
def test_lookups_are_in_the_audit_log(published, tmp_path):
    someone = _a_customer(published)
    _look_up(someone["email"])
    # By the last eight digits of the phone number: a phone search, from another session.
    phone_digits = re.sub(r"\D", "", someone["phone_e164"])[-8:]
    _look_up(phone_digits)
    entries = _log(tmp_path)
    searches = [e for e in entries if e["action"] == "search"]
    lookups = [e for e in entries if e["action"] == "lookup"]
    assert [e["searched"] for e in searches] == [someone["email"], phone_digits]
    assert searches[0]["customer_ids"] == [someone["customer_id"]]
    # The profile shown is the first customer found (the only one, unless several share the number).
    assert [(e["searched"], e["customer_ids"]) for e in lookups] == [
        (someone["email"], [someone["customer_id"]]),
        (phone_digits, searches[1]["customer_ids"][:1]),
    ]
    assert someone["customer_id"] in searches[1]["customer_ids"]
    with duckdb.connect(str(published), read_only=True) as con:
        same_digits = {
            r[0]
            for r in con.execute(
                "select customer_id from marts.customer_360 where regexp_replace(phone_e164, '[^0-9]', '', 'g') "
                "like ?",
                [f"%{phone_digits}%"],
            ).fetchall()
        }
    assert set(searches[1]["customer_ids"]) == same_digits
    assert all(e["role"] == "manager" and e["user"] == "test-manager" and e["time"] for e in entries)


@pytest.mark.e2e
def test_a_saved_audience_exports_the_same_list_from_the_page_and_the_cli(published, tmp_path):
    from orchestration.cli import main

    at = _on_page("app_pages/audiences.py")
    at.multiselect(key="churn_bands_(new audience)").set_value(["medium", "high"])
    at.run()
    at.text_input(key="name_(new audience)").set_value("winback")
    at.run()
    figures = {m.label: m.value for m in at.metric}
    [export] = [b for b in at.button if b.label == "Export to file"]
    export.click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert (tmp_path / "audiences" / "winback.yml").exists()
    from_page = pd.read_csv(tmp_path / "exports" / "winback.csv", dtype=str)

    out = tmp_path / "cli" / "winback.csv"
    assert main(["export-audience", "winback", "--out", str(out), "--user", "cli-user"]) == 0
    from_cli = pd.read_csv(out, dtype=str)
    pd.testing.assert_frame_equal(from_page, from_cli)
    assert len(from_page) > 0
    assert {f"recommended_{i}" for i in (1, 2, 3)} | {f"reason_{i}" for i in (1, 2, 3)} <= set(
        from_cli.columns
    )

    # Independently: identified customers in those churn bands, with e-mail consent and an address.
    c360 = _customer_360(published)
    chosen = c360[c360["is_identified"] & c360["churn_band"].isin(["medium", "high"])]
    consenting = chosen[(chosen["email_opt_in"] == True) & chosen["email"].notna()]  # noqa: E712
    assert set(from_page["customer_id"]) == set(consenting["customer_id"])
    assert figures["Customers in the audience"] == f"{len(consenting):,}"
    assert figures["Predicted 12-month value"].startswith(f"{consenting['clv_12m'].fillna(0).sum():,.2f} ")
    excluded = _without_consent(c360, "email", lambda p: p["churn_band"].isin(["medium", "high"]))
    assert excluded > 0
    assert figures["Excluded: no consent"] == f"{excluded:,}"

    exports = [e for e in _log(tmp_path) if e["action"] == "export"]
    assert [(e["searched"], e["user"]) for e in exports] == [
        ("winback", "test-manager"),
        ("winback", "cli-user"),
    ]
    assert all(e["customer_ids"] == from_page["customer_id"].tolist() for e in exports)


def _page_text(page) -> str:
    """What a browser shows: the page's text and the cells of its tables (drawn on a canvas)."""
    return page.inner_text("body") + "\n" + "\n".join(page.locator("[role=gridcell]").all_text_contents())


@pytest.mark.e2e
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make browser)")
def test_a_browser_looks_a_customer_up_by_email_with_contacts_masked(published, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    someone = _a_customer(published)
    emails, phones = _contacts(published)
    with duckdb.connect(str(published), read_only=True) as con:
        last_order = con.execute(
            "select order_id from marts.fct_orders where customer_id = ? order by ordered_at desc limit 1",
            [someone["customer_id"]],
        ).fetchone()[0]
    server, url = start_in_background(published, {"ECRM_DASHBOARD_ROLE": None})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(f"{url}/customer_lookup", timeout=60_000)
            search = page.get_by_label("Find a customer")
            search.wait_for(timeout=60_000)
            search.fill(someone["email"])
            search.press("Enter")
            page.get_by_role("tab", name="Timeline").wait_for(timeout=60_000)
            cell = page.locator("[role=gridcell]")  # the tables' cells (drawn on a canvas, kept for a11y)
            cell.first.wait_for(state="attached", timeout=30_000)
            everything = _page_text(page)
            # The timeline shows the shop's events once the web and campaign channels are taken out: the
            # customer's newest order is among its first rows.
            for channel in ("web", "campaign"):
                page.get_by_label(f"Remove {channel}").first.click()
            expect(cell.filter(has_text=re.compile(r"^(web|campaign)$"))).to_have_count(0, timeout=30_000)
            cell.filter(has_text=last_order).first.wait_for(state="attached", timeout=30_000)
            assert "order" in cell.all_text_contents()
            page.screenshot(path=str(tmp_path / "customer_lookup.png"), full_page=True)
            assert someone["customer_id"] in everything
            assert not page.locator("[data-testid='stException']").count()
            leaks = _leaks(everything + _page_text(page), emails, phones)
            assert not leaks, f"contacts in clear on the page: {leaks[:3]}"

            # An audience downloaded from the page: consenting customers only, and the download is logged.
            page.get_by_role("link", name="Audiences").click()
            button = page.get_by_role("button", name="Download CSV")
            button.wait_for(timeout=60_000)
            expect(button).to_be_enabled(timeout=30_000)
            # The page's script run has finished (on a busy machine the button is drawn before the run ends,
            # and a click during the run can be lost with the rerun): click it as a user would, once done.
            page.wait_for_function(SCRIPT_DONE, timeout=60_000, polling=50)
            assert not _leaks(_page_text(page), emails, phones)
            with page.expect_download(timeout=60_000) as download:
                button.click()
            downloaded = pd.read_csv(download.value.path(), dtype=str)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    entries = _log(tmp_path)
    assert [e["customer_ids"] for e in entries if e["action"] == "lookup"] == [[someone["customer_id"]]]
    c360 = _customer_360(published)
    consenting = c360[c360["is_identified"] & (c360["email_opt_in"] == True) & c360["email"].notna()]  # noqa: E712
    assert set(downloaded["customer_id"]) == set(consenting["customer_id"])
    [logged] = [e for e in entries if e["action"] == "download"]
    assert logged["customer_ids"] == downloaded["customer_id"].tolist()
