"""Composite a warped garment into the person photo.

Input: the person photo (RGB uint8 ``(H, W, 3)``), its BodyAnalysis, a WarpedGarment.
Output: :class:`Composite`.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Composite:
    """A rendered try-on.

    Attributes:
        image: RGB uint8 ``(H, W, 3)``.
        edit_mask: bool ``(H, W)``: pixels that may differ from the person photo; every
            pixel outside it is identical to the input.
        garment_mask: bool ``(H, W)``: pixels that show the new garment.
        layers: debug masks by name (old garment removed, skin filled, occluders kept...).
    """

    image: np.ndarray
    edit_mask: np.ndarray
    garment_mask: np.ndarray
    layers: dict[str, np.ndarray]


def composite(person, body, warped, edit_mask=None) -> Composite:  # noqa: ANN001
    raise NotImplementedError("filled in by the composite stage")
