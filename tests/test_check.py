"""The self-check (tryon.stages.check) measures the picture: results made by hand on a shipped photo
(a man in a long-sleeve sweater and jeans) with what each check must find."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from pathlib import Path

import numpy as np
import pytest

from tryon.stages.body import analyze_body
from tryon.stages.check import RULES, check_result
from tryon.stages.garment import GarmentAnalysis
from tryon.stages.intake import load_image
from tryon.stages.landmarks import LEFT_ELBOW, LEFT_SHOULDER, LEFT_WRIST, RIGHT_ELBOW, RIGHT_SHOULDER, RIGHT_WRIST
from tryon.stages.text import parse

PERSON = Path(__file__).resolve().parents[1] / "assets/people/openvto_3_posture.jpg"
RED, BLUE = (200, 30, 30), (30, 60, 200)


@functools.cache
def _person() -> tuple[np.ndarray, object]:
    image = load_image(PERSON)
    return image, analyze_body(image)


def _garment(sleeve: str) -> GarmentAnalysis:
    mask = np.ones((8, 8), bool)
    return GarmentAnalysis(image=np.zeros((8, 8, 3), np.uint8), mask=mask, category="upper",
                           category_scores={"upper": 1.0}, keypoints={}, sleeve=sleeve, mean_rgb=np.zeros(3, np.uint8))


def _arm_band(body: object, joints: tuple[int, int, int], until: float, radius_u: float = 0.12) -> np.ndarray:
    """The arm's band from the shoulder down to ``until`` of its length (bool)."""
    import cv2

    frame = body.person.frame
    pts = [frame.landmarks[j] for j in joints]
    lengths = [float(np.linalg.norm(b - a)) for a, b in itertools.pairwise(pts)]
    remaining = until * sum(lengths)
    canvas = np.zeros(body.size, np.uint8)
    thickness = max(1, int(2 * radius_u * frame.unit_px))
    for (a, b), length in zip(itertools.pairwise(pts), lengths, strict=True):
        if remaining <= 0:
            break
        end = a + (b - a) * min(1.0, remaining / max(length, 1e-6))
        cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in end), 1, thickness)
        remaining -= length
    return canvas.astype(bool) & body.person_mask


def _torso(body: object) -> np.ndarray:
    return body.regions["torso"] & body.person_mask


def _top(body: object, sleeve_share: float) -> np.ndarray:
    """A new top's pixels: the torso and both arms down to ``sleeve_share`` of their length."""
    mask = _torso(body).copy()
    for joints in ((LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST), (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST)):
        mask |= _arm_band(body, joints, sleeve_share)
    return mask


