"""The composite stage on real eval photos, with real MediaPipe and the real garment analysis."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
from conftest import load_eval_image, read_cases

from tryon.body import analyze_body
from tryon.composite import Composite, composite
from tryon.garment import analyze_garment
from tryon.warp import warp_garment

CASES = {case["id"]: case for case in read_cases()}
MAX_CHROMA_SHIFT = 8.0  # Lab a/b distance between the garment photo's colour and the rendered one
MAX_LIGHTNESS_SHIFT = 15.0  # the photo's light may move L more
MAX_GHOST_CORRELATION = 0.1  # fine-detail correlation of render and photo over the new garment


@functools.cache
def _inputs(person_path: str, garment_path: str, category: str) -> tuple:
    person = load_eval_image(person_path)
    body = analyze_body(person)
    garment = analyze_garment(load_eval_image(garment_path), category)
    return person, body, garment


@functools.cache
def _render(case_id: str) -> tuple[np.ndarray, object, object, Composite]:
    case = CASES[case_id]
    person, body, garment = _inputs(case["person"], case["garment"], case["category"])
    return person, body, garment, composite(person, body, warp_garment(garment, body))


def _lab(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float64)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return np.median(lab[mask], axis=0)


def _high_pass(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return gray - cv2.GaussianBlur(gray, (0, 0), 3.0)


@pytest.mark.parametrize("case_id", ["v01", "v05", "v12", "v15"])
def test_output_has_the_input_size_and_nothing_changes_outside_the_edit_region(case_id: str) -> None:
    person, body, _, result = _render(case_id)
    assert result.image.shape == person.shape and result.image.dtype == np.uint8
    assert result.edit_mask.shape == person.shape[:2] and result.edit_mask.dtype == bool
    outside = ~result.edit_mask
    assert np.array_equal(result.image[outside], person[outside])
    assert not (result.garment_mask & ~result.edit_mask).any()
    assert result.garment_mask.sum() > 0.02 * result.garment_mask.size
    # The face is never painted over.
    assert np.array_equal(result.image[body.regions["face_hair"]], person[body.regions["face_hair"]])


@pytest.mark.parametrize("case_id", ["v01", "v08", "v10", "v13"])
def test_rendered_garment_keeps_the_garment_photo_colour(case_id: str) -> None:
    _, _, garment, result = _render(case_id)
    inner = cv2.erode(result.garment_mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    source = _lab(garment.image, garment.mask)
    rendered = _lab(result.image, inner)
    assert np.linalg.norm(source[1:] - rendered[1:]) < MAX_CHROMA_SHIFT
    assert abs(source[0] - rendered[0]) < MAX_LIGHTNESS_SHIFT


@pytest.mark.parametrize("case_id", ["v11", "v12", "v05"])
def test_old_garment_print_does_not_show_through(case_id: str) -> None:
    # v11: a big "AX" logo, v12: "EMPORIO ARMANI" lettering, v05: ruffles; all under the new top.
    person, _, _, result = _render(case_id)
    inner = cv2.erode(result.garment_mask.astype(np.uint8), np.ones((19, 19), np.uint8)).astype(bool)
    assert inner.sum() > 5000
    a = _high_pass(result.image)[inner].astype(np.float64)
    b = _high_pass(person)[inner].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    correlation = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    assert abs(correlation) < MAX_GHOST_CORRELATION


def test_bare_forearm_in_front_of_the_garment_stays() -> None:
    # v16: the model's hand is in her pocket, so her bare forearm lies in front of her hip, where
    # the sleeveless dress is drawn. The forearm must stay on top, not be painted over.
    person, body, _, result = _render("v16")
    warped = warp_garment(_render("v16")[2], body)
    forearms = body.regions["lower_arm_left"] | body.regions["lower_arm_right"]
    in_front = forearms & body.regions["skin"] & (warped.alpha > 0.5)
    # Its outline may blend with what is filled next to it; its inside must be the photo's.
    in_front = cv2.erode(in_front.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert in_front.sum() > 1000, "the case must have a forearm over the garment"
    same = np.all(result.image[in_front] == person[in_front], axis=1)
    assert same.mean() > 0.9
    assert result.garment_mask[in_front].mean() < 0.05


def test_short_dress_over_trousers_bares_the_shins() -> None:
    # v15: the trousers below a short dress are removed; the shins show skin, not garment.
    from tryon import metrics

    _, body, _, result = _render("v15")

    mean, cov = body.skin_lab_mean, body.skin_lab_cov
    points = metrics.length_points(body.landmarks, body.visibility, body.person_mask, "shin", 0.2, 0.8)
    assert len(points) >= 6
    skin = [metrics.looks_like_skin(np.median(result.image[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3), axis=0)
                                    .round().astype(np.uint8), mean, cov) for x, y in points]
    assert np.mean(skin) >= 0.8
    assert not result.garment_mask[points[:, 1], points[:, 0]].any()


def test_edit_mask_override_is_respected() -> None:
    person, body, garment, auto = _render("v01")
    h, w = person.shape[:2]
    # The user allows only the left half of the automatic region.
    allowed = auto.edit_mask.copy()
    allowed[:, w // 2 :] = False
    result = composite(person, body, warp_garment(garment, body), edit_mask=allowed)
    assert np.array_equal(result.edit_mask, allowed)
    assert np.array_equal(result.image[~allowed], person[~allowed])
    assert not (result.garment_mask & ~allowed).any()
    changed = np.any(result.image != person, axis=2)
    assert changed[allowed].mean() > 0.3
    with pytest.raises(ValueError, match="edit_mask"):
        composite(person, body, warp_garment(garment, body), edit_mask=np.ones((h // 2, w), bool))
