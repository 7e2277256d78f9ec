"""The hands' own shapes: MediaPipe Hands on a crop around each wrist the pose model found.

The pose model gives a hand four points (wrist, thumb, and the index and pinky knuckles); drawn from
those, a hand shape misses curled fingers and fingertips, which then parse as the clothing beside
them and a new garment covers them. The hand model, run on a square crop around the knuckles
(upscaled: in a full-length photo a hand is some 60 px, too small for its palm detector on the
whole photo), gives 21 points per hand, fingertips included. Each hand's shape is its palm (the
hull of the wrist and the knuckles) and a capsule along each finger.

Input: the person photo, RGB ``uint8`` ``(H, W, 3)``, and the pose's landmarks in pixels.
Output: per wearer's side, a bool ``(H, W)`` mask of the hand's shape, or None where the hand
model found no hand, or found one that is not the pose's (its wrist elsewhere).
"""

from __future__ import annotations

import dataclasses
import itertools

import cv2
import numpy as np

from ..models import load_model, model_lock
from . import masks
from .landmarks import (
    LEFT_INDEX,
    LEFT_PINKY,
    LEFT_WRIST,
    RIGHT_INDEX,
    RIGHT_PINKY,
    RIGHT_WRIST,
    VISIBLE_MIN,
)

# MediaPipe Hands' 21 points: the wrist, then four per finger from its base to its tip.
HAND_WRIST = 0
FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
PALM = (0, 1, 5, 9, 13, 17)
THUMB_BASE, INDEX_BASE, MIDDLE_BASE, PINKY_BASE = 1, 5, 9, 17


@dataclasses.dataclass(frozen=True)
class HandRules:
    """How the hands are looked for and drawn (sizes in body units ``_u``)."""

    crop_u: float = 0.35  # half the side of the square crop, centred on the pose's knuckles
    crop_px: int = 256  # the crop is scaled to this side for the hand model
    min_crop_px: int = 12  # a crop smaller than this (a hand at the photo's edge) is not looked at
    # The hand found must be the pose's: its wrist this near the pose's wrist.
    wrist_match_u: float = 0.12
    # A finger's radius as a share of the palm's width (index to pinky knuckle: about three fingers) or of
    # its length (wrist to the middle finger's knuckle: about five), whichever is more (a hand seen from
    # its side shows a narrow palm).
    finger_radius_share: tuple[float, float] = (0.15, 0.1)


HANDS = HandRules()
_SIDES = (("left", LEFT_WRIST, LEFT_INDEX, LEFT_PINKY), ("right", RIGHT_WRIST, RIGHT_INDEX, RIGHT_PINKY))


def hand_shapes(
    image: np.ndarray, landmarks: np.ndarray, visibility: np.ndarray, unit: float
) -> dict[str, np.ndarray | None]:
    """Each hand's shape (bool ``(H, W)``, or None), by the wearer's side (``"left"``, ``"right"``).

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        landmarks: ``(33, 2)`` pose landmarks in pixels ``(x, y)``; ``visibility``: ``(33,)`` in [0, 1].
        unit: the body unit in pixels.
    """
    shapes: dict[str, np.ndarray | None] = {}
    for side, wrist, index, pinky in _SIDES:
        shapes[side] = None
        if min(visibility[wrist], visibility[index], visibility[pinky]) < VISIBLE_MIN:
            continue
        points = _hand_points(image, 0.5 * (landmarks[index] + landmarks[pinky]), unit)
        if points is None or np.linalg.norm(points[HAND_WRIST] - landmarks[wrist]) > HANDS.wrist_match_u * unit:
            continue
        shapes[side] = _draw_hand(image.shape[:2], points)
    return shapes


def _hand_points(image: np.ndarray, centre: np.ndarray, unit: float) -> np.ndarray | None:
    """The 21 hand points (float64 ``(21, 2)`` px) the hand model finds in a crop around ``centre``, or None."""
    height, width = image.shape[:2]
    half = HANDS.crop_u * unit
    x0, y0 = max(0, round(centre[0] - half)), max(0, round(centre[1] - half))
    x1, y1 = min(width, round(centre[0] + half)), min(height, round(centre[1] + half))
    if min(x1 - x0, y1 - y0) < HANDS.min_crop_px:
        return None
    scale = HANDS.crop_px / max(x1 - x0, y1 - y0)
    crop = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]),
                      (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))),
                      interpolation=cv2.INTER_CUBIC)
    with model_lock("hands"):
        found = load_model("hands").process(crop).multi_hand_landmarks
    if not found:
        return None
    h, w = crop.shape[:2]
    points = np.array([(p.x * w, p.y * h) for p in found[0].landmark], np.float64)
    return points / scale + np.array([x0, y0], np.float64)


def _draw_hand(size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """The palm (hull of the wrist and the knuckles) and a capsule along each finger, bool ``(H, W)``."""
    canvas = np.zeros(size, np.uint8)
    palm = cv2.convexHull(np.round(points[list(PALM)]).astype(np.int32))
    cv2.fillConvexPoly(canvas, palm, 1)
    width = float(np.linalg.norm(points[INDEX_BASE] - points[PINKY_BASE]))
    length = float(np.linalg.norm(points[MIDDLE_BASE] - points[HAND_WRIST]))
    radius = max(1.0, HANDS.finger_radius_share[0] * width, HANDS.finger_radius_share[1] * length)
    for finger in FINGERS:
        chain = (HAND_WRIST, *finger) if finger[0] == THUMB_BASE else finger
        for a, b in itertools.pairwise(chain):
            masks.capsule(canvas, points[a], points[b], radius)
    return canvas.astype(bool)
