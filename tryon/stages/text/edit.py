"""Edits a description makes to a garment photo: recolouring (texture, shading and prints kept)."""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

from .colour import colour_palette, rgb_to_lab
from .spec import GarmentSpec

# Pixels within this CIELAB distance of the garment's main colour are recoloured fully,
# beyond RECOLOR_FAR not at all (prints and logos in other colours keep their colour).
RECOLOR_NEAR = 22.0
RECOLOR_FAR = 42.0
RECOLOR_SHADING_L = 20.0  # lightness differences up to this are shading (folds), not a different colour...
RECOLOR_L_WEIGHT = 1.5  # ... beyond it they count this much (a white logo on a black tee stays white)
RECOLOR_BLUR_SIGMA = 0.8  # px; the weight is smoothed, but never raised, so thin logo strokes stay out
RECOLOR_L_RANGE = (4.0, 97.0)  # the recoloured fabric's shading is kept inside this L range
RECOLOR_SHADING_PERCENTILES = (2, 98)
RECOLOR_MAX_L_SHIFT = 8.0  # the new base lightness stays this close to the target's
# Which colour "make it navy" changes: the most common one, except that a pale neutral ground
# (white, cream) gives way to a pattern colour covering at least this share of it (a navy-and-white
# breton top is "navy"; a white tee with a small navy logo stays "white").
RECOLOR_PATTERN_SHARE = 0.5
PALE_NEUTRAL_L = 78.0
PALE_NEUTRAL_CHROMA = 14.0
# Where the main colour is mostly ground (patches reaching the outline hold RECOLOR_GROUND_SHARE of
# it), patches of it enclosed by other colours and smaller than RECOLOR_ISLAND_SHARE of the largest
# ground patch are print (a logo's letters, a cartoon's fill) and keep their colour, unless they
# are specks under RECOLOR_SPECK_SHARE of it or not framed by one colour (the fabric showing
# through a busy print).
RECOLOR_GROUND_SHARE = 0.5
RECOLOR_ISLAND_SHARE = 0.1
RECOLOR_SPECK_SHARE = 0.003
RECOLOR_ISLAND_RIM_PX = 2  # their anti-aliased rim is kept too
RECOLOR_OUTLINE_PX = 4  # a patch this close to the garment's outline is fabric, not print (stripes)
RECOLOR_RING_PX = (2, 4)  # a patch's frame: the band this many px outside it...
RECOLOR_RING_UNIFORM = 0.6  # ... is print framing when one colour covers this share of it


def recolour_base(lab: np.ndarray) -> np.ndarray:
    """The CIELAB colour of a garment's pixels ``(N, 3)`` that a recolour replaces (see
    :data:`RECOLOR_PATTERN_SHARE`)."""
    palette = colour_palette(lab)
    base, share = palette[0]
    pale = base[0] > PALE_NEUTRAL_L and float(np.hypot(base[1], base[2])) < PALE_NEUTRAL_CHROMA
    for colour, other_share in palette[1:]:
        if pale and other_share >= RECOLOR_PATTERN_SHARE * share and colour[0] < PALE_NEUTRAL_L:
            return colour
    return base


def _print_islands(core: np.ndarray, mask: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """bool ``(H, W)``: patches of ``core`` (the main colour) that are print, not fabric.

    A print patch is enclosed by the garment (it does not reach the outline, unlike a stripe), is
    small against the main colour's ground, and is framed by one colour (a letter on a plain band, a
    cartoon's outline), unlike the ground showing through a busy all-over print.
    """
    none = np.zeros_like(core)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core.astype(np.uint8), connectivity=8)
    if count <= 2:
        return none
    areas = stats[:, cv2.CC_STAT_AREA]
    outline_kernel = np.ones((2 * RECOLOR_OUTLINE_PX + 1,) * 2, np.uint8)
    inner = cv2.erode(mask.astype(np.uint8), outline_kernel).astype(bool)
    ground = np.unique(labels[core & ~inner])  # patches reaching the outline: the fabric itself
    ground = ground[ground > 0]
    total = core.sum()
    if not ground.size or areas[ground].sum() < RECOLOR_GROUND_SHARE * total:
        return none
    candidates = (areas < RECOLOR_ISLAND_SHARE * areas[ground].max()) & (areas >= RECOLOR_SPECK_SHARE * total)
    candidates[0] = False
    candidates[ground] = False
    islands = none.copy()
    near = np.ones((2 * RECOLOR_RING_PX[0] + 1,) * 2, np.uint8)
    far = np.ones((2 * RECOLOR_RING_PX[1] + 1,) * 2, np.uint8)
    for index in np.flatnonzero(candidates):
        x, y, w, h = stats[index, :4]
        pad = RECOLOR_RING_PX[1] + 1
        box = (slice(max(0, y - pad), y + h + pad), slice(max(0, x - pad), x + w + pad))
        patch = (labels[box] == index).astype(np.uint8)
        ring = cv2.dilate(patch, far).astype(bool) & ~cv2.dilate(patch, near).astype(bool)
        ring &= mask[box] & ~core[box]
        if ring.sum() < RECOLOR_RING_PX[1]:
            continue
        if colour_palette(lab[box][ring], size=1)[0][1] >= RECOLOR_RING_UNIFORM:
            islands[box] |= patch.astype(bool)
    if not islands.any():
        return islands
    kernel = np.ones((2 * RECOLOR_ISLAND_RIM_PX + 1,) * 2, np.uint8)
    return cv2.dilate(islands.astype(np.uint8), kernel).astype(bool)


