"""Edits a description makes to an analysed garment photo: its colour and its sleeve length.

Both change pixels, not labels: "make it green" recolours every fabric colour of the garment (or
of the named part, "make the sleeves green") with :func:`.recolour.recolor`; "short sleeves" cuts
the garment's sleeve parts (``GarmentAnalysis.parts``) across at the described length, with a
clean hem, and updates the mask, parts, keypoints and sleeve label to match. What cannot be done
from a photo (lengthening a sleeve, a part the garment stage did not find) is left as it is and
said in a note.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

from .recolour import recolor
from .spec import SLEEVES, GarmentSpec

# Where a cut puts the cuff: the shoulder-to-cuff length over the garment's size that the garment
# stage reads as each length (its bins end at 0.8 and 1.25; see tryon.stages.garment), mid-bin.
SLEEVE_TARGET_RATIO = {"short": 0.5, "three_quarter": 1.02}
SLEEVE_SHORT_MAX = 0.8  # tryon.stages.garment.SLEEVE_SHORT_MAX
SLEEVE_THREE_QUARTER_MAX = 1.25  # tryon.stages.garment.SLEEVE_THREE_QUARTER_MAX
# The hem: a band this wide (share of the sleeve's width at the cut) inside the new edge is
# shaded as a folded-over hem, and the edge itself is softened over HEM_FEATHER_PX.
HEM_WIDTH = 0.06
HEM_MIN_PX = 2
HEM_SHADE = 0.86
HEM_FEATHER_PX = 1.0
PART_MASKS = {"sleeves": ("sleeve_left", "sleeve_right"), "body": ("body",)}


@dataclasses.dataclass(frozen=True)
class EditResult:
    """An edited garment and what the shopper should know about the edit.

    Attributes:
        garment: the edited :class:`tryon.stages.garment.GarmentAnalysis` (the same object when
            nothing changed).
        notes: sentences for the shopper: what changed, and what could not be done and why.
    """

    garment: Any
    notes: tuple[str, ...] = ()


def apply_edits(garment_info: Any, spec: GarmentSpec) -> EditResult:
    """Apply a description's stated sleeve length and colour to an analysed garment photo.

    Args:
        garment_info: a :class:`tryon.stages.garment.GarmentAnalysis`.
        spec: the parsed description; only stated (not implied) sleeve lengths are applied.

    Returns:
        The :class:`EditResult`.
    """
    notes: list[str] = []
    info = garment_info
    stated_sleeve = spec.sleeve is not None and "sleeve" not in spec.implied
    if stated_sleeve and info.category in ("upper", "dress") and spec.sleeve != info.sleeve:
        info = _edit_sleeves(info, spec.sleeve, notes)  # type: ignore[arg-type]
    if spec.colours:
        info = _edit_colour(info, spec, notes)
    return EditResult(info, tuple(notes))


def edit_garment(garment_info: Any, spec: GarmentSpec) -> Any:
    """:func:`apply_edits` without the notes: the edited garment analysis (``garment_info`` itself
    when the description changes nothing)."""
    return apply_edits(garment_info, spec).garment


def _edit_colour(info: Any, spec: GarmentSpec, notes: list[str]) -> Any:
    name, rgb = spec.colours[0]
    region = info.mask
    if spec.colour_part is not None:
        parts = [info.parts[p] for p in PART_MASKS[spec.colour_part] if p in info.parts]
        if not parts:
            notes.append(f"Could not find the garment's {spec.colour_part} in the photo; its colour was not changed.")
            return info
        region = info.mask & np.logical_or.reduce(parts)
    image = recolor(info.image, region, rgb)
    where = f"the {spec.colour_part}" if spec.colour_part else "the garment"
    notes.append(f"Recoloured {where} to {name}, keeping the shading and print.")
    mean_rgb = np.round(cv2.mean(image, info.mask.astype(np.uint8))[:3]).astype(np.uint8)
    return dataclasses.replace(info, image=image, mean_rgb=mean_rgb)


def _edit_sleeves(info: Any, wanted: str, notes: list[str]) -> Any:
    have = info.sleeve
    shown = {s: s.replace("_", "-") for s in SLEEVES}
    if SLEEVES.index(wanted) > SLEEVES.index(have):
        notes.append(
            f"The garment photo has {shown[have]} sleeves; a photo's sleeves cannot be lengthened, so they stay "
            f"{shown[have]} (not {shown[wanted]})."
        )
        return info
    cut = cut_sleeves(info, wanted)
    if cut is None:
        notes.append(
            f"Could not find the sleeves in the garment photo, so they stay as photographed ({shown[have]})."
        )
        return info
    done = "Removed the sleeves" if cut.sleeve == "none" else f"Cut the sleeves to {shown[cut.sleeve]} with a hem"
    notes.append(f"{done}, as the description says.")
    return cut


def cut_sleeves(info: Any, wanted: str) -> Any | None:
    """The garment with its sleeves cut to ``wanted`` ("none", "short" or "three_quarter").

    Each sleeve part is cut across its axis (armhole middle -> cuff) where the shoulder-to-cuff
    length reads as ``wanted`` for the garment stage; "none" removes the sleeves at the armhole.
    The removed pixels take the photo's background colour; a narrow band inside the new edge is
    shaded as a hem.

    Args:
        info: a :class:`tryon.stages.garment.GarmentAnalysis` with ``sleeve_left``/``sleeve_right``
            parts and ``shoulder_*``, ``armpit_*`` and ``sleeve_end_*`` keypoints.
        wanted: the new sleeve length, shorter than ``info.sleeve``.

    Returns:
        The edited analysis (``image``, ``mask``, ``parts``, ``keypoints``, ``sleeve``,
        ``mean_rgb``, ``outline`` updated), or None when the sleeves or their keypoints are missing.
    """
    sides = ("left", "right")
    names = [f"{k}_{s}" for s in sides for k in ("shoulder", "armpit", "sleeve_end")]
    if any(f"sleeve_{s}" not in info.parts for s in sides) or any(n not in info.keypoints for n in names):
        return None
    reference = _sleeve_reference(info.keypoints)
    image, mask = info.image.copy(), info.mask.copy()
    parts, keypoints = dict(info.parts), dict(info.keypoints)
    background = _background_colour(info.image, info.mask)
    lengths = []
    for side in sides:
        kp = {k: np.asarray(info.keypoints[f"{k}_{side}"], np.float64) for k in ("shoulder", "armpit", "sleeve_end")}
        sleeve = info.parts[f"sleeve_{side}"]
        removed, end = _cut_one(sleeve, kp, wanted, reference)
        if end is None:
            keypoints.pop(f"sleeve_end_{side}", None)
            parts["body"] = parts["body"] | (sleeve & ~removed)
            parts.pop(f"sleeve_{side}")
        else:
            keypoints[f"sleeve_end_{side}"] = end.astype(np.float32)
            parts[f"sleeve_{side}"] = sleeve & ~removed
            lengths.append(float(np.linalg.norm(end - kp["shoulder"])))
            _hem(image, parts[f"sleeve_{side}"], kp, end)
        mask &= ~removed
        image[removed] = background
    image = _feather(image, info.mask, mask, background)
    sleeve = _sleeve_name(max(lengths) if lengths else 0.0, reference)
    return dataclasses.replace(
        info, image=image, mask=mask, parts=parts, keypoints=keypoints, sleeve=sleeve,
        mean_rgb=np.round(cv2.mean(image, mask.astype(np.uint8))[:3]).astype(np.uint8), outline=_outline(mask),
    )


def _sleeve_reference(keypoints: dict[str, np.ndarray]) -> float:
    """The garment's size that sleeve lengths are measured against, as the garment stage measures
    it: sqrt(shoulder span x twice the armhole depth), each at least half the torso width (here the
    armpit-to-armpit span)."""
    kp = {k: np.asarray(v, np.float64) for k, v in keypoints.items()}
    torso = abs(kp["armpit_left"][0] - kp["armpit_right"][0])
    shoulders = abs(kp["shoulder_left"][0] - kp["shoulder_right"][0])
    armhole = np.mean([kp[f"armpit_{s}"][1] - kp[f"shoulder_{s}"][1] for s in ("left", "right")])
    return float(np.sqrt(max(shoulders, 0.5 * torso) * max(2.0 * armhole, 0.5 * torso)))


def _sleeve_name(length: float, reference: float) -> str:
    if length <= 0:
        return "none"
    ratio = length / max(reference, 1.0)
    if ratio <= SLEEVE_SHORT_MAX:
        return "short"
    return "three_quarter" if ratio <= SLEEVE_THREE_QUARTER_MAX else "long"


def _cut_one(
    sleeve: np.ndarray, kp: dict[str, np.ndarray], wanted: str, reference: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(removed, new cuff centre or None)`` for one sleeve part."""
    if wanted == "none":
        return sleeve.copy(), None
    root = (kp["shoulder"] + kp["armpit"]) / 2
    axis = kp["sleeve_end"] - root
    full = float(np.linalg.norm(axis))
    axis /= max(full, 1e-6)
    # The cuff centre on the axis whose distance from the shoulder is the target length.
    target = SLEEVE_TARGET_RATIO[wanted] * reference
    offset = root - kp["shoulder"]
    b, c = float(offset @ axis), float(offset @ offset) - target**2
    t = -b + np.sqrt(max(b * b - c, 0.0))
    t = float(np.clip(t, 0.0, full))
    ys, xs = np.mgrid[0 : sleeve.shape[0], 0 : sleeve.shape[1]]
    beyond = ((xs - root[0]) * axis[0] + (ys - root[1]) * axis[1]) > t
    removed = sleeve & beyond
    edge = sleeve & ~beyond & (((xs - root[0]) * axis[0] + (ys - root[1]) * axis[1]) > t - 2)
    end = np.array([xs[edge].mean(), ys[edge].mean()]) if edge.any() else root + t * axis
    return removed, end


