"""Text-only garments: shapes the real garment stage recognises, colours and visible fabric detail."""

from __future__ import annotations

import operator

import cv2
import numpy as np
import pytest

from tryon.errors import TryOnError
from tryon.stages import synth, text
from tryon.stages.garment import analyze_garment

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


# --- the real pipeline: a text-only garment changes only its own part of the body -------------

FULL_BODY = "person/dresscode_049205_0.jpg"  # a man standing, full body, arms at his sides


def _box(points: np.ndarray, shape: tuple[int, int], pad: float = 0.0) -> tuple[slice, slice]:
    lo, hi = points.min(axis=0) - pad, points.max(axis=0) + pad
    y0, x0 = max(0, int(lo[1])), max(0, int(lo[0]))
    return slice(y0, min(shape[0], int(hi[1]))), slice(x0, min(shape[1], int(hi[0])))


def body_boxes(body) -> dict[str, tuple[slice, slice]]:
    """Boxes that a garment of the other category must not touch.

    ``chest``: between the shoulder joints, from the shoulders down a third of the way to the hips
    (trousers reach at most the waist, below it). ``shins``: around both legs from the knees to
    the ankles (a regular top ends at the hips)."""
    lm = np.asarray(body.landmarks, np.float64)
    shoulders, hips = lm[[11, 12]], lm[[23, 24]]
    torso = float(np.mean(hips[:, 1]) - np.mean(shoulders[:, 1]))
    inset = 0.1 * torso  # the arms hang just outside the shoulder joints
    chest = np.vstack([shoulders, shoulders + np.array([0.0, torso / 3])])
    chest[:, 0] = np.clip(chest[:, 0], shoulders[:, 0].min() + inset, shoulders[:, 0].max() - inset)
    shins = lm[[25, 26, 27, 28]]
    shape = body.person_mask.shape
    return {"chest": _box(chest, shape), "shins": _box(shins, shape, pad=0.08 * torso)}


@pytest.fixture(scope="module")
def text_only(eval_dir):
    from tryon.pipeline import try_on

    person = eval_dir / FULL_BODY
    return {d: try_on(person, None, d) for d in ("blue jeans", "a red long-sleeve shirt")}


def changed_share(result, box: tuple[slice, slice]) -> float:
    return float((result.image[box] != result.person[box]).any(axis=2).mean())


@pytest.mark.parametrize(
    ("description", "category", "detail", "expected", "kept", "changed", "min_share"),
    [  # a detail the words fix; the body box the garment leaves alone and the one it repaints
        ("blue jeans", "lower", "spec.garment_type", "jeans", "chest", "shins", 0.3),
        ("a red long-sleeve shirt", "upper", "garment.sleeve", "long", "shins", "chest", 0.8),
    ],
)
def test_text_only_garment_changes_its_region_and_leaves_the_other_byte_identical(
    text_only, description: str, category: str, detail: str, expected: str, kept: str, changed: str,
    min_share: float,
) -> None:
    result = text_only[description]
    assert result.category == category and operator.attrgetter(detail)(result) == expected
    boxes = body_boxes(result.body)
    assert np.array_equal(result.image[boxes[kept]], result.person[boxes[kept]])
    assert changed_share(result, boxes[changed]) > min_share


def test_the_self_check_measures_the_rendered_colour_against_the_words(text_only) -> None:
    from tryon.stages.check import check_result

    result = text_only["a red long-sleeve shirt"]
    assert result.check.measures["colour_delta_e"] < 10
    other = check_result(result.person, result.image, result.garment_mask, result.body, result.garment,
                         result.category, text.parse("a blue shirt"))
    assert other.measures["colour_delta_e"] > 30 and not other.ok
    jeans = text_only["blue jeans"]
    black = check_result(jeans.person, jeans.image, jeans.garment_mask, jeans.body, jeans.garment,
                         jeans.category, text.parse("black jeans"))
    assert black.measures["colour_delta_e"] > jeans.check.measures["colour_delta_e"]


@pytest.mark.parametrize(
    ("description", "lo", "hi"),
    [  # where the hem lands, in shoulder-to-hip lengths below the shoulders (knee ~1.7, ankle ~2.4)
        ("navy striped tee", 0.85, 1.2),
        ("black sleeveless mini dress", 1.25, 1.65),
        ("yellow midi dress with short sleeves", 1.8, 2.3),
    ],
)
def test_text_only_hems_land_where_the_words_say(eval_dir, description: str, lo: float, hi: float) -> None:
    from tryon.pipeline import try_on

    result = try_on(eval_dir / FULL_BODY, None, description)
    lm = np.asarray(result.body.landmarks, np.float64)
    shoulder_y, hip_y = lm[[11, 12], 1].mean(), lm[[23, 24], 1].mean()
    centre = int(lm[[23, 24], 0].mean())
    rows = np.flatnonzero(result.garment_mask[:, centre - 20 : centre + 20].any(axis=1))
    assert lo < (rows.max() - shoulder_y) / (hip_y - shoulder_y) < hi


@pytest.mark.parametrize(
    ("description", "sleeve"),
    [("a red off-the-shoulder top", "short"), ("一件蓝色的露肩上衣", "short"), ("a black strapless top", "none"),
     ("a navy strapless midi dress", "none")],
)
def test_off_the_shoulder_words_dress_the_person_off_the_shoulders(eval_dir, description: str, sleeve: str) -> None:
    # The words' neckline was drawn as a tee's shallow neck (or, strapless, as a tank) and worn on the shoulders.
    from tryon.pipeline import try_on

    result = try_on(eval_dir / FULL_BODY, None, description)
    assert result.garment.off_shoulder and result.garment.sleeve == sleeve
    lm = np.asarray(result.body.landmarks, np.float64)
    torso = lm[[23, 24], 1].mean() - lm[[11, 12], 1].mean()
    outline = result.body.person.silhouette.no_head
    for joint in (11, 12):  # the tops of the shoulders show: the garment begins well below the outline there
        x = round(float(lm[joint, 0]))
        rows = np.flatnonzero(result.garment_mask[:, x])  # none: a strapless top narrower than the joints
        assert not rows.size or rows[0] - np.flatnonzero(outline[:, x])[0] > 0.1 * torso, joint
