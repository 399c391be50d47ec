"""The dashboard renders every page on a real published warehouse, and its figures match the warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.dashboard_server import start_in_background

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
# Every navigation entry: (page file relative to app.py, title, url path).
PAGES = [
    ("app_pages/overview.py", "Overview", ""),
    ("app_pages/profiling.py", "Profiling", "profiling"),
    ("app_pages/persistency.py", "Persistency", "persistency"),
    ("app_pages/profitability.py", "Profitability", "profitability"),
    ("app_pages/performance.py", "Performance", "performance"),
    ("app_pages/prospecting.py", "Prospecting", "prospecting"),
    ("app_pages/product.py", "Product", "product"),
    ("app_pages/promotion.py", "Promotion", "promotion"),
    ("app_pages/value_churn.py", "Value & churn", "value_churn"),
    ("app_pages/customer_lookup.py", "Customer lookup", "customer_lookup"),
    ("app_pages/audiences.py", "Audiences", "audiences"),
    ("app_pages/data_quality.py", "Data quality", "data_quality"),
]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ALL = "(all)"

pytestmark = pytest.mark.e2e


@pytest.fixture
def published(pipeline_run, monkeypatch):
    monkeypatch.setenv("ECRM_PUBLISHED", str(pipeline_run.published))
    # `streamlit run dashboards/app.py` puts dashboards/ on the path for the pages' `import queries`.
    monkeypatch.syspath_prepend(str(APP.parent))
    return pipeline_run.published


def mart(published: Path, sql: str, params: tuple = ()) -> pd.DataFrame:
    """Read the published copy directly, as the reference for what a page shows."""
    with duckdb.connect(str(published), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, list(params)).fetch_df()


def open_page(page: str, **filters):
    """The app through its navigation entry, on ``page``, with the sidebar filters set (by widget key)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    for key, value in filters.items():
        widget = at.date_input(key=key) if key == "filter_dates" else at.selectbox(key=key)
        widget.set_value(value)
    if filters:
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_tab(page: str, label: str, **filters):
    """``page`` with its section (a tab that runs only while open) ``label`` open."""
    import components

    at = open_page(page, **filters)
    at.session_state[components.section_key(page)] = label
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize(
    ("page", "title"), [(p, t) for p, t, _ in PAGES], ids=[u or "overview" for *_, u in PAGES]
)
def test_every_page_renders_through_the_navigation(published, page, title):
    at = open_page(page)
    assert at.title[0].value == title
    assert not [w.value for w in at.warning], "page says the warehouse is missing"
    # Every table shown can be downloaded as CSV.
    assert len(at.get("download_button")) >= len(at.dataframe)


def test_navigation_lists_the_pages_in_order():
    import ast

    tree = ast.parse(APP.read_text())
    listed = next(n for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.targets[0].id == "PAGES")
    assert [e.elts[1].value for e in listed.value.elts] == [t for _, t, _ in PAGES]


def _money(value: float) -> str:
    return f"{value:,.0f} EUR"


def _current_kpis(published: Path, channel=ALL, country=ALL, segment=ALL, complete=True) -> pd.Series:
    """The month the Overview shows by default: the latest complete one (the running one with ``complete``
    False)."""
    return mart(
        published,
        "select * from marts.performance__kpis where period_type = 'month' and sales_channel = ? "
        f"and country = ? and rfm_segment = ? {'and is_complete ' if complete else ''}"
        "order by period_start desc limit 1",
        (channel, country, segment),
    ).iloc[0]


