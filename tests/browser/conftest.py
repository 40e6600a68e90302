"""Browser tests: real pages in headless Chromium against the app served over real HTTP.

Fixtures (build on these, don't re-create them):

- `live_server` -> LiveServer: the test `app` (tests/conftest.py, so SQLite *and* PostgreSQL,
  clean tables, shipped questionnaires loaded) served over HTTP from a background thread on
  127.0.0.1 and a free port (werkzeug's threaded server, what `make_server(threaded=True)`
  builds; stopped and joined after the test, pass or fail). `.url` is the base URL without a
  trailing slash, `.app` the Flask app, `.errors` the errors the app logged while serving (its
  500 handler logs them and answers a page; any left at teardown fail the test: a test that
  provokes one on purpose asserts on it, then clears it).
- `browser` (session): one headless Debian Chromium for the whole run.
- `new_context(**kwargs)` -> BrowserContext: a fresh context (own cookies, storage, cache);
  kwargs are Playwright's `Browser.new_context` options on top of the defaults below
  (viewport 1280x800, locale vi-VN, time zone Asia/Ho_Chi_Minh), e.g. `viewport=...`,
  `java_script_enabled=False`, `offline=True`, `locale="en-US"`, `base_url=live_server.url`,
  or a device: `new_context(**PHONE)`. Toggle the network later with `context.set_offline(...)`.
  Every context is closed after the test.
- `page` -> Page: a page in a new desktop context. `phone_page` -> Page: the same on a phone
  (PHONE: 390x844, touch, mobile user agent).
- `place` -> (ward, counter) where kiosk tests' tablets stand; `fast` -> the live server with the
  kiosk's idle and thank-you times cut to 2 s and 1 s.

On failure, each open page is saved to tests/browser/artifacts/ (screenshot + HTML + the
browser console), named after the test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from werkzeug.serving import ThreadedWSGIServer

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The machine (and kiosks) may have no internet: keep Chromium from phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Short timeouts: everything is local, so a 30 s default only makes failures slow.
TIMEOUT_MS = 5_000
expect.set_options(timeout=TIMEOUT_MS)

DESKTOP = {
    "viewport": {"width": 1280, "height": 800},
    "locale": "vi-VN",
    "timezone_id": "Asia/Ho_Chi_Minh",
}
# A mid-size Android phone (what citizens scan the QR code with).
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "screen": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"
    ),
}


# --- marking --------------------------------------------------------------------------------


def pytest_collection_modifyitems(config, items) -> None:
    """Every test under tests/browser is a browser test (`-m "not browser"` leaves them out)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (item.rep_setup / rep_call / rep_teardown)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(item: pytest.Item) -> bool:
    return any(
        getattr(getattr(item, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )


# --- live server ----------------------------------------------------------------------------


class _LiveWSGIServer(ThreadedWSGIServer):
    """What `make_server(threaded=True)` builds, plus a clean stop.

    Request threads are joined by server_close() instead of being abandoned as daemons, and the
    server remembers its open connections (registered in the accepting thread, before the request
    thread starts, so none is missed), so that stop() can end idle keep-alive connections.
    """

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args, **kwargs) -> None:
        self.open_connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        self.shutdown()  # serve_forever returns: nothing more is accepted
        # Browsers keep connections alive: end their reading side, so that idle request threads
        # see end-of-stream and finish (a request in progress still sends its response).
        with self._connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RD)
        self.server_close()  # closes the listening socket, joins the request threads


class _ServerErrors(logging.Handler):
    """Collects the errors logged while serving (the app's 500 handler logs and answers a page, so
    without this a browser test could pass on an error page), from the server's threads only."""

    def __init__(self, test_thread: int) -> None:
        super().__init__(level=logging.ERROR)
        self.test_thread = test_thread
        self.errors: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.test_thread:
            self.errors.append(self.format(record))


