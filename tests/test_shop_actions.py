"""The shop window's actions without a browser: the catalog shelf, examples, the self-check queued for
annotators (privacy), strokes from a downscaled editor, what the API page says and when the Review tab
shows. Real pipeline, real SQLite, the shipped example photos (assets/), real Gradio Blocks.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from tryon import pipeline
from tryon.config import Settings
from tryon.store.annotations import SYSTEM_FLAGGER, AnnotationStore

REPO = Path(__file__).resolve().parents[1]
PEOPLE = REPO / "assets" / "people"
GARMENTS = REPO / "assets" / "garments"
# A dress over an open jacket: the self-check sees the jacket's sleeves (it fails).
JACKET_PERSON = PEOPLE / "openvto_2_posture.jpg"
DRESS = GARMENTS / "tryon_yellow_floral_sundress.jpg"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _tabs(demo) -> list[str]:
    return [block.label for block in demo.blocks.values() if type(block).__name__ == "Tab"]


def test_review_tab_shows_only_when_review_is_configured_and_shoppers_never_see_set_up_text(tmp_path, monkeypatch):
    from tryon.ui.app import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    plain = build_demo(Settings(data_dir=tmp_path / "a"))
    assert "Review" not in _tabs(plain)
    assert "TRYON_REVIEW_TOKEN" not in str(plain.config)
    configured = build_demo(Settings(data_dir=tmp_path / "b", review_token="sesame"))
    assert "Review" in _tabs(configured)
    by_org = build_demo(Settings(data_dir=tmp_path / "c", review_org="acme"))
    tab = next(b for b in by_org.blocks.values() if type(b).__name__ == "Tab" and b.label == "Review")
    assert tab.visible is False  # shown once a visitor signs in


def test_api_page_marks_only_the_person_photo_as_required(tmp_path, monkeypatch):
    from tryon.ui.app import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    info = build_demo(Settings(data_dir=tmp_path / "data")).get_api_info()
    parameters = {p["parameter_name"]: p for p in info["named_endpoints"]["/tryon"]["parameters"]}
    assert parameters["person"]["parameter_has_default"] is False
    for name in ("garment", "description", "category", "renderer"):
        assert parameters[name]["parameter_has_default"] is True, name
    assert parameters["garment"]["parameter_default"] is None
    for endpoint in ("/search", "/find_similar", "/colour_advice", "/understand", "/flag"):
        assert endpoint in info["named_endpoints"], endpoint


def test_examples_are_commercial_and_cover_a_top_trousers_and_a_dress(settings: Settings) -> None:
    from tryon.ui.examples import EXAMPLES, example_rows

    rows = example_rows(settings)
    assert len(rows) == len(EXAMPLES)  # the default (commercial) settings keep every example
    people = {p.path: p for p in pipeline.example_people(settings)}
    garments = {g.path: g for g in pipeline.catalog_records(settings)}
    categories = set()
    for example, (person, garment, description, _) in rows:
        assert people[Path(person)].commercial
        if garment is None:
            assert description, example.label  # words only
        else:
            assert garments[Path(garment)].commercial
            categories.add(garments[Path(garment)].category)
    assert {"upper", "lower", "dress"} <= categories
    assert any(garment is None for _, (_, garment, _, _) in rows)  # a garment from words alone


@pytest.mark.slow
def test_catalog_shelf_filters_searches_and_finds_similar_without_the_picked_item(settings, tmp_path) -> None:
    from tryon.ui.catalog import Catalog

    catalog = Catalog(settings)
    dresses = catalog.browse("", "dress")
    assert dresses.entries and all("dress" in Path(path).name for path in dresses.paths)
    assert dresses.message.startswith(f"{len(dresses.entries)} garments")
    nothing = catalog.browse("a spacesuit", "all")
    assert not nothing.close_match and "No close match" in nothing.message and nothing.entries
    attack = catalog.browse("![x](http://attacker.example/p.png)", "all")
    assert "](" not in attack.message  # the shopper's words are shown literally
    # A picked item reaches the server as a copy in Gradio's cache: recognised by its bytes, left out.
    copy = tmp_path / "upload" / "image.jpg"
    copy.parent.mkdir()
    shutil.copy(DRESS, copy)
    similar = catalog.similar(str(copy), "dress")
    assert similar.entries and str(DRESS) not in similar.paths
    assert "yellow floral sundress" in similar.message


@pytest.mark.slow
def test_colour_advice_is_a_labelled_suggestion_with_swatches_reasons_and_catalog_picks(settings) -> None:
    from tryon.ui.catalog import Catalog

    html, shelf = Catalog(settings).advice(str(PEOPLE / "openvto_3_posture.jpg"))
    assert "A suggestion" in html and "Colours that suit you" in html and "Keep away from the face" in html
    assert html.count("class='swatch'") >= 10 and "Measured skin" in html
    assert "Cut and length" in html  # a full-body photo: proportions measured
    assert shelf.entries and all(Path(path).is_file() for path in shelf.paths)


def test_strokes_on_a_downscaled_editor_photo_correct_the_full_size_area() -> None:
    from tryon.ui.shop import ADD_COLOUR, REMOVE_COLOUR, mask_from_editor

    auto = np.zeros((1024, 768), bool)
    auto[200:600, 200:600] = True
    layer = np.zeros((512, 384, 4), np.uint8)
    green = [int(ADD_COLOUR[i : i + 2], 16) for i in (1, 3, 5)]
    red = [int(REMOVE_COLOUR[i : i + 2], 16) for i in (1, 3, 5)]
    layer[350:400, 100:200] = [*green, 255]  # adds rows 700-800 at full size
    layer[150:175, 100:300] = [*red, 255]  # removes rows 300-350
    mask = mask_from_editor({"background": None, "layers": [layer], "composite": None}, auto)
    assert mask[720:780, 220:380].all() and not mask[310:340, 220:580].any()
    assert mask[400:500, 300:500].all() and not mask[50:150].any()  # the rest as it was
    edge = mask[700:800, 196:204]  # scaled up smoothly: one edge column, not blocks of two
    assert edge[:, :4].sum() == 0 and edge[:, 4:].all()


@pytest.mark.slow
def test_a_failed_self_check_is_queued_once_and_keeps_the_photo_only_with_consent(settings) -> None:
    from tryon.ui.flag_panel import StoreFlaggingCallback
    from tryon.ui.results import ResultCache, file_key, hold_result

    result = pipeline.try_on(JACKET_PERSON, DRESS, settings=settings)
    assert result.check is not None and not result.check.ok
    cache = ResultCache(settings.data_dir / "cache", settings.data_dir / "held", 64, 600)

    def held(owner: str):
        return hold_result(cache, result, person_path=str(JACKET_PERSON), person_key=file_key(JACKET_PERSON),
                           garment_path=str(DRESS), garment_faces=(), description="", category="auto",
                           renderer="warp", owner=owner)

    flags = StoreFlaggingCallback(settings)
    first_id, created = flags.flag_self_check(held("a"), consent=False)
    again_id, created_again = flags.flag_self_check(held("b"), consent=False)  # the same request again
    assert created and not created_again and again_id == first_id
    store = AnnotationStore(settings.data_dir)
    record = store.get(first_id)
    assert record.flagged_by == SYSTEM_FLAGGER and record.reasons == ("self_check",) and not record.consent
    assert set(record.images) == {"output", "garment"} and record.params["face_blurred"]
    assert record.note == " ".join(result.check.problems)
    output = store.load_image(record, "output")
    face = result.body.face_box
    x0, y0, x1, y1 = (int(v) for v in face)
    assert np.abs(output[y0:y1, x0:x1].astype(int) - result.image[y0:y1, x0:x1].astype(int)).mean() > 5
    consented_id, _ = flags.flag_self_check(held("a"), consent=True)
    consented = store.get(consented_id)
    assert consented.consent and {"person", "output"} <= set(consented.images)
    assert flags.flag_self_check(_passed(held("a")), consent=False) is None


def _passed(held):
    """``held`` with a self-check that passed."""
    return dataclasses.replace(held, check=dataclasses.replace(held.check, ok=True, problems=()))


@pytest.mark.slow
def test_a_correction_through_the_server_reads_the_cached_analyses_and_keeps_the_painted_band(settings) -> None:
    import io

    from PIL import Image
    from shop_browser import start_server

    from tryon.ui.edit_bench import STROKE_COLS, STROKE_ROWS, Page, editor_images

    demo = start_server(settings)
    page = Page(demo.local_url)
    try:
        person, garment = PEOPLE / "openvto_3_posture.jpg", GARMENTS / "tryon_red_long_sleeve_sweater.jpg"
        photos = [page.upload(path.name, path.read_bytes()) for path in (person, garment)]
        request = [*photos, "", "auto", "warp"]
        tried = page.call(page.tryon, request)
        token = tried[4]
        editor = page.call(page.open_editor, [token])[0]
        background = np.asarray(Image.open(io.BytesIO(page.fetch(editor["background"]["url"]))).convert("RGB"))
        assert max(background.shape[:2]) == 512  # the editor works on a half-size photo
        files = [page.upload(name, data) for name, data in zip(("b.png", "l.png", "c.png"), editor_images(background),
                                                                strict=True)]
        page.call(page.check, [*request, {"background": files[0], "layers": [files[1]], "composite": files[2],
                                          "id": None}, token])
        corrected = page.call(page.rerun, [*request, *(page.defaults.get(i) for i in page.rerun["inputs"][5:-1]),
                                           token])
        before, first, second = (np.asarray(Image.open(io.BytesIO(page.fetch(item["url"]))).convert("RGB")).astype(int)
                                 for item in (tried[0][0], tried[0][1], corrected[0][1]))
    finally:
        page.close()
        demo.close()
    assert "came from the cache" in corrected[1] and "corrected edit area" in corrected[2]
    height, width = before.shape[:2]
    band = (slice(int(STROKE_ROWS[0] * height) + 4, int(STROKE_ROWS[1] * height) - 4),
            slice(int(STROKE_COLS[0] * width) + 4, int(STROKE_COLS[1] * width) - 4))
    assert np.abs(first[band] - before[band]).max(axis=2).mean() > 40  # the sweater was there
    assert np.abs(second[band] - before[band]).max(axis=2).mean() < 6  # ... and the band is the photo again
