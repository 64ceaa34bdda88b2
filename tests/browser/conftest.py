"""A real stack for browser tests: Daphne serving the ASGI app, a worker, headless Chromium."""

import os

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import daphne_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in the test thread; the test's own ORM calls are
# still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def daphne(transactional_db, tmp_path):
    """Daphne on a free loopback port, serving the test settings and database."""
    with daphne_server(tmp_path / "daphne.log") as (base_url, _):
        yield base_url


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def log_in(browser, base_url: str, username: str, password: str, *, ws_options=None):
    """A page logged in through the real login form."""
    context = browser.new_context()
    page = context.new_page()
    if ws_options:
        page.add_init_script(f"window.CASEWORK_WS_OPTIONS = {ws_options};")
    page.goto(f"{base_url}/api-auth/login/?next=/tasks/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    page.wait_for_url(f"{base_url}/tasks/")
    return page
