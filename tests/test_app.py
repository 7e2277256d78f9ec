"""The running app: a real Gradio server called through gradio_client, and a real Chromium.

Every test here uses the evaluation photos (``eval``); the server is started as ``launch`` starts it.
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import EVAL_DIR, bad_photo
from gradio_client import Client, handle_file
from PIL import Image

from tryon.config import Settings
from tryon.stages.body import analyze_body
from tryon.stages.landmarks import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER

pytestmark = pytest.mark.eval

PERSON = EVAL_DIR / "person/vitonhd_00034_00.jpg"
GARMENT = EVAL_DIR / "garment/vitonhd_09176_00.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tryon.ui.app import build_demo, launch_kwargs

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), review_token="sesame")
    demo = build_demo(settings)
    kwargs = launch_kwargs(settings) | {"server_port": None, "prevent_thread_lock": True, "quiet": True}
    demo.launch(**kwargs)
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(server: str) -> Client:
    return Client(server, verbose=False)


def _try_on(client: Client, person: Path, garment: Path | None, description: str = "") -> tuple:
    return client.predict(
        handle_file(str(person)), handle_file(str(garment)) if garment else None, description, "auto", "warp",
        api_name="/tryon",
    )


def test_tryon_endpoint_returns_before_and_after(client: Client) -> None:
    out = _try_on(client, PERSON, GARMENT)
    before, after = out[0]
    before_px, after_px = np.asarray(Image.open(before)), np.asarray(Image.open(after))
    assert before_px.shape == after_px.shape
    assert (before_px != after_px).any()
    assert "total" in out[1]
    assert isinstance(out[4], str) and out[4]  # the result's token (flag, panels and re-run send it back)


@pytest.mark.parametrize("kind", ["not an image", "truncated", "tiny", "huge", "no person", "two people"])
def test_bad_person_photo_shows_a_message_and_the_app_keeps_serving(kind: str, client: Client,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(Exception) as info:  # gradio_client raises AppError carrying gr.Error's text
        _try_on(client, bad_photo(tmp_path, kind, PERSON), GARMENT)
    message = str(info.value)
    assert "Traceback" not in message
    assert any(word in message.lower() for word in ("upload", "photo", "use ")), message
    after = _try_on(client, PERSON, GARMENT)  # still serving
    assert Path(after[0][1]).is_file()


def test_a_waist_up_photo_is_dressed_in_a_top_and_the_page_says_which_photo_works(
    server: str, client: Client, tmp_path: Path
) -> None:
    # A selfie or a mirror photo ends at the waist, the hips out of the picture: the app answered "does not show
    # the whole upper body". It dresses it in a top now, and the page tells the shopper which photo works.
    image = np.asarray(Image.open(PERSON).convert("RGB"))
    body = analyze_body(image)
    shoulders = 0.5 * (body.point(LEFT_SHOULDER) + body.point(RIGHT_SHOULDER))
    hips = 0.5 * (body.point(LEFT_HIP) + body.point(RIGHT_HIP))
    path = tmp_path / "waist_up.png"
    Image.fromarray(image[: int(shoulders[1] + 0.75 * (hips[1] - shoulders[1]))]).save(path)
    before, after = (np.asarray(Image.open(p)) for p in _try_on(client, path, GARMENT)[0])
    assert before.shape == after.shape and (before != after).any()
    page = urllib.request.urlopen(f"{server}config").read().decode()
    assert "Head to waist will do for a top" in page


def test_blank_garment_photo_shows_a_message(client: Client, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("RGB", (600, 800), "white").save(blank)
    with pytest.raises(Exception, match=r"(?i)garment"):
        _try_on(client, PERSON, blank)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed (make test installs it)")
def test_browser_user_uploads_two_photos_and_sees_a_result(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server, wait_until="load")
        page.get_by_role("button", name="Try on", exact=True).wait_for(timeout=60_000)
        inputs = page.locator("input[type=file]")
        inputs.nth(0).set_input_files(str(PERSON))
        inputs.nth(1).set_input_files(str(GARMENT))
        page.wait_for_timeout(1500)
        page.get_by_role("button", name="Try on", exact=True).click()
        result_images = page.locator("#result-slider img")
        result_images.nth(1).wait_for(timeout=60_000)
        widths = result_images.evaluate_all("images => images.map(i => i.naturalWidth)")
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        browser.close()
    assert len(widths) == 2 and min(widths) > 100  # before and after, both decoded by the browser
    assert (tmp_path / "app.png").stat().st_size > 10_000


def test_queue_settings_bound_every_rendering_event_together(tmp_path: Path, monkeypatch) -> None:
    from tryon.ui.app import build_demo
    from tryon.ui.review_tab import RENDER_CONCURRENCY_ID

    # build_demo points GRADIO_TEMP_DIR at its data dir: give the module's running server its own back.
    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    demo = build_demo(Settings(data_dir=tmp_path / "data", concurrency=3, queue_size=5, review_token="t"))
    assert (demo._queue.max_size, demo._queue.default_concurrency_limit) == (5, 3)
    rendering = {fn.api_name for fn in demo.fns.values() if fn.concurrency_id == RENDER_CONCURRENCY_ID}
    # One queue slot for all renders: Try on, an example's click (private, named after its function), the
    # corrected re-render and the reviewers' re-run.
    assert rendering == {"tryon", "try_on", "tryon_with_mask", "review_rerun"}


def test_diffusion_request_falls_back_to_warp_with_a_note_on_this_machine(client: Client) -> None:
    from tryon.stages.diffusion import unavailable_reason

    reason = unavailable_reason(Settings())
    if reason is None:
        pytest.skip("this machine can run the diffusion renderer")
    out = client.predict(handle_file(str(PERSON)), handle_file(str(GARMENT)), "", "auto", "diffusion",
                         api_name="/tryon")
    notes = out[2]
    assert "Used the warp renderer" in notes and reason in notes


def test_understand_endpoint_reads_english_and_chinese(client: Client) -> None:
    english = client.predict("a red long-sleeve shirt", None, api_name="/understand")
    assert "garment: shirt" in english and "sleeves: long" in english and "colour: red" in english
    chinese = client.predict("一件蓝色的牛仔裤", None, api_name="/understand")
    assert "garment: jeans" in chinese and "category: lower" in chinese
    # With a garment photo, what the words leave open comes from the photo.
    edit = client.predict("make it navy", handle_file(str(GARMENT)), api_name="/understand")
    assert "category: from the photo" in edit and "navy" in edit
    assert client.predict("", None, api_name="/understand") == "<div class='chips'></div>"


def _odd_photo(tmp: Path, kind: str) -> Path:
    """A valid person photo in an unusual encoding: EXIF-rotated JPEG, CMYK JPEG or 16-bit PNG."""
    upright = Image.open(PERSON).convert("RGB")
    if kind == "exif-rotated":
        path = tmp / "rotated.jpg"
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
        upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)
    elif kind == "cmyk":
        path = tmp / "cmyk.jpg"
        upright.convert("CMYK").save(path, quality=95)
    else:
        path = tmp / "gray16.png"
        Image.fromarray(np.asarray(upright.convert("L"), np.uint16) * 257).save(path)
    return path


@pytest.mark.parametrize("kind", ["exif-rotated", "cmyk", "16-bit"])
def test_odd_but_valid_photos_are_dressed_upright(kind: str, client: Client, tmp_path: Path) -> None:
    before, after = _try_on(client, _odd_photo(tmp_path, kind), GARMENT)[0]
    before_px, after_px = np.asarray(Image.open(before)), np.asarray(Image.open(after))
    assert before_px.shape[:2] == (1024, 768)  # portrait again after the EXIF rotation
    assert (before_px != after_px).any()
