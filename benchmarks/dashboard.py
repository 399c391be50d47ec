"""Dashboard speed in a real browser: time to render every page and to apply a filter change.

Usage: ``python benchmarks/dashboard.py --published PATH [--rounds 3] [--chromium /usr/bin/chromium]``.

``PATH`` is a published warehouse copy (``ecrm_published.duckdb``). A 100,000-customer one is built with::

    ecrm generate --customers 100000 --out bench100k
    ecrm run --landing bench100k/landing --warehouse bench100k/warehouse/ecrm.duckdb
    python benchmarks/dashboard.py --published bench100k/warehouse/ecrm_published.duckdb

The script serves ``dashboards/app.py`` with ``streamlit run`` and drives Debian's chromium through
Playwright (no browser is downloaded). Per round it loads the app and opens every page by clicking its
navigation link. On each page it sets the Country filter in the sidebar to the first country offered and
back to All; on a page in tabs (which run only while open) it then opens each other tab and goes back to
the first. A page counts as rendered when the app reports its script run finished
(``data-test-script-state`` of ``stApp`` back to ``notRunning`` after a run), the page's title is shown and
every Plotly chart has drawn (the page is scrolled down for that: Streamlit mounts a chart only when it
comes into view). One server serves every round, each in a new browser session: round 1 finds nothing cached
yet, later rounds show the speed with the queries cached (as for every user after the first, until the next
publish). Prints a Markdown table and writes JSON to ``benchmarks/results/dashboard_<customers>.json``.
Targets (issue 14): a page under 2 s, a filter change under 1 s, on 100,000 customers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import duckdb

from orchestration.dashboard_server import start_in_background

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = ["Overview", "Profiling", "Persistency", "Profitability", "Performance", "Prospecting", "Product",
         "Promotion", "Value & churn", "Customer lookup", "Audiences", "Data quality"]  # fmt: skip

# Records whether a script run started since it was installed (the attribute's old value is kept, so a
# run too short to be seen as 'running' by a later check is still noticed).
WATCH_RUN = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.__ranSince = false;
    if (window.__runWatcher) window.__runWatcher.disconnect();
    window.__runWatcher = new MutationObserver((records) => {
        for (const r of records) {
            if (r.oldValue === 'running' || app.getAttribute('data-test-script-state') === 'running') {
                window.__ranSince = true;
            }
        }
    });
    window.__runWatcher.observe(app, {attributes: true, attributeOldValue: true,
                                      attributeFilter: ['data-test-script-state']});
}"""
RUN_DONE = """(title) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || !(window.__ranSince || window.__firstLoad)) return false;
    if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const h1 = document.querySelector('h1');
    if (title && (!h1 || !h1.innerText.includes(title))) return false;
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
    return Array.from(charts).every((c) => c.querySelector('.main-svg'));
}"""


def customers_in(published: Path) -> int:
    """Customers (buyers) of the warehouse measured, for the result's name."""
    with duckdb.connect(str(published), read_only=True) as con:
        return int(con.execute("select count(distinct customer_id) from marts.fct_orders").fetchone()[0])


def start_server(published: Path) -> tuple[subprocess.Popen, str]:
    """``streamlit run dashboards/app.py`` on the published copy; (process, url) once it listens."""
    return start_in_background(published)


def draw_everything(page) -> None:
    """Scroll down the page until no chart is left as a skeleton (Streamlit mounts a chart lazily, when it
    is scrolled into view), wait for every chart to draw, and scroll back to the top."""
    page.mouse.move(800, 500)
    for _ in range(40):
        if page.locator('[data-testid="stSkeleton"]').count() == 0:
            break
        page.mouse.wheel(0, 900)
        page.wait_for_timeout(30)
    page.wait_for_function(RUN_DONE, arg=None, timeout=120_000, polling=20)
    page.mouse.wheel(0, -100_000)


def timed(page, action, title: str | None) -> float:
    """Seconds from ``action()`` until the script run it caused has finished and the page has drawn,
    every chart included."""
    page.evaluate(WATCH_RUN)
    started = time.perf_counter()
    action()
    page.wait_for_function(RUN_DONE, arg=title, timeout=120_000, polling=20)
    draw_everything(page)
    return time.perf_counter() - started


def first_load(page, url: str) -> float:
    """Seconds from opening the app in a new tab until its first page has drawn."""
    page.add_init_script("window.__firstLoad = true")
    started = time.perf_counter()
    page.goto(url, timeout=120_000)
    page.wait_for_function(RUN_DONE, arg="Overview", timeout=120_000, polling=20)
    draw_everything(page)
    seconds = time.perf_counter() - started
    page.evaluate("window.__firstLoad = false")
    return seconds


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar selectbox labelled ``label``."""
    page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def one_round(browser, url: str, country: str) -> dict:
    """Open every page and change the country filter on it, in a new browser session; seconds per step."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    figures: dict[str, dict[str, float]] = {}
    first = first_load(page, url)
    # The app opens on Overview: visit the others first, then come back to it by its link.
    for title in [*PAGES[1:], PAGES[0]]:
        link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first
        opened = timed(page, link.click, title)
        to_country = timed(page, lambda: choose(page, "Country", country), title)
        back = timed(page, lambda: choose(page, "Country", "All"), title)
        figures[title] = {"page": opened, "filter": to_country, "filter_back": back, "sections": {}}
        # A page in sections (tabs that run only while open) opens on its first: time opening each other
        # section, then go back to the first so the next page starts as a user would find it.
        tabs = page.locator('[data-testid="stTabs"] [role="tab"]')
        for i in range(1, tabs.count()):
            figures[title]["sections"][tabs.nth(i).inner_text()] = timed(page, tabs.nth(i).click, title)
        if tabs.count() > 1:
            timed(page, tabs.first.click, title)
    page.close()
    return {"first_load": first, "pages": figures}


def main(argv: list[str] | None = None) -> None:
    """Measure the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    customers = customers_in(args.published)
    with duckdb.connect(str(args.published), read_only=True) as con:
        country = con.execute(
            "select country from marts.performance__kpis where country <> '(all)' order by country limit 1"
        ).fetchone()[0]
    rounds = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=args.chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        server, url = start_server(args.published)
        try:
            for _ in range(args.rounds):
                rounds.append(one_round(browser, url, country))
        finally:
            server.terminate()
            server.wait(timeout=30)
        browser.close()

    print(f"\nDashboard on {customers:,} customers, {args.rounds} rounds (round 1 uncached); seconds\n")
    print(
        "| page | open, round 1 | open, later (median) | filter change, round 1 | filter change, later (median) "
        "| another section, later (median of the slowest) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for title in PAGES:
        cold = rounds[0]["pages"][title]
        warm = [r["pages"][title] for r in rounds[1:]]
        later = {
            key: f"{statistics.median(w[key] for w in warm):.2f}" if warm else "—"
            for key in ("page", "filter")
        }
        slowest = [max(w["sections"].values()) for w in warm if w["sections"]]
        section = f"{statistics.median(slowest):.2f}" if slowest else "—"
        print(
            f"| {title} | {cold['page']:.2f} | {later['page']} | {cold['filter']:.2f} | {later['filter']} "
            f"| {section} |"
        )
    print(f"\nFirst load of the app (new session): {rounds[0]['first_load']:.2f} s")
    out = args.out or RESULTS / f"dashboard_{customers}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"customers": customers, "country_filter": country, "rounds": rounds}, indent=2)
    )
    print(f"Written to {out}")


if __name__ == "__main__":
    main()
