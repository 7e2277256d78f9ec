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
from collections.abc import Iterable

import cv2
import numpy as np

from . import body as bd
from .warp import WarpedGarment, warp_garment

SCENE_STEP = 2  # the old clothing is found at 1/SCENE_STEP resolution
SMOOTH_SIGMA_MAX = 4.0  # px: larger blurs run on a coarser copy
# --- resolution of the low-frequency work (shading, fills) -----------------------------------
WORK_SIDE = 256  # long side of the image the smooth fields are computed on, px
SHADING_SIGMA = 1 / 20  # Gaussian sigma of the photo's light, as a fraction of the body height
SHADING_STRENGTH = 0.8  # how much of the photo's light reaches the new garment
SHADING_RANGE = (0.6, 1.3)  # bounds on the shading factor
SHADING_OUTLIER = 0.4  # |log(luma / cluster luma)| above this is print, not light: left out
SKIN_SHADING_STRENGTH = 0.6
SKIN_FIELD_SIGMA = 0.35  # of the shoulder width: how far visible skin colour spreads into fills
# A bared limb or torso is round: lit from the front, it darkens towards its outline by this
# much (Lambert's cosine over a cylinder, with ambient light keeping the rim from going black).
ROUND_DEPTH = 0.3
# Clothing casts a soft shadow on the skin right next to it (a hem on the midriff, a sleeve on
# the arm): filled skin darkens by this much at the clothing's edge, fading over this width (unit).
CONTACT_SHADOW = 0.3
CONTACT_SHADOW_WIDTH = 0.05
# Body regions of the limbs (their skin is not the torso's: a fill on the torso does not carry it on).
LIMB_REGIONS = ("upper_arm_left", "upper_arm_right", "lower_arm_left", "lower_arm_right", "hand_left", "hand_right",
                "thigh_left", "thigh_right", "shin_left", "shin_right")
SKIN_CONTINUE = 0.1  # of the unit: how far filled skin carries on the visible skin next to it
ROUND_GRID = 0.02  # of the unit: the grid the roundness is worked out on...
ROUND_BLUR = 0.04  # ...and how far (of the unit) it is smoothed
ROUND_SOFT_PX = 1.0  # sigma of the soft edge between filled skin and filled background
GRAIN_LEVEL = 2.0  # grey levels of fine grain on filled skin when no visible skin shows its own
GRAIN_RANGE = (1.0, 5.0)  # bounds on the grain measured on the photo's visible skin
GRAIN_SIGMA = 1.5  # px: the high-pass that measures the skin's grain
GRAIN_SAMPLES = 20000
GRAIN_TILE = 128
GRAIN_SEED = 7
SKIN_MIN_PIXELS = 30  # visible skin pixels (at work size) needed to take the skin colour from the photo
FILL_CONTEXT = 0.5  # of the unit: how far around a fill the photo is looked at for its colours
PUSH_PULL_MIN_SIDE = 4  # px: the coarsest level of the background's push-pull fill

# --- colour --------------------------------------------------------------------------------
PALETTE_SIZE = 4  # k-means colours of the old top / old bottoms
BOTTOM_CLUSTERS = 100  # labels of the old bottoms' colour clusters start here (the top's at 0)...
SKIN_CLUSTER = 200  # ...and skin's label is this (clusters normalise the shading)
PALETTE_SAMPLES = 4000
PALETTE_MIN_SHARE = 0.08  # smaller clusters (edges of a logo) are not the garment's colours
WHITE_BALANCE_STRENGTH = 0.5
WHITE_BALANCE_MAX = 0.06  # per-channel gain stays within 1 +- this

# --- geometry (fractions of the shoulder width "unit") --------------------------------------
FEATHER_PX = 1.0  # sigma of the garment's soft edge
LEAK_MARGIN_PX = 1  # the garment may extend this far outside the person's silhouette
SKIRT_FLARE = 0.02  # how far a skirt may stand off the outer line of the legs
SLEEVE_GAP = 0.12  # the garment's body fills gaps this narrow between a sleeve and the torso
EDGE_GROW_PX = 2  # full-resolution px the half-resolution clothing masks grow over non-skin neighbours
FILL_GROW_PX = 4  # fills reach this far past the old garment (its anti-aliased outline)...
RIM_PX = 1.5  # ...and fully replace this much of it
HOLE_CLOSE = 0.05  # old-garment mask: close gaps (letters of a logo) up to this size...
HOLE_MAX = 0.35  # ...and fill enclosed pockets up to this size squared (a print)
STRAP_WIDTH = 0.06  # clothing linked only through parts this narrow is not one garment
SLEEVE_MAX_DE = 40.0  # arm pixels farther (Lab) from every colour of the top are not its sleeve...
SLEEVE_L_WEIGHT = 0.4  # ...lightness differences weighted down (a top's fold in shadow is still the top)
SKIN_UNLIKE_DE = 25.0  # a clothing colour this far (Lab) from the skin model's mean is unlike skin...
SKIN_LOOKALIKE_DE = 12.0  # ...and "skin" pixels this close to such a colour are that clothing
LONG_HAIR_FROM = -0.1  # hair on the head reaching below this depth (torso lengths) is long...
HAIR_DEPTH = 0.6  # ...and is looked for above this depth (of the torso length)...
HAIR_DE = 15.0  # ...in the colours of the hair on the head (Lab distance)...
HAIR_MARGIN = 1.5  # ...when this many times nearer to them than to the top's colours
ANKLE_MARGIN = 0.04  # of the unit: a trouser hem over the ankle reaches this far below the joint
HAND_GROW = 0.03  # of the unit: a hand reaches this far past its visible skin
HAND_CLOTH_DE = 25.0  # pixels in a hand's region this close (Lab) to the clothes' colours are clothing
# Radii of the bare limbs under removed clothing (skin is filled inside them).
ARM_RADII = (0.11, 0.085, 0.085, 0.065)  # upper arm at shoulder, at elbow; forearm at elbow, at wrist
LEG_RADII = (0.22, 0.12, 0.125, 0.075)  # thigh at hip, at knee; shin at knee, at ankle
CALF = (0.3, 0.14)  # the calf: widest this far down the shin, with this radius
HIP_FLESH = 0.45  # of the hip-joint distance: the flesh reaches this far past each hip joint
WAIST_SHARE = 0.75  # the waist's width, of the shoulders' (a loose top hides it: it is never measured)
WAIST_DEPTH = 0.75  # depth (torso lengths) of the waist, narrowest, from where the torso flares...
HIP_TAPER_STEPS = 6  # ...smoothly (an eased curve, sampled this many times) to the hips at the hip joints
BARE_UPPER_ARM = 0.5  # an upper arm this much skin is bare: the old top had no sleeve there
ARM_START = 0.12  # bare upper arms start this far down the bone (the shoulder is torso)
NECK_RADIUS = 0.15  # the neck: a capsule from the shoulders' midpoint...
NECK_REACH = 0.6  # ...this share of the way to the mouth
SHOULDER_TOP = -0.5  # the bare torso reaches up to this depth (torso lengths): the tops of the shoulders
CHEST_ZONE = (0.12, 0.5)  # depth range (of the torso length) where the old top is sampled
THIGH_ZONE = (0.25, 0.7)  # share of hip -> knee where the old bottoms are sampled
SPLIT_RANGE = (0.35, 1.6)  # depths (of the torso length) searched for the top/bottoms boundary
SPLIT_BAND = 0.05  # within this of the boundary, colour decides...
SPLIT_BAND_MARGIN = 0.7  # ...when it is clearly nearer the top's colours than the bottoms'
SPLIT_SNAP_BINS = 8  # the boundary snaps to the sharpest colour step within this many 0.02 bins
SPLIT_MIN_STEP = 10.0  # Lab distance of a step worth snapping to
SPLIT_STRIP = 0.35  # half-width (of the unit) of the body's middle strip the boundary is found in
SKIN_BAND_SHARE = 0.5  # a depth bin is bare when this share of the middle strip is skin...
SKIN_BAND_BINS = 3  # ...and this many bare bins in a row, below a clothed stretch, are a bare midriff
SKIN_BAND_FROM = 0.1  # depth (torso lengths) where the search for it starts
TUCK_DEPTH = 0.75  # the natural waist (torso lengths below the shoulders): a top tucks in below it
ONE_PIECE_DE = 12.0  # clothing this near (Lab) the other zone's colours is the same garment's...
ONE_PIECE_SHARE = 0.7  # ...and when this share of the chest and of the thighs is, it is one garment
ONE_PIECE_COVER = 0.5  # (the thighs' zone at least this much clothed): a dress, or a matching set
HEM_PERCENTILE = 97  # the old top's hem: this percentile of its depths down the middle strip
# A new top whose hem lands this close (torso lengths) above / below the old top's hem is
# re-placed to meet it: nearly matching cuts should not leave a sliver of skin or old shirt.
HEM_SNAP = (0.2, 0.1)
HEM_OVERLAP = 0.02  # ...and then reaches this far past it, so no sliver of the old hem shows
# Trousers whose waistband lands up to this far (torso lengths) below the top's hem are raised
# to reach this far under it (the top hangs over the waistband).
WAIST_SNAP = 0.15
WAIST_TUCK = 0.02


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
# Small helpers
# =================================================================================================


