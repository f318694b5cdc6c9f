"""The dashboard in Debian's chromium (Playwright), served by uvicorn on a loopback port."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from ceoline.store import Store
from ceoline.web import create_app
from tests.web_support import (
    PASSWORD,
    XSS_ATTRIBUTE,
    XSS_SCRIPT,
    add_users,
    group_themes,
    seed_calls,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not shutil.which("chromium"),
    reason="needs Debian's chromium (make sysdeps)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(config):
    store = Store.open(config.data_dir)
    add_users(store)
    ids = seed_calls(store)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, store=store), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", ids, store
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


@pytest.fixture
def page():
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def test_review_themes_and_escaping_in_a_real_browser(served, page, tmp_path, capsys):
    base, ids, store = served
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    shots: list[Path] = []

    def shot(name: str) -> None:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    page.goto(f"{base}/calls")
    assert page.url == f"{base}/login"
    shot("login")
    page.fill("input[name=name]", "rita")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/calls")
    assert page.locator("table.calls tbody tr").count() == 3
    shot("calls")

    page.click(f"a[href='/calls/{ids['invoices']}']")
    page.wait_for_url(f"{base}/calls/{ids['invoices']}")
    assert page.get_by_text("My invoice reminders went out twice").first.is_visible()
    shot("call")

    page.goto(f"{base}/review")
    items = page.locator(".queue .item")
    assert items.count() == 4
    first = items.first
    item_id = first.get_attribute("id")
    assert "My invoice reminders" in first.inner_text()
    shot("review-before")
    first.locator("button.mark-reviewed").click()
    page.wait_for_load_state()
    assert page.locator(".queue .item").count() == 3
    assert page.locator(f"#{item_id}").count() == 0
    shot("review-after")

    themes = set(group_themes(store))
    page.goto(f"{base}/themes")
    chart = page.locator("svg.chart").first
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() >= 1
    assert page.locator(".theme").count() >= 2 * len(themes)  # in the 7- and 30-day lists
    assert "My invoice reminders went out twice" in page.locator(".theme").first.inner_text()
    assert page.locator(".theme img").count() == 0  # a caller's markup is text here too
    shot("themes")
    page.locator(".theme a").first.click()
    page.wait_for_load_state()
    page.fill("input[name=title]", "Reminders sent twice")
    page.click("button.rename")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Reminders sent twice"
    page.goto(f"{base}/themes")
    assert "named by rita" in page.locator(".theme").first.inner_text()
    shot("themes-renamed")

    page.goto(f"{base}/calls/{ids['xss']}")
    transcript = page.locator("table.transcript").inner_text()
    assert XSS_SCRIPT in transcript and XSS_ATTRIBUTE in transcript
    assert page.locator("table.transcript img").count() == 0
    assert page.locator("main script").count() == 0
    shot("xss-call")

    page.goto(f"{base}/latency")
    shot("latency")
    assert dialogs == []
    reviewed = store.db.execute(
        "SELECT reviewed_by FROM feedback_items WHERE id = ?", [int(item_id.split("-")[1])]
    ).fetchone()
    assert reviewed == ("rita",)
    with capsys.disabled():
        print("\ndashboard screenshots:")
        for path in shots:
            print(f"  {path}")
