"""Composite a warped garment into the person photo.

Input: the person photo (RGB uint8 ``(H, W, 3)``), its BodyAnalysis, a WarpedGarment.
Output: :class:`Composite`.

What depends only on the photo and the garment category (the old clothing's masks, the light,
the skin and background that replace the old garment) is :func:`prepare_person`: worked out
once per photo and category (the pipeline caches it), so a second garment costs less.

Layers, bottom to top, inside the edit region (everything else is the input, byte for byte):

1. the photo;
2. where the old garment shows but the new one will not cover it: the body underneath
   (skin, coloured from the person's visible skin, shaded by the photo's low-frequency light)
   or, outside the body, the background (a smooth estimate from the visible background);
3. the new garment, shaded by the photo's large-scale light (luminance divided by the old
   garment's own colour cluster, so its prints and logos do not show through; blurred at
   about a twentieth of the body height, so its edges and folds-of-texture do not either)
   and white-balanced to the photo;
4. what is in front of the garment: face and hair, hands, bare arms (a forearm across the
   torso stays), and for tops the old trousers (the new top is tucked in), for trousers the
   old top.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import cv2
import numpy as np

from . import masks
from .clothing import ARM_PARTS, LEG_PARTS
from .person import LIMBS, PART_KINDS, PROPORTIONS, BodyFrame, BodyShape
from .warp import WarpedGarment, meet_old_hem, warp_garment

if TYPE_CHECKING:
    from .body import BodyAnalysis, PersonModel

SMOOTH_SIGMA_MAX = 4.0  # px: larger blurs run on a coarser copy
# --- resolution of the low-frequency work (shading, fills) -----------------------------------
WORK_SIDE = 256  # long side of the image the smooth fields are computed on, px
SHADING_SIGMA = 1 / 20  # Gaussian sigma of the photo's light, as a fraction of the body height
SHADING_STRENGTH = 0.8  # how much of the photo's light reaches the new garment
SHADING_RANGE = (0.6, 1.3)  # bounds on the shading factor
SHADING_OUTLIER = 0.4  # |log(luma / cluster luma)| above this is print, not light: left out
SKIN_SHADING_STRENGTH = 0.6
# Bared skin under a garment that lay close takes over the garment's own relief (its light and shade,
# smoothed over this many body units, at this strength), where at least this much of it lies near.
RELIEF_SIGMA = 0.03
RELIEF_STRENGTH = 0.8
RELIEF_SUPPORT = 0.5
RELIEF_MIN_PIXELS = 30
SKIN_FIELD_SIGMA = 0.35  # of the shoulder width: how far visible skin colour spreads into fills
SKIN_GROUP_BLEND = 0.1  # of the unit: how softly the parts' skin colours meet
SKIN_LIGHT_RANGE = (0.5, 1.6)  # bounds on each channel's exponent in the skin's colour-for-light fit...
SKIN_LIGHT_MIN_SPREAD = 0.08  # ...which needs this spread (std) of log luma over the visible skin
# A bared limb or torso is round: lit from the front, it darkens towards its outline by this
# much (Lambert's cosine over a cylinder, with ambient light keeping the rim from going black).
ROUND_DEPTH = 0.4
# Clothing casts a soft shadow on the skin right next to it (a hem on the midriff, a sleeve on
# the arm): filled skin darkens by this much at the clothing's edge, fading over this width (unit).
CONTACT_SHADOW = 0.3
CONTACT_SHADOW_WIDTH = 0.05
# Skin painted where hair lies around it (a gap between strands, just below the hair's ends) is in the hair's
# shade: darkened by up to HAIR_SHADE x the share of hair around it (Gaussian of HAIR_SHADE_SIGMA x the unit).
HAIR_SHADE = 0.5
HAIR_SHADE_SIGMA = 0.03
# Body regions of the limbs (their skin is not the torso's: a fill on the torso does not carry it on).
ARM_REGIONS = (*ARM_PARTS, "hand_left", "hand_right")
LIMB_REGIONS = (*ARM_REGIONS, *LEG_PARTS)
SKIN_GROUPS = (("legs", LEG_PARTS), ("arms", ARM_REGIONS))  # each takes its own skin's colour; the rest: the trunk
SKIN_CONTINUE = 0.1  # of the unit: how far filled skin carries on the visible skin next to it...
CARRY_BLUR = 0.03  # ...each fill pixel taking its nearest visible skin, smoothed over the fill (of the unit)
ROUND_GRID = 0.02  # of the unit: the grid the roundness is worked out on...
# ...and how far (of the unit) it is smoothed. Bare arms in the eval photos darken to 0.82 of their middle's
# lightness at 0.95 of their half-width (median, 362 stations); 0.04 flattened painted arms' to 0.90 there (0.87 now).
ROUND_BLUR = 0.02
ROUND_SOFT_PX = 1.0  # sigma of the soft edge between filled skin and filled background
# Where the photo shows a kind of part bare (a forearm, the midriff), filled skin of that kind takes its
# measured shading across the part instead of the model's: the photo's light comes from one side, and the
# model's outline is not the body's. Measured on the visible skin (lightness over the skin colour's smooth
# field) in PROFILE_BINS bins of the signed position across the part, out to PROFILE_SPAN each side; a bin
# needs PROFILE_MIN_SAMPLES pixels (at the fills' work size), and the bins out to PROFILE_CORE each side all
# of them, or the model's shading stays.
PROFILE_SPAN = 1.5
PROFILE_BINS = 12
PROFILE_CORE = 0.75
PROFILE_MIN_SAMPLES = 12
PROFILE_SAMPLES = 8000  # at most this many visible skin pixels are looked at
PROFILE_RANGE = (0.5, 1.5)  # bounds on a bin's measured shading
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601 weights: the lightness the profiles measure
# A measured profile is the part's shading only when it is smooth (mean |second difference| between bins at
# most PROFILE_MAX_ROUGHNESS: the visible torso is often a neckline's V with collarbones and shadows) and not
# darker in its middle (|s| <= PROFILE_MIDDLE) than at both ends by more than PROFILE_MAX_DIP (a round part
# never is: the part's skin then lies off the model's axis, an arm bent across the body).
PROFILE_MAX_ROUGHNESS = 0.1
PROFILE_MIDDLE = 0.4
PROFILE_MAX_DIP = 0.03
# The measured profile is then read as a round part lit from one side: ambient + diffuse * max(0, n . l) across
# a cylinder (n = (s, sqrt(1 - s^2)), the light l turned by an angle searched in PROFILE_TURNS), fitted to the
# bins within PROFILE_FIT_SPAN of the axis. Taken as measured, the bins at the outline read the skin's blend with
# a light backdrop or the skin beyond (the other thigh): a painted arm came out brightest at its outline and
# melted into the wall. A lit cylinder turns darker towards its outline on both sides.
PROFILE_FIT_SPAN = 1.0
# Each limb takes its own measured shading; one that shows none takes the other arm's or leg's, mirrored when the
# pairs that show both sides lean towards their outer sides (each by at least PROFILE_SIDE_MIN, the median over
# its right half less its left, from PROFILE_SIDE_SAMPLES px a half): on the eval photos about half the pairs
# lean outwards (a light in front, the inner sides shaded by the body) and a third the same way (a light from
# one side). A limb whose pair shows no skin takes its kind's (arms and legs pooled, see _shade_profiles): an
# arm's inner side lies in the torso's shade, a leg's in the other leg's, and borrowed one-sided from an arm the
# shins lost their roundness (v15).
PROFILE_SIDE_MIN = 0.02
PROFILE_SIDE_SAMPLES = 50
LIMB_COUNTERPARTS = (("arm_left", "arm_right"), ("arm_right", "arm_left"), ("leg_left", "leg_right"),
                     ("leg_right", "leg_left"))
PROFILE_TURNS = np.radians(np.arange(-60.0, 60.1, 2.5))
GRAIN_LEVEL = 2.0  # grey levels of fine grain on filled skin when no visible skin shows its own
GRAIN_RANGE = (1.0, 5.0)  # bounds on the grain measured on the photo's visible skin
GRAIN_SIGMA = 1.5  # px: the high-pass that measures the skin's grain
GRAIN_SAMPLES = 20000
GRAIN_TILE = 128
GRAIN_SEED = 7
SKIN_SIDE_BLEND = 0.3  # of the unit: the skin colour away from visible skin changes over this band at the hips
SKIN_MIN_PIXELS = 30  # visible skin pixels (at work size) needed to take the skin colour from the photo
FILL_CONTEXT = 0.5  # of the unit: how far around a fill the photo is looked at for its colours
FILL_SCALE = 2  # the fills are worked out at 1 / this of the photo's resolution (they are smooth)
PUSH_PULL_MIN_SIDE = 4  # px: the coarsest level of the background's push-pull fill

# --- colour --------------------------------------------------------------------------------
SKIN_CLUSTER = 200  # skin's colour-cluster label (the old clothing's are below it): clusters normalise the shading
WHITE_BALANCE_STRENGTH = 0.5
WHITE_BALANCE_MAX = 0.06  # per-channel gain stays within 1 +- this

# --- geometry (fractions of the shoulder width "unit") --------------------------------------
FEATHER_PX = 1.0  # sigma of the fills' soft edge
EDGE_SOFT_PX = 0.7  # sigma of the anti-aliased edge where something in front cuts the garment
HAIR_SOFT_PX = 2.0  # sigma over which the garment shows through the hair's outermost pixels...
HAIR_REACH = 3.0  # ...within this many sigmas of the garment
# The hair in front is masked at half resolution and grown: its outermost pixels over the old garment carry
# that garment's colour, a fringe of it round the hair's ends once the garment is gone (v33's navy and white
# collar, v24's white top). Within HAIR_RIM_PX of what the render changes, each such pixel's share of the old
# garment is measured on its colour (between the colours of the hair and of the garment nearby, each averaged
# over HAIR_RIM_SIGMA) and swapped for what is there now. Not on hands or faces: their skin-coloured edges
# over a beige or grey garment read as part garment, and a hand's edge took the new sweater's red.
HAIR_RIM_PX = 3.0
HAIR_RIM_SIGMA = 4.0
HAIR_RIM_SCALE = 2  # the averages are worked out at 1 / this of the resolution (they are smooth)
HAIR_RIM_CONTRAST = (0.03, 0.08)  # chromaticity distance of the hair and the garment: no swap below, in full above
HAIR_RIM_DARK = (60.0, 180.0)  # r + g + b: a colour's hue is not trusted below the first, in full above the second
HAIR_RIM_LIGHT = (0.0, 1.5)  # bounds on a rim pixel's light relative to its blend of hair and garment
# The garment is matched to the photo: blurred (by one of these sigmas, px) when it is crisper than the
# photo by more than SHARPNESS_TOLERANCE, and given the photo's noise (up to NOISE_MAX grey levels).
MATCH_BLUR_SIGMAS = (0.5, 0.8, 1.2, 1.6)
SHARPNESS_TOLERANCE = 0.15
MATCH_SHARPNESS_SHARE = 0.5
SHARP_EDGE_PERCENTILE = 90
NOISE_SIGMA = 1.0
NOISE_MAX = 4.0
NOISE_SAMPLES = 100_000
MATCH_MIN_PIXELS = 400
GARMENT_CORE_ALPHA = 0.9
FILL_SHOWN_ALPHA = 0.01  # a fill shows where the garment's alpha is below this (the layers reported)
# The old garment darkened the skin along its edges (its contact shadow, a seam's): left on the visible skin
# beside a fill, it drew the garment's outline there (v25's halter edges down the chest). Within the fills' own
# reach (FILL_GROW_PX) the visible skin is lit at least as the light running smoothly from the fill's to its own
# that far and this many units further out; its detail finer than EDGE_DETAIL_PX (grain, pores) stays.
EDGE_SHADOW_U = 0.02
EDGE_DETAIL_PX = 0.7
EDGE_MIN_WEIGHT = 0.05  # ...where both the fill and the skin further out lie near enough (a Gaussian's support)
EDGE_END_PX = 1.5  # sigma: the light at each end of the lift is its nearest pixel's, smoothed this much
EDGE_SCALE = 2  # the averages are worked out at 1 / this of the resolution (they are smooth)
SKIRT_FLARE = 0.02  # how far a skirt may stand off the outer line of the legs...
SKIRT_CONE = 0.3  # ...and, further down, this share of its drop below the hips (an A-line's flare)
# A hand hanging beside the hip is not the legs: the rows it spans would notch the skirt's outline (white
# bars beside a hand where the new dress stopped short), so notches up to a hand's length are bridged.
SKIRT_BRIDGE = 0.6
# A trouser leg hangs at its own warped width beside a thinner leg, outwards up to TROUSER_DRAPE (of the unit; about
# a shin's width again: wide legs and flares are that wide, a bound for a garment scaled too large)...
TROUSER_DRAPE = 0.3
TROUSER_DRAPE_DROP = 0.3  # ...reached this far (torso lengths) below the hip joints (none at them)
# A top tucked into the bottoms that stay does not show below their waistband beside them either (beside a
# skirt, between it and an arm): its body is cut TUCK_MARGIN_TL below the depth where the bottoms begin down
# the body's middle (the TUCK_PERCENTILE of their depths within TUCK_MIDDLE_U of the axis); sleeves are not.
TUCK_MIDDLE_U = 0.25
TUCK_PERCENTILE = 2
TUCK_MARGIN_TL = 0.03
TUCK_MIN_PIXELS = 30  # bottoms pixels down the body's middle needed to place the waistband
FRAGMENT_SHARE = 0.03  # pieces of the garment smaller than this share of it, cut off by an arm or a hand, go
SLEEVE_GAP = 0.12  # the garment's body fills gaps this narrow between a sleeve and the torso
FILL_GROW_PX = 4  # fills reach this far past the old garment (its anti-aliased outline)...
RIM_PX = 2.0  # ...and fully replace this much of it (its anti-aliased rim; the skin a fill meets starts beyond)
ARM_EDGE_SMOOTH_PX = 1.5  # sigma: the outline of a bare arm in front of the old garment, smoothed


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


# =================================================================================================
# The layers of one category: what a garment replaces and what stays over it
# =================================================================================================


@dataclasses.dataclass
class _Scene:
    """The person model's clothing, seen for one garment category (bool ``(H, W)`` masks)."""

    old: np.ndarray  # the old garment(s) this try-on replaces
    keep_below: np.ndarray  # old clothing that stays and sits over the new garment (tucked-in top)
    bare_body: np.ndarray  # where skin would show if clothing were removed
    front: np.ndarray  # always in front of the new garment: face, hair, hands
    hair: np.ndarray  # the hair in front (not the face's skin)
    old_sleeves: np.ndarray  # the old garment's sleeves this try-on replaces (part of ``old``)
    arms_front: np.ndarray  # arms, in front of the garment's body (not of its sleeves)
    kept_arm: np.ndarray  # bare arms in front of the old garment, as the composite keeps them
    clusters: np.ndarray  # int32 (H, W): colour cluster of each old-garment pixel (-1 elsewhere)
    top_hem: float | None  # depth (torso lengths) where the old clothing over the new garment ends
    tuck_tl: float | None  # depth (torso lengths) of the top of the bottoms a new top is tucked into
    shape: BodyShape  # the body under the clothes

    @classmethod
    def of(cls, model: PersonModel, category: str, skin: np.ndarray, hair: np.ndarray) -> _Scene:
        """The scene for a new garment of ``category``; ``skin``: the photo's skin, ``hair``: the hair in front
        (bool ``(H, W)``)."""
        clothing, frame = model.clothing, model.frame
        old, keep = clothing.layers_for(category, frame)
        clusters = clothing.clusters.copy()
        clusters[~old & ~keep] = -1
        old_sleeves = old & clothing.sleeves_rimmed
        # A bare arm in front keeps its skin up to the old garment, its outline smoothed (see _uncover),
        # except across an old sleeve's rim.
        kept_arm = masks.smooth_outline(clothing.arms_front & skin & ~masks.grow(old_sleeves, RIM_PX),
                                        ARM_EDGE_SMOOTH_PX)
        return cls(old=old, keep_below=keep, bare_body=clothing.bare_body, front=clothing.front, hair=hair,
                   old_sleeves=old_sleeves, arms_front=clothing.arms_front, kept_arm=kept_arm, clusters=clusters,
                   top_hem=clothing.hem_tl_for(category, frame),
                   tuck_tl=_waistband_tl(keep, frame) if category == "upper" and clothing.outer is None else None,
                   shape=clothing.shape)


