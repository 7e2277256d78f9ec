"""The three users' flows in a real Chromium against a real Gradio server and the real pipeline.

Shopper: search the catalog, pick from the filtered gallery, Try on; an example that runs when
clicked; the description chips (Chinese); correcting the edit area with the brush. Annotator: flag
from the UI, then unlock the Review tab with the token. Plus the text-only endpoint through gradio_client.
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import EVAL_DIR
from PIL import Image
from shop_browser import chromium, no_chromium

from tryon.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.eval, pytest.mark.slow]

PERSON = EVAL_DIR / "person/vitonhd_00034_00.jpg"
GARMENT = EVAL_DIR / "garment/vitonhd_09176_00.jpg"
FULL_BODY = EVAL_DIR / "person/dresscode_049447_0.jpg"  # patterned trousers, knees and ankles in frame
TOKEN = "sesame"
SWEATER = "tryon_red_long_sleeve_sweater.jpg"  # the catalog's "red long-sleeve sweater"
TIMEOUT_MS = 60_000
# A run has finished when the slider shows two images and no progress overlay.
RESULT_SHOWN = """() => {
    const s = document.querySelector('#result-slider');
    return s && s.querySelectorAll('img').length >= 2 && !s.querySelector('.eta-bar');
}"""

def needs_chromium(test: Any) -> Any:
    """A browser test: marked ``browser`` and skipped where Debian's chromium is missing."""
    return pytest.mark.browser(no_chromium(test))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tryon.ui.app import build_demo, launch_kwargs

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), review_token=TOKEN)
    demo = build_demo(settings)
    demo.launch(**(launch_kwargs(settings) | {"server_port": None, "prevent_thread_lock": True, "quiet": True}))
    try:
        yield demo, settings
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture
def page(app: Any, browser: Any) -> Iterator[Any]:
    demo, _ = app
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # Gradio keeps a connection open: wait for elements, never for "networkidle".
    page.goto(demo.local_url, wait_until="load")
    page.get_by_role("button", name="Try on", exact=True).wait_for()
    try:
        yield page
    finally:
        context.close()


def _fetch(url: str) -> np.ndarray:
    with urllib.request.urlopen(url) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


def _slider_images(page: Any) -> tuple[np.ndarray, np.ndarray]:
    """The before and after images the browser shows, as RGB arrays."""
    sources = page.locator("#result-slider img").evaluate_all("images => images.map(i => i.src)")
    assert len(sources) == 2, sources
    return _fetch(sources[0]), _fetch(sources[1])


def _try_on(page: Any) -> tuple[np.ndarray, np.ndarray]:
    page.get_by_role("button", name="Try on", exact=True).click()
    page.wait_for_timeout(300)  # the progress overlay appears
    page.wait_for_function(RESULT_SHOWN, timeout=TIMEOUT_MS)
    return _slider_images(page)


def _upload(page: Any, person: Path, garment: Path | None = None) -> None:
    page.locator("#person-input input[type=file]").set_input_files(str(person))
    if garment is not None:
        page.locator("#garment-input input[type=file]").set_input_files(str(garment))
    page.wait_for_timeout(1500)  # the uploads are checked on arrival


def _toasts(page: Any) -> list[str]:
    return page.locator(".toast-body").all_inner_texts()


