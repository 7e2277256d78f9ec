"""Catalog search by description (English and Chinese) over a catalog of synthesized garments."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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


def test_scores_cover_every_item(index: search.CatalogIndex) -> None:
    scores = index.scores("red")
    assert scores.shape == (len(index),) and np.isfinite(scores).all()
