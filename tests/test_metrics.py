"""The evaluation metrics on constructed images whose answers are known."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.color import rgb2lab

from tryon.measure import metrics
from tryon.stages import body as bd

H, W = 420, 320
BACKGROUND = (235, 235, 235)
SKIN = (205, 160, 135)
OLD_TOP = (40, 60, 150)


def standing_landmarks() -> np.ndarray:
    """A front-facing standing figure: wearer's left on the image's right."""
    lm = np.zeros((33, 2), np.float32)
    pairs = {
        (bd.LEFT_SHOULDER, bd.RIGHT_SHOULDER): ((200, 100), (120, 100)),
        (bd.LEFT_ELBOW, bd.RIGHT_ELBOW): ((215, 170), (105, 170)),
        (bd.LEFT_WRIST, bd.RIGHT_WRIST): ((220, 235), (100, 235)),
        (bd.LEFT_HIP, bd.RIGHT_HIP): ((185, 225), (135, 225)),
        (bd.LEFT_KNEE, bd.RIGHT_KNEE): ((182, 310), (138, 310)),
        (bd.LEFT_ANKLE, bd.RIGHT_ANKLE): ((180, 395), (140, 395)),
    }
    for (left, right), (pl, pr) in pairs.items():
        lm[left], lm[right] = pl, pr
    lm[bd.NOSE] = (160, 55)
    lm[bd.MOUTH_LEFT], lm[bd.MOUTH_RIGHT] = (168, 70), (152, 70)
    for wrist, index, pinky, side in (
        (bd.LEFT_WRIST, bd.LEFT_INDEX, bd.LEFT_PINKY, 1),
        (bd.RIGHT_WRIST, bd.RIGHT_INDEX, bd.RIGHT_PINKY, -1),
    ):
        lm[index] = lm[wrist] + (2 * side, 22)
        lm[pinky] = lm[wrist] + (8 * side, 18)
    return lm


def person_mask(lm: np.ndarray) -> np.ndarray:
    canvas = np.zeros((H, W), np.uint8)
    cv2.circle(canvas, (160, 55), 32, 1, -1)
    torso = lm[[bd.RIGHT_SHOULDER, bd.LEFT_SHOULDER, bd.LEFT_HIP, bd.RIGHT_HIP]]
    cv2.fillPoly(canvas, [np.round(torso).astype(np.int32)], 1)
    for a, b, r in (
        (bd.LEFT_SHOULDER, bd.LEFT_ELBOW, 14),
        (bd.LEFT_ELBOW, bd.LEFT_WRIST, 11),
        (bd.RIGHT_SHOULDER, bd.RIGHT_ELBOW, 14),
        (bd.RIGHT_ELBOW, bd.RIGHT_WRIST, 11),
        (bd.LEFT_HIP, bd.LEFT_KNEE, 22),
        (bd.LEFT_KNEE, bd.LEFT_ANKLE, 15),
        (bd.RIGHT_HIP, bd.RIGHT_KNEE, 22),
        (bd.RIGHT_KNEE, bd.RIGHT_ANKLE, 15),
    ):
        cv2.line(canvas, tuple(int(v) for v in lm[a]), tuple(int(v) for v in lm[b]), 1, 2 * r)
    return canvas.astype(bool)


def texture(h: int, w: int, seed: int, base: tuple[int, int, int] = (150, 60, 60)) -> np.ndarray:
    """A sharp random print: blotches of a few px on a base colour."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(
        rng.normal(0, 1, (h // 4 + 1, w // 4 + 1)).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST
    )
    img = np.asarray(base, np.float32)[None, None] + 45 * noise[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene() -> dict:
    lm = standing_landmarks()
    mask = person_mask(lm)
    person = np.full((H, W, 3), BACKGROUND, np.uint8)
    person[mask] = SKIN
    top = metrics.garment_region(lm, mask, "upper")
    old = texture(H, W, seed=1, base=OLD_TOP)
    person[top] = old[top]
    # The product photo: the new garment's print on a light background.
    garment = np.full((300, 240, 3), 250, np.uint8)
    gmask = np.zeros((300, 240), bool)
    gmask[40:260, 40:200] = True
    new = texture(300, 240, seed=2)
    garment[gmask] = new[gmask]
    return {"lm": lm, "mask": mask, "person": person, "top": top, "garment": garment, "gmask": gmask}


def render(scene: dict, fill: np.ndarray) -> np.ndarray:
    """The person with the garment region replaced by ``fill`` (an (H, W, 3) image)."""
    out = scene["person"].copy()
    out[scene["top"]] = fill[scene["top"]]
    return out


def sharp_new_print() -> np.ndarray:
    return texture(H, W, seed=2)


# --- SSIM and preservation -----------------------------------------------------------------


def test_identical_images_score_ssim_one(scene):
    person = scene["person"]
    assert metrics.region_ssim(person, person, scene["top"]) == pytest.approx(1.0)
    assert metrics.whole_ssim(person, person) == pytest.approx(1.0)
    assert metrics.preservation(
        person, person, metrics.allowed_region(scene["lm"], (H, W), "upper")
    ) == pytest.approx(1.0)


def test_region_ssim_drops_where_the_garment_changed(scene):
    result = render(scene, sharp_new_print())
    assert metrics.region_ssim(result, scene["person"], scene["top"]) < 0.5
    # Only the garment region changed, so the whole image is far closer than the region.
    assert (
        metrics.whole_ssim(result, scene["person"])
        > metrics.region_ssim(result, scene["person"], scene["top"]) + 0.3
    )
    assert (
        metrics.preservation(result, scene["person"], metrics.allowed_region(scene["lm"], (H, W), "upper"))
        == 1.0
    )


def test_preservation_catches_changed_trousers_and_face(scene):
    allowed = metrics.allowed_region(scene["lm"], (H, W), "upper")
    legs = metrics.garment_region(scene["lm"], scene["mask"], "lower") & ~allowed
    assert not allowed[55, 160] and legs.sum() > 2000
    result = scene["person"].copy()
    result[legs] = texture(H, W, seed=3)[legs]  # a top was tried on but the legs were repainted
    assert metrics.preservation(result, scene["person"], allowed) < 0.95
    result = scene["person"].copy()
    result[30:80, 135:185] = (90, 90, 90)  # the face, outside the upper-garment zone
    assert metrics.preservation(result, scene["person"], allowed) < 0.995


def test_floor_render_fills_only_the_region(scene):
    out = metrics.floor_render(scene["person"], scene["top"], np.array([10, 20, 30], np.uint8))
    assert (out[scene["top"]] == (10, 20, 30)).all()
    assert (out[~scene["top"]] == scene["person"][~scene["top"]]).all()


# --- Detail retention --------------------------------------------------------------------


def test_flat_fill_keeps_almost_no_detail(scene):
    flat = np.full((H, W, 3), (150, 60, 60), np.uint8)
    assert (
        metrics.detail_retention(render(scene, flat), scene["person"], scene["garment"], scene["gmask"])
        < 0.15
    )


def test_sharp_garment_keeps_its_detail_and_blur_loses_most(scene):
    sharp = render(scene, sharp_new_print())
    blurred = render(scene, cv2.GaussianBlur(sharp_new_print(), (0, 0), 3))
    flat = render(scene, np.full((H, W, 3), (150, 60, 60), np.uint8))
    kept, lost, none = (
        metrics.detail_retention(image, scene["person"], scene["garment"], scene["gmask"])
        for image in (sharp, blurred, flat)
    )
    assert 0.8 <= kept <= 1.25
    assert none < lost < 0.5


def test_detail_is_nan_without_a_garment(scene):
    empty = np.zeros_like(scene["gmask"])
    assert math.isnan(metrics.detail_retention(scene["person"], scene["person"], scene["garment"], empty))


# --- Ghosting ------------------------------------------------------------------------------


def test_copying_the_input_high_pass_is_ghosting(scene):
    person = scene["person"]
    lum_detail = metrics.fine_detail(metrics.luminance(person), metrics.GHOST_SIGMA)[..., None] * 255
    shaded = np.clip(np.array([150, 60, 60], np.float32) + lum_detail, 0, 255).astype(np.uint8)
    assert metrics.ghosting(render(scene, shaded), person) > 0.8


def test_an_independent_print_does_not_ghost(scene):
    assert abs(metrics.ghosting(render(scene, sharp_new_print()), scene["person"])) < 0.1


def test_a_half_transparent_new_garment_ghosts(scene):
    blend = (0.5 * sharp_new_print() + 0.5 * scene["person"]).astype(np.uint8)
    assert metrics.ghosting(render(scene, blend), scene["person"]) > 0.3


def test_unchanged_image_has_no_ghosting_measure(scene):
    assert math.isnan(metrics.ghosting(scene["person"], scene["person"]))
    assert not metrics.changed_mask(scene["person"], scene["person"]).any()


# --- Colour ---------------------------------------------------------------------------------


def test_to_lab_matches_scikit_image():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 3), dtype=np.uint8)
    assert np.abs(metrics.to_lab(rgb) - rgb2lab(rgb[None])[0]).max() < 0.5