@needs_chromium
def test_shopper_searches_picks_from_the_filtered_gallery_and_tries_it_on(page: Any) -> None:
    _upload(page, PERSON)
    page.get_by_label("Search the catalog").fill("red sweater")
    first_caption = page.locator("#garment-gallery .caption-label").first
    page.wait_for_function(
        "() => document.querySelector('#garment-gallery .caption-label')?.textContent.includes('sweater')"
    )
    assert "red" in first_caption.inner_text()
    page.locator("#garment-gallery button.thumbnail-item").first.click()
    # The garment box now shows the picked catalog photo (not the one at that index before the search).
    page.wait_for_function(f"() => document.querySelector('#garment-input img')?.src.endsWith('/{SWEATER}')")
    before, after = _try_on(page)
    assert before.shape == after.shape
    changed = np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 40
    height = before.shape[0]
    assert changed[height // 4 : height // 2].mean() > 0.1  # the torso is dressed
    assert _toasts(page) == []


@needs_chromium
def test_clicking_a_words_only_example_runs_it_and_shows_the_self_check(page: Any) -> None:
    from tryon.ui.examples import EXAMPLES

    example = next(e for e in EXAMPLES if e.garment is None and not e.description.isascii())
    shown = page.locator("#result-slider img").count()
    page.locator("#examples").get_by_text(example.label, exact=True).click()  # no Try on: the example runs
    page.wait_for_function("() => document.querySelector('#chips')?.innerText.includes('garment')")
    assert page.locator("#garment-input img").count() == 0  # words only: no garment photo
    page.wait_for_function(f"() => document.querySelectorAll('#result-slider img').length > {shown}")
    page.wait_for_function(RESULT_SHOWN, timeout=TIMEOUT_MS)
    before, after = _slider_images(page)
    assert (np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 40).mean() > 0.02
    assert "Self-check" in page.locator("#self-check").inner_text()


@needs_chromium
def test_typing_a_chinese_description_shows_what_was_understood(page: Any) -> None:
    box = page.get_by_label("Describe a garment (optional)")
    box.press_sequentially("一件蓝色的牛仔裤", delay=40)
    chips = page.locator("#chips .chip")
    page.wait_for_function("() => document.querySelector('#chips')?.innerText.includes('jeans')")
    text = " | ".join(chips.all_inner_texts())
    assert "garment: jeans" in text and "category: lower" in text and "blue" in text, text
    swatch = page.locator("#chips .swatch").first.evaluate("e => getComputedStyle(e).backgroundColor")
    red, green, blue = (int(v) for v in swatch[swatch.index("(") + 1 : -1].split(",")[:3])
    assert blue > red + 60 and blue > green  # the colour chip's swatch is blue
    box.fill("")
    page.wait_for_function("() => document.querySelectorAll('#chips .chip').length === 0")


@needs_chromium
def test_painting_red_over_the_garment_keeps_that_area_as_it_was(page: Any) -> None:
    _upload(page, PERSON, GARMENT)
    before, first = _try_on(page)
    page.get_by_text("Correct the edit area").click()
    page.wait_for_timeout(2500)  # the editor's photo is built when the panel opens
    page.get_by_text("Remove from the area (red)").click()  # the brushes are in plain view
    page.wait_for_timeout(300)
    canvas = page.locator("#edit-area canvas").last
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    # A stroke across the chest: the person stands in the middle of the canvas.
    y = box["y"] + 0.45 * box["height"]
    page.mouse.move(box["x"] + 0.42 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.58 * box["width"], y, steps=3)  # software canvas: ~0.5 s a step
    page.mouse.up()
    page.get_by_role("button", name="Re-render with my corrections").click()
    page.wait_for_function("() => document.querySelector('#notes')?.innerText.includes('corrected edit area')")
    page.wait_for_function(RESULT_SHOWN)
    _, second = _slider_images(page)
    reverted = (np.abs(first.astype(int) - second.astype(int)).max(axis=2) > 40) & (
        np.abs(second.astype(int) - before.astype(int)).max(axis=2) < 12
    )
    assert reverted.sum() > 2000  # the painted band shows the original shirt again
    rows = np.flatnonzero(reverted.any(axis=1))
    assert rows.max() - rows.min() < before.shape[0] // 4  # ... in one band, not all over
    assert _toasts(page) == []


@needs_chromium
def test_a_flag_from_the_ui_appears_in_the_review_tab_after_unlocking(app: Any, page: Any) -> None:
    from tryon.store.annotations import AnnotationStore

    _, settings = app
    store = AnnotationStore(settings.data_dir)
    flags_before = store.count()
    _upload(page, PERSON, GARMENT)
    _try_on(page)
    page.get_by_text("Flag this result").click()
    page.get_by_label("Artifacts or seams").check()
    # The note also tries what a note must not do on the reviewer's screen: an image that calls home, a
    # bare link, formatting.
    page.get_by_label("Note (optional)").fill(
        "seam at the left shoulder ![pixel](http://attacker.example/p.png) www.attacker.example **loud**")
    page.get_by_role("button", name="Flag", exact=True).dblclick()
    page.get_by_text("Thank you").wait_for()
    page.wait_for_timeout(1000)  # a second record, if any, would be written by now
    assert store.count() == flags_before + 1  # a double click stores one record

    page.get_by_role("tab", name="Review").click()
    page.get_by_role("button", name="Open review").click()  # no token yet
    page.locator(".toast-body").first.wait_for()
    assert "review token" in " ".join(_toasts(page))
    assert page.get_by_role("gridcell", name="seam at the left shoulder").count() == 0
    page.get_by_label("Review token").fill(TOKEN)
    page.get_by_label("Your name (kept in the review history)").fill("carol")
    page.get_by_role("button", name="Open review").click()
    cell = page.get_by_role("gridcell", name="seam at the left shoulder").first
    cell.wait_for()
    cell.click()  # opens the flag
    page.get_by_text("Output as flagged").wait_for()
    assert page.get_by_text("no — output face blurred").count() == 1
    summary = page.locator("#review-summary")
    summary.get_by_text("attacker.example/p.png").first.wait_for()  # the note is there, as text
    assert summary.locator("a, img, strong:has-text('loud')").count() == 0


@pytest.mark.parametrize("description", ["blue jeans", "一件蓝色的牛仔裤"])
def test_text_only_endpoint_dresses_the_legs_in_blue_jeans(app: Any, description: str) -> None:
    from gradio_client import Client, handle_file

    from tryon.pipeline import analyze_person
    from tryon.stages.intake import load_image

    demo, _ = app
    client = Client(demo.local_url, verbose=False)
    (before_file, after_file), *_ = client.predict(
        handle_file(str(FULL_BODY)), None, description, "auto", "warp", api_name="/tryon"
    )
    before = np.asarray(Image.open(before_file).convert("RGB")).astype(int)
    after = np.asarray(Image.open(after_file).convert("RGB")).astype(int)
    body, _ = analyze_person(load_image(FULL_BODY))
    legs = body.regions["thigh_left"] | body.regions["thigh_right"] | body.regions["shin_left"]
    legs |= body.regions["shin_right"]
    assert legs.shape == before.shape[:2] and legs.sum() > 5000
    changed = np.abs(after - before).max(axis=2) > 40
    assert changed[legs].mean() > 0.5  # the trousers were replaced
    red, green, blue = after[legs].mean(axis=0)
    assert blue > red + 25 and blue > green  # ... by something blue
    assert changed[body.regions["torso"]].mean() < changed[legs].mean() / 2  # the top stays mostly as it was