def _disc(radius: float) -> np.ndarray:
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), _disc(radius)).astype(bool)


def _close(mask: np.ndarray, radius: float) -> np.ndarray:
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, _disc(radius)).astype(bool)


def _fill_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill the pockets the mask encloses completely, up to ``max_area`` px each (logo letters,
    not the trousers framed by two hanging sleeves)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    if count <= 1:
        return mask
    h, w = mask.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    enclosed = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area <= max_area)
    enclosed[0] = False
    return mask | enclosed[labels]


def _connected_to(mask: np.ndarray, seeds: np.ndarray, strap: float) -> np.ndarray:
    """The parts of ``mask`` connected to ``seeds`` through more than thin straps.

    An opening cuts links narrower than ``strap`` px (a strap of the top hanging down to the
    trousers) and splits the mask into solid parts; every pixel of the mask then goes with the
    solid part nearest to it, and the parts touching ``seeds`` are kept.
    """
    whole = _keep_touching(mask, seeds)
    if not whole.any():
        return whole
    opened = cv2.morphologyEx(whole.astype(np.uint8), cv2.MORPH_OPEN, _disc(strap / 2))
    count, parts = cv2.connectedComponents(opened, connectivity=8)
    if count <= 2:  # one solid part (or none): nothing was cut
        return whole
    keep = np.zeros(count, bool)
    keep[np.unique(parts[seeds & (parts > 0)])] = True
    keep[0] = False
    if not keep.any():
        return whole
    # Nearest solid pixel of every pixel, then the part it belongs to.
    _, nearest = cv2.distanceTransformWithLabels(
        (opened == 0).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    solid = opened > 0
    lookup = np.zeros(int(nearest.max()) + 1, np.int32)
    lookup[nearest[solid]] = parts[solid]
    return whole & keep[lookup[nearest]]


def _solid(mask: np.ndarray, close: float, hole: float, skin: np.ndarray, limb_skin: np.ndarray) -> np.ndarray:
    """A garment's mask with small gaps closed and enclosed pockets (a print) filled, but not
    over the body's own skin: skin that the filling took in on the limbs or neck, or that joins
    skin outside the garment (an arm between a tank top's front and back), stays out."""
    solid = _fill_holes(_close(mask, close), hole)
    taken = solid & ~mask & skin
    if taken.any():
        solid &= ~(taken & limb_skin)
        solid &= ~_keep_touching(skin & (taken | ~solid), skin & ~solid)
    return solid


def _drop_specks(mask: np.ndarray, min_area: float) -> np.ndarray:
    """``mask`` without its connected parts smaller than ``min_area`` px (slivers of an arm
    left between a sleeve and a strap are not an arm in front of the garment)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    big = stats[:, cv2.CC_STAT_AREA] >= min_area
    big[0] = False
    return big[labels]


def _keep_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    keep = np.zeros(count, bool)
    keep[np.unique(labels[seeds & mask])] = True
    keep[0] = False
    return keep[labels]


def _capsules(size: tuple[int, int], segments: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    canvas = np.zeros(size, np.uint8)
    for a, b, radius in segments:
        thickness = max(1, round(2 * radius))
        pa = tuple(round(float(v)) for v in a)
        pb = tuple(round(float(v)) for v in b)
        cv2.line(canvas, pa, pb, 1, thickness=thickness)
    return canvas.astype(bool)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)


def _palette(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """k-means Lab colours (float32 ``(k, 3)``) of the pixels in ``mask``; empty when none."""
    pixels = lab[mask]
    if len(pixels) < PALETTE_SIZE * 4:
        return np.zeros((0, 3), np.float32)
    step = max(1, len(pixels) // PALETTE_SAMPLES)
    sample = np.ascontiguousarray(pixels[::step], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)  # deterministic clusters
    _, labels, centres = cv2.kmeans(sample, PALETTE_SIZE, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    share = np.bincount(labels.ravel(), minlength=PALETTE_SIZE) / len(sample)
    return centres[share >= PALETTE_MIN_SHARE].astype(np.float32)


def _unlike_skin(palette: np.ndarray, skin_lab: np.ndarray) -> np.ndarray:
    """The palette colours farther than :data:`SKIN_UNLIKE_DE` from every skin colour
    (``skin_lab``: Lab ``(3,)`` or ``(k, 3)``, the skin model's mean and the visible skin's colours)."""
    if not len(palette):
        return palette
    skin = np.asarray(skin_lab, np.float32).reshape(-1, 3)
    distance = np.linalg.norm(palette[:, None, :] - skin[None, :, :], axis=2).min(axis=1)
    return palette[distance > SKIN_UNLIKE_DE]


def _palette_distance(lab: np.ndarray, mask: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each pixel in ``mask`` to its nearest palette colour, and that colour's index.

    Pixels outside ``mask`` get distance inf and index 0.
    """
    dist = np.full(mask.shape, np.inf, np.float32)
    index = np.zeros(mask.shape, np.int32)
    if not len(palette) or not mask.any():
        return dist, index
    pixels = lab[mask]
    d2 = (pixels * pixels).sum(axis=1)[:, None] - 2.0 * pixels @ palette.T + (palette * palette).sum(axis=1)[None, :]
    dist[mask] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    index[mask] = d2.argmin(axis=1)
    return dist, index


def _smooth_field(values: np.ndarray, weights: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution: Gaussian average of ``values`` where ``weights`` > 0.

    Large sigmas are applied on a coarser copy (the result is smooth anyway).
    Returns ``(field, support)``, support being the blurred weights (how much data was near).
    """
    w = weights.astype(np.float32)
    num = values * (w[..., None] if values.ndim == 3 else w)
    h, wd = w.shape
    factor = max(1.0, sigma / SMOOTH_SIGMA_MAX)
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


# =================================================================================================
# The scene: what is where in the person photo
# =================================================================================================


@dataclasses.dataclass
class _Scene:
    """Masks of the person photo the layers need (all bool ``(H, W)``)."""

    old: np.ndarray  # the old garment(s) this try-on replaces
    keep_below: np.ndarray  # old clothing that stays and sits over the new garment (tucked-in top)
    bare_body: np.ndarray  # where skin would show if clothing were removed
    front: np.ndarray  # always in front of the new garment: face, hair, hands
    arms_front: np.ndarray  # arms, in front of the garment's body (not of its sleeves)
    clusters: np.ndarray  # int32 (H, W): colour cluster of each old-garment pixel (-1 elsewhere)
    top_hem: float | None  # depth (torso lengths) where the old top ends down the body's middle
    shape: _BareBody  # the body under the clothes
    one_piece: bool = False  # the old clothing is one garment from chest to thighs (a dress), cut at the waist


def _unit(body: bd.BodyAnalysis) -> float:
    lm = body.landmarks
    torso = float(np.linalg.norm(0.5 * (lm[bd.LEFT_HIP] + lm[bd.RIGHT_HIP])
                                 - 0.5 * (lm[bd.LEFT_SHOULDER] + lm[bd.RIGHT_SHOULDER])))
    return max(body.shoulder_width, 0.5 * torso, 8.0)


def _depth_map(body: bd.BodyAnalysis, step: int = 1) -> np.ndarray:
    """Depth of every pixel along the torso axis: 0 at the shoulders, 1 at the hips.

    ``step``: sample every ``step``-th pixel (the map is ``(H // step, W // step)``-ish, as slicing gives).
    """
    lm = body.landmarks.astype(np.float64)
    top = 0.5 * (lm[bd.LEFT_SHOULDER] + lm[bd.RIGHT_SHOULDER])
    axis = 0.5 * (lm[bd.LEFT_HIP] + lm[bd.RIGHT_HIP]) - top
    length_sq = max(float(axis @ axis), 1.0)
    h, w = body.size
    xs = (np.arange(0, w, step, dtype=np.float32) - top[0]) * (axis[0] / length_sq)
    ys = (np.arange(0, h, step, dtype=np.float32) - top[1]) * (axis[1] / length_sq)
    return (ys[:, None] + xs[None, :]).astype(np.float32)


def _scene(person: np.ndarray, body: bd.BodyAnalysis, category: str) -> _Scene:
    """Find the old clothing, the bare body under it and what stays in front.

    Worked out at half resolution (colour classes and connectivity do not need every
    pixel), then brought back to full size and cut to the full-resolution masks.
    """
    k = SCENE_STEP
    full = body.regions
    r = {name: m[::k, ::k] for name, m in full.items()}
    person_mask = body.person_mask[::k, ::k]
    size = person_mask.shape
    small = cv2.resize(person, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    lab = _lab(small)
    lm = body.landmarks.astype(np.float64) / k
    unit = _unit(body) / k
    depth = _depth_map(body, k)
    arms = r["upper_arm_left"] | r["upper_arm_right"] | r["lower_arm_left"] | r["lower_arm_right"]
    hands = r["hand_left"] | r["hand_right"]
    legs = r["thigh_left"] | r["thigh_right"] | r["shin_left"] | r["shin_right"]
    skin = r["skin"]
    clothed = person_mask & ~skin & ~r["face_hair"]

    # Colour palettes of the old top (chest) and old bottoms (thighs).
    chest_zone = r["torso"] & (depth > CHEST_ZONE[0]) & (depth < CHEST_ZONE[1]) & ~hands
    chest = clothed & chest_zone
    thigh_zone = np.zeros(size, bool)
    for hip, knee in ((bd.LEFT_HIP, bd.LEFT_KNEE), (bd.RIGHT_HIP, bd.RIGHT_KNEE)):
        a = lm[hip] + THIGH_ZONE[0] * (lm[knee] - lm[hip])
        b = lm[hip] + THIGH_ZONE[1] * (lm[knee] - lm[hip])
        thigh_zone |= _capsules(size, [(a, b, 0.12 * unit)])
    thigh_zone &= ~arms & ~hands
    thighs = clothed & thigh_zone
    # Clothing in skin-like colours (orange, tan) can pass the skin test: the colours of the
    # whole chest and thighs that are clearly unlike the person's skin are clothing colours too.
    everything = person_mask & ~r["face_hair"] & ~hands
    # Skin as it shows on the limbs, neck and face (lit and shaded) besides the model's mean: the
    # person's own skin is never taken for a clothing colour.
    limb_zone = (arms | hands | legs | r["neck"] | r["face_hair"]) & ~chest_zone & ~thigh_zone
    skin_colours = np.concatenate([np.asarray(body.skin_lab_mean, np.float32)[None, :],
                                   _palette(lab, skin & person_mask & limb_zone)])
    unlike_top = _unlike_skin(_palette(lab, everything & chest_zone), skin_colours)
    unlike_bottom = _unlike_skin(_palette(lab, everything & thigh_zone), skin_colours)
    top_palette = np.concatenate([_palette(lab, chest), unlike_top])
    bottom_palette = np.concatenate([_palette(lab, thighs), unlike_bottom])
    suspect = skin & person_mask & ~r["face_hair"] & ~hands & ~r["neck"]
    dressed = np.zeros(size, bool)
    for palette in (unlike_top, unlike_bottom):
        if len(palette):
            dressed |= _palette_distance(lab, suspect, palette)[0] < SKIN_LOOKALIKE_DE
    skin = skin & ~dressed
    clothed |= dressed
    d_top, top_cluster = _palette_distance(lab, clothed, top_palette)
    d_bottom, bottom_cluster = _palette_distance(lab, clothed, bottom_palette)
    # In the hands' region only what has the clothes' colours is clothing (the rest is hand).
    clothed &= ~hands | (np.minimum(d_top, d_bottom) < HAND_CLOTH_DE)

    # Where the top ends and the bottoms begin: the depth that best splits top-coloured from
    # bottom-coloured clothing down the body's middle (a hem, or a waistband for a tucked top).
    top_like = d_top < d_bottom
    middle = person_mask & (r["torso"] | legs) & ~arms
    bare = _skin_band(depth, middle & skin, middle, lm, unit)
    if bare is not None:  # a bare midriff: the top ends above it, the bottoms start below it
        split, bottoms_from = bare
    else:
        split = _split_depth(depth, clothed & (r["torso"] | legs) & ~arms, top_like, lab, lm, unit)
        bottoms_from = split
    band = np.abs(depth - split) < SPLIT_BAND
    top_like = d_top < SPLIT_BAND_MARGIN * d_bottom  # near the boundary: clearly top-coloured only
    upper_zone = (r["torso"] | r["neck"] | arms | hands | legs) & ((depth < split) | (band & top_like))
    upper_zone |= arms & top_like & (depth < bottoms_from)  # sleeves hanging below the split
    old_top = clothed & upper_zone & ~(legs & ~top_like & (depth > split))
    # On the arms only what looks like the top is its sleeve (shadowed skin is not clothing).
    if len(top_palette):
        shade_free = np.array([SLEEVE_L_WEIGHT, 1.0, 1.0], np.float32)
        d_sleeve, _ = _palette_distance(lab * shade_free, clothed & arms, top_palette * shade_free)
        old_top &= ~arms | (d_sleeve < SLEEVE_MAX_DE)
    top_pieces = old_top
    old_top = _connected_to(old_top, chest, STRAP_WIDTH * unit)
    # Pieces cut off at the shoulders are the top's own straps (nothing else hangs from there):
    # left behind, they would float above the new top's neckline.
    cut = (top_pieces & ~old_top).astype(np.uint8)
    if cut.any():
        count, pieces = cv2.connectedComponents(cut, connectivity=8)
        strap = np.zeros(count, bool)
        strap[np.unique(pieces[_dilate(old_top, STRAP_WIDTH * unit)])] = True
        strap[np.unique(pieces[depth >= CHEST_ZONE[0]])] = False  # hangs down the body: not a strap
        strap[0] = False
        old_top |= strap[pieces]
    # Old bottoms: clothing on legs and lower torso, not the top, connected to the thighs; shoes stay.
    lower_zone = (legs | r["torso"] | arms | hands) & ((depth >= bottoms_from) | (band & ~top_like))
    old_bottom = clothed & lower_zone & ~old_top & ~r["feet"] & ~(arms & top_like)
    # Full-length trousers end over the ankles, inside the feet's region: what has the bottoms'
    # colours above the ankle joints is trousers (the shoes below stay).
    cuffs = r["feet"] & clothed & (d_bottom < HAND_CLOTH_DE)
    if cuffs.any():
        old_bottom |= cuffs & _above_ankles(size, lm, unit)
    old_bottom = _connected_to(old_bottom, thighs, STRAP_WIDTH * unit)

    close = HOLE_CLOSE * unit
    hole = (HOLE_MAX * unit) ** 2
    limb_skin = skin & (arms | hands | legs | r["neck"])
    old_top = _solid(old_top, close, hole, skin, limb_skin) & person_mask
    old_bottom = _solid(old_bottom, close, hole, skin, limb_skin) & person_mask & ~old_top
    one_piece = bare is None and _one_piece(chest, thighs, thigh_zone, d_top, d_bottom)
    top_hem = _hem(depth, old_top & ~arms, lm, unit)
    if one_piece and category != "dress":
        # A dress (or a matching set) under a new top or new bottoms is cut at the natural waist:
        # a new top replaces the bodice and the skirt below stays; new bottoms replace the skirt
        # and the bodice stays over their waistband.
        dress = old_top | old_bottom
        above = depth < TUCK_DEPTH
        old, keep_below = (dress & above, np.zeros(size, bool)) if category == "upper" else \
            (dress & ~above, dress & above)
        top_hem = TUCK_DEPTH
    elif category == "upper":
        # The old bottoms stay over the new top below the natural waist: a top worn tucked in
        # stays tucked in (the photo's own outline is the best cue to how this person wears a
        # top), but high-waisted bottoms do not hide the top above the waist.
        old, keep_below = old_top, old_bottom & (depth >= TUCK_DEPTH)
    elif category == "lower":
        old, keep_below = old_bottom, old_top
    else:
        old, keep_below = old_top | old_bottom, np.zeros(size, bool)
    clusters = np.full(size, -1, np.int32)
    clusters[old_top] = top_cluster[old_top]
    clusters[old_bottom] = bottom_cluster[old_bottom] + BOTTOM_CLUSTERS

    # Long hair over the shoulders and chest stays in front of the new garment.
    hair = _long_hair(lab, r["face_hair"] & ~skin, clothed & ~hands, d_top, depth, lm, unit)
    old_top &= ~hair

    # Back to full size, cut to the full-resolution masks.
    h, w = body.size

    def up(mask: np.ndarray) -> np.ndarray:  # smooth outlines, not the half-resolution stairs
        return cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127

    # Full-resolution regions, each looked up once (every lookup builds a mask).
    skin_full, face_full = full["skin"], full["face_hair"]
    upper_full = {side: full[f"upper_arm_{side}"] for side in ("left", "right")}
    lower_full = {side: full[f"lower_arm_{side}"] for side in ("left", "right")}
    arms_full = upper_full["left"] | upper_full["right"] | lower_full["left"] | lower_full["right"]

    # Hands stay in front, except for what around them is plainly the old clothing.
    # Upsampled masks are blocky: their edges grow over the non-skin pixels next to them.
    not_skin = body.person_mask & ~skin_full & ~face_full
    # A hand is its skin and what lies just around it (nails, shaded knuckles); the rest of its
    # region is the clothing or background it rests on.
    hands_full = full["hand_left"] | full["hand_right"]
    hand = hands_full & _grow(hands_full & skin_full, HAND_GROW * _unit(body))
    hand_cloth = _grow(up(hands & clothed), EDGE_GROW_PX) & not_skin
    front = face_full | (hand & ~hand_cloth) | (up(hair) & ~skin_full)

    old = up(old)
    old = (old | (_grow(old, EDGE_GROW_PX) & not_skin)) & body.person_mask & ~front
    # Upsampled outlines stray a pixel or two onto the bare arms beside the old garment.
    old &= ~(arms_full & skin_full & ~up(dressed))
    keep_below = up(keep_below) & body.person_mask & ~front
    clusters = cv2.resize(clusters, (w, h), interpolation=cv2.INTER_NEAREST)
    clusters[~old & ~keep_below] = -1

    # The body under the clothes: torso and neck, and limbs of plausible thickness.
    shape = _BareBody(body.landmarks.astype(np.float64), _unit(body))
    bare_limbs = shape.limbs_mask(body.size)
    bare_body = body.person_mask & (shape.torso_mask(body.size) | full["neck"] | bare_limbs | skin_full)
    # Arms stay in front of the garment's body: bare skin, and where the old top had a sleeve,
    # the arm's own thickness (a sleeve over a forearm across the torso). Beside a sleeveless
    # top's arm, clothing in the arm's region is the top's side, not the arm.
    arms_front = arms_full & skin_full
    for k, side in enumerate(("left", "right")):
        upper = upper_full[side]
        if (upper & skin_full).sum() < BARE_UPPER_ARM * upper.sum():
            arm = upper | lower_full[side]
            arms_front |= arm & shape.limbs_mask(body.size, range(2 * k, 2 * k + 2))
    # The top of the shoulder is torso, never an arm in front of the garment: a strap's skin
    # there would cut a notch in the new top.
    ys, xs = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    for shoulder, elbow, side in ((bd.LEFT_SHOULDER, bd.LEFT_ELBOW, "left"),
                                  (bd.RIGHT_SHOULDER, bd.RIGHT_ELBOW, "right")):
        a, b = body.landmarks[shoulder].astype(np.float64), body.landmarks[elbow].astype(np.float64)
        bone = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
        cap = (xs - a[0]) * bone[0] + (ys - a[1]) * bone[1] < ARM_START * _unit(body)
        arms_front &= ~(upper_full[side] & cap)
    return _Scene(old=old, keep_below=keep_below, bare_body=bare_body, front=front,
                  arms_front=arms_front, clusters=clusters, top_hem=top_hem, shape=shape, one_piece=one_piece)


def _one_piece(
    chest: np.ndarray, thighs: np.ndarray, thigh_zone: np.ndarray, d_top: np.ndarray, d_bottom: np.ndarray
) -> bool:
    """Whether the clothing on the chest and on the thighs is one garment: the thighs are
    clothed and each zone's clothing has the other zone's colours."""
    if thighs.sum() < ONE_PIECE_COVER * max(int(thigh_zone.sum()), 1) or not chest.any():
        return False
    return bool(np.mean(d_top[thighs] < ONE_PIECE_DE) >= ONE_PIECE_SHARE
                and np.mean(d_bottom[chest] < ONE_PIECE_DE) >= ONE_PIECE_SHARE)


def _above_ankles(size: tuple[int, int], lm: np.ndarray, unit: float) -> np.ndarray:
    """Pixels above the line through each ankle joint across its shin (plus :data:`ANKLE_MARGIN`)."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    above = np.zeros(size, bool)
    for knee, ankle in ((bd.LEFT_KNEE, bd.LEFT_ANKLE), (bd.RIGHT_KNEE, bd.RIGHT_ANKLE)):
        shin = lm[ankle] - lm[knee]
        shin = shin / max(float(np.linalg.norm(shin)), 1e-6)
        along = (xs - lm[ankle][0]) * shin[0] + (ys - lm[ankle][1]) * shin[1]
        side = np.abs((xs - lm[ankle][0]) * shin[1] - (ys - lm[ankle][1]) * shin[0]) < 0.5 * unit
        above |= side & (along < ANKLE_MARGIN * unit)
    return above


def _long_hair(
    lab: np.ndarray, head_hair: np.ndarray, clothed: np.ndarray, d_top: np.ndarray,
    depth: np.ndarray, lm: np.ndarray, unit: float,
) -> np.ndarray:
    """Hair falling below the shoulders: bool mask at the scene's resolution.

    Clothing-classified pixels in the upper chest that have the colours of the hair on the
    head (and clearly not the top's), connected to the head. Black hair on a black top cannot
    be told apart and stays under the new garment. Hair that ends above the shoulders (short
    hair) hangs over nothing: a light print there is not hair.
    """
    palette = _palette(lab, head_hair)
    if not len(palette) or not (head_hair & (depth > LONG_HAIR_FROM)).any():
        return np.zeros_like(clothed)
    zone = clothed & (depth < HAIR_DEPTH)
    d_hair, _ = _palette_distance(lab, zone, palette)
    candidate = zone & (d_hair < HAIR_DE) & (d_hair * HAIR_MARGIN < d_top)
    if not candidate.any():
        return candidate
    return _keep_touching(candidate, _dilate(head_hair, 2) & candidate)


def _middle_strip(mask: np.ndarray, lm: np.ndarray, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(ys, xs)`` of ``mask`` within :data:`SPLIT_STRIP` of the torso's axis."""
    top = 0.5 * (lm[bd.LEFT_SHOULDER] + lm[bd.RIGHT_SHOULDER])
    down = 0.5 * (lm[bd.LEFT_HIP] + lm[bd.RIGHT_HIP]) - top
    across = np.array([down[1], -down[0]]) / max(float(np.linalg.norm(down)), 1e-6)
    ys, xs = np.nonzero(mask)
    keep = np.abs((xs - top[0]) * across[0] + (ys - top[1]) * across[1]) < SPLIT_STRIP * unit
    return ys[keep], xs[keep]


def _hem(depth: np.ndarray, top: np.ndarray, lm: np.ndarray, unit: float) -> float | None:
    """Depth (torso lengths) where the old top ends down the middle of the body, or None."""
    ys, xs = _middle_strip(top, lm, unit)
    if len(ys) < 50:
        return None
    return float(np.percentile(depth[ys, xs], HEM_PERCENTILE))


class _BareBody:
    """The body under the clothes, from the landmarks: a torso with a waist, a neck, tapered limbs.

    Narrower than any loose garment. The torso is a profile of half-widths down its axis
    (flesh reaches :data:`HIP_FLESH` hip widths past the hip joints; the waist, :data:`WAIST_SHARE`
    of the shoulders' width at :data:`WAIST_DEPTH`, flares smoothly to the hips); arms, legs and the neck
    are segments whose radius tapers from one end to the other (shins swell at the calf).
    """

    def __init__(self, lm: np.ndarray, unit: float) -> None:
        self.top = 0.5 * (lm[bd.LEFT_SHOULDER] + lm[bd.RIGHT_SHOULDER])
        self.down = 0.5 * (lm[bd.LEFT_HIP] + lm[bd.RIGHT_HIP]) - self.top
        self.across = np.array([self.down[1], -self.down[0]]) / max(float(np.linalg.norm(self.down)), 1e-6)
        shoulder_half = 0.5 * float(np.linalg.norm(lm[bd.LEFT_SHOULDER] - lm[bd.RIGHT_SHOULDER]))
        hip_width = float(np.linalg.norm(lm[bd.LEFT_HIP] - lm[bd.RIGHT_HIP]))
        hip_half = 0.5 * hip_width + HIP_FLESH * hip_width
        chest_half = shoulder_half - 0.02 * unit
        waist_half = min(WAIST_SHARE * shoulder_half, chest_half, hip_half)
        shoulder = shoulder_half + 0.02 * unit
        # A bared midriff shows the waist: it stays narrow below the waist line and flares to
        # the hips along a smooth curve (no corner where the flare starts or ends).
        flare = [(WAIST_DEPTH + t * (1.0 - WAIST_DEPTH),
                  waist_half + (0.5 - 0.5 * np.cos(np.pi * t)) * (hip_half - waist_half))
                 for t in np.linspace(0.0, 1.0, HIP_TAPER_STEPS + 1)]
        self.profile = np.array([(SHOULDER_TOP, shoulder), (-0.05, shoulder), (0.3, chest_half),
                                 *flare, (1.2, hip_half)])
        self.segments: list[tuple[np.ndarray, np.ndarray, float, float]] = []
        self.arm_segments = 4  # the first segments are the arms'; legs and neck follow
        chains = (
            (bd.LEFT_SHOULDER, bd.LEFT_ELBOW, bd.LEFT_WRIST, ARM_RADII),
            (bd.RIGHT_SHOULDER, bd.RIGHT_ELBOW, bd.RIGHT_WRIST, ARM_RADII),
            (bd.LEFT_HIP, bd.LEFT_KNEE, bd.LEFT_ANKLE, LEG_RADII),
            (bd.RIGHT_HIP, bd.RIGHT_KNEE, bd.RIGHT_ANKLE, LEG_RADII),
        )
        for first, middle, end, radii in chains:
            a, b, c = lm[first], lm[middle], lm[end]
            if radii is ARM_RADII:  # the shoulder itself is torso
                a = a + ARM_START * unit * (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
                r = [v * unit for v in radii]
                self.segments += [(a, b, r[0], r[1]), (b, c, r[2], r[3])]
            else:  # a shin is not a cone: it swells at the calf
                calf = b + CALF[0] * (c - b)
                r = [v * unit for v in radii]
                swell = CALF[1] * unit
                self.segments += [(a, b, r[0], r[1]), (b, calf, r[2], swell), (calf, c, swell, r[3])]
        mouth = 0.5 * (lm[bd.MOUTH_LEFT] + lm[bd.MOUTH_RIGHT])
        neck = NECK_RADIUS * unit
        self.segments.append((self.top, self.top + NECK_REACH * (mouth - self.top), neck, neck))

    def torso_mask(self, size: tuple[int, int]) -> np.ndarray:
        left = [self.top + d * self.down + half * self.across for d, half in self.profile]
        right = [self.top + d * self.down - half * self.across for d, half in self.profile[::-1]]
        canvas = np.zeros(size, np.uint8)
        cv2.fillPoly(canvas, [np.round(np.array(left + right)).astype(np.int32)], 1)
        return canvas.astype(bool)

    def limbs_mask(self, size: tuple[int, int], which: Iterable[int] | None = None) -> np.ndarray:
        """Arms, legs and neck (bool ``(H, W)``), or only the segments numbered in ``which``
        (0-1: the wearer's left arm, 2-3: the right arm)."""
        canvas = np.zeros(size, np.uint8)
        for k, (a, b, ra, rb) in enumerate(self.segments):
            if which is None or k in which:
                _tapered(canvas, a, b, ra, rb)
        return canvas.astype(bool)

    def roundness(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Where across its part each pixel lies: 0 on the part's axis, 1 on its outline (float32 ``(N,)``;
        above 1 outside every part). The part is the one the pixel lies deepest in, except that
        an arm hanging beside the torso does not claim the torso's flanks."""
        p = np.stack([xs, ys], axis=1).astype(np.float64)
        rel = p - self.top
        depth = rel @ self.down / max(float(self.down @ self.down), 1e-6)
        half = np.interp(depth, self.profile[:, 0], self.profile[:, 1])
        best = np.abs(rel @ self.across) / np.maximum(half, 1e-3)
        best[(depth < self.profile[0, 0]) | (depth > self.profile[-1, 0])] = np.inf
        in_torso = best <= 1.0
        for k, (a, b, ra, rb) in enumerate(self.segments):
            d = b - a
            t = np.clip((p - a) @ d / max(float(d @ d), 1e-6), 0.0, 1.0)
            s = np.linalg.norm(p - (a + t[:, None] * d), axis=1) / np.maximum(ra + t * (rb - ra), 1e-3)
            if k < self.arm_segments:
                s[in_torso] = np.inf
            best = np.minimum(best, s)
        return best.astype(np.float32)


def _tapered(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> None:
    """Fill a segment whose radius goes from ``ra`` at ``a`` to ``rb`` at ``b``, round ends."""
    d = b - a
    n = np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-6)
    quad = np.array([a + n * ra, b + n * rb, b - n * rb, a - n * ra])
    cv2.fillConvexPoly(canvas, np.round(quad).astype(np.int32), 1)
    for p, r in ((a, ra), (b, rb)):
        cv2.circle(canvas, (round(float(p[0])), round(float(p[1]))), max(1, round(r)), 1, -1)


def _skin_band(
    depth: np.ndarray, skin: np.ndarray, body: np.ndarray, lm: np.ndarray, unit: float
) -> tuple[float, float] | None:
    """A bare band across the middle of the body (a midriff): ``(start, end)`` depths, or None.

    Bins of 0.02 torso lengths down the middle strip where most of the body is skin; the
    first run of :data:`SKIN_BAND_BINS` or more such bins in :data:`SPLIT_RANGE`, between
    clothing above (the top) and clothing below (the bottoms).
    """
    ys, xs = _middle_strip(body, lm, unit)
    if not len(ys):
        return None
    edges = np.arange(SKIN_BAND_FROM, SPLIT_RANGE[1] + 1e-6, 0.02)
    idx = np.searchsorted(edges, depth[ys, xs])
    total = np.bincount(idx, minlength=len(edges) + 1)
    bare = np.bincount(idx[skin[ys, xs]], minlength=len(edges) + 1)
    share = bare / np.maximum(total, 1)
    is_bare = (share >= SKIN_BAND_SHARE) & (total > 0)
    is_clothed = (share < 1 - SKIN_BAND_SHARE) & (total > 0)
    clothed_run = bare_run = 0
    covered = False  # a clothed stretch (the top) came first: a V-neck above the top is not a midriff
    for i in range(1, len(edges)):
        clothed_run = clothed_run + 1 if is_clothed[i] else 0
        covered |= clothed_run >= SKIN_BAND_BINS + 1
        bare_run = bare_run + 1 if is_bare[i] else 0
        if covered and bare_run >= SKIN_BAND_BINS:
            start = i - bare_run + 1
            end = start
            while end + 1 < len(edges) and is_bare[end + 1]:
                end += 1
            # Clothing again below it (the bottoms): bare legs below shorts are not a midriff.
            after = is_clothed[end + 1 : end + 1 + SKIN_BAND_BINS]
            if len(after) == SKIN_BAND_BINS and after.all():
                return float(edges[start - 1]), float(edges[end])
            return None
    return None


def _split_depth(
    depth: np.ndarray, clothed: np.ndarray, top_like: np.ndarray, lab_strip: np.ndarray,
    lm: np.ndarray, unit: float,
) -> float:
    """Depth (torso lengths) of the boundary between the top and the bottoms.

    Counts, in depth bins down the middle strip of the body, clothing pixels nearer the top's
    colours and nearer the bottoms'; the boundary maximises top-like above plus bottom-like
    below. With no bottoms in view it is the end of the search range.
    """
    ys, xs = _middle_strip(clothed, lm, unit)
    lab = lab_strip[ys, xs]
    d = depth[ys, xs]
    t = top_like[ys, xs]
    edges = np.arange(SPLIT_RANGE[0], SPLIT_RANGE[1] + 1e-6, 0.02)
    if not len(d):
        return float(SPLIT_RANGE[1])
    idx = np.clip(np.searchsorted(edges, d), 0, len(edges))
    tops = np.bincount(idx[t], minlength=len(edges) + 1).astype(np.float64)
    bottoms = np.bincount(idx[~t], minlength=len(edges) + 1).astype(np.float64)
    # score(k) = top-like in bins < k + bottom-like in bins >= k
    tops_above = np.concatenate([[0.0], np.cumsum(tops)])[:-1]
    bottoms_below = bottoms.sum() - np.concatenate([[0.0], np.cumsum(bottoms)])[:-1]
    score = tops_above + bottoms_below
    k = int(np.clip(np.argmax(score) - 1, 0, len(edges) - 1))
    # Snap to the sharpest colour step nearby (the hem itself), if there is a clear one.
    medians = np.full((len(edges) + 1, 3), np.nan, np.float32)
    for i in range(max(0, k - SPLIT_SNAP_BINS), min(len(edges), k + SPLIT_SNAP_BINS + 1) + 1):
        sel = idx == i
        if sel.sum() >= 10:
            medians[i] = np.median(lab[sel], axis=0)
    best, best_step = k, SPLIT_MIN_STEP
    for i in range(max(2, k - SPLIT_SNAP_BINS), min(len(edges) - 1, k + SPLIT_SNAP_BINS) + 1):
        above, below = medians[i - 1 : i + 1], medians[i + 1 : i + 3]
        if np.isnan(above).any() or np.isnan(below).any():
            continue
        step = float(np.linalg.norm(above.mean(axis=0) - below.mean(axis=0)))
        if step > best_step:
            best, best_step = i, step
    return float(edges[best])


# =================================================================================================
# Low-frequency fields: light, skin colour, background
# =================================================================================================


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
    def of(cls, person: np.ndarray, body: bd.BodyAnalysis) -> _Work:
        wsize = _work_size(body.size)
        skin = body.regions["skin"] & body.person_mask
        without_face = skin & ~body.regions["face_hair"]
        if without_face.sum() >= 200:
            skin = without_face
        scale = wsize[1] / body.size[0]
        rows = np.flatnonzero(body.person_mask.any(axis=1))
        height = (rows[-1] - rows[0] + 1) if rows.size else body.size[0]
        return cls(size=wsize, rgb=_down(person, wsize), person=_down(body.person_mask, wsize),
                   skin=_down(skin, wsize), unit=_unit(body) * scale, body_height=height * scale)


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


def _skin_colour(work: _Work, body: bd.BodyAnalysis) -> np.ndarray:
    """Local skin colour (float32 RGB at work size): visible skin spread out; far from any, the
    median of the photo's visible skin (face excluded where other skin shows), else the model's."""
    field, support = _smooth_field(work.rgb, work.skin, max(1.0, SKIN_FIELD_SIGMA * work.unit))
    visible = work.skin > 0.5
    if visible.sum() >= SKIN_MIN_PIXELS:
        base = np.median(work.rgb[visible], axis=0).astype(np.float32)[None, None, :]
    else:
        base = np.asarray(body.skin_rgb, np.float32)[None, None, :]
    confidence = np.clip(support / 0.2, 0.0, 1.0)[..., None]
    return confidence * field + (1 - confidence) * base


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


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """Dilate by a disc of ``radius`` px, only around the mask's bounding box (a distance
    transform there: fast for any radius)."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    r = int(np.ceil(radius)) + 1
    y0, y1 = max(0, y - r), min(mask.shape[0], y + h + r)
    x0, x1 = max(0, x - r), min(mask.shape[1], x + w + r)
    out = np.zeros_like(mask)
    dist = cv2.distanceTransform((~mask[y0:y1, x0:x1]).astype(np.uint8), cv2.DIST_L2, 3)
    out[y0:y1, x0:x1] = dist <= radius
    return out


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
        skin_fill, background_fill: float32 ``(H, W, 3)`` in about [0, 255]: bare skin and
            background where the old garment is (see :func:`_fill_layers`).
        grain_level: grey levels of fine grain on the photo's visible skin.
    """

    category: str
    size: tuple[int, int]
    scene: _Scene
    unit: float
    work: _Work
    shading: np.ndarray
    skirt_support: np.ndarray | None
    skin_fill: np.ndarray
    background_fill: np.ndarray
    grain_level: float


def prepare_person(person: np.ndarray, body: bd.BodyAnalysis, category: str) -> PreparedPerson:
    """The garment-independent part of :func:`composite` for ``person`` (RGB uint8 ``(H, W, 3)``),
    its ``body`` and ``category`` ("upper", "lower" or "dress")."""
    person = np.ascontiguousarray(person, np.uint8)
    size = person.shape[:2]
    everywhere = (slice(None), slice(None))
    scene = _scene(person, body, category)
    work = _Work.of(person, body)
    unit = _unit(body)
    shading = _up(_shading(work, scene.clusters), size, everywhere)
    skin_colour = _up(_skin_colour(work, body), size, everywhere)
    skin_fill, background_fill, grain_level = _fill_layers(person, body, scene, skin_colour, shading)
    prepared = PreparedPerson(
        category=category, size=size, scene=scene, unit=unit, work=work, shading=shading,
        skirt_support=_skirt_support(body, unit) if category in ("dress", "lower") else None,
        skin_fill=skin_fill, background_fill=background_fill, grain_level=grain_level,
    )
    # It is shared by every request on this photo (a cache): no request may write into it.
    for holder in (prepared, scene, work):
        for value in vars(holder).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
    return prepared


def composite(
    person: np.ndarray, body: bd.BodyAnalysis, warped: WarpedGarment, edit_mask: np.ndarray | None = None,
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
    if edit_mask is not None:
        edit_mask = np.asarray(edit_mask, bool)
        if edit_mask.shape != size:
            raise ValueError(f"edit_mask has shape {edit_mask.shape}, expected {size}")
    if prepared is None:
        prepared = prepare_person(person, body, warped.category)
    elif prepared.category != warped.category or prepared.size != size:
        raise ValueError(f"prepared for category {prepared.category!r} at size {prepared.size}, "
                         f"not {warped.category!r} at {size}")
    scene, unit, work = prepared.scene, prepared.unit, prepared.work
    warped = _meet_old_hem(warped, body, scene)

    # Everything happens inside the box around the new garment and the old one.
    active = (warped.alpha > 0) | scene.old
    if edit_mask is not None:
        active &= edit_mask
    bx, by, bw, bh = cv2.boundingRect(active.view(np.uint8))
    if bw == 0:
        empty = np.zeros(size, bool)
        return Composite(image=person.copy(), edit_mask=empty if edit_mask is None else edit_mask,
                         garment_mask=empty, layers={"old_garment": scene.old.copy()})
    margin = int(np.ceil(SLEEVE_GAP * unit)) + 4
    y0, y1 = max(0, by - margin), min(size[0], by + bh + margin)
    x0, x1 = max(0, bx - margin), min(size[1], bx + bw + margin)
    crop = (slice(y0, y1), slice(x0, x1))
    edit = None if edit_mask is None else edit_mask[crop]

    # 1. The new garment's coverage, cut by what is in front of it.
    alpha = warped.alpha[crop].astype(np.float32)
    sleeves = np.zeros(alpha.shape, bool)
    for name in ("sleeve_left", "sleeve_right"):
        if name in warped.parts:
            sleeves |= warped.parts[name][crop]
    # The garment's body goes behind the arms; its sleeves go over them (and close the armpit).
    behind_arms = _drop_specks(scene.arms_front[crop] & ~_grow(sleeves, SLEEVE_GAP * unit), (ARM_RADII[3] * unit) ** 2)
    alpha[behind_arms | scene.front[crop] | scene.keep_below[crop]] = 0.0
    support = _grow(body.person_mask[crop], LEAK_MARGIN_PX)
    if prepared.skirt_support is not None and not {"leg_left", "leg_right"} & warped.parts.keys():
        support |= prepared.skirt_support[crop]  # a skirt (a dress's, or a lower garment's) spans the legs' gap
    alpha[~support] = 0.0
    if edit is not None:
        alpha *= edit
    # Soft edge inward only (outside the garment nothing was drawn to blend with).
    alpha = cv2.GaussianBlur(alpha, (0, 0), FEATHER_PX) * (alpha > 0)
    garment_mask = alpha > 0.5

    # 2. What the old garment leaves uncovered: skin where the body is, background elsewhere.
    uncovered = scene.old[crop] & (alpha < 0.99)
    if edit is not None:
        uncovered &= edit
    front = scene.front[crop]
    near = _grow(uncovered, FILL_GROW_PX) & ~front
    base = person[crop].astype(np.float32)
    shading = prepared.shading[crop]
    if uncovered.any():
        clothing = (alpha > 0.5) | scene.keep_below[crop]
        fill = _fills(prepared, near, clothing, crop)
        # Fills blend into their surroundings over a pixel or two.
        # The old garment's anti-aliased rim (a pixel or so the masks miss) is replaced too.
        core = _grow(uncovered, RIM_PX) & near
        # Between the removed garment and clothing that stays (trousers under a top's hem) lies
        # a sliver the half-resolution masks give to neither: replaced whole, and the kept
        # clothing keeps its own edge (no blend of fill and clothing, no fill in the
        # clothing's contact shadow, draws a dark line along it).
        kept = scene.keep_below[crop]
        core |= near & ~kept & _grow(kept, FILL_GROW_PX)
        weight = cv2.GaussianBlur(core.astype(np.float32), (0, 0), FEATHER_PX)
        weight = np.maximum(weight, core | (near & ~body.person_mask[crop])) * near
        # A bare arm in front of the old garment keeps its own outline (its rim is replaced, so a
        # dark line of the old sleeve's hem does not stay, but nothing blends further into it).
        weight[scene.arms_front[crop] & body.regions["skin"][crop] & ~core] = 0.0
        weight[kept] = 0.0
        base += (fill - base) * weight[..., None]

    # 3. The garment, shaded and white-balanced.
    light = np.clip(1.0 + SHADING_STRENGTH * (shading - 1.0), *SHADING_RANGE)
    if garment_mask.any():
        light = light / float(np.mean(light[garment_mask]))  # light moves, the garment's colour stays
    gains = _white_balance(work, warped.background_rgb)
    garment = warped.rgb[crop].astype(np.float32) * (light[..., None] * gains[None, None, :])
    a = alpha[..., None]
    out = garment * a + base * (1.0 - a)

    # 4. Only the edit region changes: what the render touched, or the user's area.
    touched = (alpha > 0) | near
    inside = touched if edit is None else edit & ~front  # face, hair and hands never change
    image = person.copy()
    patch = image[crop]
    patch[inside] = np.clip(out[inside] + 0.5, 0, 255).astype(np.uint8)
    if edit_mask is not None:
        region = edit_mask
    else:
        region = np.zeros(size, bool)
        region[crop] = touched

    def full(mask: np.ndarray) -> np.ndarray:
        out_mask = np.zeros(size, bool)
        out_mask[crop] = mask
        return out_mask

    layers = {
        "old_garment": scene.old.copy(),
        "kept_clothing": scene.keep_below.copy(),
        "skin_filled": full(uncovered & scene.bare_body[crop]),
        "background_filled": full(uncovered & ~scene.bare_body[crop]),
        "in_front": scene.front | full(behind_arms & ~garment_mask),
    }
    return Composite(image=image, edit_mask=region, garment_mask=full(garment_mask) & region, layers=layers)


def _skirt_support(body: bd.BodyAnalysis, unit: float) -> np.ndarray:
    """Below the hips, each row of the person filled from its leftmost to its rightmost leg pixel
    (a skirt hangs across the gap between the legs), widened by :data:`SKIRT_FLARE`."""
    legs = body.person_mask & (_depth_map(body) > 1.0)
    for name in ("hand_left", "hand_right", "lower_arm_left", "lower_arm_right"):
        legs &= ~body.regions[name]
    rows = np.flatnonzero(legs.any(axis=1))
    span = np.zeros_like(legs)
    if not rows.size:
        return span
    first = np.argmax(legs[rows], axis=1)
    last = legs.shape[1] - 1 - np.argmax(legs[rows, ::-1], axis=1)
    cols = np.arange(legs.shape[1])[None, :]
    span[rows] = (cols >= first[:, None]) & (cols <= last[:, None])
    return _dilate(span, SKIRT_FLARE * unit)


def _meet_old_hem(warped: WarpedGarment, body: bd.BodyAnalysis, scene: _Scene) -> WarpedGarment:
    """Warp a top again with its hem on the old top's hem when the two nearly match; warp
    trousers or a skirt again with the waistband up under the hem of the top that stays, when
    a sliver of the old bottoms would show between them."""
    if scene.top_hem is None or warped.garment is None:
        return warped
    torso = float(np.linalg.norm(0.5 * (body.landmarks[bd.LEFT_HIP] + body.landmarks[bd.RIGHT_HIP])
                                 - 0.5 * (body.landmarks[bd.LEFT_SHOULDER] + body.landmarks[bd.RIGHT_SHOULDER])))
    if warped.category == "lower" and warped.waist_depth is not None:
        gap = warped.waist_depth / max(torso, 1.0) - scene.top_hem  # > 0: the waistband is below the hem
        if 0.0 < gap <= WAIST_SNAP:
            return warp_garment(warped.garment, body, waist_depth=(scene.top_hem - WAIST_TUCK) * torso, clean=False)
        return warped
    if warped.category != "upper":
        return warped
    gap = scene.top_hem - warped.hem_depth / max(torso, 1.0)  # > 0: the old hem is lower
    # A sleeveless top's own length is less certain (its shoulder points are strap tops).
    above = HEM_SNAP[1] if warped.sleeve != "none" else HEM_SNAP[0]
    if -above <= gap <= HEM_SNAP[0] and abs(gap) > 0.01:
        return warp_garment(warped.garment, body, hem_depth=(scene.top_hem + HEM_OVERLAP) * torso, clean=False)
    return warped


def _fill_layers(
    person: np.ndarray, body: bd.BodyAnalysis, scene: _Scene, skin_colour: np.ndarray, shading: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float]:
    """What may go where the old garment is removed, before any garment is known: float32 RGB
    ``(H, W, 3)`` images of the bare skin and of the background, valid within
    :data:`FILL_GROW_PX` of the old garment (zero elsewhere), and the photo's skin grain level.

    Bare skin: the person's skin colour (spread from the visible skin), lit by the photo's
    large-scale light, darkened towards the outline of the limb or torso it belongs to (they
    are round); next to visible skin it carries on what the photo shows there. Background:
    pushed in from the visible background around it. :func:`_fills` adds the garment's
    contact shadow and the grain, and blends the two.
    """
    h, w = body.size
    unit = _unit(body)
    skin_image = np.zeros((h, w, 3), np.float32)
    background_image = np.zeros((h, w, 3), np.float32)
    zone = _grow(scene.old, FILL_GROW_PX)  # every pixel a fill can reach (see composite's `near`)
    if not zone.any():
        return skin_image, background_image, GRAIN_LEVEL
    ys, xs = np.nonzero(zone)
    zc = _box(ys, xs, 0, (h, w))
    where = zone[zc]
    zy, zx = np.nonzero(where)
    round_ = _round_shade(scene.shape, where, zc, unit)[zy, zx]
    light = 1.0 + SKIN_SHADING_STRENGTH * (np.clip(shading[zc][zy, zx], *SHADING_RANGE) - 1.0)
    tone = (light * round_)[:, None] * skin_colour[zc][zy, zx]
    # Next to visible skin the fill carries on what the photo shows there (its light, its
    # shading across the limb), fading into the model over SKIN_CONTINUE. Torso skin carries
    # on only the torso's and neck's own skin: a lit arm beside it would wash out its
    # shadowed flanks.
    visible = body.regions["skin"] & body.person_mask & ~zone
    box = _box(ys, xs, FILL_CONTEXT * unit, (h, w))
    sy, sx = ys - box[0].start, xs - box[1].start
    base = person[box].astype(np.float32)
    if visible[box].any():
        carried = _push_pull(base, visible[box].astype(np.float32), coarse=True)[sy, sx]
        dist = cv2.distanceTransform((~visible[box]).astype(np.uint8), cv2.DIST_L2, 3)[sy, sx]
        limbs = np.zeros(visible[box].shape, bool)
        for name in LIMB_REGIONS:
            limbs |= body.regions[name][box]
        torso_visible = visible[box] & ~limbs
        torso_dist = cv2.distanceTransform((~torso_visible).astype(np.uint8), cv2.DIST_L2, 3)[sy, sx]
        reach = max(SKIN_CONTINUE * unit, 1.0)
        # Soft membership of the limbs, so the two kinds of carry meet without a seam.
        limb_share = _blur_coarse(limbs.astype(np.float32), reach)[sy, sx]
        weight = (limb_share * np.exp(-dist / reach) + (1.0 - limb_share) * np.exp(-torso_dist / reach))[:, None]
        tone = weight * carried + (1.0 - weight) * tone
    skin_image[ys, xs] = tone
    known = ~_grow(body.person_mask[box], FILL_GROW_PX)
    background_image[ys, xs] = _push_pull(base, known.astype(np.float32), coarse=True)[sy, sx]
    return skin_image, background_image, _grain_level(person, body)


def _blur_coarse(image: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur of a float32 ``(H, W)`` image, worked out at a coarser scale (a blur
    this wide has no fine detail to lose; :data:`SMOOTH_SIGMA_MAX` px at the coarse scale)."""
    step = max(1.0, sigma / SMOOTH_SIGMA_MAX)
    if step <= 1.0:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape
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
    # Soft membership of the bare body, so filled skin and filled background meet without stairs.
    skin_weight = cv2.GaussianBlur(bare.astype(np.float32), (0, 0), ROUND_SOFT_PX)
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
            shadow -= below * CONTACT_SHADOW * np.exp(-dist / width)
        fill[ys, xs] = shadow[:, None] * prepared.skin_fill[crop][ys, xs] + grain[:, None]
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


def _round_shade(shape: _BareBody, where: np.ndarray, crop: tuple[slice, slice], unit: float) -> np.ndarray:
    """Brightness of a round body part lit from the front (float32 on the crop, valid on ``where``).

    Lambert's cosine across the part, ``1 - ROUND_DEPTH * (1 - sqrt(1 - s^2))`` for the position
    ``s`` across it (:meth:`_BareBody.roundness`), worked out on a coarse grid and smoothed, so
    where an arm meets the torso the two blend instead of meeting at a seam.
    """
    out = np.ones(where.shape, np.float32)
    ys, xs = np.nonzero(where)
    step = max(1, round(ROUND_GRID * unit))
    y0, x0 = ys.min(), xs.min()
    gh, gw = (ys.max() - y0) // step + 1, (xs.max() - x0) // step + 1
    # Cell centres, where an integer cv2.resize puts its samples.
    gy, gx = (np.mgrid[0:gh, 0:gw] + 0.5) * step - 0.5
    s = shape.roundness((y0 + gy + crop[0].start).ravel(), (x0 + gx + crop[1].start).ravel())
    s = np.minimum(s, 1.0).reshape(gh, gw)
    shade = (1.0 - ROUND_DEPTH * (1.0 - np.sqrt(1.0 - s * s))).astype(np.float32)
    shade = cv2.GaussianBlur(shade, (0, 0), ROUND_BLUR / ROUND_GRID)
    full = cv2.resize(shade, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)
    h, w = min(where.shape[0] - y0, full.shape[0]), min(where.shape[1] - x0, full.shape[1])
    out[y0:y0 + h, x0:x0 + w] = full[:h, :w]
    return out


def _push_pull(values: np.ndarray, weights: np.ndarray, coarse: bool = False) -> np.ndarray:
    """Fill the pixels where ``weights`` is 0 from the known ones around them (push-pull).

    ``values`` float32 ``(H, W, 3)``, ``weights`` float32 ``(H, W)`` in [0, 1]. Halving pyramid of
    weighted values, then back up: each level keeps its own average where it had data and
    takes the coarser level's elsewhere, so a hole is filled with colours from its own rim,
    smoothly towards its middle (a background's gradients and shadows carry on into it).
    ``coarse``: work at half resolution (fills are smooth; four times cheaper).
    """
    if coarse:
        h, w = weights.shape
        half = _push_pull(cv2.pyrDown(values), cv2.pyrDown(weights))
        return cv2.pyrUp(half, dstsize=(w, h))
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
        coarse = cv2.pyrUp(out, dstsize=(den.shape[1], den.shape[0]))
        confidence = np.clip(2.0 * den, 0.0, 1.0)[..., None]
        out = confidence * (num / np.maximum(den, 1e-4)[..., None]) + (1.0 - confidence) * coarse
    return out


def _grain_level(person: np.ndarray, body: bd.BodyAnalysis) -> float:
    """Grey levels of fine grain on the photo's visible skin (robust std of its high-pass)."""
    skin = body.regions["skin"] & ~body.regions["face_hair"]
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
