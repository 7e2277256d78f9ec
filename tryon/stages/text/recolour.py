"""Recolouring a garment photo: every fabric colour of the garment (or of one part) takes the new
colour, keeping shading, weave and prints.

What counts as fabric: the garment's main colour (:func:`recolour_base`) and every other colour
that forms a few large blocks (the white chest band and navy body of a colour-blocked tee, see
:func:`fabric_colours`). Colours in many small pieces (stripes, dots, a print's motifs) and
patches enclosed by one other colour (a logo's letters) are print and keep their colour.
"""

from __future__ import annotations

import cv2
import numpy as np

from .colour import colour_palette, rgb_to_lab

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


# Colour blocks: a colour other than the main one is fabric (recoloured too) when it covers at
# least BLOCK_MIN_SHARE of the garment, in at most BLOCK_MAX_PIECES pieces of at least
# BLOCK_PIECE_SHARE each that hold BLOCK_PIECES_COVER of its pixels (stripes and dots are many pieces).
BLOCK_MIN_SHARE = 0.08
BLOCK_MAX_PIECES = 3
BLOCK_PIECE_SHARE = 0.02
BLOCK_PIECES_COVER = 0.8
BLOCK_MAX_COLOURS = 4  # palette colours examined
BLOCK_OPEN_PX = 2  # anti-aliased seams between colours are opened away before counting pieces
# Blocks keep this share of their lightness difference to the main colour: the seams of a
# colour-blocked tee made all green stay visible as tones of green.
BLOCK_TONE = 0.25


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


