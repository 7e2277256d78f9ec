"""Shared fixtures: the evaluation photos in ../shared/eval (never copied into the repo)."""

from __future__ import annotations

import csv
import sys
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
    """The eval cases; none when ../shared/eval is not there (tests that need them are marked `eval`)."""
    if not (EVAL_DIR / "cases.csv").is_file():
        return []
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


# --- markers applied at collection --------------------------------------------------------------------
# A test needs the evaluation photos when it, a fixture it uses or a helper of its module refers to
# them (EVAL_DIR, read_cases, load_eval_image, the eval_dir/cases fixtures, or a module constant that
# is a path inside ../shared/eval): it gets the `eval` marker, so `make test-fast` runs without them.
EVAL_NAMES = frozenset({"EVAL_DIR", "read_cases", "load_eval_image", "bad_photo", "eval_dir", "cases"})
EVAL_FIXTURES = frozenset({"eval_dir", "cases"})
HELPER_DEPTH = 3  # how deep helper functions of the test module are followed


def _code_names(code: object) -> set[str]:
    names = set(getattr(code, "co_names", ()))
    for const in getattr(code, "co_consts", ()):
        if hasattr(const, "co_names"):
            names |= _code_names(const)
    return names


def _needs_eval(function: object, module_globals: dict, depth: int = 0) -> bool:
    code = getattr(function, "__code__", None)
    if code is None or depth > HELPER_DEPTH:
        return False
    for name in _code_names(code) | set(code.co_varnames):
        if name in EVAL_NAMES:
            return True
        value = module_globals.get(name)
        if isinstance(value, Path) and str(value).startswith(str(EVAL_DIR)):
            return True
        local = callable(value) and getattr(value, "__module__", None) == module_globals.get("__name__")
        if local and _needs_eval(getattr(value, "__wrapped__", value), module_globals, depth + 1):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("eval"):
            continue
        module_globals = vars(item.module) if getattr(item, "module", None) else {}
        fixtures = set(getattr(item, "fixturenames", ()))
        needs = bool(EVAL_FIXTURES & fixtures) or _needs_eval(getattr(item, "function", None), module_globals)
        info = getattr(item, "_fixtureinfo", None)
        for name in fixtures if info is not None and not needs else ():
            for definition in info.name2fixturedefs.get(name, ()):
                func = getattr(definition, "func", None)
                if getattr(func, "__module__", "") in (module_globals.get("__name__"), __name__):
                    needs = needs or _needs_eval(func, vars(sys.modules[func.__module__]))
        params = getattr(getattr(item, "callspec", None), "params", {})
        needs = needs or any(isinstance(v, str) and (EVAL_DIR / v).exists() for v in params.values())
        if needs:
            item.add_marker(pytest.mark.eval)
