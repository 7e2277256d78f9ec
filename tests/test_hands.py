"""The hands stage: MediaPipe Hands on crops around the pose's wrists (real model), and the hands kept in
front of a new garment."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import load_eval_image, read_cases

from tryon.pipeline import try_on
from tryon.stages import hands as hands_stage
from tryon.stages.body import analyze_body
from tryon.stages.landmarks import LEFT_INDEX, LEFT_PINKY, LEFT_WRIST, RIGHT_INDEX, RIGHT_PINKY, RIGHT_WRIST

CASES = {case["id"]: case for case in read_cases()}
KNUCKLES = {"left": (LEFT_WRIST, LEFT_INDEX, LEFT_PINKY), "right": (RIGHT_WRIST, RIGHT_INDEX, RIGHT_PINKY)}
SAME_PX = 3  # grey levels: a pixel the render left as the photo had it


def _open_hand() -> np.ndarray:
    """21 hand points (px) of an upright open hand: wrist at (100, 180), fingers up to y = 40-60."""
    points = np.zeros((21, 2))
    points[0] = (100, 180)
    for finger, (x, top) in enumerate(((60, 110), (80, 40), (100, 35), (120, 40), (140, 60))):
        base = (x, 130) if finger else (75, 160)
        for k in range(4):
            points[1 + 4 * finger + k] = np.array(base) + (k + (finger > 0)) / 4 * (np.array((x, top)) - base)
    return points


def test_a_hand_is_drawn_as_its_palm_and_fingers() -> None:
    points = _open_hand()
    shape = hands_stage._draw_hand((200, 200), points)
    assert all(shape[int(y), int(x)] for x, y in points)  # every joint and tip
    assert shape[150, 100]  # the palm
    assert not shape[60, 90] and not shape[80, 110]  # between the fingers
    assert not shape[:24].any() and not shape[:, :45].any()  # nothing a finger's width beyond the tips


@functools.cache
def _analysed(relpath: str) -> tuple[np.ndarray, object]:
    image = load_eval_image(relpath)
    return image, analyze_body(image)


def test_hanging_hands_are_found_down_to_the_fingertips() -> None:
    # v52's person: both hands hang beside the jeans, fingers curled below the knuckles the pose model gives.
    image, body = _analysed("person/ootd_model_8.png")
    unit = body.person.frame.unit_px
    shapes = hands_stage.hand_shapes(image, body.landmarks, body.visibility, unit)
    for side, (_, index, pinky) in KNUCKLES.items():
        shape = shapes[side]
        assert shape is not None
        x, y = np.round(0.5 * (body.landmarks[index] + body.landmarks[pinky])).astype(int)
        assert shape[y, x]  # the pose's knuckles are the hand's
        knuckles_y = max(body.landmarks[index][1], body.landmarks[pinky][1])
        assert np.nonzero(shape)[0].max() > knuckles_y + 0.15 * unit  # the fingers below the knuckles


def test_no_hand_is_drawn_where_there_is_none() -> None:
    # A plain backdrop where the pose put the hands: the hand model finds nothing there.
    image, body = _analysed("person/ootd_model_8.png")
    blank = np.full_like(image, 200)
    shapes = hands_stage.hand_shapes(blank, body.landmarks, body.visibility, body.person.frame.unit_px)
    assert shapes == {"left": None, "right": None}


@pytest.mark.parametrize(("case_id", "side", "before"), [
    ("v21", "left", 0.875),  # a hand on the hip over the new top: its fingers were covered
    ("v56", "left", 0.983),  # hanging beside the new dress: fingertips cut, a white notch beside them
    ("v58", "right", 0.967),
])
def test_a_hand_stays_in_front_of_the_new_garment(case_id: str, side: str, before: float) -> None:
    # The person's skin around the hand (within 0.2 body units of the pose's knuckles) is left as the photo has
    # it; ``before``: the share kept when the hands were drawn from the pose's four points only.
    case = CASES[case_id]
    result = try_on(load_eval_image(case["person"]), garment=load_eval_image(case["garment"]),
                    category=case["category"])
    body = result.body
    _, index, pinky = KNUCKLES[side]
    centre = 0.5 * (body.landmarks[index] + body.landmarks[pinky])
    ys, xs = np.mgrid[0:body.size[0], 0:body.size[1]]
    near = np.hypot(xs - centre[0], ys - centre[1]) < 0.2 * body.person.frame.unit_px
    skin = near & body.regions["skin"] & body.person_mask
    same = np.abs(result.image.astype(int) - result.person.astype(int)).max(axis=2) <= SAME_PX
    assert same[skin].mean() > max(before, 0.98)
