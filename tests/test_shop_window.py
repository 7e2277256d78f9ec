"""The shop window in a real Chromium at a laptop's 1280x800 and a phone's 390x844, against the real
Gradio server and pipeline, with the shipped (commercial) example photos only.

Layout (photos, Try on and the result on the first screen; on a phone Try on stays on screen and the
page moves to the result), examples that run and cover a top, trousers and a dress, the history strip,
the catalog (category filter, search, "no close match", find similar), colour advice, the self-check
queued for annotators, and correcting the edit area with plain add/remove brushes. Screenshots are kept
in out/screenshots/ (printed at the start).
"""

from __future__ import annotations

import io
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from shop_browser import (
    SCREENSHOTS,
    VIEWPORTS,
    chromium,
    in_viewport,
    no_chromium,
    open_page,
    shot,
    shown_result,
    start_server,
    toasts,
    wait_for_new_result,
    wait_in_viewport,
)

from tryon.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, no_chromium]

TOKEN = "sesame"
KINDS = {"upper": "Top: red sweater", "lower": "Trousers: grey joggers", "dress": "Dress: red sleeveless mini dress"}
NO_MATCH_QUERY = "a spacesuit"
CHANGED = 40  # a pixel changed when a channel moved more than this
KEPT = 12  # ... and is the original when every channel is within this


@pytest.fixture(scope="session", autouse=True)
def screenshot_folder(request: pytest.FixtureRequest) -> Path:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"shop window screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Settings]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), review_token=TOKEN)
    demo = start_server(settings)
    try:
        yield demo, settings
    finally:
        demo.close()


