"""Shared fixtures: the evaluation photos in ../shared/eval (never copied into the repo)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from tryon.stages.garment import GarmentAnalysis

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = (REPO.parent / "shared" / "eval").resolve()
BAD_PHOTOS = ("not an image", "truncated", "tiny", "huge", "no person", "two people", "missing")
# An image header declaring more pixels than intake accepts (a decompression bomb), ~2 KB on disk.
BOMB_SIDE = 7000


def read_cases() -> list[dict[str, str]]:
    with open(EVAL_DIR / "cases.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not (EVAL_DIR / "cases.csv").is_file():
        pytest.fail(f"evaluation photos not found at {EVAL_DIR}: clone next to ../shared")
    return EVAL_DIR


@pytest.fixture(scope="session")
def cases(eval_dir: Path) -> list[dict[str, str]]:
    return read_cases()


def load_eval_image(relpath: str) -> np.ndarray:
    from tryon.stages.intake import load_image

    return load_image(EVAL_DIR / relpath)


def garment_analysis(
    image: np.ndarray,
    mask: np.ndarray,
    category: str = "upper",
    sleeve: str = "long",
    mean_rgb: np.ndarray | None = None,
) -> GarmentAnalysis:
    """The analysis of a drawn garment (RGB uint8 ``image``, bool ``mask``): sure of its category, no
    keypoints, ``mean_rgb`` the mean colour over ``mask`` unless given."""
    from tryon.stages.garment import GarmentAnalysis

    return GarmentAnalysis(
        image=image,
        mask=mask,
        category=category,
        category_scores={category: 1.0},
        keypoints={},
        sleeve=sleeve,
        mean_rgb=image[mask].mean(0).astype(np.uint8) if mean_rgb is None else mean_rgb,
    )


def bad_photo(tmp: Path, kind: str, photo: Path) -> Path:
    """A person photo the app must refuse with a message, written under ``tmp``: ``kind`` from
    :data:`BAD_PHOTOS` (a text file named .png, the JPEG ``photo`` cut short, an image under the
    minimum size, a header declaring over 40 MP, a scene with nobody in it, two people side by side,
    or a path with no file)."""
    path = tmp / f"{kind.replace(' ', '-')}.png"
    if kind == "not an image":
        path.write_text("not an image at all")
    elif kind == "truncated":
        path = path.with_suffix(".jpg")
        path.write_bytes(photo.read_bytes()[:4000])
    elif kind == "tiny":
        Image.new("RGB", (40, 60), "white").save(path)
    elif kind == "huge":
        Image.new("1", (BOMB_SIDE, BOMB_SIDE)).save(path)
    elif kind == "two people":
        other = EVAL_DIR / "person/vitonhd_00121_00.jpg"
        left, right = (np.asarray(Image.open(p).convert("RGB").resize((384, 512))) for p in (photo, other))
        Image.fromarray(np.concatenate([left, right], axis=1)).save(path)
    elif kind == "no person":
        Image.fromarray(np.full((600, 800, 3), (90, 140, 200), np.uint8)).save(path)
    elif kind != "missing":
        raise ValueError(f"unknown bad photo {kind!r}; expected one of {BAD_PHOTOS}")
    return path
