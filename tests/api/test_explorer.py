"""The explorer in headless Chromium against a real node: every page, links, search, keyboard.

One API world (the read scenario, a retirement with hostile text, the Article 6 world) and one
browser serve every test. Debian's chromium is driven through Playwright; without it the tests
skip, except under CI (`make test` installs it there, see the Makefile's `browser` target).
Every request the browser makes is intercepted: anything not to 127.0.0.1 fails the test.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from eth_account.signers.local import LocalAccount
from sqlalchemy import event

from api.app import create_app
from node.devchain import DevChain
from tests.api.article6_world import build_a6_world
from tests.api.conftest import build_node
from tests.api.public_world import FORMULA_BENEFICIARY, PublicWorld, build_public_world

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_browser() -> Any:
    """Return Playwright's sync API, or skip (fail under CI) when it or chromium is missing."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason is None and not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run `make browser` as root (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Site:
    """The explorer served over HTTP, the scenario behind it, and the browser's foreign requests."""

    url: str
    public: PublicWorld
    shots: Path
    foreign: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    """Build the scenario on SQLite and serve the app with uvicorn on 127.0.0.1."""
    _need_browser()
    nodes = build_node(session_chain, dev_keys, tmp_path_factory.mktemp("explorer"))
    node = next(nodes)
    try:
        public = build_public_world(node)
        build_a6_world(node, "sqlite")
        head = node.registry.client.block_number()
        node.wait_indexed(head)
        public.head = head
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(node.services, run_workers=False),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            yield Site(f"http://127.0.0.1:{port}", public, tmp_path_factory.mktemp("screenshots"))
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    finally:
        next(nodes, None)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    """One headless Chromium for the module."""
    sync_playwright = _need_browser()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(site: Site, browser: Any) -> Iterator[Any]:
    """A fresh page whose every request is checked: only 127.0.0.1 may be asked."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def guard(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname
        if url.startswith(("data:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            site.foreign.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
    assert site.foreign == [], f"the browser asked other hosts: {site.foreign}"


def _check_page(page: Any, site: Site, name: str) -> None:
    """Check what every page must have, and take its screenshot."""
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("main h1").count() == 1
    assert page.locator("header nav").count() == 1
    as_of = re.search(r"as of block (\d+)", page.locator(".as-of").inner_text())
    assert as_of is not None and int(as_of.group(1)) >= site.public.head
    for table in page.locator("table").all():
        assert table.locator("caption").inner_text().strip()
        headings = table.locator("thead th")
        assert headings.count() > 0
        assert all(h.get_attribute("scope") == "col" for h in headings.all())
    assert page.locator("table").count() == page.locator("a[download]").count()
    for control in page.locator("input, select").all():
        control_id = control.get_attribute("id")
        assert control_id and page.locator(f"label[for='{control_id}']").count() == 1
    # Every transaction hash links to its page, which shows it in full; tables abbreviate it
    # and carry it whole in the link's title.
    for link in page.locator("table a[href^='/tx/']").all():
        whole = link.get_attribute("href").removeprefix("/tx/")
        assert re.fullmatch(r"0x[0-9a-f]{64}", whole)
        assert link.get_attribute("title") == whole
        text = link.inner_text().strip()
        assert whole.startswith(text[:10]) and whole.endswith(text[-8:])
    # On a laptop's width every table fits without scrolling, and free text wraps between
    # words (a word is split only when it is wider than its column may grow).
    assert page.eval_on_selector_all(
        ".scroll", "els => els.every(e => e.scrollWidth <= e.clientWidth)"
    ), f"{name}: a table is wider than the page"
    assert page.eval_on_selector_all("td.text", _WORDS_WHOLE), f"{name}: a word is split"
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)


_WORDS_WHOLE = """cells => cells.every(td => {
    const style = getComputedStyle(td);
    const measure = document.createElement("canvas").getContext("2d");
    measure.font = style.font;
    const inner = td.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const widest = parseFloat(style.maxWidth);
    return td.innerText.split(/\\s+/).every(
        word => measure.measureText(word).width <= inner + 1 || inner >= widest - 1
    );
})"""


def _pages(site: Site) -> dict[str, str]:
    world = site.public.world
    v, _ = world.issuances["alpha_vcu"]
    cancelled = httpx.get(f"{site.url}/v1/registers/units/{v + 420}").json()
    return {
        "home": "/",
        "projects": "/projects",
        "project": "/projects/PRJ-ALPHA",
        "issuances": "/issuances",
        "unit": f"/units/{v + 420}",
        "retirements": "/retirements",
        "labels": "/labels",
        "article6": "/article6",
        "tx": f"/tx/{cancelled['cancellation']['tx_hash']}",
        "search": "/search?q=acme",
    }


def test_every_page_loads_with_its_conventions(page: Any, site: Site) -> None:
    for name, path in _pages(site).items():
        response = page.goto(site.url + path)
        assert response.status == 200, (path, response.status)
        assert response.headers["content-type"].startswith("text/html")
        _check_page(page, site, name)
    # The hostile beneficiary is text on the page, not markup: no <img> was made of it.
    page.goto(site.url + "/retirements?beneficiary=zed")
    assert FORMULA_BENEFICIARY in page.locator("#retirements tbody").inner_text()
    assert page.locator("#retirements img").count() == 0


def test_each_table_downloads_as_csv(page: Any, site: Site) -> None:
    page.goto(site.url + "/projects/PRJ-ALPHA")
    links = [a.get_attribute("href") for a in page.locator("a[download]").all()]
    assert len(links) == 2
    totals = httpx.get(site.url + links[0])
    assert totals.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(totals.text)))
    assert [(r["Unit type"], r["Vintage"], r["Issued"], r["Cancelled"]) for r in rows] == [
        ("ACCU", "2021", "1,000", "50"),
        ("ACCU", "2023", "200", "10"),
        ("All", "", "1,200", "60"),
    ]
    page.goto(site.url + "/retirements?beneficiary=zed")
    api_csv = page.locator("a", has_text="whole register as CSV").get_attribute("href")
    assert api_csv.startswith("/v1/registers/cancellations?")
    retired = list(csv.DictReader(io.StringIO(httpx.get(site.url + api_csv).text)))
    assert [r["beneficiary"] for r in retired] == ["'" + FORMULA_BENEFICIARY]
    own = page.locator("a[download]").get_attribute("href")
    (row,) = list(csv.DictReader(io.StringIO(httpx.get(site.url + own).text)))
    assert row["Beneficiary"] == "'" + FORMULA_BENEFICIARY  # formula text quoted here too


def test_links_lead_from_the_start_to_a_transaction(page: Any, site: Site) -> None:
    world = site.public.world
    a, a_end = world.issuances["alpha_accu"]
    page.goto(site.url + "/")
    page.get_by_role("navigation", name="Registers").get_by_role("link", name="Projects").click()
    assert page.url == site.url + "/projects"
    page.get_by_role("link", name="PRJ-ALPHA", exact=True).click()
    assert page.url == site.url + "/projects/PRJ-ALPHA"
    assert "Savanna burning" in page.locator("h1").inner_text()
    page.locator("#issuances").get_by_role("link", name=f"{a}\u2013{a_end}").click()
    assert page.url == f"{site.url}/units/{a}"
    history = page.locator("#history tbody").inner_text()
    assert "issued" in history and "transfer initiated" in history
    assert "transfer approved" in history  # two-person transfer of [a, a+49] to Bravo
    assert "Bravo" not in page.content() and "Alpha Carbon" not in page.content()
    page.locator("#history").get_by_role("link").first.click()
    assert "/tx/0x" in page.url
    assert page.url.removeprefix(site.url + "/tx/") in page.locator("dl.facts").inner_text()
    assert "UnitsIssued" in page.locator("#events").inner_text()
    records = page.locator("#records")
    assert "issuance" in records.inner_text()
    _check_page(page, site, "tx-issuance")


def test_search_by_keyboard_finds_a_retirement_by_beneficiary(page: Any, site: Site) -> None:
    world = site.public.world
    page.goto(site.url + "/")
    for _ in range(20):
        if page.evaluate("document.activeElement && document.activeElement.id") == "home-search":
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("Tab never reached the search box")
    focus = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus != "none"  # the focus is visible
    page.keyboard.type("commonWEALTH")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/search\?q=commonWEALTH$"))
    found = page.locator("#retirements tbody tr")
    assert found.count() == 1
    text = found.inner_text()
    assert "Commonwealth" in text and "ndc_use" in text
    assert str(world.cancelled_ndc) in found.locator("th").inner_text()
    _check_page(page, site, "search-commonwealth")
    # A serial jumps to its unit, a transaction hash to its transaction.
    b, _ = world.issuances["bravo_accu"]
    page.fill("#site-search", str(b + 105))
    page.press("#site-search", "Enter")
    page.wait_for_url(f"{site.url}/units/{b + 105}")
    assert "cancelled" in page.locator("#history").inner_text()


def test_the_retirement_form_filters(page: Any, site: Site) -> None:
    page.goto(site.url + "/retirements")
    page.select_option("#f-purpose", "voluntary")
    page.fill("#f-project_id", "PRJ-BRAVO")
    page.get_by_role("button", name="Find retirements").click()
    page.wait_for_url(re.compile(r".*purpose=voluntary.*"))
    rows = page.locator("#retirements tbody tr")
    assert rows.count() == 2  # Acme's VCU part and the hostile one, both of PRJ-BRAVO
    assert page.locator("#f-purpose").input_value() == "voluntary"
    page.fill("#f-until", "2000-01-01")
    page.get_by_role("button", name="Find retirements").click()
    page.wait_for_url(re.compile(r".*until=2000-01-01.*"))
    assert "No retirement matches." in page.locator("#retirements tbody").inner_text()


def test_article6_shows_parties_and_approaches(page: Any, site: Site) -> None:
    page.goto(site.url + "/article6")
    parties = page.locator("#parties tbody").inner_text()
    assert "MN" in parties and "JPN" in parties and "JCM-MN-JP" in parties
    approaches = page.locator("#approaches tbody").inner_text()
    assert "Joint Crediting Mechanism" in approaches
    # Administrators' and label authorities' addresses are not shown; only tx hashes.
    assert re.search(r"\b0x[0-9a-fA-F]{40}\b", page.locator("main").inner_text()) is None


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/units/0", 422, "INVALID_SERIAL"),
        ("/units/99999999999", 404, "UNIT_NOT_FOUND"),
        ("/projects/PRJ-NONE", 404, "PROJECT_NOT_FOUND"),
        ("/tx/0x12", 422, "INVALID_TX_HASH"),
        ("/tx/0x" + "0" * 64, 404, "TX_NOT_FOUND"),
        ("/retirements?vintage=MMXXI", 422, "INVALID_FILTER"),
        ("/retirements?purpose=retire", 422, "INVALID_FILTER"),
        ("/retirements?since=yesterday", 422, "INVALID_FILTER"),
        ("/retirements?cursor=abc", 422, "INVALID_CURSOR"),
        ("/projects?format=pdf", 422, "INVALID_FORMAT"),
        ("/projects?format=csv&table=nope", 422, "INVALID_FILTER"),
        ("/search?q=0", 422, "INVALID_SERIAL"),
    ],
)
def test_bad_input_is_a_problem_page_or_json(site: Site, path: str, status: int, code: str) -> None:
    html = httpx.get(site.url + path, headers={"Accept": "text/html"})
    assert html.status_code == status
    assert html.headers["content-type"].startswith("text/html")
    assert code in html.text and 'lang="en"' in html.text
    problem = httpx.get(site.url + path)
    assert problem.status_code == status
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["code"] == code


def test_each_page_runs_few_sql_statements(site: Site) -> None:
    """One snapshot (its checkpoint read) and one to three statements of the page's own."""
    engine = site.public.world.node.services.engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Requests are served on AnyIO's worker threads; the indexer thread is not counted.
        if threading.current_thread().name.startswith("AnyIO worker thread"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        measured = {}
        for name, path in _pages(site).items():
            statements.clear()
            assert httpx.get(site.url + path).status_code == 200
            measured[name] = sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # The snapshot's checkpoint read, then the page's own: 1 to 3 (measured: 1 to 3).
    assert min(measured.values()) >= 2, measured
    assert max(measured.values()) <= 4, measured