def test_overview_figures_are_the_kpi_mart_and_follow_the_filters(published):
    whole = _current_kpis(published)
    at = open_page("app_pages/overview.py")
    shown = metrics(at)
    assert shown["Customers"] == f"{whole['customers']:,}"
    assert shown["Active customers"] == f"{whole['active_customers']:,}"
    assert shown["Revenue"] == _money(whole["revenue"])
    assert shown["Churn rate"] == f"{whole['churn_rate']:.1%}"
    # The predicted value is today's (the running month's row holds it), whichever month is shown.
    running = _current_kpis(published, complete=False)
    assert not running["is_complete"]
    assert whole["is_complete"]
    assert whole["period_start"] < running["period_start"]
    assert shown["Predicted 12-month value"] == _money(running["predicted_clv_12m"])
    # Including the running month shows its figures.
    at.toggle(key="overview_running").set_value(True).run()
    assert metrics(at)["Revenue"] == _money(running["revenue"])
    at.toggle(key="overview_running").set_value(False).run()
    # The drill-down lists exactly the active customers of the period.
    assert f"{whole['active_customers']:,} customers" in " ".join(c.value for c in at.caption)

    web = _current_kpis(published, channel="web")
    at = open_page("app_pages/overview.py", filter_sales_channel="web")
    shown = metrics(at)
    assert web["revenue"] < whole["revenue"]
    assert shown["Revenue"] == _money(web["revenue"])
    assert shown["Active customers"] == f"{web['active_customers']:,}"

    # The lapsed customers behind the churn rate, by quarter, for one country.
    country = mart(
        published, "select country from marts.performance__kpis where country <> '(all)' "
        "group by 1 order by max(customers) desc limit 1"
    )["country"].iloc[0]  # fmt: skip
    at = open_page("app_pages/overview.py", filter_country=country)
    at.radio(key="overview_period").set_value("Quarter").run()
    at.selectbox(key="overview_drill").set_value("Lapsed customers (churned)").run()
    quarter = mart(
        published, "select * from marts.performance__kpis where period_type = 'quarter' and sales_channel = '(all)' "
        "and country = ? and rfm_segment = '(all)' and is_complete order by period_start desc limit 1", (country,)
    ).iloc[0]  # fmt: skip
    assert metrics(at)["Customers"] == f"{quarter['customers']:,}"
    assert f"{quarter['lapsed_customers']:,} customers" in " ".join(c.value for c in at.caption)


def test_profiling_names_the_most_profitable_segment(published):
    seg = mart(published, "select * from marts.profiling__segments where rfm_segment <> 'prospect'")
    top = seg.sort_values("gross_margin", ascending=False).iloc[0]
    at = open_page("app_pages/profiling.py")
    assert metrics(at)["Most profitable segment"] == top["rfm_segment"]
    # The customers behind the largest move of the newest month end.
    month = mart(published, "select max(snapshot_month) as m from marts.profiling__segment_movement")[
        "m"
    ].iloc[0]
    moves = mart(
        published, "select * from marts.profiling__segment_movement where snapshot_month = ? "
        "order by customers desc limit 1", (month,)
    ).iloc[0]  # fmt: skip
    at = open_tab("app_pages/profiling.py", "Moves between segments")
    at.selectbox(key="move_from").set_value(moves["from_segment"]).run()
    at.selectbox(key="move_to").set_value(moves["to_segment"]).run()
    assert len(at.dataframe[1].value) == moves["customers"]
    at = open_page("app_pages/profiling.py", filter_rfm_segment="loyal")
    assert list(at.dataframe[0].value["rfm_segment"]) == ["loyal"]
    at = open_tab("app_pages/profiling.py", "Customers in a segment", filter_rfm_segment="loyal")
    listed = at.dataframe[0].value
    assert len(listed) == int(seg.set_index("rfm_segment").loc["loyal", "customers"])


def test_persistency_cohorts_follow_the_date_range(published):
    cohorts = mart(published, "select * from marts.persistency__cohort_retention")
    at = open_page("app_pages/persistency.py")
    assert len(at.dataframe[0].value) == len(cohorts)
    month6 = cohorts[cohorts["months_since_first_order"] == 6].sort_values(
        "cumulative_revenue_per_customer", ascending=False
    )
    at = open_tab("app_pages/persistency.py", "Value per customer")
    assert metrics(at)["Cohort worth most by month 6"] == f"{month6['cohort_month'].iloc[0]:%Y-%m}"
    last = mart(published, "select max(order_date) as last from marts.fct_orders")["last"].iloc[0]
    late = (pd.Timestamp(last) - pd.Timedelta(days=200)).date()
    at = open_page("app_pages/persistency.py", filter_dates=(late, pd.Timestamp(last).date()))
    want = cohorts[pd.to_datetime(cohorts["cohort_month"]) >= pd.Timestamp(late).to_period("M").start_time]
    assert 0 < len(at.dataframe[0].value) == len(want) < len(cohorts)


def test_profitability_shows_the_pareto_share_and_the_losses(published):
    curve = mart(published, "select * from marts.profitability__pareto")
    at = open_page("app_pages/profitability.py")
    shown = metrics(at)
    top10 = curve.loc[curve["percentile"] == 10, "cumulative_share_of_profit"].iloc[0]
    assert shown["Profit share of the top 10 % of customers"] == f"{top10:.1%}"
    assert shown["Loss-making customers"] == f"{curve['loss_making_customers'].sum():,}"


