"""The shipped example catalog: every garment photo can be tried on (the garment stage reads it)."""

from __future__ import annotations

import csv

import pytest
from conftest import REPO

from tryon.stages.garment import analyze_garment
from tryon.stages.intake import load_image

GARMENTS = REPO / "assets" / "garments"
# Garments the garment stage cannot read yet (none: the white tee on near-white, openvto_shirts_3,
# is found since the flood fill asks U²-Netp where it ran into a light garment).
UNREADABLE: set[str] = set()


def rows() -> list[dict[str, str]]:
    with open(GARMENTS / "catalog.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_catalog_rows_name_shipped_small_files_with_a_licence() -> None:
    from PIL import Image

    for row in rows():
        path = GARMENTS / row["file"]
        assert path.is_file() and row["caption"] and row["category"] in ("upper", "lower", "dress"), row
        assert row["licence"] and row["commercial"] in ("yes", "no"), row
        with Image.open(path) as image:
            assert max(image.size) <= 1024, row["file"]
    total = sum(p.stat().st_size for p in (REPO / "assets").rglob("*") if p.is_file())
    assert total < 16 * 2**20, total


@pytest.mark.slow
@pytest.mark.parametrize(
    "row",
    [pytest.param(r, marks=pytest.mark.xfail(strict=True, reason="white on near-white")) if r["file"] in UNREADABLE
     else r for r in rows()],
    ids=lambda r: r["file"],
)
def test_every_catalog_garment_is_read_as_its_category(row: dict[str, str]) -> None:
    info = analyze_garment(load_image(GARMENTS / row["file"]))
    assert info.category == row["category"]