def _waistband_tl(keep: np.ndarray, frame: BodyFrame) -> float | None:
    """Depth (torso lengths) where ``keep`` (bool ``(H, W)``, the bottoms a new top is tucked into) begins
    down the body's middle (within :data:`TUCK_MIDDLE_U` of its axis), or None where it does not show there."""
    ys, xs = np.nonzero(keep)
    if not len(ys):
        return None
    rel = np.stack([xs, ys], axis=1) - frame.mid_shoulder
    middle = np.abs(rel @ frame.across) <= TUCK_MIDDLE_U * frame.unit_px
    if middle.sum() < TUCK_MIN_PIXELS:
        return None
    return float(np.percentile(rel[middle] @ frame.down, TUCK_PERCENTILE)) / frame.torso_px


def _person_model(body: BodyAnalysis) -> PersonModel:
    if body.person is None:
        raise ValueError("compositing needs the person model: analyse the photo with tryon.stages.body.analyze_body")
    return body.person


# =================================================================================================
# Low-frequency fields: light, skin colour, background
# =================================================================================================


def _smooth_field(
    values: np.ndarray, weights: np.ndarray, sigma: float, coarse: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution: Gaussian average of ``values`` where ``weights`` > 0.

    Large sigmas are applied on a coarser copy (the result is smooth anyway), at least ``coarse`` times
    coarser. Returns ``(field, support)``, support being the blurred weights (how much data was near).
    """
    w = weights.astype(np.float32)
    num = values * (w[..., None] if values.ndim == 3 else w)
    h, wd = w.shape
    factor = max(1.0, coarse, sigma / SMOOTH_SIGMA_MAX)
    if factor > 1.0:
        small = (max(2, round(wd / factor)), max(2, round(h / factor)))
        num = cv2.resize(num, small, interpolation=cv2.INTER_AREA)
        w = cv2.resize(w, small, interpolation=cv2.INTER_AREA)
    s = sigma / factor
    num = cv2.GaussianBlur(num, (0, 0), s)
    den = cv2.GaussianBlur(w, (0, 0), s)
    if factor > 1.0:
        num = cv2.resize(num, (wd, h), interpolation=cv2.INTER_LINEAR)
        den = cv2.resize(den, (wd, h), interpolation=cv2.INTER_LINEAR)
    safe = np.maximum(den, 1e-6)
    field = num / (safe[..., None] if values.ndim == 3 else safe)
    return field, den


def _work_size(size: tuple[int, int]) -> tuple[int, int]:
    h, w = size
    s = WORK_SIDE / max(h, w)
    return max(8, round(w * s)), max(8, round(h * s))


def _down(a: np.ndarray, wsize: tuple[int, int]) -> np.ndarray:
    return cv2.resize(a.astype(np.float32), wsize, interpolation=cv2.INTER_AREA)


def _up(a: np.ndarray, size: tuple[int, int], crop: tuple[slice, slice]) -> np.ndarray:
    """A work-size field at full size, cut to ``crop``."""
    return cv2.resize(a, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)[crop]


@dataclasses.dataclass
class _Work:
    """The photo and its masks at work size (float32; masks as coverage in [0, 1])."""

    size: tuple[int, int]  # cv2 (width, height)
    rgb: np.ndarray
    person: np.ndarray
    skin: np.ndarray  # visible skin, face excluded where there is other skin
    unit: float  # the body's unit in work pixels
    body_height: float  # in work pixels

    @classmethod
    def of(cls, person: np.ndarray, body: BodyAnalysis) -> _Work:
        wsize = _work_size(body.size)
        skin = _person_model(body).clothing.skin & body.person_mask
        without_face = skin & ~body.regions["face_hair"]
        if without_face.sum() >= 200:
            skin = without_face
        scale = wsize[1] / body.size[0]
        rows = np.flatnonzero(body.person_mask.any(axis=1))
        height = (rows[-1] - rows[0] + 1) if rows.size else body.size[0]
        return cls(size=wsize, rgb=_down(person, wsize), person=_down(body.person_mask, wsize),
                   skin=_down(skin, wsize), unit=_person_model(body).frame.unit_px * scale, body_height=height * scale)


def _shading(work: _Work, clusters: np.ndarray) -> np.ndarray:
    """The photo's large-scale light on the clothes and skin, float32 at work size (1 = average).

    Luma is divided by the median luma of each pixel's own colour cluster (old-garment
    clusters, skin), so a dark logo on a light shirt reads as "no information", not as shadow.
    """
    luma = cv2.cvtColor(work.rgb, cv2.COLOR_RGB2GRAY) + 1.0
    labels = cv2.resize(clusters, work.size, interpolation=cv2.INTER_NEAREST)
    labels[(work.skin > 0.5) & (labels < 0)] = SKIN_CLUSTER
    ratio = np.ones_like(luma)
    valid = np.zeros(luma.shape, bool)
    for k in np.unique(labels[labels >= 0]):
        sel = labels == k
        if sel.sum() > 8:
            ratio[sel] = luma[sel] / float(np.median(luma[sel]))
            valid |= sel
    valid &= np.abs(np.log(np.maximum(ratio, 1e-3))) < SHADING_OUTLIER
    sigma = max(1.0, SHADING_SIGMA * work.body_height)
    field, support = _smooth_field(ratio, valid, sigma)
    confidence = np.clip(support / 0.3, 0.0, 1.0)  # little data nearby: fade to no shading
    return (1.0 + confidence * (field - 1.0)).astype(np.float32)


def _skin_colour(work: _Work, body: BodyAnalysis) -> np.ndarray:
    """Local skin colour (float32 RGB at work size): each part of the body (legs, arms and hands, the
    trunk with the neck) takes its own visible skin spread out; far from any, the median of that part's
    visible skin, else of the photo's visible skin on the same side of the hips (face excluded where
    other skin shows), else of all of it, else the model's. The parts meet softly.

    Part by part: bare legs are often darker or lighter than the arms and chest (tights, a tan, the
    light), and a hand hanging beside a thigh, or the lit chest beside a shadowed arm, says nothing
    about the skin next to it."""
    base = _skin_base(work, body)
    sigma = max(1.0, SKIN_FIELD_SIGMA * work.unit)
    visible = work.skin > 0.5
    work_hw = (work.size[1], work.size[0])
    limbs = [body.regions.union(names, work_hw).astype(np.float32) for _, names in SKIN_GROUPS]
    members = [*limbs, np.clip(1.0 - sum(limbs), 0.0, 1.0)]  # the trunk: what no limb holds
    blend = max(1.0, SKIN_GROUP_BLEND * work.unit)
    soft = [cv2.GaussianBlur(m, (0, 0), blend) for m in members]
    total = np.maximum(sum(soft), 1e-6)
    colour = np.zeros_like(work.rgb)
    for member, share in zip(members, soft, strict=True):
        if not share.any():
            continue
        own = work.skin * (member > 0.5)
        field, support = _smooth_field(work.rgb, own, sigma)
        own_visible = visible & (member > 0.5)
        fallback = (np.median(work.rgb[own_visible], axis=0).astype(np.float32)
                    if own_visible.sum() >= SKIN_MIN_PIXELS else base)
        confidence = np.clip(support / 0.2, 0.0, 1.0)[..., None]
        colour += (share / total)[..., None] * (confidence * field + (1 - confidence) * fallback)
    return colour


def _skin_base(work: _Work, body: BodyAnalysis) -> np.ndarray:
    """The photo's visible skin colour on each side of the hips (float32 RGB at work size; arms and
    hands count above, wherever they hang), blended over the hips' band; the model's without skin."""
    visible = work.skin > 0.5
    if visible.sum() < SKIN_MIN_PIXELS:
        return np.broadcast_to(np.asarray(body.skin_rgb, np.float32), work.rgb.shape)
    frame = _person_model(body).frame
    scale = work.size[1] / body.size[0]
    ys, xs = np.mgrid[0:work.size[1], 0:work.size[0]].astype(np.float32)
    depth = ((xs - frame.mid_hip[0] * scale) * frame.down[0] + (ys - frame.mid_hip[1] * scale) * frame.down[1])
    arms = body.regions.union(ARM_REGIONS, (work.size[1], work.size[0]))
    below = (depth > 0.0) & ~arms
    everywhere = np.median(work.rgb[visible], axis=0).astype(np.float32)
    sides = [np.median(work.rgb[visible & side], axis=0).astype(np.float32)
             if (visible & side).sum() >= SKIN_MIN_PIXELS else everywhere for side in (~below, below)]
    # A soft change over the hips' band, not a seam.
    share = np.clip(0.5 + depth / max(SKIN_SIDE_BLEND * work.unit, 1.0), 0.0, 1.0) * ~arms
    return (1.0 - share[..., None]) * sides[0] + share[..., None] * sides[1]


def _skin_light(work: _Work) -> np.ndarray:
    """How the photo's skin colour follows its light: per-channel exponents ``k`` (float32 ``(3,)``,
    mean 1) with ``channel ~ luma ** k`` over the visible skin (least squares in logs, at work size,
    where texture is averaged out). Skin in shadow is redder than lit skin (light scattered under it:
    red ~0.6-0.9, blue ~1.1-1.5 on the eval photos), so darkening filled skin by ``s`` multiplies it by
    ``s ** k``, not by ``s``, which reads grey. Grey (all 1) without enough skin or light spread."""
    grey = np.ones(3, np.float32)
    visible = work.skin > 0.5
    if visible.sum() < SKIN_MIN_PIXELS:
        return grey
    rgb = np.log(work.rgb[visible].astype(np.float64) + 1.0)
    luma = np.log(work.rgb[visible].astype(np.float64).mean(axis=1) + 1.0)
    luma -= luma.mean()
    spread = float(np.sqrt(np.mean(luma * luma)))
    if spread < SKIN_LIGHT_MIN_SPREAD:
        return grey
    k = (luma @ (rgb - rgb.mean(axis=0))) / float(luma @ luma)
    k = np.clip(k / k.mean(), *SKIN_LIGHT_RANGE)
    return (k / k.mean()).astype(np.float32)


def _white_balance(work: _Work, garment_background: np.ndarray | None) -> np.ndarray:
    """Per-channel gains that move the garment photo's white towards the person photo's."""
    visible = work.person < 0.01
    if garment_background is None or visible.sum() < 100:
        return np.ones(3, np.float32)
    photo = work.rgb[visible].mean(axis=0) + 1.0
    source = np.asarray(garment_background, np.float64) + 1.0
    gains = (photo / photo.mean()) / (source / source.mean())
    gains = 1.0 + WHITE_BALANCE_STRENGTH * (gains - 1.0)
    return np.clip(gains, 1 - WHITE_BALANCE_MAX, 1 + WHITE_BALANCE_MAX).astype(np.float32)




# =================================================================================================
# Entry point
# =================================================================================================


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedPerson:
    """Everything :func:`composite` needs that depends only on the person photo, its
    BodyAnalysis and the garment category (not on the garment): worked out once per person
    and category, so a second garment on the same photo skips it (see
    :func:`tryon.pipeline.prepare_person_cached`).

    Attributes:
        category: the garment category it was prepared for.
        size: ``(H, W)`` of the person photo.
        scene: old clothing, bare body and occluder masks (private type).
        unit: the body's unit, px.
        work: the photo and its masks at work size (private type).
        shading: float32 ``(H, W)``: the photo's large-scale light (1 = average).
        skirt_support: bool ``(H, W)`` for dresses and lower garments (the span between the
            legs, where a skirt hangs), else None.
        leg_support: bool ``(H, W)`` for lower garments: the legs below the hips and what a trouser
            leg's own width may hang beside them (see :func:`_leg_support`), else None.
        skin_fill, background_fill: float32 ``(H, W, 3)`` in about [0, 255]: bare skin and
            background where the old garment is (see :func:`_fill_layers`).
        skin_carried: float32 ``(H, W)`` in [0, 1]: how much of ``skin_fill`` carries on the visible
            skin beside it (1 at the fill's edge).
        skin_light: float32 ``(3,)``: how the skin's colour follows its light (:func:`_skin_light`).
        hair_shade: float32 ``(H, W)`` in [1 - HAIR_SHADE, 1]: filled skin's light in the hair's shade
            (see :data:`HAIR_SHADE`).
        grain_level: grey levels of fine grain on the photo's visible skin.
        noise_level: grey levels of the photo's own noise (on its plain background).
        sharpness: how crisp the photo's edges are (see :func:`_sharpness`); the garment is softened
            to match a softer photo.
    """

    category: str
    size: tuple[int, int]
    scene: _Scene
    unit: float
    work: _Work
    shading: np.ndarray
    skirt_support: np.ndarray | None
    leg_support: np.ndarray | None
    skin_fill: np.ndarray
    background_fill: np.ndarray
    skin_carried: np.ndarray
    skin_light: np.ndarray
    hair_shade: np.ndarray
    grain_level: float
    noise_level: float
    sharpness: float


def prepare_person(person: np.ndarray, body: BodyAnalysis, category: str) -> PreparedPerson:
    """The garment-independent part of :func:`composite` for ``person`` (RGB uint8 ``(H, W, 3)``),
    its ``body`` and ``category`` ("upper", "lower" or "dress")."""
    person = np.ascontiguousarray(person, np.uint8)
    size = person.shape[:2]
    everywhere = (slice(None), slice(None))
    model = _person_model(body)
    hair = model.clothing.front & body.regions["face_hair"] & ~body.regions["skin"]
    scene = _Scene.of(model, category, model.clothing.skin, hair)
    work = _Work.of(person, body)
    unit = model.frame.unit_px
    shading = _up(_shading(work, scene.clusters), size, everywhere)
    skin_colour = _up(_skin_colour(work, body), size, everywhere)
    skin_light = _skin_light(work)
    skin_fill, background_fill, skin_carried, grain_level = _fill_layers(
        person, body, scene, skin_colour, shading, skin_light)
    prepared = PreparedPerson(
        category=category, size=size, scene=scene, unit=unit, work=work, shading=shading,
        skirt_support=_skirt_support(body, unit) if category in ("dress", "lower") else None,
        leg_support=_leg_support(body, unit) if category == "lower" else None,
        skin_fill=skin_fill, background_fill=background_fill, skin_carried=skin_carried, skin_light=skin_light,
        hair_shade=1.0 - HAIR_SHADE * cv2.GaussianBlur(hair.astype(np.float32), (0, 0),
                                                       max(HAIR_SHADE_SIGMA * unit, 1.0)),
        grain_level=grain_level,
        noise_level=_noise_level(person, body), sharpness=_sharpness(person, body.person_mask),
    )
    # It is shared by every request on this photo (a cache): no request may write into it.
    for holder in (prepared, scene, work):
        for value in vars(holder).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
    return prepared


def composite(
    person: np.ndarray, body: BodyAnalysis, warped: WarpedGarment, edit_mask: np.ndarray | None = None,
    prepared: PreparedPerson | None = None,
) -> Composite:
    """Render the warped garment into the person photo.

    Args:
        person: RGB uint8 ``(H, W, 3)``, the person photo.
        body: :class:`tryon.stages.body.BodyAnalysis` of ``person``.
        warped: :class:`tryon.stages.warp.WarpedGarment` in ``person``'s frame.
        edit_mask: optional bool ``(H, W)``: the area the user allows to change; replaces the
            automatic one (nothing outside it changes, the garment is cut to it).
        prepared: :func:`prepare_person` of the same ``person``, ``body`` and
            ``warped.category`` (e.g. from a cache); worked out here when None. The result
            is the same either way.

    Returns:
        :class:`Composite`; ``image`` equals ``person`` outside ``edit_mask``.
    """
    person = np.ascontiguousarray(person, np.uint8)
    size = person.shape[:2]
    edit_mask = None if edit_mask is None else np.asarray(edit_mask, bool)
    if edit_mask is not None and edit_mask.shape != size:
        raise ValueError(f"edit_mask has shape {edit_mask.shape}, expected {size}")
    if prepared is None:
        prepared = prepare_person(person, body, warped.category)
    elif prepared.category != warped.category or prepared.size != size:
        raise ValueError(f"prepared for category {prepared.category!r} at size {prepared.size}, "
                         f"not {warped.category!r} at {size}")
    scene = prepared.scene
    warped = _meet_old_hem(warped, body, scene)
    crop = _work_box(warped, scene, edit_mask, prepared.unit)
    if crop is None:  # nothing to draw and nothing to remove
        empty = np.zeros(size, bool)
        return Composite(image=person.copy(), edit_mask=empty if edit_mask is None else edit_mask,
                         garment_mask=empty, layers={"old_garment": scene.old.copy()})
    edit = None if edit_mask is None else edit_mask[crop]
    # 1. The new garment's coverage, cut by what is in front of it.
    alpha, behind_arms = _coverage(warped, body, prepared, crop, edit)
    # 2. What the old garment leaves uncovered: skin where the body is, background elsewhere.
    base, uncovered, near = _uncover(person, body, prepared, crop, edit, alpha)
    # 3. The garment, shaded and white-balanced, over that.
    out = _dress(warped, prepared, crop, alpha, base)
    # 4. Only the edit region changes: what the render touched, or the user's area.
    touched = (alpha > 0) | near
    inside = touched if edit is None else edit & ~scene.front[crop]  # face, hair and hands never change
    # 5. ...but the hair's outermost pixels lose the old garment's colour (see HAIR_RIM_PX).
    hair = scene.hair[crop] if edit is None else scene.hair[crop] & edit
    rim, rim_rgb = _hair_rim(person[crop], out, inside & ~scene.front[crop], hair, scene.old[crop], alpha)
    image = person.copy()
    image[crop][inside] = np.clip(out[inside] + 0.5, 0, 255).astype(np.uint8)
    image[crop][rim] = np.clip(rim_rgb + 0.5, 0, 255).astype(np.uint8)
    region = edit_mask if edit_mask is not None else _full(touched | rim, crop, size)
    garment_mask = alpha > 0.5
    shown = uncovered & (alpha < FILL_SHOWN_ALPHA)  # the fills that show, not under the garment
    layers = {
        "old_garment": scene.old.copy(),
        "kept_clothing": scene.keep_below.copy(),
        "skin_filled": _full(shown & scene.bare_body[crop], crop, size),
        "background_filled": _full(shown & ~scene.bare_body[crop], crop, size),
        "in_front": scene.front | _full(behind_arms & ~garment_mask, crop, size),
    }
    return Composite(image=image, edit_mask=region, garment_mask=_full(garment_mask, crop, size) & region,
                     layers=layers)


def _hair_rim(
    person: np.ndarray, out: np.ndarray, changed: np.ndarray, hair: np.ndarray, old: np.ndarray, alpha: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The hair's outermost pixels with the old garment's share of their colour swapped for the new layer's
    (see :data:`HAIR_RIM_PX`): their mask (bool ``(h, w)`` on the crop) and new colours (float32 ``(N, 3)``).
    ``person``: the photo's crop (uint8 RGB); ``out``: the render on it (float32 RGB; in the hair: the photo,
    with some of the new garment through its ends); ``changed``: the pixels the render changes, none in front;
    ``hair``, ``old``: the hair in front and the old garment (bool); ``alpha``: the new garment's (float32),
    which may already show through the hair's ends.

    A rim pixel is taken as a blend of the hair nearby (H) and the old garment nearby (O), shaded: its share
    of O is its chromaticity's projection onto H -> O, trusted as far as the two differ
    (:data:`HAIR_RIM_CONTRAST`) and are lit (:data:`HAIR_RIM_DARK`); that share of O, in the pixel's light,
    is replaced by the new layer beside it (the render, spread in from ``changed``)."""
    rim = hair & masks.grow(changed, HAIR_RIM_PX) & masks.grow(old & ~hair, HAIR_RIM_PX)
    if not rim.any():
        return rim, np.zeros((0, 3), np.float32)
    box = _box(*np.nonzero(rim), int(np.ceil(3 * HAIR_RIM_SIGMA)) + 1, rim.shape)
    inner = rim[box]

    def spread(values: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        field, support = _smooth_field(values[box].astype(np.float32), where[box], HAIR_RIM_SIGMA, HAIR_RIM_SCALE)
        return field[inner], support[inner]

    hair_rgb, hair_w = spread(person, hair & ~rim)
    old_rgb, old_w = spread(person, old & ~hair)
    new_rgb, new_w = spread(out, changed)
    colour = person[box][inner].astype(np.float32)

    # On chromaticity: hair shades the garment under it (a navy fringe is darker than both colours).
    def chroma(rgb: np.ndarray) -> np.ndarray:
        return rgb / (rgb.sum(axis=1, keepdims=True) + 1.0)

    def lit(rgb: np.ndarray) -> np.ndarray:  # a dark colour's hue is noise: trusted as it is lit
        low, high = HAIR_RIM_DARK
        return np.clip((rgb.sum(axis=1) - low) / (high - low), 0.0, 1.0)

    span = chroma(old_rgb) - chroma(hair_rgb)
    length_sq = np.maximum(np.einsum("nc,nc->n", span, span), 1e-9)
    share = np.clip(np.einsum("nc,nc->n", chroma(colour) - chroma(hair_rgb), span) / length_sq, 0.0, 1.0)
    low, high = HAIR_RIM_CONTRAST
    share *= np.clip((np.sqrt(length_sq) - low) / (high - low), 0.0, 1.0) * lit(old_rgb) * lit(colour)
    share *= (hair_w > 1e-3) & (old_w > 1e-3) & (new_w > 1e-3)
    share *= 1.0 - alpha[box][inner]  # where the garment already shows through the hair, that much is new
    mix = (1.0 - share[:, None]) * hair_rgb + share[:, None] * old_rgb
    light = np.clip(colour.sum(axis=1) / np.maximum(mix.sum(axis=1), 1.0), *HAIR_RIM_LIGHT)
    return rim, out[box][inner] + (light * share)[:, None] * (new_rgb - old_rgb)


def _full(mask: np.ndarray, crop: tuple[slice, slice], size: tuple[int, int]) -> np.ndarray:
    """A crop's bool mask placed in a full-size one."""
    out = np.zeros(size, bool)
    out[crop] = mask
    return out


def _work_box(
    warped: WarpedGarment, scene: _Scene, edit_mask: np.ndarray | None, unit: float
) -> tuple[slice, slice] | None:
    """The box around the new garment and the old one (everything happens inside it), or None."""
    active = (warped.alpha > 0) | scene.old
    if edit_mask is not None:
        active &= edit_mask
    bx, by, bw, bh = cv2.boundingRect(active.view(np.uint8))
    if bw == 0:
        return None
    h, w = active.shape
    margin = int(np.ceil(SLEEVE_GAP * unit)) + 4
    return (slice(max(0, by - margin), min(h, by + bh + margin)), slice(max(0, bx - margin), min(w, bx + bw + margin)))


def _coverage(
    warped: WarpedGarment, body: BodyAnalysis, prepared: PreparedPerson, crop: tuple[slice, slice],
    edit: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The new garment's alpha on the crop (float32, soft edge inward) and the arms it goes behind:
    its body goes behind the arms, its sleeves over them (closing the armpit); face, hair, hands and
    clothing that stays are in front; it never leaves the person (a skirt spans the legs' gap)."""
    scene, unit = prepared.scene, prepared.unit
    alpha = warped.alpha[crop].astype(np.float32)
    wrist_area = (PROPORTIONS.arm_radii_u[3] * unit) ** 2  # slivers smaller than a wrist are not an arm
    beside = _beside_sleeves(warped, body, crop, SLEEVE_GAP * unit)
    behind_arms = masks.drop_specks(scene.arms_front[crop] & ~beside, wrist_area)
    # Cuts like a photo's edges: anti-aliased over a pixel or so, not stair-stepped along the masks.
    hair = scene.hair[crop]
    occluders = behind_arms | (scene.front[crop] & ~hair) | scene.keep_below[crop]
    if scene.tuck_tl is not None:
        occluders = occluders | _below_waistband(warped, prepared, crop)
    alpha *= 1.0 - np.maximum(occluders, cv2.GaussianBlur(occluders.astype(np.float32), (0, 0), EDGE_SOFT_PX))
    # The garment stays on the person: the person mask's (smoothed) outline, anti-aliased over a pixel or
    # so, half opaque on the outline itself (a skirt, a dress's or a lower garment's, also spans the legs'
    # gap). Not the segmentation's probabilities: their edge carries the steps of the model's coarse grid.
    support = cv2.GaussianBlur(body.person_mask[crop].astype(np.float32), (0, 0), EDGE_SOFT_PX)
    if prepared.skirt_support is not None and not {"leg_left", "leg_right"} & warped.parts.keys():
        skirt = cv2.GaussianBlur(prepared.skirt_support[crop].astype(np.float32), (0, 0), EDGE_SOFT_PX)
        support = np.maximum(support, skirt)
    elif prepared.leg_support is not None and {"leg_left", "leg_right"} & warped.parts.keys():
        legs = cv2.GaussianBlur(prepared.leg_support[crop].astype(np.float32), (0, 0), EDGE_SOFT_PX)
        support = np.maximum(support, legs)
    alpha *= support
    if edit is not None:
        alpha *= edit
    # Hair ends in strands finer than its mask: the garment reaches the mask's outline in full and shows
    # through the outermost hair (the mask's edge, a blend of hair and the old clothes) fading out over
    # HAIR_SOFT_PX, so the hair's ends do not stand on the new garment as a cut-out block.
    # Measured on all that is in front, so only the outline of the whole shows the garment (not the hair
    # round an earring, or beside the chin), and only next to the garment itself (not a faint edge of it).
    # Hair further from the garment covers it whole (hair falling over a shoulder the garment goes under).
    if hair.any():
        front = scene.front[crop].astype(np.float32)
        over = np.clip(2.0 * cv2.GaussianBlur(front, (0, 0), HAIR_SOFT_PX) - 1.0, 0.0, 1.0)
        near = masks.grow((alpha > 0.5) & ~scene.front[crop], HAIR_REACH * HAIR_SOFT_PX)
        alpha *= 1.0 - np.where(hair, np.where(near, over, 1.0), 0.0)
    alpha = _drop_fragments(alpha, FRAGMENT_SHARE)
    return alpha.astype(np.float32), behind_arms


def _below_waistband(warped: WarpedGarment, prepared: PreparedPerson, crop: tuple[slice, slice]) -> np.ndarray:
    """The garment's body (not its sleeves) below the waistband of the bottoms it is tucked into (bool, on
    the crop; see :data:`TUCK_MARGIN_TL`)."""
    below = prepared.scene.shape.frame.depth_map_tl(box=crop) > prepared.scene.tuck_tl + TUCK_MARGIN_TL
    for name in ("sleeve_left", "sleeve_right"):
        if name in warped.parts:
            below &= ~warped.parts[name][crop]
    return below


def _drop_fragments(alpha: np.ndarray, share: float) -> np.ndarray:
    """``alpha`` (float32 on the crop) without the pieces of the garment cut off from the rest by what is
    in front of it and smaller than ``share`` of it: a strip of a wide garment beyond an arm that hangs
    beside the body floats there as a flap (the garment itself goes on behind the arm, out of sight)."""
    solid = (alpha > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    if count <= 2:
        return alpha
    areas = stats[1:, cv2.CC_STAT_AREA]
    small = np.flatnonzero(areas < share * areas.sum()) + 1
    if not small.size:
        return alpha
    drop = np.isin(labels, small)
    # The piece's soft rim goes with it.
    drop = masks.grow(drop, 2.0) & ~masks.grow(solid.astype(bool) & ~drop, 1.0)
    return np.where(drop, 0.0, alpha).astype(np.float32)


def _beside_sleeves(warped: WarpedGarment, body: BodyAnalysis, crop: tuple[slice, slice], gap: float) -> np.ndarray:
    """Pixels (bool, on the crop) within ``gap`` px of a new sleeve across its arm (perpendicular to the
    upper arm's bone): the gap between a sleeve and the torso, which the garment closes over the arm
    (an armpit), but not the arm below a short sleeve's hem, which stays in front of the garment's body."""
    out = np.zeros(warped.alpha[crop].shape, bool)
    r = int(np.ceil(gap))
    if r < 1:
        return out
    frame = _person_model(body).frame
    for side in ("left", "right"):
        sleeve = warped.parts.get(f"sleeve_{side}")
        if sleeve is None or not sleeve[crop].any():
            continue
        shoulder, elbow, _ = frame.chain(f"arm_{side}")
        bone = elbow - shoulder
        across = np.array([-bone[1], bone[0]]) / max(float(np.linalg.norm(bone)), 1e-6)
        kernel = np.zeros((2 * r + 1, 2 * r + 1), np.uint8)
        ends = [tuple(int(v) for v in np.round(r + sign * r * across)) for sign in (-1, 1)]
        cv2.line(kernel, ends[0], ends[1], 1)
        out |= cv2.dilate(sleeve[crop].astype(np.uint8), kernel).astype(bool)
    return out


def _uncover(
    person: np.ndarray, body: BodyAnalysis, prepared: PreparedPerson, crop: tuple[slice, slice],
    edit: np.ndarray | None, alpha: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photo on the crop (float32) with the old garment replaced where the new one does not
    cover it, and its edge shadow lifted off the skin beside (:func:`_without_edge_shadow`); returns it,
    the uncovered pixels and the pixels a fill may reach (bool)."""
    scene = prepared.scene
    uncovered = scene.old[crop] & (alpha < 0.99)
    if edit is not None:
        uncovered &= edit
    near = masks.grow(uncovered, FILL_GROW_PX) & ~scene.front[crop]
    base = person[crop].astype(np.float32)
    if not uncovered.any():
        return base, uncovered, near
    kept = scene.keep_below[crop]
    fill = _fills(prepared, near, (alpha > 0.5) | kept, crop)
    # Fills blend into their surroundings over a pixel or two; the old garment's anti-aliased rim
    # (a pixel or so the masks miss) is replaced too. Between the removed garment and clothing that
    # stays (trousers under a top's hem) lies a sliver the half-resolution masks give to neither:
    # replaced whole, and the kept clothing keeps its own edge (no blend of fill and clothing, no
    # fill in the clothing's contact shadow, draws a dark line along it).
    core = (masks.grow(uncovered, RIM_PX) & near) | (near & ~kept & masks.grow(kept, FILL_GROW_PX))
    weight = cv2.GaussianBlur(core.astype(np.float32), (0, 0), FEATHER_PX)
    weight = np.maximum(weight, core | (near & ~body.person_mask[crop])) * near
    # A bare arm in front of the old garment keeps its own outline, smoothed: pixel by pixel the skin
    # test along it takes some of the arm's dark edge and leaves some of the blend with the garment,
    # and the fill's light bites into the arm in a sawtooth. Below an old sleeve's hem its rim goes
    # with the fill (a dark line of the hem's shadow would stay across the arm).
    arm = scene.kept_arm[crop]
    weight *= 1.0 - cv2.GaussianBlur(arm.astype(np.float32), (0, 0), EDGE_SOFT_PX) * arm
    weight[kept] = 0.0
    out = base + (fill - base) * weight[..., None]
    shown = uncovered & (alpha < FILL_SHOWN_ALPHA) & scene.bare_body[crop]
    visible = (_person_model(body).clothing.skin[crop] & body.person_mask[crop] & ~scene.old[crop]
               & ~scene.front[crop] & ~arm & (alpha < FILL_SHOWN_ALPHA))
    if edit is not None:
        visible &= edit
    return _without_edge_shadow(out, shown, visible, near, prepared.unit), uncovered, near


def _without_edge_shadow(
    out: np.ndarray, shown: np.ndarray, visible: np.ndarray, reach: np.ndarray, unit: float
) -> np.ndarray:
    """``out`` (float32 RGB on the crop, changed in place and returned) with the old garment's edge shadow
    lifted off the visible skin beside the skin fills that show (``shown``, ``visible``: bool on the crop)
    within the fills' ``reach`` (bool): the skin is lit at least as the light running smoothly from the fill's
    right beside it to the skin's own just past :data:`FILL_GROW_PX` and :data:`EDGE_SHADOW_U` further out (each
    its nearest pixel's, smoothed over :data:`EDGE_END_PX`), its fine detail (above :data:`EDGE_DETAIL_PX`) kept.
    Lifted to Gaussian averages over that width instead, lighter where the fill brightens away from the skin it
    meets or the skin further on, the skin drew a light band along the old hem (v54's knees). Lifted further out,
    the skin showed a lighter band with an edge where the lift ended, and dark strands of hair by a neck's fill
    came up with it."""
    width = FILL_GROW_PX + EDGE_SHADOW_U * unit
    ys, xs = np.nonzero(visible & reach & ~shown)
    if not len(ys):
        return out
    box = _box(ys, xs, int(np.ceil(3 * width)) + 1, shown.shape)
    if not shown[box].any():
        return out
    ys, xs = ys - box[0].start, xs - box[1].start
    dist, to_fill = masks.nearest(shown[box])
    beyond = visible[box] & (dist > width)
    if not beyond.any():  # a narrow strip of skin between two fills has no "further out"
        return out
    _, to_skin = masks.nearest(beyond)

    def support(where: np.ndarray) -> np.ndarray:  # how much of ``where`` lies within about the width
        return _smooth_field(where.astype(np.float32), where, width, EDGE_SCALE)[1][ys, xs]

    # Only where both sides lie near enough.
    ok = (support(shown[box]) > EDGE_MIN_WEIGHT) & (support(beyond) > EDGE_MIN_WEIGHT)
    ys, xs = ys[ok], xs[ok]
    if not len(ys):
        return out
    part = out[box]
    t = (np.minimum(dist[ys, xs], width) / width)[:, None]
    detail = part[ys, xs] - cv2.GaussianBlur(part, (0, 0), EDGE_DETAIL_PX)[ys, xs]
    ends = cv2.GaussianBlur(part, (0, 0), EDGE_END_PX).reshape(-1, 3)
    lit = (1.0 - t) * ends[to_fill[ys, xs]] + t * ends[to_skin[ys, xs]] + detail
    # Lifted only: the shadow is darker than both sides; skin lit brighter than a fill beside it stays as it is
    # (the fill is the made-up side, not the skin).
    part[ys, xs] = np.maximum(part[ys, xs], lit)
    return out


def _dress(
    warped: WarpedGarment, prepared: PreparedPerson, crop: tuple[slice, slice], alpha: np.ndarray,
    base: np.ndarray,
) -> np.ndarray:
    """The garment over ``base`` (float32 RGB on the crop): shaded by the photo's light (its mean kept:
    light moves, the garment's colour stays) and white-balanced to the photo."""
    light = np.clip(1.0 + SHADING_STRENGTH * (prepared.shading[crop] - 1.0), *SHADING_RANGE)
    garment_mask = alpha > 0.5
    if garment_mask.any():
        light = light / float(np.mean(light[garment_mask]))
    gains = _white_balance(prepared.work, warped.background_rgb)
    garment = warped.rgb[crop].astype(np.float32) * (light[..., None] * gains[None, None, :])
    garment = _as_photographed(garment, alpha, prepared, crop)
    a = alpha[..., None]
    return garment * a + base * (1.0 - a)


def _as_photographed(
    garment: np.ndarray, alpha: np.ndarray, prepared: PreparedPerson, crop: tuple[slice, slice]
) -> np.ndarray:
    """The garment layer (float32 RGB on the crop) with the photo's blur and noise: a product photo is
    crisper and cleaner than most photos of people, and a pasted-on look comes from that difference."""
    inside = alpha > GARMENT_CORE_ALPHA
    if inside.sum() < MATCH_MIN_PIXELS:
        return garment
    rgb = np.clip(garment, 0, 255).astype(np.uint8)
    own = _sharpness(rgb, inside)
    if own > prepared.sharpness * (1.0 + SHARPNESS_TOLERANCE):
        weight = alpha[..., None].astype(np.float32)
        # Half way to the photo's crispness: a print's detail is worth keeping. The candidates' sharpness is
        # measured on the blurred grey image (grey of a blur = blur of the grey; one channel, not three).
        target = prepared.sharpness + MATCH_SHARPNESS_SHARE * (own - prepared.sharpness)
        luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        core = _sharp_core(inside)
        best = min(MATCH_BLUR_SIGMAS, key=lambda sigma: abs(
            _luma_sharpness(np.round(cv2.GaussianBlur(luma, (0, 0), sigma)), core) - target))
        # Normalised blur of the premultiplied layer: the garment's edge does not darken.
        spread = cv2.GaussianBlur(weight[..., 0], (0, 0), best)[..., None]
        garment = cv2.GaussianBlur(garment * weight, (0, 0), best) / np.maximum(spread, 1e-3)
    extra = prepared.noise_level**2 - _noise_in(rgb, inside) ** 2
    if extra > 0:
        ys, xs = np.nonzero(alpha > 0)
        gy, gx = (ys + crop[0].start) % GRAIN_TILE, (xs + crop[1].start) % GRAIN_TILE
        garment[ys, xs] += (np.sqrt(extra) * _grain_tile()[gy, gx])[:, None]
    return garment


def _sharpness(image: np.ndarray, mask: np.ndarray) -> float:
    """How crisp an RGB uint8 image's strongest edges in ``mask`` are: mean |Laplacian| over mean
    gradient magnitude on them (it falls as an image is blurred); 0 when there are too few."""
    core = _sharp_core(mask)
    if not core.any():
        return 0.0
    # Only around the mask: the filters reach one pixel, so the figure is the same as on the whole image.
    x, y, w, h = cv2.boundingRect(core.view(np.uint8))
    box = (slice(max(0, y - 2), y + h + 2), slice(max(0, x - 2), x + w + 2))
    luma = cv2.cvtColor(np.ascontiguousarray(image[box]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return _luma_sharpness(luma, core[box])


def _sharp_core(mask: np.ndarray) -> np.ndarray:
    """Where :func:`_sharpness` looks: ``mask`` clear of its own outline (bool)."""
    return cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def _luma_sharpness(luma: np.ndarray, inside: np.ndarray) -> float:
    """:func:`_sharpness` of a float32 grey image on ``inside`` (see :func:`_sharp_core`)."""
    gradient = cv2.magnitude(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))
    if inside.sum() < MATCH_MIN_PIXELS:
        return 0.0
    strong = inside & (gradient >= np.percentile(gradient[inside], SHARP_EDGE_PERCENTILE))
    laplacian = np.abs(cv2.Laplacian(luma, cv2.CV_32F))
    return float(laplacian[strong].mean() / max(float(gradient[strong].mean()), 1e-3))


def _noise_in(image: np.ndarray, mask: np.ndarray) -> float:
    """Grey levels of fine noise in ``mask`` of an RGB uint8 image: the robust spread (MAD) of its
    high-pass over the flattest half of the pixels (texture and edges left out)."""
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    high = luma - cv2.GaussianBlur(luma, (0, 0), NOISE_SIGMA)
    local = cv2.GaussianBlur(np.abs(high), (0, 0), 2 * NOISE_SIGMA)
    values = high[mask]
    if values.size < MATCH_MIN_PIXELS:
        return 0.0
    # A robust spread needs no more than NOISE_SAMPLES pixels (a photo's background has ~500 000).
    step = max(1, values.size // NOISE_SAMPLES)
    values, spread = values[::step], local[mask][::step]
    flat = spread <= np.median(spread)
    return float(1.4826 * np.median(np.abs(values[flat] - np.median(values[flat]))))


def _noise_level(person: np.ndarray, body: BodyAnalysis) -> float:
    """The photo's own noise (grey levels), measured on its background; bounded to what grain looks like."""
    background = ~masks.grow(body.person_mask, FILL_GROW_PX)
    return float(np.clip(_noise_in(person, background), 0.0, NOISE_MAX))


def _skirt_support(body: BodyAnalysis, unit: float) -> np.ndarray:
    """Below the hips, each row of the person filled from its leftmost to its rightmost leg pixel
    (a skirt hangs across the gap between the legs), widened by :data:`SKIRT_FLARE` and, further
    down, by :data:`SKIRT_CONE` of the drop below the hips: a flared skirt keeps its own outline
    below the old clothes' hem instead of narrowing to the legs there."""
    legs, _ = _legs_below_hips(body)
    drop = np.maximum(np.arange(legs.shape[0]) - _person_model(body).frame.mid_hip[1], 0.0)
    return masks.row_spans(legs, widen=SKIRT_FLARE * unit + SKIRT_CONE * drop, bridge=round(SKIRT_BRIDGE * unit))


def _legs_below_hips(body: BodyAnalysis) -> tuple[np.ndarray, np.ndarray]:
    """The person below the hip joints less the hands and forearms hanging there (bool ``(H, W)``), and
    every pixel's depth in torso lengths (float32 ``(H, W)``)."""
    depth = _person_model(body).frame.depth_map_tl()
    legs = body.person_mask & (depth > 1.0)
    legs &= ~body.regions.union(("hand_left", "hand_right", "lower_arm_left", "lower_arm_right"))
    return legs, depth


def _leg_support(body: BodyAnalysis, unit: float) -> np.ndarray:
    """Below the hips, the legs grown by up to :data:`TROUSER_DRAPE`, from nothing at the hip joints to
    all of it :data:`TROUSER_DRAPE_DROP` torso lengths lower: a straight or wide trouser leg hangs at its
    own width beside a thinner leg (cut to the bare leg, it turns skinny below the old clothes' hem and
    jodhpur-like above it), while trousers still sit on the hips."""
    legs, depth = _legs_below_hips(body)
    if not legs.any():
        return legs
    allowance = TROUSER_DRAPE * unit * np.clip((depth - 1.0) / TROUSER_DRAPE_DROP, 0.0, 1.0)
    dist = cv2.distanceTransform((~legs).astype(np.uint8), cv2.DIST_L2, 3)
    # Outwards only: the gap between the legs stays open (two legs, not one block).
    between = masks.row_spans(legs) & ~legs
    return (dist <= allowance) & (depth > 1.0) & ~between


def _meet_old_hem(warped: WarpedGarment, body: BodyAnalysis, scene: _Scene) -> WarpedGarment:
    """The garment warped again to meet the old clothing's hem where it nearly does
    (:func:`~tryon.stages.warp.meet_old_hem`), unless the warp was already asked to
    (:func:`~tryon.stages.warp.warp_garment`'s ``old_hem_tl``, as the pipeline does)."""
    if scene.top_hem is None or warped.garment is None or warped.old_hem_tl is not None:
        return warped
    met = meet_old_hem(warped.category, warped.sleeve, warped.hem_depth, warped.waist_depth, scene.top_hem,
                       _person_model(body).frame.torso_px)
    if met is None:
        return warped
    hem_depth, waist_depth = met
    return warp_garment(warped.garment, body, hem_depth=hem_depth, waist_depth=waist_depth, clean=False)


def _fill_layers(
    person: np.ndarray, body: BodyAnalysis, scene: _Scene, skin_colour: np.ndarray, shading: np.ndarray,
    skin_light: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """What may go where the old garment is removed, before any garment is known: float32 RGB
    ``(H, W, 3)`` images of the bare skin and of the background, valid within
    :data:`FILL_GROW_PX` of the old garment (zero elsewhere); how much of the bare skin is carried
    on from the visible skin beside it (float32 ``(H, W)`` in [0, 1]); and the photo's skin grain level.

    Bare skin: the person's skin colour (spread from the visible skin), lit by the photo's
    large-scale light, darkened towards the outline of the limb or torso it belongs to (they
    are round), each channel by the photo's own skin-colour-for-light exponent (``skin_light``,
    :func:`_skin_light`); next to visible skin it carries on what the photo shows there. Background:
    pushed in from the visible background around it. :func:`_fills` adds the garment's
    contact shadow and the grain, and blends the two.

    Both are smooth (the finest detail, the grain, comes later): they are worked out at
    1 / :data:`FILL_SCALE` of the photo's resolution around the old garment and brought back up.
    """
    h, w = body.size
    unit = _person_model(body).frame.unit_px
    skin_image = np.zeros((h, w, 3), np.float32)
    background_image = np.zeros((h, w, 3), np.float32)
    carried_share = np.zeros((h, w), np.float32)
    zone = masks.grow(scene.old, FILL_GROW_PX)  # every pixel a fill can reach (see composite's `near`)
    if not zone.any():
        return skin_image, background_image, carried_share, GRAIN_LEVEL
    ys, xs = np.nonzero(zone)
    scale = FILL_SCALE
    box = _whole_cells(_box(ys, xs, FILL_CONTEXT * unit, (h, w)), (h, w), scale)
    # The smaller copy: whole cells of FILL_SCALE px; a full-size pixel reads the (up to four) cells
    # around it, so the fills are worked out one cell beyond the zone.
    bh, bw = box[0].stop - box[0].start, box[1].stop - box[1].start
    small = (max(1, -(-bw // scale)), max(1, -(-bh // scale)))  # cv2 (width, height), rounded up

    def cells(a: np.ndarray) -> np.ndarray:
        part = a[box]
        if part.shape[:2] == (small[1] * scale, small[0] * scale):
            return part
        return _padded(part, small, scale)  # with its own edge: a cell half off the photo is not half black

    def down(a: np.ndarray) -> np.ndarray:
        return cv2.resize(cells(a).astype(np.float32), small, interpolation=cv2.INTER_AREA)

    where = cv2.dilate((down(zone) > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    sunit = unit / scale
    zy, zx = np.nonzero(where)
    origin = (box[0].start, box[1].start)
    # The skin the photo shows, clear of the old garment's anti-aliased rim (a dark line along a hem).
    visible = _person_model(body).clothing.skin & body.person_mask & ~masks.grow(scene.old, FILL_GROW_PX + RIM_PX)
    base = down(person)
    # Over all the skin the photo shows, at its full size (at most PROFILE_SAMPLES px): not only around the fill,
    # whose box would take a part's profile in or leave it out by where the old garment happens to end.
    profiles = _shade_profiles_of(scene.shape, person, skin_colour,
                                  visible & ~body.regions.union(("face_hair", "hand_left", "hand_right")))
    round_ = _round_shade(scene.shape, where, origin, scale, sunit, profiles)[zy, zx]
    limbs = [down(body.regions.union(names)) > 0.5 for _, names in SKIN_GROUPS]
    round_ = _as_light_on_average(round_, (down(scene.bare_body) > 0.5)[zy, zx], limbs, (zy, zx),
                                  SKIN_GROUP_BLEND * sunit)
    light = 1.0 + SKIN_SHADING_STRENGTH * (np.clip(down(shading)[zy, zx], *SHADING_RANGE) - 1.0)
    # Where the old garment lay close on the body its own light and shade show the body's relief: the
    # bared skin takes it over (elsewhere the large-scale light), on the model's roundness.
    clusters = cv2.resize(cells(scene.clusters), small, interpolation=cv2.INTER_NEAREST)
    relief, confidence = _relief(base, clusters, where, sunit)
    relief, confidence = relief[zy, zx], confidence[zy, zx]
    light = np.maximum((confidence * relief + (1.0 - confidence) * light) * round_, 1e-3)
    tone = light[:, None] ** skin_light[None, :] * down(skin_colour)[zy, zx]
    # Next to visible skin the fill carries on what the photo shows there (its light, its
    # shading across the limb), fading into the model over SKIN_CONTINUE. Torso skin carries
    # on only the torso's and neck's own skin: a lit arm beside it would wash out its
    # shadowed flanks. The skin a fill meets starts clear of the old garment's anti-aliased
    # rim (``visible``, above).
    # A bare arm in front keeps its own edge up to the old garment beside it (see _uncover): the fill
    # there carries that on (the arm's shaded edge), not the arm's middle. Not below an old sleeve's
    # hem: the arm there is in the hem's shadow, which goes with the sleeve.
    kept = scene.kept_arm & ~masks.grow(scene.old_sleeves, FILL_GROW_PX + RIM_PX)
    visible = down(visible | (kept & ~scene.old)) > 0.5
    carried = np.zeros(where.shape, np.float32)
    if visible.any():
        # Carried from the skin right at the fill's edge (a shadow the old hem cast there goes on into the
        # fill), not from the skin's average further out: the two then meet without a step. Each fill
        # pixel takes its nearest visible skin, smoothed over the fill, so where two stretches of the edge
        # (a lit chest, a shadowed neck) hand over, they blend instead of meeting on a line, and no single
        # pixel's grain is drawn out.
        dist, nearest = masks.nearest(visible, mask_size=5)
        source = nearest[zy, zx]
        field = np.zeros_like(base)
        field[zy, zx] = base.reshape(-1, 3)[source]
        inside = where.astype(np.float32)
        sigma = max(1.0, CARRY_BLUR * sunit)
        taken = (_blur_coarse(field, sigma) / np.maximum(_blur_coarse(inside, sigma), 1e-6)[..., None])[zy, zx]
        dist = dist[zy, zx]
        limbs = down(body.regions.union(LIMB_REGIONS)) > 0.5
        torso_visible = visible & ~limbs
        torso_dist = cv2.distanceTransform((~torso_visible).astype(np.uint8), cv2.DIST_L2, 3)[zy, zx]
        reach = max(SKIN_CONTINUE * sunit, 1.0)
        # Membership of the limbs, fading out beyond them, so the two kinds of carry meet without a seam.
        limb_share = np.maximum(_blur_coarse(limbs.astype(np.float32), reach)[zy, zx], limbs[zy, zx])
        # Decaying from the fill's edge (the rim between is replaced too), so the two meet in full there.
        gap = (RIM_PX + 1.0) / scale
        weight = (limb_share * np.exp(-np.maximum(dist - gap, 0.0) / reach)
                  + (1.0 - limb_share) * np.exp(-np.maximum(torso_dist - gap, 0.0) / reach))[:, None]
        tone = weight * taken + (1.0 - weight) * tone
        carried[zy, zx] = weight[:, 0]
    skin_small = np.zeros_like(base)
    skin_small[zy, zx] = tone
    # The backdrop is known beyond the person and the old garment (which may reach past the person mask).
    known = down(~masks.grow(body.person_mask | scene.old, FILL_GROW_PX)) > 0.5
    background_small = _push_pull(base, known.astype(np.float32))

    def up(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (small[0] * scale, small[1] * scale), interpolation=cv2.INTER_LINEAR)[:bh, :bw]

    zone_box = zone[box]
    skin_image[box][zone_box] = up(skin_small)[zone_box]
    background_image[box][zone_box] = up(background_small)[zone_box]
    carried_share[box][zone_box] = up(carried)[zone_box]
    return skin_image, background_image, carried_share, _grain_level(person, body)


def _whole_cells(box: tuple[slice, slice], shape: tuple[int, int], scale: int) -> tuple[slice, slice]:
    """``box`` grown (down and right first, then up and left) to whole cells of ``scale`` px where the
    photo of ``shape`` has room (no padding needed then)."""
    out = []
    for sl, n in zip(box, shape, strict=True):
        start, stop = sl.start, sl.stop
        extra = -(stop - start) % scale
        more = min(extra, n - stop)
        stop, extra = stop + more, extra - more
        start -= min(extra, start)
        out.append(slice(start, stop))
    return out[0], out[1]


def _padded(a: np.ndarray, small: tuple[int, int], scale: int) -> np.ndarray:
    """``a`` (``(h, w)`` or ``(h, w, C)``) padded with its edge values to ``small`` (cv2 width, height)
    whole cells of ``scale`` px."""
    pad = ((0, small[1] * scale - a.shape[0]), (0, small[0] * scale - a.shape[1]), *([(0, 0)] * (a.ndim - 2)))
    return np.pad(a, pad, mode="edge")


def _relief(
    person: np.ndarray, clusters: np.ndarray, where: np.ndarray, unit: float
) -> tuple[np.ndarray, np.ndarray]:
    """The old garment's own light and shade on a crop: luma over its colour cluster's median (a print
    reads as "no information", not as shadow), smoothed over :data:`RELIEF_SIGMA` body units, scaled by
    :data:`RELIEF_STRENGTH`; and how much of it there is nearby (float32 ``(h, w)`` each, confidence in
    [0, 1]; valid on ``where``)."""
    luma = cv2.cvtColor(person, cv2.COLOR_RGB2GRAY).astype(np.float32) + 1.0
    ratio = np.ones_like(luma)
    valid = np.zeros(luma.shape, bool)
    for k in np.unique(clusters[where & (clusters >= 0)]):
        sel = clusters == k
        if sel.sum() > RELIEF_MIN_PIXELS:
            ratio[sel] = luma[sel] / float(np.median(luma[sel]))
            valid |= sel
    valid &= np.abs(np.log(np.maximum(ratio, 1e-3))) < SHADING_OUTLIER
    field, support = _smooth_field(ratio, valid, max(1.0, RELIEF_SIGMA * unit))
    relief = np.clip(1.0 + RELIEF_STRENGTH * (field - 1.0), *SHADING_RANGE)
    return relief.astype(np.float32), np.clip(support / RELIEF_SUPPORT, 0.0, 1.0).astype(np.float32)


def _blur_coarse(image: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur of a float32 ``(H, W)`` or ``(H, W, C)`` image, worked out at a coarser scale
    (a blur this wide has no fine detail to lose; :data:`SMOOTH_SIGMA_MAX` px at the coarse scale)."""
    step = max(1.0, sigma / SMOOTH_SIGMA_MAX)
    if step <= 1.0:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w / step)), max(1, round(h / step))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / step)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _fills(
    prepared: PreparedPerson, near: np.ndarray, clothing: np.ndarray, crop: tuple[slice, slice],
) -> np.ndarray:
    """What goes where the old garment is removed, float32 RGB on the crop (valid on ``near``).

    Bare body (:attr:`_Scene.bare_body`): :attr:`PreparedPerson.skin_fill`, in the shadow of
    the new clothing just below it, with grain as fine as the photo's own skin. Elsewhere:
    :attr:`PreparedPerson.background_fill`. The two meet softly.
    """
    fill = np.zeros((*near.shape, 3), np.float32)
    unit = prepared.unit
    bare = prepared.scene.bare_body[crop]
    # Soft membership of the bare body, so filled skin and filled background meet without stairs; where filled
    # skin meets the new clothing the clothing counts as body (a soft edge there let the backdrop in: a light
    # line between an arm and a new top's side).
    skin_weight = cv2.GaussianBlur(bare.astype(np.float32), (0, 0), ROUND_SOFT_PX)
    skin_weight[bare] = cv2.GaussianBlur((bare | clothing).astype(np.float32), (0, 0), ROUND_SOFT_PX)[bare]
    skin_fill = near & (skin_weight > 0.0)
    background_fill = near & (skin_weight < 1.0)
    if skin_fill.any():
        ys, xs = np.nonzero(skin_fill)
        # The grain is anchored to the photo, not to the crop: the same skin gets the same grain.
        gy, gx = (ys + crop[0].start) % GRAIN_TILE, (xs + crop[1].start) % GRAIN_TILE
        grain = prepared.grain_level * _grain_tile()[gy, gx]
        shadow = np.ones(len(ys), np.float32)
        width = max(CONTACT_SHADOW_WIDTH * unit, 1.0)
        reach = int(np.ceil(4 * width))
        box = _box(ys, xs, reach, clothing.shape)
        if clothing[box].any():
            # Light comes from above: only skin below clothing (a hem, a sleeve's edge) is in its shadow.
            downward = np.zeros((2 * reach + 1, 1), np.uint8)
            downward[: reach + 1] = 1
            near_clothing = clothing[box].astype(np.uint8)
            sy, sx = ys - box[0].start, xs - box[1].start
            below = cv2.dilate(near_clothing, downward).astype(bool)[sy, sx]
            dist = cv2.distanceTransform(1 - near_clothing, cv2.DIST_L2, 3)[sy, sx]
            # An arm in front of the garment is not in its shadow.
            below &= ~prepared.scene.arms_front[crop][ys, xs]
            # Where the fill carries on the visible skin beside it, it has that skin's own light (shadow
            # included): fading the shadow out there, the fill meets that skin without a step.
            fade = 1.0 - prepared.skin_carried[crop][ys, xs]
            shadow -= below * fade * CONTACT_SHADOW * np.exp(-dist / width)
        shadow *= prepared.hair_shade[crop][ys, xs]
        shade = shadow[:, None] ** prepared.skin_light[None, :]
        fill[ys, xs] = shade * prepared.skin_fill[crop][ys, xs] + grain[:, None]
    if background_fill.any():
        ys, xs = np.nonzero(background_fill)
        w = skin_weight[ys, xs][:, None]
        fill[ys, xs] = w * fill[ys, xs] + (1.0 - w) * prepared.background_fill[crop][ys, xs]
    return fill


def _box(ys: np.ndarray, xs: np.ndarray, margin: float, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The bounding box of pixels ``(ys, xs)`` grown by ``margin`` px, inside ``shape``."""
    m = int(np.ceil(margin))
    return (slice(max(0, ys.min() - m), min(shape[0], ys.max() + m + 1)),
            slice(max(0, xs.min() - m), min(shape[1], xs.max() + m + 1)))


def _round_shade(
    shape: BodyShape, where: np.ndarray, origin: tuple[int, int], scale: int, unit: float,
    profiles: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """Brightness of a round body part lit from the front (float32 like ``where``, valid on it).

    ``where`` is a copy of part of the photo at 1 / ``scale`` of its resolution whose top-left cell
    starts at the photo's pixel ``origin`` (y, x); ``unit`` is the body's unit in its cells.
    Lambert's cosine across the part, ``1 - ROUND_DEPTH * (1 - sqrt(1 - s^2))`` for the position
    ``s`` across it (:meth:`~tryon.stages.person.BodyShape.roundness`), worked out on a coarse grid and smoothed, so
    where an arm meets the torso the two blend instead of meeting at a seam. ``profiles``: measured shading
    across each kind of part (see :func:`_shade_profiles`), used within the positions it covers.
    """
    out = np.ones(where.shape, np.float32)
    ys, xs = np.nonzero(where)
    step = max(1, round(ROUND_GRID * unit))
    y0, x0 = ys.min(), xs.min()
    gh, gw = (ys.max() - y0) // step + 1, (xs.max() - x0) // step + 1
    # Cell centres, where an integer cv2.resize puts its samples; in the photo's pixels.
    gy, gx = (np.mgrid[0:gh, 0:gw] + 0.5) * step - 0.5
    to_photo = (scale - 1) / 2.0
    signed, kind, limb = shape.across_limbs((origin[0] + (y0 + gy) * scale + to_photo).ravel(),
                                            (origin[1] + (x0 + gx) * scale + to_photo).ravel())
    s = np.minimum(np.abs(signed), 1.0)
    # Divided by its mean across a limb (the mean of sqrt(1 - s^2) over [0, 1] is pi / 4): the visible
    # skin the fill's colour comes from is itself such a mean, so the fill is as light on average.
    mean_shade = 1.0 - ROUND_DEPTH * (1.0 - np.pi / 4.0)
    shade = ((1.0 - ROUND_DEPTH * (1.0 - np.sqrt(1.0 - s * s))) / mean_shade).astype(np.float32)
    for part, (centres, values) in (profiles or {}).items():  # the kinds' first, then each limb's own
        on_part = (kind == PART_KINDS.index(part)) if part in PART_KINDS else (limb == LIMBS.index(part))
        covered = on_part & (signed >= centres[0]) & (signed <= centres[-1])
        shade[covered] = np.interp(signed[covered], centres, values)
    shade = shade.reshape(gh, gw)
    shade = cv2.GaussianBlur(shade, (0, 0), ROUND_BLUR / ROUND_GRID)
    full = cv2.resize(shade, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)
    h, w = min(where.shape[0] - y0, full.shape[0]), min(where.shape[1] - x0, full.shape[1])
    out[y0:y0 + h, x0:x0 + w] = full[:h, :w]
    return out


def _shade_profiles_of(
    shape: BodyShape, image: np.ndarray, skin_colour: np.ndarray, visible: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`_shade_profiles` of the photo (``image``, RGB, and the skin colour's smooth field, ``skin_colour``,
    float32 RGB, both ``(H, W, 3)``) on its visible skin (``visible``, bool ``(H, W)``; at most
    :data:`PROFILE_SAMPLES` of its pixels, evenly spread)."""
    vy, vx = np.nonzero(visible)
    if not len(vy):
        return {}
    if len(vy) > PROFILE_SAMPLES:  # evenly spread, the same every time
        keep = np.linspace(0, len(vy) - 1, PROFILE_SAMPLES).astype(np.int64)
        vy, vx = vy[keep], vx[keep]
    lightness = (image[vy, vx] @ LUMA) / np.maximum(skin_colour[vy, vx] @ LUMA, 1.0)
    return _shade_profiles(shape, lightness, (vy, vx))


def _shade_profiles(
    shape: BodyShape, lightness: np.ndarray, at: tuple[np.ndarray, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The photo's shading across each kind of part and each limb from its visible skin: ``lightness`` float
    ``(N,)`` (the skin's over its smooth colour field) at the photo's pixels ``at`` (ys, xs). Keyed by the kind
    (:data:`~tryon.stages.person.PART_KINDS`, both sides' skin together) and by the limb
    (:data:`~tryon.stages.person.LIMBS`, see :func:`_limb_profiles`); each (bin centres, shading) float ``(K,)``,
    the centres increasing. Parts whose skin does not show across their middle are left out."""
    signed, kind, limb = shape.across_limbs(*at)
    out = {}
    for part in np.unique(kind[kind >= 0]):
        mine = kind == part
        if (profile := _profile(signed[mine], lightness[mine])) is not None:
            out[PART_KINDS[int(part)]] = profile
    # Arms and legs are alike (round, lit by the same light): where one kind shows, the other takes its shading.
    for part, other in (("arm", "leg"), ("leg", "arm")):
        if part not in out and other in out:
            out[part] = out[other]
    out.update(_limb_profiles(signed, limb, lightness))
    return out


def _profile(signed: np.ndarray, lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The shading across one part (bin centres, shading; float ``(K,)``) from its visible skin's positions
    across it and lightness (float ``(N,)``), or None where the skin does not show across the part's middle or
    the shading is no round part's."""
    edges = np.linspace(-PROFILE_SPAN, PROFILE_SPAN, PROFILE_BINS + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    core = np.abs(centres) <= PROFILE_CORE
    inside = np.abs(signed) < PROFILE_SPAN
    bins = np.digitize(signed[inside], edges) - 1
    counts = np.bincount(bins, minlength=PROFILE_BINS)
    full = counts >= PROFILE_MIN_SAMPLES
    if not full[core].all():
        return None
    # The run of well-sampled bins around the middle.
    lo, hi = np.flatnonzero(core)[[0, -1]]
    while lo > 0 and full[lo - 1]:
        lo -= 1
    while hi < PROFILE_BINS - 1 and full[hi + 1]:
        hi += 1
    groups = np.split(lightness[inside][np.argsort(bins, kind="stable")], np.cumsum(counts)[:-1])
    values = np.array([np.median(groups[b]) for b in range(lo, hi + 1)])
    positions = centres[lo:hi + 1]
    values /= max(float(np.mean(values[np.abs(positions) < 1.0])), 1e-3)  # as the model's: mean 1 across
    middle = float(np.mean(values[np.abs(positions) <= PROFILE_MIDDLE]))
    if (np.abs(np.diff(values, 2)).mean() > PROFILE_MAX_ROUGHNESS
            or min(values[0], values[-1]) > middle + PROFILE_MAX_DIP):
        return None
    return centres, np.clip(_lit_cylinder(positions, values, centres), *PROFILE_RANGE)


def _limb_profiles(
    signed: np.ndarray, limb: np.ndarray, lightness: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each limb's shading (:func:`_profile`) from its own visible skin (``limb``: int8 ``(N,)``, the index in
    :data:`~tryon.stages.person.LIMBS`, -1 elsewhere). A limb without one takes its counterpart's (the other
    arm's, the other leg's), mirrored where the photo lights its limbs alike on their outer sides (a light in
    front: the inner sides lie in the shade of the body and the other limb) and as it is where one light comes
    from a side (both limbs lighter on that side). Limbs of a pair that shows no skin are left out."""
    own = {}
    for index, name in enumerate(LIMBS):
        mine = limb == index
        if mine.sum() and (profile := _profile(signed[mine], lightness[mine])) is not None:
            own[name] = profile
    mirrored = _lit_on_outer_sides(signed, limb, lightness)
    out = dict(own)
    for name, other in LIMB_COUNTERPARTS:
        if name not in out and other in own:
            centres, values = own[other]  # the bins are symmetric about the axis: reversed, they are mirrored
            out[name] = (centres, values[::-1].copy()) if mirrored else own[other]
    return out


def _lit_on_outer_sides(signed: np.ndarray, limb: np.ndarray, lightness: np.ndarray) -> bool:
    """Whether the pairs of limbs whose skin shows on both halves of both limbs (at least
    :data:`PROFILE_SIDE_SAMPLES` px a half) lean towards their outer sides (the median lightness of one limb's
    right half over its left higher, of the other's lower, each by at least :data:`PROFILE_SIDE_MIN`) more
    often than to one side (both the same way); False without such a pair. Measured on the skin as it is, not
    on the fitted profiles: a limb whose profile is left out (an arm bent across the body) still shows its light."""
    def lean(index: int) -> float | None:
        mine = limb == index
        right = lightness[mine & (signed > 0) & (signed <= 1)]
        left = lightness[mine & (signed < 0) & (signed >= -1)]
        if min(len(right), len(left)) < PROFILE_SIDE_SAMPLES:
            return None
        return float(np.median(right) - np.median(left))

    votes = []
    for left, right in (("arm_left", "arm_right"), ("leg_left", "leg_right")):
        a, b = lean(LIMBS.index(left)), lean(LIMBS.index(right))
        if a is not None and b is not None and min(abs(a), abs(b)) >= PROFILE_SIDE_MIN:
            votes.append(np.sign(a) != np.sign(b))
    return sum(votes) > len(votes) / 2


def _lit_cylinder(positions: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A round part's shading (float ``(K,)`` at the positions across it ``at``; beyond its outline, the
    outline's) fitted to the measured ``values`` at ``positions`` (float ``(M,)``) within
    :data:`PROFILE_FIT_SPAN`: ``a + b * max(0, s sin t + sqrt(1 - s^2) cos t)`` with ``a, b >= 0`` (least squares
    for each light angle ``t`` in :data:`PROFILE_TURNS`, the best kept), its mean across the part 1."""
    inside = np.abs(positions) <= PROFILE_FIT_SPAN
    s = np.clip(positions[inside], -1.0, 1.0)
    measured = values[inside]
    grid = np.linspace(-1.0, 1.0, 65)  # for the mean across the part

    def lambert(x: np.ndarray, turn: float) -> np.ndarray:
        return np.maximum(0.0, x * np.sin(turn) + np.sqrt(1.0 - x * x) * np.cos(turn))

    best, best_err = None, np.inf
    for turn in PROFILE_TURNS:
        design = np.stack([np.ones_like(s), lambert(s, turn)], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, measured, rcond=None)
        if a < 0.0 or b < 0.0:  # a negative light or ambient: the flat mean instead
            a, b = float(measured.mean()), 0.0
        err = float(np.sum((a + b * lambert(s, turn) - measured) ** 2))
        if err < best_err:
            best, best_err = (a, b, turn), err
    a, b, turn = best
    fitted = a + b * lambert(np.clip(at, -1.0, 1.0), turn)
    return fitted / max(float(np.mean(a + b * lambert(grid, turn))), 1e-3)


def _as_light_on_average(
    shade: np.ndarray, bare: np.ndarray, limbs: list[np.ndarray], at: tuple[np.ndarray, np.ndarray], blend: float
) -> np.ndarray:
    """``shade`` (float32 ``(N,)`` at the pixels ``at``) divided, on each group of limbs (``limbs``: bool
    ``(h, w)`` masks, legs and arms), by its mean over the group's ``bare`` pixels (bool ``(N,)``): the
    skin colour it multiplies is the average of those limbs' visible skin. The factors fade out beyond
    the limbs over ``blend`` px, as the parts' skin colours meet.

    The roundness is the model limb's: a fill wider than the model's limb (a sleeve's outline) lies
    partly beyond it, at the rim's shade, and came out darker on average than the skin it carries on (by
    ~10 % on the eval photos' bared arms), and, each channel by its own exponent, more orange. The
    trunk's fills lie within the model's torso: its own mean stands."""
    factor = np.ones(shade.shape, np.float32)
    sigma = max(1.0, blend)
    for limb in limbs:
        counted = limb[at] & bare
        if counted.sum() < SKIN_MIN_PIXELS:
            continue
        share = np.maximum(cv2.GaussianBlur(limb.astype(np.float32), (0, 0), sigma)[at], limb[at])
        factor += share * (1.0 / max(float(shade[counted].mean()), 1e-3) - 1.0)
    return shade * factor


def _push_pull(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fill the pixels where ``weights`` is 0 from the known ones around them (push-pull).

    ``values`` float32 ``(H, W, 3)``, ``weights`` float32 ``(H, W)`` in [0, 1]. Halving pyramid of
    weighted values, then back up: each level keeps its own average where it had data and
    takes the coarser level's elsewhere, so a hole is filled with colours from its own rim,
    smoothly towards its middle (a background's gradients and shadows carry on into it).
    """
    levels = []
    num, den = values * weights[..., None], weights
    while min(den.shape) > PUSH_PULL_MIN_SIDE:
        levels.append((num, den))
        num, den = cv2.pyrDown(num), cv2.pyrDown(den)
    known = den > 1e-4
    mean = values[weights > 0].mean(axis=0) if (weights > 0).any() else np.full(3, 128.0, np.float32)
    average = num / np.maximum(den, 1e-4)[..., None]
    out = np.where(known[..., None], average, mean[None, None, :]).astype(np.float32)
    for num, den in reversed(levels):
        below = cv2.pyrUp(out, dstsize=(den.shape[1], den.shape[0]))
        confidence = np.clip(2.0 * den, 0.0, 1.0)[..., None]
        out = confidence * (num / np.maximum(den, 1e-4)[..., None]) + (1.0 - confidence) * below
    return out


def _grain_level(person: np.ndarray, body: BodyAnalysis) -> float:
    """Grey levels of fine grain on the photo's visible skin (robust std of its high-pass)."""
    skin = _person_model(body).clothing.skin & ~body.regions["face_hair"]
    skin = cv2.erode(skin.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if skin.sum() < 200:
        return GRAIN_LEVEL
    ys, xs = np.nonzero(skin)
    box = _box(ys, xs, 2 * GRAIN_SIGMA + 2, skin.shape)
    luma = cv2.cvtColor(person[box], cv2.COLOR_RGB2GRAY).astype(np.float32)
    high = (luma - cv2.GaussianBlur(luma, (0, 0), GRAIN_SIGMA))[skin[box]]
    high = high[:: max(1, high.size // GRAIN_SAMPLES)]
    level = 1.4826 * float(np.median(np.abs(high - np.median(high))))
    return float(np.clip(level, *GRAIN_RANGE))


@functools.lru_cache(maxsize=1)
def _grain_tile() -> np.ndarray:
    """A fixed tile of fine noise (photographic grain) with unit std, float32 ``(GRAIN_TILE, GRAIN_TILE)``."""
    rng = np.random.default_rng(GRAIN_SEED)
    noise = rng.normal(0.0, 1.0, (GRAIN_TILE, GRAIN_TILE)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
    return noise / max(float(noise.std()), 1e-6)