def test_the_other_tabs_of_persistency_profitability_and_value_show_their_marts(published):
    """Each other tab lists its mart's rows: the repeat-purchase curve, the customers of the first profit
    decile and the loss-makers, the acquisition channels, and the most valuable high-risk customers."""
    repeat = mart(published, "select * from marts.persistency__repeat_purchase")
    at = open_tab("app_pages/persistency.py", "Repeat purchase")
    assert sorted(at.dataframe[0].value["order_number"]) == sorted(repeat["order_number"])
    assert len(at.get("plotly_chart")) == 2

    profit = mart(published, "select * from marts.profitability__customers")
    at = open_tab("app_pages/profitability.py", "Customers by profit")
    decile_1, losses = (frame.value for frame in at.dataframe)
    assert set(decile_1["customer_id"]) == set(profit.loc[profit["profit_decile"] == 1, "customer_id"])
    assert set(losses["customer_id"]) == set(profit.loc[profit["net_profit"] < 0, "customer_id"])
    channels = mart(published, "select * from marts.profitability__acquisition_channels")
    at = open_tab("app_pages/profitability.py", "Acquisition channels")
    assert len(at.dataframe[0].value) == len(channels)

    high = mart(
        published, "select customer_id from marts.customer_360 where churn_band = 'high' "
        "order by clv_12m desc nulls last, customer_id limit 200"
    )  # fmt: skip
    at = open_tab("app_pages/value_churn.py", "Valuable customers at risk")
    assert at.selectbox(key="risk_band").value == "high"
    assert list(at.dataframe[0].value["customer_id"]) == list(high["customer_id"])
    at = open_tab("app_pages/value_churn.py", "Spread of value")
    assert len(at.get("plotly_chart")) == 2
    assert not at.dataframe


def test_performance_sales_follow_the_country_filter(published):
    sales = mart(published, "select * from marts.performance__sales_monthly")
    at = open_page("app_pages/performance.py")
    assert at.dataframe[0].value["revenue"].sum() == pytest.approx(sales["revenue"].sum())
    country = sales.groupby("country")["revenue"].sum().idxmax()
    at = open_page("app_pages/performance.py", filter_country=country)
    shown = at.dataframe[0].value
    assert shown["revenue"].sum() == pytest.approx(sales.loc[sales["country"] == country, "revenue"].sum())
    assert shown["revenue"].sum() < sales["revenue"].sum()
    # One chart at a time: revenue, or its change against the previous month (the same table under both).
    assert ["Revenue by month" in chart.proto.spec for chart in at.get("plotly_chart")] == [True]
    at.radio(key="performance_measure").set_value("Change against the previous month").run()
    assert [
        "Change of revenue against the previous month" in c.proto.spec for c in at.get("plotly_chart")
    ] == [True]
    assert at.dataframe[0].value["revenue"].sum() == pytest.approx(shown["revenue"].sum())


def test_performance_tabs_show_the_days_and_a_categorys_products(published):
    """Day by day sums to the daily mart (and to one country's rows under its filter); Products of a
    category lists the products of the first category in name order with the monthly mart's revenue."""
    daily = mart(published, "select * from marts.performance__sales_daily")
    at = open_tab("app_pages/performance.py", "Day by day")
    shown = at.dataframe[0].value
    assert len(at.dataframe) == 1  # the days' table alone
    assert "order_date" in shown.columns
    assert shown["revenue"].sum() == pytest.approx(daily["revenue"].sum())
    assert shown["gross_margin"].sum() == pytest.approx(daily["gross_margin"].sum())
    country = daily.groupby("country")["revenue"].sum().idxmax()
    at = open_tab("app_pages/performance.py", "Day by day", filter_country=country)
    assert at.dataframe[0].value["revenue"].sum() == pytest.approx(
        daily.loc[daily["country"] == country, "revenue"].sum()
    )
    products = mart(published, "select * from marts.performance__products_monthly")
    category = sorted(products["category"].unique())[0]
    at = open_tab("app_pages/performance.py", "Products of a category")
    assert at.selectbox(key="performance_category").value == category
    listed = at.dataframe[0].value
    want = products[products["category"] == category].groupby("product_id")["revenue"].sum()
    assert listed["revenue"].sum() == pytest.approx(want.sum())
    assert len(listed) == len(want)