@dataclass
class LiveServer:
    url: str  # "http://127.0.0.1:<port>", no trailing slash
    app: Flask
    errors: list[str] = field(default_factory=list)  # errors logged while serving


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test `app` on a real HTTP server (threaded werkzeug) at 127.0.0.1:<free port>, which
    is its PUBLIC_BASE_URL.

    Any error the app logs while serving fails the test at teardown; a test that provokes one on
    purpose checks `live_server.errors` and then clears it.
    """
    collector = _ServerErrors(threading.get_ident())
    root = logging.getLogger()
    root.addHandler(collector)
    server = _LiveWSGIServer("127.0.0.1", 0, app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server"
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    # The links and QR codes the app shows (kiosk enrolment, posters) point at PUBLIC_BASE_URL:
    # here, this server.
    app.config["PUBLIC_BASE_URL"] = url
    try:
        yield LiveServer(url=url, app=app, errors=collector.errors)
    finally:
        try:
            server.stop()
            thread.join(timeout=10)
        finally:
            root.removeHandler(collector)
    assert not thread.is_alive(), "the live server thread did not stop"
    if collector.errors:
        pytest.fail(
            "the app logged errors while serving the browser:\n" + "\n".join(collector.errors),
            pytrace=False,
        )


# --- browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Debian Chromium for the session (never a downloaded one)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Run `make test` (it installs Debian's chromium), "
            "or `apt-get install -y --no-install-recommends chromium fonts-dejavu-core`.",
            pytrace=False,
        )
    instance = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield instance
    instance.close()


@pytest.fixture
def new_context(
    browser: Browser, request: pytest.FixtureRequest
) -> Iterator[Callable[..., BrowserContext]]:
    """Factory: new_context(**playwright_context_options) -> a fresh BrowserContext."""
    if "live_server" in request.fixturenames:
        # Start the server first so that it stops last: pages are saved and closed while it
        # still answers, and no request thread is cut off by the browser going away.
        request.getfixturevalue("live_server")
    contexts: list[BrowserContext] = []
    consoles: dict[int, list[str]] = {}

    def factory(**kwargs) -> BrowserContext:
        context = browser.new_context(**{**DESKTOP, **kwargs})
        context.set_default_timeout(TIMEOUT_MS)
        log = consoles.setdefault(id(context), [])

        def watch(page: Page) -> None:
            page.on("console", lambda message: log.append(f"[{message.type}] {message.text}"))
            page.on("pageerror", lambda error: log.append(f"[pageerror] {error}"))

        context.on("page", watch)
        contexts.append(context)
        return context

    yield factory

    try:
        if _failed(request.node):
            _save_artifacts(request.node, contexts, consoles)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh desktop context (1280x800)."""
    return new_context().new_page()


@pytest.fixture
def phone_page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh phone context (PHONE)."""
    return new_context(**PHONE).new_page()


def _save_artifacts(
    item: pytest.Item, contexts: list[BrowserContext], consoles: dict[int, list[str]]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("tests/browser/")[-1])[:150]
    saved = []
    for c, context in enumerate(contexts):
        for p, open_page in enumerate(context.pages):
            if open_page.is_closed():
                continue
            base = ARTIFACTS / f"{stem}-{c}-{p}"
            try:
                open_page.screenshot(path=f"{base}.png", full_page=True, timeout=TIMEOUT_MS)
                Path(f"{base}.html").write_text(open_page.content(), encoding="utf-8")
                saved.append(f"{base}.png ({open_page.url})")
            except Exception as error:  # a crashed page must not hide the test's own failure
                saved.append(f"{base}: not saved ({type(error).__name__}: {error})")
        if consoles.get(id(context)):
            Path(ARTIFACTS / f"{stem}-{c}-console.txt").write_text(
                "\n".join(consoles[id(context)]) + "\n", encoding="utf-8"
            )
    if saved:
        print("browser artifacts:\n  " + "\n  ".join(saved))


# --- kiosk tests ---------------------------------------------------------------------------------


@pytest.fixture
def place(app):
    """A ward with one counter (Q1), where the kiosk tests' tablets stand."""
    from survey_app.extensions import db
    from survey_app.services.units import create_counter, create_unit

    province = create_unit("P", "Tỉnh Thử Nghiệm", name_en="Test Province", kind="province")
    ward = create_unit(
        "P-W1",
        "Phường An Lạc",
        name_en="An Lac Ward",
        kind="ward",
        parent=province,
        place_name_vi="Bộ phận Một cửa UBND phường An Lạc",
    )
    ward.place_name_en = "the one-stop shop of An Lac Ward"
    counter = create_counter(ward, "Q1", "Quầy 1 – Hộ tịch", "Counter 1 – Civil status")
    db.session.commit()
    return ward, counter


@pytest.fixture
def fast(live_server):
    """Short timeouts for the tests (the heartbeat hands them to the tablet)."""
    live_server.app.config.update(KIOSK_IDLE_SECONDS=2, KIOSK_THANKS_SECONDS=1)
    return live_server
