"""Pictures of what the body stage found: skeleton, masks, coloured body regions.

Every function takes the person photo (RGB ``uint8`` ``(H, W, 3)``) and returns a new
RGB ``uint8`` image of the same size; the input is never modified.
"""

from __future__ import annotations

import cv2
import numpy as np

from .body import PART_NAMES, BodyAnalysis
from .landmarks import SKELETON, VISIBLE_MIN

# Opacity of mask colours laid over the photo.
OVERLAY_ALPHA = 0.5
# Colours (RGB) of the body parts; the wearer's left side is warm, right side cool.
REGION_COLORS: dict[str, tuple[int, int, int]] = {
    "torso": (230, 200, 40),
    "neck": (250, 140, 200),
    "face_hair": (160, 90, 220),
    "upper_arm_left": (240, 90, 40),
    "upper_arm_right": (40, 150, 240),
    "lower_arm_left": (250, 160, 60),
    "lower_arm_right": (60, 200, 240),
    "hand_left": (250, 220, 120),
    "hand_right": (140, 230, 250),
    "thigh_left": (200, 40, 60),
    "thigh_right": (40, 60, 200),
    "shin_left": (240, 100, 120),
    "shin_right": (100, 120, 240),
    "feet": (90, 90, 90),
    "skin": (255, 120, 120),
}
SKIN_OUTLINE_RGB = (255, 255, 255)
LEFT_RGB, RIGHT_RGB, CENTRE_RGB = (255, 120, 0), (0, 160, 255), (80, 230, 80)
HIDDEN_RGB = (150, 150, 150)  # landmarks MediaPipe reports as not visible
LINE_FRACTION = 0.004  # stroke width as a fraction of the image's long side


def _stroke(image: np.ndarray) -> int:
    return max(1, round(LINE_FRACTION * max(image.shape[:2])))


def overlay_mask(image: np.ndarray, mask: np.ndarray, rgb: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """Tint ``mask`` (bool ``(H, W)``) with colour ``rgb`` over ``image``; RGB uint8 ``(H, W, 3)``."""
    out = image.astype(np.float32)
    colour = np.array(rgb, np.float32)
    out[mask] = (1 - OVERLAY_ALPHA) * out[mask] + OVERLAY_ALPHA * colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw_pose(image: np.ndarray, body: BodyAnalysis) -> np.ndarray:
    """The skeleton and the 33 landmarks over ``image``; RGB uint8 ``(H, W, 3)``.

    The wearer's left side is orange, right side blue; hidden landmarks are grey.
    """
    out = np.ascontiguousarray(image.copy())
    stroke = _stroke(image)
    points = np.round(body.landmarks).astype(int)
    for a, b in SKELETON:
        seen = body.visibility[a] >= VISIBLE_MIN and body.visibility[b] >= VISIBLE_MIN
        colour = _side_colour(a, b) if seen else HIDDEN_RGB
        cv2.line(out, tuple(points[a]), tuple(points[b]), colour, stroke, cv2.LINE_AA)
    for index, (x, y) in enumerate(points):
        colour = _side_colour(index, index) if body.visibility[index] >= VISIBLE_MIN else HIDDEN_RGB
        cv2.circle(out, (int(x), int(y)), stroke + 2, colour, -1, cv2.LINE_AA)
        cv2.circle(out, (int(x), int(y)), stroke + 2, (255, 255, 255), 1, cv2.LINE_AA)
    if body.face_box is not None:
        x0, y0, x1, y1 = body.face_box
        cv2.rectangle(out, (x0, y0), (x1, y1), CENTRE_RGB, stroke, cv2.LINE_AA)
    return out


def draw_regions(image: np.ndarray, body: BodyAnalysis) -> np.ndarray:
    """Body parts tinted in :data:`REGION_COLORS`, skin outlined in white; RGB uint8 ``(H, W, 3)``."""
    out = image.astype(np.float32)
    for name in PART_NAMES:
        mask = body.regions[name]
        colour = np.array(REGION_COLORS[name], np.float32)
        out[mask] = (1 - OVERLAY_ALPHA) * out[mask] + OVERLAY_ALPHA * colour
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(
        body.regions["skin"].astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE
    )
    cv2.drawContours(out, contours, -1, SKIN_OUTLINE_RGB, _stroke(image), cv2.LINE_AA)
    return out


def _side(index: int) -> str:
    """"l", "r" or "" (nose): MediaPipe numbers eyes 1-3 left, 4-6 right, then left odd, right even."""
    if index == 0:
        return ""
    if index <= 6:
        return "l" if index <= 3 else "r"
    return "l" if index % 2 == 1 else "r"


def _side_colour(a: int, b: int) -> tuple[int, int, int]:
    side_a, side_b = _side(a), _side(b)
    if side_a != side_b or not side_a:
        return CENTRE_RGB
    return LEFT_RGB if side_a == "l" else RIGHT_RGB