def _hem(image: np.ndarray, sleeve: np.ndarray, kp: dict[str, np.ndarray], end: np.ndarray) -> None:
    """Shade a band inside the cut edge of ``sleeve`` as a folded hem (in place)."""
    root = (kp["shoulder"] + kp["armpit"]) / 2
    axis = (end - root) / max(float(np.linalg.norm(end - root)), 1e-6)
    ys, xs = np.mgrid[0 : sleeve.shape[0], 0 : sleeve.shape[1]]
    along = (xs - root[0]) * axis[0] + (ys - root[1]) * axis[1]
    t_end = float((end - root) @ axis)
    width = max(HEM_MIN_PX, HEM_WIDTH * float(np.linalg.norm(kp["shoulder"] - kp["armpit"])))
    band = sleeve & (along > t_end - width)
    image[band] = np.round(image[band].astype(np.float32) * HEM_SHADE).astype(np.uint8)


def _background_colour(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo's background: the median colour outside the garment."""
    outside = image[~mask]
    return np.median(outside, axis=0).astype(np.uint8) if len(outside) else np.full(3, 255, np.uint8)


def _feather(image: np.ndarray, old_mask: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Soften the cut edges (garment next to what was cut away) over :data:`HEM_FEATHER_PX`."""
    kernel = np.ones((3, 3), np.uint8)
    removed = (old_mask & ~mask).astype(np.uint8)
    edge = mask & (cv2.dilate(removed, kernel) > 0)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), HEM_FEATHER_PX)[edge][:, None]
    out = image.copy()
    out[edge] = np.round(image[edge] * alpha + background * (1 - alpha)).astype(np.uint8)
    return out


def _outline(mask: np.ndarray) -> np.ndarray:
    """int32 ``(N, 2)`` pixel ``(x, y)`` points of the largest outer contour of ``mask``."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.int32)
    return max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.int32)
