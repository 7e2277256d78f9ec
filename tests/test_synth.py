"""Text-only garments: shapes the real garment stage recognises, colours and visible fabric detail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tryon import synth, text
from tryon.errors import TryOnError
from tryon.garment import analyze_garment

SIZE = (512, 384)  # half the default size keeps the tests fast; the shapes are resolution-free

CASES = [  # description, category, sleeve the garment stage should measure (None: not a top)
    ("a red t-shirt", "upper", "short"),
    ("navy long-sleeve shirt", "upper", "long"),
    ("green shirt with three-quarter sleeves", "upper", "three_quarter"),
    ("white tank top", "upper", "none"),
    ("grey hoodie", "upper", "long"),
    ("blue jeans", "lower", None),
    ("khaki shorts", "lower", None),
    ("pink midi skirt", "lower", None),
    ("black sleeveless mini dress", "dress", "none"),
    ("yellow midi dress with short sleeves", "dress", "short"),
    ("burgundy long-sleeve maxi dress", "dress", "long"),
    ("一件蓝色的牛仔裤", "lower", None),
    ("黑色连衣裙", "dress", None),
]


def drawn(description: str, size: tuple[int, int] = SIZE) -> tuple[text.GarmentSpec, np.ndarray]:
    spec = text.parse(description)
    return spec, synth.synthesize_garment(spec, size=size)


def not_background(image: np.ndarray) -> np.ndarray:
    return (255 - image.astype(np.int16)).max(axis=2) > 4


@pytest.mark.parametrize(("description", "category", "sleeve"), CASES, ids=[c[0] for c in CASES])
def test_garment_stage_segments_and_classifies_the_drawn_garment(description, category, sleeve) -> None:
    _, image = drawn(description)
    info = analyze_garment(image, "auto")
    assert info.category == category, info.category_scores
    drawn_mask = not_background(image)
    iou = (info.mask & drawn_mask).sum() / (info.mask | drawn_mask).sum()
    assert iou > 0.85, iou  # the inner back of the neck is cut out by the garment stage
    if sleeve is not None:
        assert info.sleeve == sleeve


def test_image_contract_white_background_and_determinism() -> None:
    spec, image = drawn("a red t-shirt", size=(300, 200))
    assert image.dtype == np.uint8 and image.shape == (300, 200, 3)
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    assert (border == 255).all()
    assert np.array_equal(image, synth.synthesize_garment(spec, size=(300, 200)))
    assert synth.synthesize_garment(spec).shape == (*synth.DEFAULT_SIZE, 3)


@pytest.mark.parametrize(
    "description", ["a red t-shirt", "navy jeans", "黄色连衣裙", "white shirt", "black skirt"]
)
def test_garment_colour_matches_the_description(description: str) -> None:
    spec, image = drawn(description)
    mask = cv2.erode(not_background(image).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    observed = text.dominant_lab(text.rgb_to_lab(image[mask].astype(np.float32)))
    wanted = text.rgb_to_lab(np.array(spec.rgb, np.float32))
    assert float(text.delta_e(observed, wanted)) < 12


def detail(image: np.ndarray) -> float:
    """Mean absolute Laplacian of the luminance inside the garment (away from its outline)."""
    mask = cv2.erode(not_background(image).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    lum = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(lum, cv2.CV_32F))[mask].mean())


def test_solid_fabric_keeps_grain_and_patterns_add_detail() -> None:
    solid = detail(drawn("a navy t-shirt")[1])
    assert solid > 1.0  # grain and weave: the warp and the detail metric have something to keep
    for pattern in ("striped", "checked", "polka dot", "floral", "graphic print"):
        assert detail(drawn(f"a navy {pattern} t-shirt")[1]) > 1.5 * solid, pattern


def test_stripes_alternate_between_the_two_named_colours() -> None:
    spec, image = drawn("red and white striped t-shirt")
    mask = cv2.erode(not_background(image).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    lab = text.rgb_to_lab(image[mask].astype(np.float32))
    for _, rgb in spec.colours:
        close = text.delta_e(lab, text.rgb_to_lab(np.array(rgb, np.float32))[None, :]) < 15
        assert close.mean() > 0.15  # each colour covers a good share (shading and seams blur some)


def test_denim_has_twill_texture_and_golden_topstitching() -> None:
    _, jeans = drawn("blue jeans")
    _, trousers = drawn("blue trousers")
    assert detail(jeans) > detail(trousers)
    hsv = cv2.cvtColor(jeans, cv2.COLOR_RGB2HSV)
    golden = (hsv[..., 0] > 10) & (hsv[..., 0] < 25) & (hsv[..., 1] > 80)
    assert golden.sum() > 200


@pytest.mark.parametrize(
    ("description", "template"),
    [
        ("a tee", "tee"),
        ("a blouse", "long_sleeve"),
        ("a cami", "tank"),
        ("shorts", "shorts"),
        ("jeans", "trousers"),
        ("半身裙", "skirt"),
        ("连衣裙", "dress"),
        ("make it navy", "tee"),
        ("short sleeves", "tee"),
        ("maxi", "dress"),
    ],
)
def test_template_choice(description: str, template: str) -> None:
    assert synth.choose_template(text.parse(description)) == template


def test_nothing_to_draw_raises_a_helpful_error() -> None:
    with pytest.raises(TryOnError, match=r"e\.g\."):
        synth.synthesize_garment(text.parse("😀"))


def test_lengths_differ() -> None:
    heights = {}
    for length in ("mini", "midi", "maxi"):
        image = drawn(f"red {length} skirt")[1]
        rows = np.flatnonzero(not_background(image).any(axis=1))
        heights[length] = rows[-1] - rows[0]
    assert heights["mini"] < heights["midi"] < heights["maxi"]
