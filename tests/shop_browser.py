"""Helpers for the browser tests of the shop window: a real Gradio server, Debian's Chromium through
Playwright, the two screens the page is made for, and screenshots kept as test artefacts.

Screenshots go to ``out/screenshots/`` in the repository (git-ignored); the tests print the folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tryon.config import Settings

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "out" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000
# The screens the page is laid out for: a laptop and a phone (CSS pixels).
VIEWPORTS = {
    "laptop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
# The shown result's after-image URL once it is there and nothing is in progress over the slider.
RESULT_URL = """() => {
    const s = document.querySelector('#result-slider');
    const images = s ? s.querySelectorAll('img') : [];
    return images.length >= 2 && !s.querySelector('.eta-bar') ? images[1].src : null;
}"""

no_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                 reason="Debian chromium is not installed (make test installs it)")


def start_server(settings: Settings) -> Any:
    """The app as ``launch`` serves it (guard, sweep, warm-up), on a free port; close it with ``.close()``."""
    from tryon.ui.app import build_demo, launch

    demo = build_demo(settings)
    launch(demo, settings, server_port=None, prevent_thread_lock=True, quiet=True)
    return demo


def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str, screen: str) -> Any:
    """A new tab at ``url`` on ``screen`` ("laptop" or "phone"), once the page is built."""
    context = browser.new_context(**VIEWPORTS[screen])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # Gradio keeps a connection open: wait for elements, never for "networkidle".
    page.goto(url, wait_until="load")
    page.locator("#try-on").wait_for()
    page.locator("#result-slider").wait_for()
    return page


def shot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot under :data:`SCREENSHOTS` and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def shown_result(page: Any) -> str | None:
    return page.evaluate(RESULT_URL)


def wait_for_new_result(page: Any, previous: str | None, timeout_ms: int = TIMEOUT_MS) -> str:
    """Wait until the slider shows a result other than ``previous``; returns its after-image URL."""
    page.wait_for_function(f"(previous) => {{ const url = ({RESULT_URL})(); return url && url !== previous; }}",
                           arg=previous, timeout=timeout_ms)
    return shown_result(page)


def in_viewport(page: Any, selector: str) -> bool:
    """Whether the element's box lies inside the visible part of the page."""
    return page.locator(selector).first.evaluate(
        "e => { const b = e.getBoundingClientRect(); return b.top >= 0 && b.bottom <= window.innerHeight "
        "&& b.left >= 0 && b.right <= window.innerWidth && b.height > 0; }")


def wait_in_viewport(page: Any, selector: str, timeout_ms: int = 5000) -> None:
    """Wait until the element is on screen (a smooth scroll takes a moment)."""
    page.wait_for_function(
        "(selector) => { const b = document.querySelector(selector)?.getBoundingClientRect(); "
        "return b && b.top >= 0 && b.bottom <= window.innerHeight && b.height > 0; }", arg=selector, timeout=timeout_ms)


def toasts(page: Any) -> list[str]:
    return page.locator(".toast-body").all_inner_texts()