def recolor(image: np.ndarray, mask: np.ndarray, target_rgb: tuple[int, int, int]) -> np.ndarray:
    """Recolour the garment's main colour to ``target_rgb``, keeping texture, shading and prints.

    In CIELAB, with ``base`` the garment's dominant colour, each pixel near it becomes
    ``target + (pixel - base)``: its lightness deviation (folds, grain, weave) is kept
    as is, its chroma deviation scaled by the target's chroma over the base's. Where the
    target is too light or too dark to hold the garment's shading, the base lightness moves
    by up to :data:`RECOLOR_MAX_L_SHIFT` inside :data:`RECOLOR_L_RANGE` (a white shirt keeps
    its grey folds) and the deviations that still do not fit are compressed.
    Pixels far from the base colour (a print, a logo) keep their colour, and so do small
    patches of the base colour enclosed by other colours (a logo's letters, see
    :data:`RECOLOR_ISLAND_SHARE`). The base colour is the garment's most common colour, or the
    pattern colour on a pale ground (:func:`recolour_base`).

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        mask: bool ``(H, W)``, the garment.
        target_rgb: sRGB of the new colour.

    Returns:
        RGB uint8 ``(H, W, 3)``; pixels outside ``mask`` are unchanged.
    """
    if not mask.any():
        return image.copy()
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    base = recolour_base(lab[mask])
    target = rgb_to_lab(np.asarray(target_rgb, np.float32)).astype(np.float64)
    diff = lab - base.astype(np.float32)
    excess_l = np.maximum(np.abs(diff[..., 0]) - RECOLOR_SHADING_L, 0.0) * RECOLOR_L_WEIGHT
    dist = np.sqrt(excess_l**2 + diff[..., 1] ** 2 + diff[..., 2] ** 2)
    weight = np.clip((RECOLOR_FAR - dist) / (RECOLOR_FAR - RECOLOR_NEAR), 0.0, 1.0).astype(np.float32) * mask
    weight = np.minimum(weight, cv2.GaussianBlur(weight, (0, 0), RECOLOR_BLUR_SIGMA))
    weight[_print_islands(weight > 0.5, mask, lab)] = 0.0
    # Lightness: keep the deviations (folds, grain) of the pixels being recoloured.
    recoloured = mask & (weight > 0.9)
    dev = diff[..., 0][recoloured] if recoloured.any() else np.zeros(1, np.float32)
    lo, hi = np.percentile(dev, RECOLOR_SHADING_PERCENTILES)
    lo, hi = min(float(lo), -1e-3), max(float(hi), 1e-3)
    # Move the base lightness (at most RECOLOR_MAX_L_SHIFT) so the shading fits, then compress
    # whatever still does not fit on the dark and light sides separately.
    new_l = float(np.clip(target[0], RECOLOR_L_RANGE[0] - lo, RECOLOR_L_RANGE[1] - hi))
    new_l = float(np.clip(new_l, target[0] - RECOLOR_MAX_L_SHIFT, target[0] + RECOLOR_MAX_L_SHIFT))
    gain_dark = min(1.0, max(new_l - RECOLOR_L_RANGE[0], 0.0) / -lo)
    gain_light = min(1.0, max(RECOLOR_L_RANGE[1] - new_l, 0.0) / hi)
    # Chroma: deviations scale with the chroma ratio (red -> black must not keep red noise).
    base_chroma = float(np.hypot(base[1], base[2]))
    chroma_gain = min(1.0, (float(np.hypot(target[1], target[2])) + 1.0) / (base_chroma + 1.0))
    new = np.empty_like(lab)
    gain = np.where(diff[..., 0] < 0, gain_dark, gain_light).astype(np.float32)
    new[..., 0] = np.clip(new_l + diff[..., 0] * gain, 0.0, 100.0)
    new[..., 1] = target[1] + diff[..., 1] * chroma_gain
    new[..., 2] = target[2] + diff[..., 2] * chroma_gain
    blended = lab + (new - lab) * weight[..., None]
    rgb = cv2.cvtColor(blended, cv2.COLOR_LAB2RGB)
    out = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    out[~mask] = image[~mask]
    return out


def edit_garment(garment_info: Any, spec: GarmentSpec) -> Any:
    """Apply a description to an analysed garment photo: colour, and stated sleeve length.

    Args:
        garment_info: a :class:`tryon.stages.garment.GarmentAnalysis`.
        spec: the parsed description.

    Returns:
        A ``dataclasses.replace`` copy with the recoloured ``image`` and ``mean_rgb`` (and
        ``sleeve`` when the text states one for a top or dress), or ``garment_info`` itself
        when the spec names no colour and no sleeve.
    """
    changes: dict[str, Any] = {}
    stated_sleeve = spec.sleeve is not None and "sleeve" not in spec.implied
    if stated_sleeve and garment_info.category in ("upper", "dress") and spec.sleeve != garment_info.sleeve:
        changes["sleeve"] = spec.sleeve
    if spec.colours:
        image = recolor(garment_info.image, garment_info.mask, spec.colours[0][1])
        changes["image"] = image
        changes["mean_rgb"] = image[garment_info.mask].mean(axis=0).round().astype(np.uint8)
    if not changes:
        return garment_info
    return dataclasses.replace(garment_info, **changes)
