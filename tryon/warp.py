"""Warp a garment photo onto a body: a smooth body warp plus per-limb warps.

Input: :class:`tryon.garment.GarmentAnalysis` and :class:`tryon.body.BodyAnalysis`.
Output: :class:`WarpedGarment`, the garment in the person photo's frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class WarpedGarment:
    """The garment placed on the body, in the person photo's pixel frame.

    Attributes:
        rgb: RGB uint8 ``(H, W, 3)``, warped garment colours (undefined outside ``alpha``).
        alpha: float32 ``(H, W)`` in [0, 1], garment coverage (soft edges).
        parts: part name ("body", "sleeve_left", "sleeve_right", "leg_left", "leg_right")
            -> bool ``(H, W)`` mask of the warped part.
        category: "upper", "lower" or "dress".
        sleeve: the garment's sleeve length (see :data:`tryon.garment.SLEEVE_LENGTHS`).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    parts: dict[str, np.ndarray]
    category: str
    sleeve: str


def warp_garment(garment, body) -> WarpedGarment:  # noqa: ANN001
    raise NotImplementedError("filled in by the warp stage")