def test_product_tabs_show_bundles_wishes_and_first_purchases(published):
    """Each of Product's other tabs shows its mart: every bundle, the wish-list ranking in rank order, and
    the first categories by revenue per customer."""
    bundles = mart(published, "select * from marts.product__bundles")
    at = open_tab("app_pages/product.py", "Bundles to offer")
    if bundles.empty:
        assert [i.value for i in at.info]
    else:
        assert len(at.dataframe[0].value) == len(bundles)
    wanted = mart(published, "select * from marts.product__wishlist_ranking order by want_rank limit 100")
    at = open_tab("app_pages/product.py", "Wish-list ranking")
    assert list(at.dataframe[0].value["product_id"]) == list(wanted["product_id"])
    assert len(at.get("plotly_chart")) == 1
    first = mart(published, "select * from marts.product__first_purchase_ltv where level = 'category'")
    at = open_tab("app_pages/product.py", "Value by first purchase")
    assert sorted(at.dataframe[0].value["first_purchase"]) == sorted(first["first_purchase"])


def test_prospecting_funnel_is_the_mart(published):
    acq = mart(published, "select * from marts.prospecting__acquisition_monthly")
    at = open_page("app_pages/prospecting.py")
    funnel = at.dataframe[0].value.set_index("channel")
    want = acq.groupby("channel")["sessions"].sum()
    assert funnel["sessions"].to_dict() == want[want.index.isin(funnel.index)].to_dict()


def test_product_rules_follow_the_lift_filter(published):
    rules = mart(published, "select * from marts.product__affinities where rule_level = 'product'")
    at = open_page("app_pages/product.py")
    shown = at.dataframe[0].value
    assert len(shown) == min(300, int((rules["lift"] >= 1).sum()))
    assert {"antecedent_names", "consequent_names"} <= set(shown.columns)
    cut = float(rules["lift"].median())
    at.number_input(key="min_lift").set_value(cut).run()
    assert len(at.dataframe[0].value) == min(300, int((rules["lift"] >= cut).sum())) < len(rules)


def test_promotion_marks_campaigns_without_measurable_effect(published):
    eff = mart(published, "select * from marts.promotion__campaign_effectiveness")
    at = open_page("app_pages/promotion.py")
    shown = at.dataframe[0].value.set_index("campaign_id")
    assert set(shown.index) == set(eff["campaign_id"])
    eff = eff.set_index("campaign_id")
    # The interval spans zero (or there is none: no control group) exactly where the page says so.
    spans_zero = ~((eff["uplift_ci_low"] > 0) | (eff["uplift_ci_high"] < 0))
    assert spans_zero.any()
    assert (shown.loc[eff.index, "effect"].eq("no measurable effect") == spans_zero).all()


def test_value_and_churn_bands_are_ordered_and_follow_the_filters(published):
    bands = mart(published, "select * from marts.profiling__churn_bands")
    at = open_page("app_pages/value_churn.py")
    table = at.dataframe[0].value
    order = ["low", "medium", "high", "not scored"]
    assert list(table["churn_band"]) == [b for b in order if b in set(bands["churn_band"])]
    assert (
        table.set_index("churn_band")["customers"].to_dict()
        == bands.groupby("churn_band")["customers"].sum().to_dict()
    )
    country = bands.groupby("country")["customers"].sum().idxmax()
    at = open_page("app_pages/value_churn.py", filter_country=country)
    want = bands[bands["country"] == country].groupby("churn_band")["customers"].sum().to_dict()
    assert at.dataframe[0].value.set_index("churn_band")["customers"].to_dict() == want


# The script run has finished and every Plotly chart has drawn.
DRAWN = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    return Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).every(
        (c) => c.querySelector('.main-svg'));
}"""


def serve(published: Path):
    """Start the dashboard on ``published`` on a free port; (process, url)."""
    return start_in_background(published)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make browser)")
def test_every_page_opens_in_a_real_browser(published, tmp_path):
    from playwright.sync_api import sync_playwright

    server, url = serve(published)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for _, title, path in PAGES:
                page.goto(f"{url}/{path}", timeout=60_000)
                page.locator("h1").filter(has_text=title).first.wait_for(timeout=60_000)
                page.wait_for_function(DRAWN, timeout=60_000)
                page.screenshot(path=str(tmp_path / f"{path or 'overview'}.png"), full_page=True)
                assert page.locator('[data-testid="stException"]').count() == 0, title
                assert "Traceback" not in page.inner_text("body"), title
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(list(tmp_path.glob("*.png"))) == len(PAGES)


MANIFEST_BEFORE_DRIFT_COLUMNS = """
    create table ops.load_manifest (
        path varchar primary key, sha256 varchar, source varchar, entity varchar, rows_read bigint,
        rows_loaded bigint, rows_quarantined bigint, status varchar, error varchar, loaded_at timestamptz
    )
