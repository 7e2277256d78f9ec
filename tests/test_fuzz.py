"""Bounded fuzzing of the whole pipeline on distorted eval photos: every request renders or is refused
with a message (TryOnError); nothing else may escape."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from conftest import EVAL_DIR, read_cases

from tryon.errors import TryOnError
from tryon.pipeline import try_on

pytestmark = [pytest.mark.eval, pytest.mark.slow]

# Requests per run: enough to meet every kind of distortion several times, small enough for CI.
# TRYON_FUZZ_ROUNDS raises it for a longer hunt on a workstation.
ROUNDS = int(os.environ.get("TRYON_FUZZ_ROUNDS", "24"))
SCALE_RANGE = (0.5, 1.5)
MAX_ROTATION_DEG = 15.0
MIN_CROP_SHARE = 0.6  # a crop keeps at least this share of each side
SWAP_CHANCE = 0.15  # a garment photo in the person slot and the other way round


def distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop, flip, scale and rotation of an RGB uint8 image (the background fills the corners)."""
    h, w = image.shape[:2]
    ch, cw = (int(side * rng.uniform(MIN_CROP_SHARE, 1.0)) for side in (h, w))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    out = image[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    scale = rng.uniform(*SCALE_RANGE)
    out = cv2.resize(np.ascontiguousarray(out), (max(8, round(cw * scale)), max(8, round(ch * scale))))
    angle = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)
    oh, ow = out.shape[:2]
    rotation = cv2.getRotationMatrix2D((ow / 2, oh / 2), angle, 1.0)
    return cv2.warpAffine(out, rotation, (ow, oh), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("seed", range(ROUNDS))
def test_a_distorted_request_renders_or_is_refused_with_a_message(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cases = read_cases()
    case = cases[int(rng.integers(len(cases)))]
    person = cv2.cvtColor(cv2.imread(str(EVAL_DIR / case["person"])), cv2.COLOR_BGR2RGB)
    garment = cv2.cvtColor(cv2.imread(str(EVAL_DIR / case["garment"])), cv2.COLOR_BGR2RGB)
    if rng.random() < SWAP_CHANCE:
        person, garment = garment, person
    person, garment = distort(person, rng), distort(garment, rng)
    try:
        result = try_on(person, garment, category=case["category"])
    except TryOnError as exc:
        assert str(exc).strip(), "a refusal must say what to do"
        return
    assert result.image.shape == result.person.shape and result.image.dtype == np.uint8
    assert np.isfinite(result.image).all()