def test_a_shifted_colour_gives_its_lab_distance():
    a, b = (200, 30, 30), (185, 45, 40)
    garment = np.full((100, 80, 3), a, np.uint8)
    result = np.full((100, 80, 3), b, np.uint8)
    mask = np.zeros((100, 80), bool)
    mask[20:80, 20:60] = True
    expected = float(np.linalg.norm(rgb2lab(np.array([[a]], np.uint8)) - rgb2lab(np.array([[b]], np.uint8))))
    assert expected > 10
    assert metrics.colour_fidelity(garment, mask, result, mask) == pytest.approx(expected, abs=0.1)
    assert metrics.colour_fidelity(garment, mask, garment, mask) == pytest.approx(0.0, abs=1e-6)


def test_colour_of_a_striped_garment_does_not_flip_with_the_stripe_share():
    mask = np.ones((120, 120), bool)
    navy, white = (20, 30, 80), (245, 245, 245)
    photo = np.full((120, 120, 3), white, np.uint8)
    photo[(np.arange(120) // 6) % 2 == 0] = navy  # half navy, half white
    render = np.full((120, 120, 3), white, np.uint8)
    render[(np.arange(120) // 6) % 3 == 0] = navy  # a third navy: white now dominates
    assert not metrics.is_solid(photo, mask)
    assert metrics.colour_fidelity(photo, mask, render, mask) < 1.0
    red = np.full((120, 120, 3), (200, 30, 30), np.uint8)
    assert metrics.colour_fidelity(photo, mask, red, mask) > 30


def test_dominant_colour_ignores_a_small_logo():
    img = np.full((100, 100, 3), (40, 120, 40), np.uint8)
    img[40:55, 40:60] = (250, 250, 250)
    mask = np.ones((100, 100), bool)
    expected = rgb2lab(np.array([[(40, 120, 40)]], np.uint8))[0, 0]
    assert np.abs(metrics.dominant_colour(img, mask) - expected).max() < 0.5


def test_solid_garments_and_stripes():
    mask = np.ones((120, 120), bool)
    shaded = np.full((120, 120, 3), (30, 90, 160), np.float32) * np.linspace(0.8, 1.1, 120)[None, :, None]
    assert metrics.is_solid(np.clip(shaded, 0, 255).astype(np.uint8), mask)
    stripes = np.full((120, 120, 3), 245, np.uint8)
    stripes[::12] = stripes[1::12] = stripes[2::12] = stripes[3::12] = stripes[4::12] = stripes[5::12] = (
        20,
        30,
        80,
    )
    assert not metrics.is_solid(stripes, mask)


def test_kmeans_finds_two_groups_and_repeats_itself():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(10, 1, (200, 3)), rng.normal(60, 1, (100, 3))])
    centres, labels = metrics.kmeans(points, 2)
    assert sorted(np.round(centres[:, 0])) == [10, 60]
    assert sorted(np.bincount(labels)) == [100, 200]
    again, _ = metrics.kmeans(points, 2)
    assert np.array_equal(centres, again)


# --- Coverage and leakage -------------------------------------------------------------------


def test_garment_drawn_outside_the_body_leaks():
    body = np.zeros((200, 200), bool)
    body[50:150, 60:140] = True  # 8000 px
    garment = np.zeros_like(body)
    garment[60:100, 70:130] = True  # inside
    assert metrics.leakage(garment, body) == 0.0
    garment[10:30, 10:50] = True  # 800 px in the background
    assert metrics.leakage(garment, body) == pytest.approx(800 / 8000)


def test_a_skirt_between_and_flaring_beside_the_legs_is_not_leakage_but_a_piece_beyond_it_is():
    person = np.zeros((200, 200), bool)
    person[20:100, 70:130] = True  # torso
    person[100:190, 70:90] = person[100:190, 110:130] = True  # two legs apart
    landmarks = np.zeros((33, 2))
    landmarks[[23, 24]] = [(110, 100), (90, 100)]  # hips
    skirt = np.zeros_like(person)
    skirt[100:160, 70:130] = True  # spans the gap between the legs
    gap = 60 * 20
    assert metrics.leakage(skirt, person) == pytest.approx(gap / person.sum())
    assert metrics.leakage(skirt, person, landmarks, "dress") == 0.0
    for row in range(100, 160):  # flaring out as it falls, an A-line: its drape, not leakage
        reach = int(metrics.SKIRT_DRAPE * (row - 100))
        skirt[row, 130:130 + reach] = skirt[row, 70 - reach:70] = True
    assert metrics.leakage(skirt, person, landmarks, "dress") == 0.0
    skirt[100:120, 160:180] = True  # a piece beside the hips, beyond any drape
    assert metrics.leakage(skirt, person, landmarks, "dress") == pytest.approx(20 * 20 / person.sum())
    # Lower garments hang the same way (a skirt, wide trouser legs); a top's pieces there are leakage.
    assert metrics.leakage(skirt, person, landmarks, "lower") == pytest.approx(20 * 20 / person.sum())
    assert metrics.leakage(skirt, person, landmarks, "upper") > 2 * 20 * 20 / person.sum()
    assert metrics.leakage(skirt, person, landmarks, "upper") > 20 * 20 / person.sum()  # only a skirt drapes


def test_coverage_is_the_covered_share_of_the_region():
    region = np.zeros((100, 100), bool)
    region[20:80, 20:80] = True
    garment = np.zeros_like(region)
    garment[20:50, 0:100] = True
    assert metrics.coverage(garment, region) == pytest.approx(0.5)
    assert metrics.coverage(region, region) == 1.0
    assert math.isnan(metrics.coverage(garment, np.zeros_like(region)))


# --- Regions --------------------------------------------------------------------------------


def test_regions_follow_the_body(scene):
    lm, mask = scene["lm"], scene["mask"]
    upper = metrics.garment_region(lm, mask, "upper")
    lower = metrics.garment_region(lm, mask, "lower")
    dress = metrics.garment_region(lm, mask, "dress")
    assert not (upper & ~mask).any() and not (lower & ~mask).any()
    rows = np.nonzero(upper.any(axis=1))[0]
    assert 95 <= rows.min() <= 105 and rows.max() <= 235  # shoulder line to hip line
    assert lower[350, 140] and lower[270, 182] and not lower[150, 160]  # shins, thighs, not the chest
    assert (dress == upper | lower).all()
    assert not upper[55, 160] and not lower[55, 160]  # never the face
    core = metrics.core_region(lm, mask, "upper")
    assert (core & ~upper).sum() == 0 and 0.3 < core.sum() / upper.sum() < 0.9
    allowed = metrics.allowed_region(lm, (H, W), "upper")
    assert allowed[upper].all() and allowed[200, 215] and not allowed[380, 160]


def test_unknown_category_is_refused(scene):
    with pytest.raises(ValueError, match="category"):
        metrics.garment_region(scene["lm"], scene["mask"], "hat")


# --- Length correctness ---------------------------------------------------------------------


def test_length_points_lie_on_visible_bones(scene):
    lm, mask = scene["lm"], scene["mask"]
    vis = np.ones(33, np.float32)
    points = metrics.length_points(lm, vis, mask, "forearm", 0.0, 1.0)
    assert len(points) == 2 * metrics.LENGTH_POINTS_PER_SIDE
    assert tuple(points[0]) == tuple(np.round(lm[bd.LEFT_ELBOW]).astype(int))
    vis[bd.RIGHT_WRIST] = 0.1
    assert len(metrics.length_points(lm, vis, mask, "forearm", 0.0, 1.0)) == metrics.LENGTH_POINTS_PER_SIDE
    with pytest.raises(ValueError):
        metrics.length_points(lm, vis, mask, "neck", 0.0, 1.0)


def skin_model() -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(np.array([[SKIN]], np.uint8), cv2.COLOR_RGB2Lab).reshape(3).astype(np.float32)
    return lab, np.diag([20.0, 6.0, 6.0]).astype(np.float32)


def test_length_correctness_tells_sleeves_from_bare_arms(scene):
    lm, mask, person = scene["lm"], scene["mask"], scene["person"]
    points = metrics.length_points(lm, np.ones(33), mask, "forearm", 0.1, 0.9)
    arms = np.zeros((H, W), np.uint8)
    for a, b in ((bd.LEFT_ELBOW, bd.LEFT_WRIST), (bd.RIGHT_ELBOW, bd.RIGHT_WRIST)):
        cv2.line(arms, tuple(int(v) for v in lm[a]), tuple(int(v) for v in lm[b]), 1, 16)
    sleeves = arms.astype(bool)
    sleeved = person.copy()
    sleeved[sleeves] = (150, 60, 60)
    palette = metrics.to_lab(np.array([[150, 60, 60], [90, 30, 30]], np.uint8))
    mean, cov = skin_model()
    n = len(points)
    assert metrics.length_correctness(sleeved, sleeves, points, "garment", mean, cov, palette) == (n, n)
    assert metrics.length_correctness(sleeved, sleeves, points, "skin", mean, cov, palette) == (0, n)
    # Bare arms: skin, not garment.
    no_mask = np.zeros_like(sleeves)
    assert metrics.length_correctness(person, no_mask, points, "skin", mean, cov, palette) == (n, n)
    assert metrics.length_correctness(person, no_mask, points, "garment", mean, cov, palette) == (0, n)
    # In the garment mask but the wrong colour (e.g. the old sleeve left in place) is not the garment.
    old = person.copy()
    old[sleeves] = OLD_TOP
    assert metrics.length_correctness(old, sleeves, points, "garment", mean, cov, palette) == (0, n)
    # Old clothes left on a limb that should be bare are not skin, even a skin-toned print.
    assert metrics.length_correctness(old, no_mask, points, "skin", mean, cov, palette) == (0, n)
    beige = person.copy()
    stripes = np.where((np.arange(H) // 3 % 2 == 0)[:, None, None], 35, -35) + np.array(SKIN)
    beige[sleeves] = np.broadcast_to(stripes, (H, W, 3))[sleeves]
    assert metrics.length_correctness(beige, no_mask, points, "skin", mean, cov, palette) == (0, n)