"""


def _publish_manifest(published: Path, tmp_path: Path, with_drift_columns: bool) -> None:
    """Publish a warehouse holding only a load manifest of three files, as loaded before or after the
    loader recorded each file's encoding, schema-drift warnings and erased rows."""
    from orchestration.warehouse import publish

    warehouse = tmp_path / ("after" if with_drift_columns else "before") / "ecrm.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops; create schema quarantine")
        con.execute(MANIFEST_BEFORE_DRIFT_COLUMNS)
        con.execute(
            """
            insert into ops.load_manifest values
                ('crm/customers/a.csv', 'h1', 'crm', 'customers', 10, 8, 2, 'loaded', null, '2024-06-01'),
                ('shop/orders/b.csv', 'h2', 'shop', 'orders', 5, 5, 0, 'loaded', null, '2024-06-01'),
                ('shop/orders/c.csv', 'h3', 'shop', 'orders', 0, 0, 0, 'rejected', 'empty file', '2024-06-01')
            """
        )
        if with_drift_columns:
            con.execute(
                "alter table ops.load_manifest add column rows_erased bigint default 0;"
                "alter table ops.load_manifest add column encoding varchar;"
                "alter table ops.load_manifest add column warnings varchar;"
                "update ops.load_manifest set encoding = 'utf-8';"
                "update ops.load_manifest set encoding = 'cp1252', rows_erased = 3, "
                "warnings = 'undeclared columns present: loyalty_tier' where path = 'crm/customers/a.csv'"
            )
    publish(warehouse, published)


def test_data_quality_shows_encodings_warnings_and_erased_rows(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    published = tmp_path / "published" / "ecrm_published.duckdb"
    monkeypatch.setenv("ECRM_PUBLISHED", str(published))
    monkeypatch.syspath_prepend(str(APP.parent))
    page = str(APP.parent / "app_pages" / "data_quality.py")

    # A warehouse loaded before the manifest had the columns: the page works, the figures say "not known".
    _publish_manifest(published, tmp_path, with_drift_columns=False)
    at = AppTest.from_file(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Files"], metrics["Rows read"], metrics["Rows quarantined"]) == ("3", "15", "2")
    assert metrics["Files rejected"] == "1"
    assert (metrics["Files with warnings"], metrics["Rows erased"]) == ("—", "—")
    files = at.dataframe[0].value
    assert {"encoding", "warnings", "rows_erased"} <= set(files.columns)
    assert files["encoding"].isna().all()

    # The same copy republished by a newer loader: per file encoding and warnings, and the two figures.
    _publish_manifest(published, tmp_path, with_drift_columns=True)
    at = AppTest.from_file(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Files with warnings"], metrics["Rows erased"]) == ("1", "3")
    files = at.dataframe[0].value.set_index("path")
    assert files.loc["crm/customers/a.csv", "encoding"] == "cp1252"
    assert files.loc["shop/orders/b.csv", "encoding"] == "utf-8"
    assert files.loc["crm/customers/a.csv", "warnings"] == "undeclared columns present: loyalty_tier"
    assert pd.isna(files.loc["shop/orders/b.csv", "warnings"])
    assert "Schema-drift warnings" in [s.value for s in at.subheader]
    assert list(at.dataframe[1].value["path"]) == ["crm/customers/a.csv"]


MY_PAGES = [p for p, *_ in PAGES if not p.endswith(("customer_lookup.py", "audiences.py"))]


@pytest.mark.parametrize("page", MY_PAGES, ids=[Path(p).stem for p in MY_PAGES])
def test_a_page_without_its_marts_says_what_would_fill_them(tmp_path, monkeypatch, page):
    """A warehouse holding only a load manifest (no marts built): each page renders a notice, no traceback."""
    published = tmp_path / "published" / "ecrm_published.duckdb"
    monkeypatch.setenv("ECRM_PUBLISHED", str(published))
    monkeypatch.syspath_prepend(str(APP.parent))
    _publish_manifest(published, tmp_path, with_drift_columns=True)
    at = open_page(page)
    notices = [n.value for n in at.info] + [n.value for n in at.warning]
    if page.endswith("data_quality.py"):
        assert metrics(at)["Files"] == "3"
    else:
        assert any("Not built yet" in n and "ecrm run" in n for n in notices), notices
