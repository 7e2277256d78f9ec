"""Catalog search by description (English and Chinese) over a catalog of synthesized garments."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tryon.errors import TryOnError
from tryon.stages import search, synth, text

CAPTIONS = [
    "red long-sleeve shirt",
    "navy and white striped long-sleeve top",
    "black midi dress",
    "blue jeans",
    "yellow floral sundress",
    "grey hoodie",
    "white t-shirt",
    "pink polka dot skirt",
    "green checked shirt",
    "beige linen trousers",
    "red mini dress",
    "black t-shirt",
    "khaki shorts",
]
SIZE = (192, 144)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("catalog")
    rows = []
    for i, caption in enumerate(CAPTIONS):
        name = f"item{i:02d}.png"
        Image.fromarray(synth.synthesize_garment(text.parse(caption), size=SIZE)).save(folder / name)
        rows.append((name, caption, ""))
    # Captioned by its file name only.
    Image.fromarray(synth.synthesize_garment(text.parse("orange tank top"), size=SIZE)).save(
        folder / "orange_tank_top_07.png"
    )
    # No useful words at all: only the photo's colour can find it.
    Image.fromarray(synth.synthesize_garment(text.parse("purple skirt"), size=SIZE)).save(
        folder / "IMG_0001.png"
    )
    (folder / "broken.jpg").write_bytes(b"not an image")
    with open(folder / "catalog.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "caption", "category"])
        writer.writerows(rows)
        writer.writerow(["missing.png", "a photo that is not there", "upper"])
    return folder


@pytest.fixture(scope="module")
def index(catalog: Path) -> search.CatalogIndex:
    return search.build_catalog_index([catalog, catalog / "does-not-exist"])


def test_index_reads_sidecar_filenames_and_skips_unreadable(index: search.CatalogIndex) -> None:
    captions = {item.caption for item in index.items}
    assert len(index) == len(CAPTIONS) + 2
    assert "orange tank top" in captions and "IMG" in captions
    assert "a photo that is not there" not in captions


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("striped long sleeve", "navy and white striped long-sleeve top"),
        ("black dress", "black midi dress"),
        ("a red dress", "red mini dress"),
        ("denim", "blue jeans"),
        ("something warm with a hood", "grey hoodie"),
        ("plaid shirt", "green checked shirt"),
        ("sleeveless orange top", "orange tank top"),
        ("purple", "IMG"),
        ("黑色连衣裙", "black midi dress"),
        ("条纹长袖", "navy and white striped long-sleeve top"),
        ("牛仔裤", "blue jeans"),
        ("红色连衣裙", "red mini dress"),
        ("碎花裙", "yellow floral sundress"),
        ("格子衬衫", "green checked shirt"),
        ("米色裤子", "beige linen trousers"),
        ("白色T恤", "white t-shirt"),
        ("一条短裤", "khaki shorts"),
        ("a 黑色 tee", "black t-shirt"),
    ],
)
def test_right_item_ranks_first(index: search.CatalogIndex, query: str, expected: str) -> None:
    hits = index.search(query, k=5)
    assert hits[0][0].caption == expected, [(item.caption, round(score, 3)) for item, score in hits]
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)


def test_photo_colour_is_measured_on_the_garment(index: search.CatalogIndex) -> None:
    item = next(i for i in index.items if i.caption == "yellow floral sundress")
    jeans = next(i for i in index.items if i.caption == "blue jeans")
    assert item.palette.shape[1] == 3 and len(item.palette) >= 2  # yellow ground plus the flowers
    assert text.nearest_colour_name(next(i for i in index.items if i.caption == "red mini dress").rgb) in (
        "red",
        "dark red",
    )
    assert jeans.palette[0][2] < -10  # blue (negative b*), not the white background


def test_blank_query_and_empty_index(index: search.CatalogIndex, tmp_path: Path) -> None:
    assert len(index.search("   ", k=4)) == 4
    empty = search.build_catalog_index([tmp_path])
    assert len(empty) == 0 and empty.search("red shirt") == []


def test_caption_from_filename() -> None:
    assert search.caption_from_filename(Path("red_long-sleeve_shirt_01.jpg")) == "red long-sleeve shirt"
    assert search.caption_from_filename(Path("123.png")) == "123"


def test_a_colour_query_ranks_every_item_of_that_colour_above_the_others(index: search.CatalogIndex) -> None:
    scores = dict(zip((item.caption for item in index.items), index.scores("red"), strict=True))
    red = [scores["red long-sleeve shirt"], scores["red mini dress"]]
    others = [score for caption, score in scores.items() if "red" not in caption]
    assert min(red) > max(others), sorted(scores.items(), key=lambda kv: -kv[1])[:4]


def test_category_filter_returns_only_that_category(index: search.CatalogIndex) -> None:
    results = index.query("red", k=None, category="dress")
    assert results.hits and {hit.item.category for hit in results.hits} == {"dress"}
    assert results.hits[0].item.caption == "red mini dress"
    assert all(item.category == "lower" for item, _ in index.search("black", k=3, category="lower"))


def test_unknown_category_is_refused_with_the_choices(index: search.CatalogIndex) -> None:
    with pytest.raises(TryOnError, match="upper, lower, dress"):
        index.query("red", category="shoes")


@pytest.mark.parametrize("query", ["a bow tie", "ski goggles", "钱包"])
def test_a_query_for_something_the_catalog_lacks_says_no_close_match(index: search.CatalogIndex, query) -> None:
    results = index.query(query, k=3)
    assert not results.close_match and "No close match" in results.message
    assert len(results.hits) == 3  # still the nearest items, for the shopper to browse


@pytest.mark.parametrize("query", ["black dress", "牛仔裤", "格子衬衫"])
def test_a_query_the_catalog_answers_is_a_close_match(index: search.CatalogIndex, query) -> None:
    results = index.query(query, k=3)
    assert results.close_match and not results.message


def photo_of(index: search.CatalogIndex, caption: str):
    item = next(i for i in index.items if i.caption == caption)
    return item, np.asarray(Image.open(item.path).convert("RGB"))


@pytest.mark.parametrize("caption", ["navy and white striped long-sleeve top", "blue jeans", "yellow floral sundress"])
def test_find_similar_finds_a_mirrored_rescaled_copy_of_an_item_first(index: search.CatalogIndex, caption) -> None:
    item, image = photo_of(index, caption)
    copy = np.ascontiguousarray(image[:, ::-1])
    copy = np.asarray(Image.fromarray(copy).resize((copy.shape[1] * 2, copy.shape[0] * 2)))
    results = index.find_similar(copy, k=3, garment_category=item.category)
    assert results.hits[0].item is item and results.close_match


def test_find_similar_leaves_out_the_query_item_and_keeps_to_the_category(index: search.CatalogIndex) -> None:
    item, image = photo_of(index, "red mini dress")
    results = index.find_similar(image, k=None, garment_category="dress", caption=item.caption, exclude=item.path)
    assert item not in [hit.item for hit in results.hits]
    assert results.hits[0].item.category == "dress"
    assert results.hits[0].item.caption == "black midi dress" or "red" in results.hits[0].item.caption
    lower = index.find_similar(image, k=None, category="lower", garment_category="dress")
    assert {hit.item.category for hit in lower.hits} == {"lower"}


def test_photo_features_tell_stripes_from_solids_and_trousers_from_dresses(index: search.CatalogIndex) -> None:
    from tryon.stages.search import features

    looks = {item.caption: item.looks for item in index.items}
    stripes, solid = looks["navy and white striped long-sleeve top"], looks["red long-sleeve shirt"]
    assert stripes.pattern[-1] > solid.pattern[-1]  # more detail
    assert features.shape_similarity(looks["blue jeans"], looks["beige linen trousers"]) > features.shape_similarity(
        looks["blue jeans"], looks["black midi dress"]
    )
    assert features.colour_similarity(looks["black midi dress"], looks["black t-shirt"]) > 0.8
    assert features.colour_similarity(looks["black midi dress"], looks["yellow floral sundress"]) < 0.3


def test_calibrated_threshold_separates_the_most_queries() -> None:
    assert search.calibrate_threshold([0.9, 0.8, 0.75], [0.3, 0.5]) == pytest.approx(0.625)
    # One matching query scoring low cannot drag the threshold under the non-matching ones.
    assert search.calibrate_threshold([0.9, 0.8, 0.2], [0.3, 0.5]) == pytest.approx(0.65)


def test_commercial_examples_leave_out_non_commercial_rows(catalog: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    for name in ("ok.png", "nc.png", "unlisted.png"):
        Image.new("RGB", (64, 64), "red").save(folder / name)
    (folder / "catalog.csv").write_text(
        "file,caption,category,source,licence,commercial\n"
        "ok.png,red tee,upper,own,Apache-2.0,yes\nnc.png,red top,upper,vitonhd,CC-BY-NC-4.0,no\n"
    )
    every = search.read_catalog([folder], "all")
    safe = search.read_catalog([folder], "commercial")
    assert {r.path.name for r in every} == {"ok.png", "nc.png", "unlisted.png"}
    assert {r.path.name for r in safe} == {"ok.png", "unlisted.png"}  # a shop's own unlisted photo is its own
    assert next(r for r in every if r.path.name == "nc.png").licence == "CC-BY-NC-4.0"
    with pytest.raises(ValueError, match="commercial"):
        search.read_catalog([folder], "some")