def _colour_distance(lab: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(diff, distance)``: CIELAB ``lab - base`` and a distance where lightness differences up to
    :data:`RECOLOR_SHADING_L` are shading, not another colour."""
    diff = lab - base.astype(np.float32)
    excess_l = np.maximum(np.abs(diff[..., 0]) - RECOLOR_SHADING_L, 0.0) * RECOLOR_L_WEIGHT
    return diff, np.sqrt(excess_l**2 + diff[..., 1] ** 2 + diff[..., 2] ** 2)


def _is_block(near: np.ndarray, area: int) -> bool:
    kernel = np.ones((2 * BLOCK_OPEN_PX + 1,) * 2, np.uint8)
    opened = cv2.morphologyEx(near.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    _, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    sizes = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1]
    pieces = sizes[sizes >= BLOCK_PIECE_SHARE * area]
    return 0 < len(pieces) <= BLOCK_MAX_PIECES and pieces.sum() >= BLOCK_PIECES_COVER * max(int(near.sum()), 1)


def fabric_colours(lab: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """The CIELAB colours a recolour replaces: the main one (:func:`recolour_base`) first, then
    colour blocks (see :data:`BLOCK_MIN_SHARE`).

    Args:
        lab: float32 ``(H, W, 3)`` CIELAB image.
        mask: bool ``(H, W)``, the garment (or the part being recoloured).
    """
    bases = [recolour_base(lab[mask])]
    area = int(mask.sum())
    for colour, share in colour_palette(lab[mask], BLOCK_MAX_COLOURS, min_share=BLOCK_MIN_SHARE):
        if share < BLOCK_MIN_SHARE:
            continue
        if any(float(_colour_distance(colour[None, None], b)[1][0, 0]) < RECOLOR_NEAR for b in bases):
            continue
        near = mask & (_colour_distance(lab, colour)[1] < RECOLOR_NEAR)
        if _is_block(near, area):
            bases.append(colour)
    return bases


def _base_weight(lab: np.ndarray, mask: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, diff)``: how fully each pixel takes the new colour as a shade of ``base`` (1 near
    it, 0 beyond :data:`RECOLOR_FAR`; smoothed, never raised, so thin strokes of print stay out)."""
    diff, dist = _colour_distance(lab, base)
    weight = np.clip((RECOLOR_FAR - dist) / (RECOLOR_FAR - RECOLOR_NEAR), 0.0, 1.0).astype(np.float32) * mask
    return np.minimum(weight, cv2.GaussianBlur(weight, (0, 0), RECOLOR_BLUR_SIGMA)), diff


def _shaded(diff: np.ndarray, region: np.ndarray, base: np.ndarray, target: np.ndarray) -> np.ndarray:
    """CIELAB ``target + diff`` for the pixels of one base colour, shading kept inside the printable
    lightness range (see :func:`recolor`)."""
    dev = diff[..., 0][region] if region.any() else np.zeros(1, np.float32)
    lo, hi = np.percentile(dev, RECOLOR_SHADING_PERCENTILES)
    lo, hi = min(float(lo), -1e-3), max(float(hi), 1e-3)
    # Move the base lightness (at most RECOLOR_MAX_L_SHIFT) so the shading fits, then compress
    # whatever still does not fit on the dark and light sides separately.
    new_l = float(np.clip(target[0], RECOLOR_L_RANGE[0] - lo, RECOLOR_L_RANGE[1] - hi))
    new_l = float(np.clip(new_l, target[0] - RECOLOR_MAX_L_SHIFT, target[0] + RECOLOR_MAX_L_SHIFT))
    gain_dark = min(1.0, max(new_l - RECOLOR_L_RANGE[0], 0.0) / -lo)
    gain_light = min(1.0, max(RECOLOR_L_RANGE[1] - new_l, 0.0) / hi)
    # Chroma: deviations scale with the chroma ratio (red -> black must not keep red noise).
    chroma_gain = min(1.0, (float(np.hypot(target[1], target[2])) + 1.0) / (float(np.hypot(base[1], base[2])) + 1.0))
    new = np.empty_like(diff)
    gain = np.where(diff[..., 0] < 0, gain_dark, gain_light).astype(np.float32)
    new[..., 0] = np.clip(new_l + diff[..., 0] * gain, 0.0, 100.0)
    new[..., 1] = target[1] + diff[..., 1] * chroma_gain
    new[..., 2] = target[2] + diff[..., 2] * chroma_gain
    return new


def recolor(
    image: np.ndarray, mask: np.ndarray, target_rgb: tuple[int, int, int], *, blocks: bool = True
) -> np.ndarray:
    """Recolour a garment (or the part of it in ``mask``) to ``target_rgb``, keeping texture,
    shading and prints.

    In CIELAB, each pixel near one of the fabric colours (:func:`fabric_colours`) becomes
    ``target + (pixel - base)``: its lightness deviation (folds, grain, weave) is kept as is, its
    chroma deviation scaled by the target's chroma over the base's. Where the target is too light
    or too dark to hold the shading, the base lightness moves by up to :data:`RECOLOR_MAX_L_SHIFT`
    inside :data:`RECOLOR_L_RANGE` (a white shirt keeps its grey folds) and the deviations that
    still do not fit are compressed. A colour block keeps :data:`BLOCK_TONE` of its lightness
    difference to the main colour. Pixels far from every fabric colour (a print, a logo) keep
    their colour, and so do small patches of a fabric colour enclosed by one other colour (a
    logo's letters, see :data:`RECOLOR_ISLAND_SHARE`).

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        mask: bool ``(H, W)``, the pixels that may change: the garment, or one part of it.
        target_rgb: sRGB of the new colour.
        blocks: False recolours the main colour only.

    Returns:
        RGB uint8 ``(H, W, 3)``; pixels outside ``mask`` are unchanged.
    """
    if not mask.any():
        return image.copy()
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    bases = fabric_colours(lab, mask) if blocks else [recolour_base(lab[mask])]
    target = rgb_to_lab(np.asarray(target_rgb, np.float32)).astype(np.float64)
    layers = [_base_weight(lab, mask, base) for base in bases]
    owner = np.argmax(np.stack([w for w, _ in layers]), axis=0)
    weight = np.zeros(mask.shape, np.float32)
    new = lab.copy()
    for j, (base, (layer_weight, diff)) in enumerate(zip(bases, layers, strict=True)):
        mine = (owner == j) & (layer_weight > 0)
        layer_weight = np.where(mine, layer_weight, 0.0).astype(np.float32)
        layer_weight[_print_islands(layer_weight > 0.5, mask, lab)] = 0.0
        tone = target.copy()
        tone[0] = np.clip(target[0] + BLOCK_TONE * (float(base[0]) - float(bases[0][0])), *RECOLOR_L_RANGE)
        new[mine] = _shaded(diff, mine & (layer_weight > 0.9), base, tone)[mine]
        weight = np.maximum(weight, layer_weight)
    blended = lab + (new - lab) * weight[..., None]
    rgb = cv2.cvtColor(blended, cv2.COLOR_LAB2RGB)
    out = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    out[~mask] = image[~mask]
    return out
