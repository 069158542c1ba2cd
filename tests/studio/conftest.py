"""The studio's browser tests: Debian's Chromium, headless, driven by Playwright, against a real
server on loopback (``ServerProc``) that the tests fill through the SDK and the REST API.

Every page a test opens is watched: a console error or an uncaught script error fails the
test. Screenshots go to ``test-artifacts/studio/`` (``EMBER_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProc

CHROMIUM = os.environ.get("EMBER_TEST_CHROMIUM", "/usr/bin/chromium")
# headless, and quiet: this machine's closed network refuses Chromium's background calls
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("EMBER_TEST_ARTIFACTS", REPO / "test-artifacts")) / "studio"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the session (a missing Chromium fails here, naming the package)."""
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the studio tests need Chromium at {CHROMIUM}: apt-get install chromium "
                    "(or set EMBER_TEST_CHROMIUM)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    """One server for the studio's tests, auth on; tests add what they show."""
    server = ServerProc(tmp_path_factory.mktemp("studio") / "home").start()
    yield server
    server.stop()


def session_cookie(server: ServerProc, token: str | None = None) -> dict[str, str]:
    """A studio session for the owner (or ``token``'s user), made as the sign-in page makes
    one: a 12-hour API token in the ``ember_session`` cookie."""
    made = httpx.post(f"{server.url}/api/v1/tokens",
                      headers={"Authorization": f"Bearer {token or server.token}"},
                      json={"name": "studio test", "expires_in_days": 0.5}, timeout=30)
    made.raise_for_status()
    body = made.json()
    return {"name": "ember_session", "value": f"{body['id']}.{body['token']}",
            "url": server.url}


class Watched:
    """A browser page whose console errors and uncaught errors are collected."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location})")

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        return response

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        out = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(out), full_page=True)
        return out


def open_context(browser: Any, server: ServerProc, token: str | None = None,
                 signed_in: bool = True) -> Any:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 860})
    if signed_in:
        context.add_cookies([session_cookie(server, token)])
    return context


@pytest.fixture
def studio(browser: Any, studio_server: ServerProc) -> Iterator[Watched]:
    """A page signed in as the owner; the test fails on any console or script error."""
    context = open_context(browser, studio_server)
    watched = Watched(context.new_page(), studio_server.url)
    yield watched
    context.close()
    assert not watched.errors, "\n".join(watched.errors)


@pytest.fixture
def anonymous(browser: Any, studio_server: ServerProc) -> Iterator[Watched]:
    """A page with no session."""
    context = open_context(browser, studio_server, signed_in=False)
    watched = Watched(context.new_page(), studio_server.url)
    yield watched
    context.close()
    assert not watched.errors, "\n".join(watched.errors)


# The accessibility basics every page is checked for (``assert_accessible``): each control has
# an accessible name, and text has WCAG AA contrast against its background.
_A11Y_SCRIPT = """
() => {
  const problems = [];
  const named = (el) => {
    if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title) return true;
    if (el.labels && el.labels.length) return true;
    if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) && el.textContent.trim()) return true;
    if (el.tagName === 'INPUT' && ['submit', 'button'].includes(el.type) && el.value) return true;
    return false;
  };
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], summary, [role=button], [role=tab]')) {
    if (el.closest('.js-plotly-plot')) continue;   // plotly's own chart controls
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    if (!named(el)) problems.push('no accessible name: ' + el.outerHTML.slice(0, 120));
  }
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || seen.has(el) || !walker.currentNode.textContent.trim()) continue;
    seen.add(el);
    if (el.closest('.js-plotly-plot, svg, .sr-only, .skip')) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden' || el.getClientRects().length === 0) continue;
    if (el.closest('[disabled]')) continue;
    const fg = rgb(style.color), bg = background(el);
    const [a, b] = [lum(fg) + 0.05, lum(bg) + 0.05];
    const ratio = Math.max(a, b) / Math.min(a, b);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push('contrast ' + ratio.toFixed(2) + ': ' + el.outerHTML.slice(0, 100));
  }
  return problems;
}
"""


def assert_accessible(page: Any) -> None:
    problems = page.evaluate(_A11Y_SCRIPT)
    assert not problems, "\n".join(problems)
