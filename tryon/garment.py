"""Garment analysis of a product photo: mask, category, keypoints.

Input: the garment photo, RGB ``uint8`` ``(H, W, 3)`` (flat white, light grey or
flat-colour background).
Output: :class:`GarmentAnalysis`.

Keypoint names use the *wearer's* sides (see :mod:`tryon.body`): on a product
photo shown from the front, the garment's ``left`` sleeve is on the image's right.
"""

from __future__ import annotations

import dataclasses

import numpy as np

CATEGORIES = ("upper", "lower", "dress")
SLEEVE_LENGTHS = ("none", "short", "three_quarter", "long")

# Keypoint names in GarmentAnalysis.keypoints; missing ones are absent from the dict.
UPPER_KEYPOINTS = (
    "neck_left", "neck_right", "neck_center",  # neckline corners and the front neckline's lowest point
    "shoulder_left", "shoulder_right",
    "armpit_left", "armpit_right",
    "sleeve_end_left", "sleeve_end_right",  # centre of the cuff opening (absent when sleeveless)
    "hem_left", "hem_right",
)
LOWER_KEYPOINTS = (
    "waist_left", "waist_right",
    "crotch",  # trousers only
    "hem_left", "hem_right",  # outer corners of the hem (skirts) or of each leg opening
    "leg_end_left", "leg_end_right",  # centre of each leg opening (trousers only)
)


@dataclasses.dataclass(frozen=True, eq=False)
class GarmentAnalysis:
    """What the garment stage found in one product photo.

    Attributes:
        image: RGB uint8 ``(H, W, 3)``, the garment photo at processing size.
        mask: bool ``(H, W)``, the garment (front only: the inner back of the neck removed).
        category: "upper", "lower" or "dress" (the guess, or the caller's override).
        category_scores: category -> score in [0, 1] behind the guess.
        keypoints: name -> float32 ``(2,)`` pixel ``(x, y)``; names from
            :data:`UPPER_KEYPOINTS` (upper, dress) or :data:`LOWER_KEYPOINTS` (lower).
        sleeve: one of :data:`SLEEVE_LENGTHS` (upper and dress), "none" for lower.
        mean_rgb: ``(3,)`` uint8, mean colour over the mask.
    """

    image: np.ndarray
    mask: np.ndarray
    category: str
    category_scores: dict[str, float]
    keypoints: dict[str, np.ndarray]
    sleeve: str
    mean_rgb: np.ndarray


def analyze_garment(image: np.ndarray, category: str = "auto") -> GarmentAnalysis:
    """Segment the garment, guess its category and find its keypoints.

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        category: "auto" to guess, or one of :data:`CATEGORIES` to force it.

    Raises:
        TryOnError: no garment found (empty or photo of a scene), unknown category.
    """
    raise NotImplementedError("filled in by the garment stage")