def _paint(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = image.copy()
    out[mask] = colour
    return out


def _bare_forearms(person: np.ndarray, body: object, top: np.ndarray) -> np.ndarray:
    """The photo with everything below the new top's short sleeves painted in the person's skin colour."""
    arms = np.zeros(body.size, bool)
    for joints in ((LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST), (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST)):
        arms |= _arm_band(body, joints, 1.0)
    return _paint(person, arms & ~top, tuple(int(v) for v in body.skin_rgb))


def test_old_sleeves_below_a_short_sleeve_are_found_on_the_picture() -> None:
    person, body = _person()
    top = _top(body, 0.3)
    left_as_it_was = _paint(person, top, RED)  # the sweater's sleeves still show below the new sleeves
    check = check_result(person, left_as_it_was, top, body, _garment("short"), "upper")
    assert "The old sleeves may still show on the arms." in check.problems
    assert check.measures["arm_skin_share"] < RULES.skin_share_min
    bared = _paint(_bare_forearms(person, body, top), top, RED)
    check = check_result(person, bared, top, body, _garment("short"), "upper")
    assert "The old sleeves may still show on the arms." not in check.problems
    assert check.measures["arm_skin_share"] > RULES.skin_share_min


def test_sleeves_of_an_open_jacket_kept_over_the_garment_are_not_called_old_sleeves() -> None:
    jacket = load_image(PERSON.parent / "openvto_2_posture.jpg")  # an open denim jacket over a tee
    body = analyze_body(jacket)
    assert body.person.clothing.outer is not None
    top = _top(body, 0.3)
    check = check_result(jacket, _paint(jacket, top, RED), top, body, _garment("short"), "upper")
    assert check.measures["arm_skin_share"] is None
    assert "The old sleeves may still show on the arms." not in check.problems


def test_the_skin_a_render_made_up_is_measured_and_flagged_when_large() -> None:
    person, body = _person()
    top = _top(body, 0.3)
    bared = _paint(_bare_forearms(person, body, top), top, RED)
    check = check_result(person, bared, top, body, _garment("short"), "upper")
    assert check.measures["painted_skin_share"] > 0.01  # the forearms were a sweater's
    unchanged = check_result(person, _paint(person, top, RED), top, body, _garment("short"), "upper")
    assert unchanged.measures["painted_skin_share"] < 0.005
    assert (check.measures["painted_skin_share"] > RULES.painted_skin_max) == any(
        "painted in" in p for p in check.problems)


SLEEVES = [(0.05, "none"), (0.35, "short"), (0.7, "three_quarter"), (1.0, "long")]


@pytest.mark.parametrize(("share", "expected"), SLEEVES)
def test_sleeve_length_is_measured_down_the_arms(share: float, expected: str) -> None:
    person, body = _person()
    top = _top(body, share)
    check = check_result(person, _paint(person, top, RED), top, body, _garment(expected), "upper")
    assert check.measures["sleeve_measured"] == expected
    assert not any("sleeves look" in p for p in check.problems)
    wrong = "long" if expected in ("none", "short") else "none"
    mismatch = check_result(person, _paint(person, top, RED), top, body, _garment(wrong), "upper")
    assert any("sleeves look" in p for p in mismatch.problems)


def test_a_garment_that_misses_the_chest_is_flagged() -> None:
    person, body = _person()
    top = _top(body, 1.0)
    frame = body.person.frame
    holed = top & ~(frame.depth_map_tl() > 0.2) | (top & (frame.depth_map_tl() > 0.5))
    check = check_result(person, _paint(person, holed, RED), holed, body, _garment("long"), "upper")
    assert check.measures["coverage"] < RULES.coverage_min
    assert "Parts of the garment may be missing on the body." in check.problems


def test_the_described_colour_is_measured_on_the_result() -> None:
    person, body = _person()
    top = _top(body, 1.0)
    red = _paint(person, top, RED)
    agrees = check_result(person, red, top, body, _garment("long"), "upper", parse("a red sweater"))
    disagrees = check_result(person, red, top, body, _garment("long"), "upper", parse("a blue sweater"))
    assert agrees.measures["colour_delta_e"] < 10 < disagrees.measures["colour_delta_e"]
    assert "The colour may not match your description." in disagrees.problems
    assert "The colour may not match your description." not in agrees.problems


def test_a_seated_pose_is_named() -> None:
    person, body = _person()
    frame = body.person.frame
    landmarks = frame.landmarks.copy()
    for hip, knee in ((23, 25), (24, 26)):  # thighs turned to the side: a seated person's lap
        landmarks[knee] = landmarks[hip] + frame.across * np.linalg.norm(landmarks[knee] - landmarks[hip])
    seated = dataclasses.replace(body, person=dataclasses.replace(
        body.person, frame=dataclasses.replace(frame, landmarks=landmarks)))
    top = _top(body, 1.0)
    check = check_result(person, _paint(person, top, RED), top, seated, _garment("long"), "upper")
    assert check.measures["pose"] == "seated"
    upright = check_result(person, _paint(person, top, RED), top, body, _garment("long"), "upper")
    assert upright.measures["pose"] is None


def test_ragged_edges_are_measured_on_the_garments_outline() -> None:
    import cv2

    person, body = _person()
    unit = body.person.frame.unit_px
    clean = cv2.GaussianBlur(_top(body, 1.0).astype(np.uint8) * 255, (0, 0), 0.06 * unit) > 127  # rounded corners
    check = check_result(person, _paint(person, clean, RED), clean, body, _garment("long"), "upper")
    assert check.measures["ragged_edges_u"] < RULES.ragged_max_u
    assert not any("ragged" in p for p in check.problems)
    # Torn: blocks bitten out of the outline and slivers standing off it, a few hundredths of the body deep.
    rng = np.random.default_rng(0)
    edge = cv2.morphologyEx(clean.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    ys, xs = np.nonzero(edge)
    torn = clean.copy()
    size = max(2, round(0.02 * unit))
    for k in rng.choice(len(ys), size=len(ys) // (2 * size), replace=False):
        torn[max(0, ys[k] - size): ys[k] + size, max(0, xs[k] - size): xs[k] + size] = rng.random() < 0.5
    check = check_result(person, _paint(person, torn, RED), torn, body, _garment("long"), "upper")
    assert check.measures["ragged_edges_u"] > RULES.ragged_max_u
    assert "The garment's edges may look ragged or torn." in check.problems


def test_fingers_in_front_of_the_garment_do_not_count_as_a_torn_edge() -> None:
    import cv2

    from tryon.stages.check import _raggedness

    # A garment's straight side with four fingers in front of it, each a 6 px wide strip across the edge.
    garment = np.zeros((200, 200), bool)
    garment[20:180, 20:120] = True
    hands = np.zeros_like(garment)
    for y in (60, 72, 84, 96):
        hands[y:y + 6, 100:140] = True
    cut = garment & ~hands
    unit = 150.0
    plain, fingered = _raggedness(garment, unit), _raggedness(cut, unit)
    assert fingered > 3 * plain  # the fingers' notches read as a torn edge when nothing says they are fingers...
    assert _raggedness(cut, unit, hands) < min(1.5 * plain, 0.5 * fingered)  # ...and hardly when the hands are known
    grown = cv2.dilate(hands.astype(np.uint8), np.ones((3, 3))) > 0  # a hand's region a px wider than its cut
    assert _raggedness(cut, unit, grown) < min(1.5 * plain, 0.5 * fingered)


def test_skin_painted_at_the_neck_and_shoulders_is_measured_and_flagged() -> None:
    # A new top with a low neckline over the sweater: the sweater's neck and shoulders become skin.
    person, body = _person()
    depth = body.person.frame.depth_map_tl()
    top = _torso(body) & (depth > 0.3)
    neck = body.person.clothing.top & (depth < RULES.neck_zone_tl) & ~top
    painted = _paint(_paint(person, neck, tuple(int(v) for v in body.skin_rgb)), top, RED)
    check = check_result(person, painted, top, body, _garment("none"), "upper")
    assert check.measures["painted_neck_u2"] > RULES.painted_neck_max_u2
    assert any("neck and shoulders" in p for p in check.problems)
    # The same top with the sweater's neck left as it was: nothing painted there.
    kept = check_result(person, _paint(person, top, RED), top, body, _garment("none"), "upper")
    assert kept.measures["painted_neck_u2"] < 0.01
    assert not any("neck and shoulders" in p for p in kept.problems)