@pytest.fixture
def plain_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A server where review is not configured, for one test: Gradio has one upload folder per process
    (``GRADIO_TEMP_DIR``, read on every upload), which this server points at its own data dir; the module's
    server gets its folder back afterwards."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", os.environ.get("GRADIO_TEMP_DIR", ""))
    demo = start_server(Settings(data_dir=tmp_path / "plain"))
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture(params=list(VIEWPORTS))
def screen(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def page(app: tuple[Any, Settings], browser: Any, screen: str) -> Iterator[Any]:
    demo, _ = app
    page = open_page(browser, demo.local_url, screen)
    try:
        yield page
    finally:
        page.context.close()


def _fetch(url: str) -> np.ndarray:
    with urllib.request.urlopen(url) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB")).astype(int)


def _slider(page: Any) -> tuple[np.ndarray, np.ndarray]:
    sources = page.locator("#result-slider img").evaluate_all("images => images.map(i => i.src)")
    return _fetch(sources[0]), _fetch(sources[1])


def _run_example(page: Any, label: str) -> str:
    previous = shown_result(page)
    page.locator("#examples").get_by_text(label, exact=True).click()
    return wait_for_new_result(page, previous)


def _gallery_files(page: Any, selector: str) -> list[str]:
    return page.locator(f"{selector} button.thumbnail-item img").evaluate_all(
        "images => images.map(i => decodeURIComponent(i.src).split('/').pop())")


# --------------------------------------------------------------------------------------------------- layout


def test_photos_try_on_and_result_share_the_first_screen(page: Any, screen: str) -> None:
    shot(page, f"first-screen-{screen}")
    if screen == "laptop":
        for selector in ("#person-input", "#garment-input", "#try-on", "#result-slider", "#examples"):
            assert in_viewport(page, selector), f"{selector} is not on the first 1280x800 screen"
    else:  # a phone stacks the page; Try on stays at the bottom of the screen while scrolling
        assert in_viewport(page, "#try-on")
        page.mouse.wheel(0, 2500)
        page.wait_for_timeout(500)
        assert in_viewport(page, "#try-on")
        shot(page, f"scrolled-{screen}")
    assert page.get_by_role("tab", name="Review").count() == 1  # review is configured on this server


def test_examples_run_when_clicked_cover_top_trousers_and_dress_and_fill_the_history(page: Any, screen: str) -> None:
    results = {}
    for kind, label in KINDS.items():
        results[kind] = _run_example(page, label)
        page.wait_for_function("() => document.querySelector('#self-check')?.innerText.includes('Self-check')")
        # The page has moved to the result (on a laptop it never left the screen).
        wait_in_viewport(page, "#result-slider")
        before, after = _slider(page)
        assert before.shape == after.shape and (np.abs(before - after).max(axis=2) > CHANGED).mean() > 0.02
        shot(page, f"example-{kind}-{screen}")
    assert page.locator("#person-input img").count() == 1 and page.locator("#garment-input img").count() == 1
    # The history strip: the three results, newest first, side by side (two per row on a phone).
    page.locator("#history").scroll_into_view_if_needed()
    page.wait_for_timeout(800)  # a smooth scroll may still be moving the page
    thumbs = page.locator("#history button.thumbnail-item")
    assert thumbs.count() == 3
    tops = [thumbs.nth(i).bounding_box()["y"] for i in range(3)]
    assert abs(tops[0] - tops[1]) < 2 and (abs(tops[1] - tops[2]) < 2 if screen == "laptop" else tops[2] > tops[1])
    shot(page, f"history-{screen}")
    thumbs.nth(2).click()  # the oldest: the top
    page.wait_for_function("(url) => document.querySelectorAll('#result-slider img')[1]?.src === url",
                           arg=results["upper"])
    assert toasts(page) == []


def test_without_review_set_up_shoppers_see_no_review_tab_and_no_instructions(plain_app: Any, browser: Any,
                                                                             screen: str) -> None:
    page = open_page(browser, plain_app.local_url, screen)
    try:
        assert page.get_by_role("tab").all_inner_texts() == ["Try on", "Lookbook"]  # no Review tab
        assert "TRYON_REVIEW" not in page.locator("body").inner_text()
        shot(page, f"no-review-{screen}")
    finally:
        page.context.close()


def test_api_page_shows_the_garment_and_the_description_as_optional(page: Any, screen: str) -> None:
    if screen == "phone":
        assert page.get_by_role("button", name="Use via API").count() == 0
        pytest.skip("Gradio offers no API page on a phone-wide screen (its footer drops the link)")
    page.get_by_role("button", name="Use via API").click()
    page.get_by_text("Accepts 9 parameters").first.wait_for()
    text = " ".join(page.locator("body").inner_text().split())
    tryon = text[text.index("/tryon Dress"):]
    tryon = tryon[: re.search(r"Returns \d+ elements?", tryon).start()]  # the parameters of /tryon
    for name in ("garment", "description"):
        assert re.search(rf"\b{name} (filepath|str) \| None Default: ?None", tryon), (name, tryon[:600])
    assert re.search(r"\bperson filepath Required", tryon), tryon[:600]
    page.get_by_text("Accepts 9 parameters").first.scroll_into_view_if_needed()
    shot(page, f"api-page-{screen}")


# --------------------------------------------------------------------------------------------------- catalog


def test_catalog_filters_by_category_searches_and_says_no_close_match(page: Any, screen: str) -> None:
    page.locator("#catalog-filter").get_by_text("Dresses", exact=True).click()
    page.wait_for_function("() => document.querySelector('#shelf-message')?.innerText.includes('dresses')")
    files = _gallery_files(page, "#garment-gallery")
    assert files and all("dress" in name for name in files), files
    search = page.locator("#catalog-search textarea, #catalog-search input").first
    search.fill(NO_MATCH_QUERY)
    page.wait_for_function("() => document.querySelector('#shelf-message')?.innerText.includes('No close match')")
    assert _gallery_files(page, "#garment-gallery")  # the nearest items are still shown
    page.locator("#garment-gallery").scroll_into_view_if_needed()
    shot(page, f"catalog-no-match-{screen}")
    search.fill("red dress")
    page.wait_for_function("() => document.querySelector('#shelf-message')?.innerText.includes('Best matches')")
    first = _gallery_files(page, "#garment-gallery")[0]
    assert "red" in first and "dress" in first
    page.locator("#garment-gallery button.thumbnail-item").first.click()
    page.wait_for_function("(name) => document.querySelector('#garment-input img')?.src.endsWith(name)", arg=first)
    shot(page, f"catalog-picked-{screen}")


def test_find_similar_answers_from_the_catalog_without_the_picked_garment(page: Any, screen: str) -> None:
    page.locator("#catalog-filter").get_by_text("Dresses", exact=True).click()
    page.wait_for_function("() => document.querySelector('#shelf-message')?.innerText.includes('dresses')")
    picked = _gallery_files(page, "#garment-gallery")[0]
    page.locator("#garment-gallery button.thumbnail-item").first.click()
    page.wait_for_function("(name) => document.querySelector('#garment-input img')?.src.endsWith(name)", arg=picked)
    page.locator("#find-similar").click()
    # The backend may find it close to another dress, or say nothing is close and show the nearest.
    page.wait_for_function(
        "() => /Looks like|No close match/.test(document.querySelector('#shelf-message')?.innerText)")
    similar = _gallery_files(page, "#garment-gallery")
    assert similar and picked not in similar
    assert all("dress" in name for name in similar)  # the category filter still applies
    wait_in_viewport(page, "#shelf-message")  # the page shows the answer
    shot(page, f"find-similar-{screen}")


def test_colour_advice_is_labelled_a_suggestion_with_colours_reasons_and_catalog_picks(page: Any, screen: str) -> None:
    _run_example(page, KINDS["upper"])
    page.locator("#advice-panel").get_by_text("Colours that suit you").click()
    advice = page.locator("#advice")
    page.wait_for_function("() => document.querySelector('#advice')?.innerText.includes('Colours that suit you')")
    text = advice.inner_text()
    assert "suggestion" in text.lower() and "Measured skin" in text and "Keep away from the face" in text
    assert advice.locator(".swatch").count() >= 10
    suggestions = _gallery_files(page, "#advice-gallery")
    assert suggestions
    page.evaluate("() => document.querySelector('#advice').scrollIntoView({block: 'start'})")
    shot(page, f"colour-advice-{screen}")
    page.locator("#advice-gallery").scroll_into_view_if_needed()
    shot(page, f"colour-advice-picks-{screen}")
    page.locator("#advice-gallery button.thumbnail-item").first.click()
    page.wait_for_function("(name) => document.querySelector('#garment-input img')?.src.endsWith(name)",
                           arg=suggestions[0])


# --------------------------------------------------------------------------------------------------- self-check


def test_a_failed_self_check_is_shown_in_words_and_queued_for_annotators_face_blurred(
        app: tuple[Any, Settings], page: Any, screen: str) -> None:
    from tryon.store.annotations import SYSTEM_FLAGGER, AnnotationStore

    _, settings = app
    _run_example(page, KINDS["dress"])  # a dress under an open jacket: the jacket hides part of the dress
    check = page.locator("#self-check")
    page.wait_for_function("() => document.querySelector('#self-check')?.innerText.includes('may be off')")
    assert "missing on the body" in check.inner_text()
    assert "sleeves" not in check.inner_text()  # the jacket's sleeves were kept on purpose, and the notes say so
    page.wait_for_function("() => document.querySelector('#review-note')?.innerText.includes('reviewers')")
    assert "face blurred" in page.locator("#review-note").inner_text()
    notes = page.locator("#notes").inner_text()
    assert "open jacket" in notes and "sleeves may still show" not in notes  # an edit note, not the check twice
    shot(page, f"self-check-{screen}")
    records, _ = AnnotationStore(settings.data_dir).query(reason="self_check")
    records = [record for record in records if record.flagged_by == SYSTEM_FLAGGER]
    assert records and all(r.reasons == ("self_check",) and not r.consent for r in records)
    assert all(set(r.images) == {"output", "garment"} and r.params["face_blurred"] for r in records)


# --------------------------------------------------------------------------------------------------- edit area


def test_correcting_the_edit_area_with_the_plain_remove_brush_keeps_that_band(page: Any, screen: str) -> None:
    started = time.perf_counter()
    _run_example(page, KINDS["upper"])
    try_on_s = time.perf_counter() - started
    before, first = _slider(page)
    page.locator("#edit-panel").get_by_text("Correct the edit area").click()
    page.locator("#edit-area canvas").last.wait_for()
    page.wait_for_timeout(1500)  # the photo loads into the canvas
    brushes = page.locator("#brush")
    assert brushes.get_by_text("Remove from the area (red)").is_visible()  # no palette to open
    canvas = page.locator("#edit-area canvas").last
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the canvas fits the photo to its size
    zoom = int(page.locator("#edit-area .zoom-number").inner_text().strip().rstrip("%"))
    box = canvas.bounding_box()
    assert box["width"] <= VIEWPORTS[screen]["viewport"]["width"]
    assert zoom >= 70, f"the photo shows at {zoom} % on the canvas"
    brushes.get_by_text("Remove from the area (red)").click()
    page.wait_for_timeout(300)
    # A stroke across the chest: the person stands in the middle of the canvas, the chest at about 30 %.
    image = page.locator("#edit-area canvas").last.bounding_box()
    y = image["y"] + 0.3 * image["height"]
    page.mouse.move(image["x"] + 0.42 * image["width"], y)
    page.mouse.down()
    page.mouse.move(image["x"] + 0.58 * image["width"], y, steps=3)
    page.mouse.up()
    shot(page, f"edit-area-{screen}")
    started = time.perf_counter()
    page.locator("#rerun").click()
    wait_for_new_result(page, shown_result(page))
    rerun_s = time.perf_counter() - started
    _, second = _slider(page)
    reverted = (np.abs(first - second).max(axis=2) > CHANGED) & (np.abs(second - before).max(axis=2) < KEPT)
    assert reverted.sum() > 1000  # the painted band shows the original sweater again
    rows = np.flatnonzero(reverted.any(axis=1))
    assert rows.max() - rows.min() < before.shape[0] // 4  # ... in one band, not all over
    assert "corrected edit area" in page.locator("#notes").inner_text()
    shot(page, f"edit-area-rerendered-{screen}")
    print(f"\n{screen}: example try-on {try_on_s:.1f} s, re-render with corrections {rerun_s:.1f} s (browser)")
    assert toasts(page) == []
