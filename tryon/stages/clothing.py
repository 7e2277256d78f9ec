"""What the person in the photo wears: the parse of their clothing, part of the person model.

Input: the person photo (RGB ``uint8 (H, W, 3)``), its body analysis (regions, skin model) and its
:class:`~tryon.stages.person.BodyFrame` / :class:`~tryon.stages.person.BodyShape`.
Output: :class:`Clothing` (bool ``(H, W)`` masks at the photo's size), independent of what will be
tried on; :meth:`Clothing.layers_for` says what a garment of a category replaces and what stays.

How (at half resolution: colour classes and connectivity do not need every pixel):

1. colour palettes of the old top (chest) and old bottoms (thighs), with the colours of the
   whole chest and thighs that are clearly unlike the person's skin (tan or orange clothing can
   pass a skin test);
2. where the top ends and the bottoms begin: a bare band across the middle (a midriff), or the
   depth that best splits top-coloured from bottom-coloured clothing down the body's middle;
3. the old top (connected to the chest through more than thin straps; on the arms only what has
   its colours), the old bottoms (connected to the thighs; trouser cuffs over the ankles), each
   made solid (a logo's letters and a print's pockets filled, not the body's own skin);
4. whether chest and thighs wear one garment (a dress or a matching set), the old top's hem,
   long hair over the chest, hands, and bare arms in front of a garment.

Colour distances here are in OpenCV's 8-bit Lab (L scaled to 0-255, a and b offset by 128):
constants that hold them end in ``_LAB8``; they are not CIE ΔE.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING

import cv2
import numpy as np

from . import masks
from .landmarks import (
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    VISIBLE_MIN,
)
from .person import PROPORTIONS, BodyFrame, BodyShape, Silhouette

if TYPE_CHECKING:
    from .body import BodyAnalysis, RegionMasks

ARM_PARTS = ("upper_arm_left", "upper_arm_right", "lower_arm_left", "lower_arm_right")
_CHAIN_INDICES = {"left": (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST), "right": (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST)}
LEG_PARTS = ("thigh_left", "thigh_right", "shin_left", "shin_right")
BOTTOM_CLUSTERS = 100  # labels of the old bottoms' colour clusters start here (the top's at 0)


@dataclasses.dataclass(frozen=True)
class ParseRules:
    """How the clothing parse decides (sizes in body units ``_u`` or torso lengths ``_tl``)."""

    step: int = 2  # the parse runs at 1/step resolution
    palette_size: int = 4  # k-means colours of the old top / old bottoms
    palette_samples: int = 4000
    palette_min_share: float = 0.08  # smaller clusters (edges of a logo) are not the garment's colours
    chest_tl: tuple[float, float] = (0.12, 0.5)  # depth range where the old top is sampled
    thigh_share: tuple[float, float] = (0.25, 0.7)  # share of hip -> knee where the old bottoms are sampled
    thigh_zone_radius_u: float = 0.12
    sleeve_max_lab8: float = 40.0  # arm pixels farther from every colour of the top are not its sleeve...
    sleeve_lightness_weight: float = 0.4  # ...lightness weighted down (a top's fold in shadow is still the top)
    # The line between the old top and bottoms, checked by colour at full resolution (_coloured_as_the_other):
    # within this much of the other garment, a pixel this much nearer the other's colours is the other's.
    split_refine_u: float = 0.06
    split_refine_margin: float = 0.5
    split_refine_close_px: float = 2.0
    skin_unlike_lab8: float = 25.0  # a clothing colour this far from every skin colour is unlike skin...
    skin_lookalike_lab8: float = 12.0  # ...and "skin" pixels this close to such a colour are that clothing
    # "Skin" with less than this share of the skin's chroma (over its lightness) is white or grey clothing (over
    # the 64 eval photos such px are a white tank's edges and straps, a leather jacket's highlights, the
    # background next to the outline: none is skin).
    skin_min_chroma_share: float = 0.3
    hand_cloth_lab8: float = 25.0  # pixels in a hand's region this close to the clothes' colours are clothing
    long_hair_from_tl: float = -0.1  # hair on the head reaching below this depth is long...
    hair_depth_tl: float = 0.6  # ...and is looked for above this depth...
    hair_lab8: float = 15.0  # ...in the colours of the hair on the head...
    hair_margin: float = 1.5  # ...when this many times nearer to them than to the top's colours
    ankle_margin_u: float = 0.1  # a trouser hem breaking over the shoe reaches this far below the joint (~3.5 cm)
    ankle_half_width_u: float = 0.5
    # ...or down to the top of the ankle's skin showing below that (its lowest percentile, within this reach of
    # the joint and from this many px at the parse's resolution): v15's hems broke 0.17 units below the joint.
    ankle_skin_reach_u: float = 0.4
    ankle_skin_percentile: float = 2.0
    ankle_skin_min_px: int = 20
    hand_grow_u: float = 0.03  # a hand reaches this far past its visible skin
    bare_upper_arm_share: float = 0.5  # an upper arm this much skin is bare: the old top had no sleeve there
    split_tl: tuple[float, float] = (0.35, 1.6)  # depths searched for the top/bottoms boundary
    split_band_tl: float = 0.05  # within this of the boundary, colour decides...
    split_band_margin: float = 0.7  # ...when it is clearly nearer the top's colours than the bottoms'
    split_bin_tl: float = 0.02  # depth bins down the middle strip
    split_snap_bins: int = 8  # the boundary snaps to the sharpest colour step within this many bins
    split_min_step_lab8: float = 10.0  # a colour step worth snapping to
    split_strip_u: float = 0.35  # half-width of the body's middle strip the boundary is found in
    skin_band_share: float = 0.5  # a depth bin is bare when this share of the middle strip is skin...
    skin_band_bins: int = 3  # ...and this many bare bins in a row below a clothed stretch are a midriff
    skin_band_from_tl: float = 0.1
    hem_percentile: float = 97  # the old top's hem: this percentile of its depths down the middle strip
    hem_min_pixels: int = 50
    # A top that runs on out of the bottom of the photo (a waist-up photo) ends below it: its hem is put this
    # far below the photo's edge, so a new top of about its length is drawn on out of the photo too.
    hem_out_of_photo_tl: float = 0.1
    one_piece_lab8: float = 12.0  # clothing this near the other zone's colours is the same garment's...
    one_piece_share: float = 0.7  # ...and when this share of the chest and of the thighs is, it is one garment
    one_piece_cover: float = 0.5  # (the thighs' zone at least this much clothed)
    hole_close_u: float = 0.05  # old-garment masks: close gaps (letters of a logo) up to this size...
    hole_max_u: float = 0.35  # ...and fill enclosed pockets up to this size squared (a print)
    strap_width_u: float = 0.06  # clothing linked only through parts this narrow is not one garment
    edge_grow_px: float = 2  # full-resolution px the upsampled masks grow over non-skin neighbours
    front_smooth_px: float = 2.0  # sigma, full-resolution px, of the smoothing of what stays in front's outline
    # ...and of the old clothing's outline (a 4 px strap survives it: erf(4 / (2 sqrt(2) sigma)) > 0.5).
    outline_smooth_px: float = 2.5
    # Sleeves: stations this far apart down each arm; a station is bare when this share of the arm's
    # core (this share of the bare arm's radius, with at least this many pixels) is skin, and the
    # sleeve ends where this many bare stations follow each other. It reaches this far from the bone
    # (of the bare radius: loose sleeves stand off the arm).
    sleeve_station_u: float = 0.05
    sleeve_core_share: float = 0.8
    sleeve_min_pixels: int = 6
    sleeve_bare_share: float = 0.5
    sleeve_bare_stations: int = 2
    sleeve_reach_share: float = 1.6
    cuff_stations: int = 3  # a flared cuff, beyond that reach, is looked for this many stations above the end
    # Open outerwear: the clothing within outer_centre_u of the body's axis and at the flanks (between
    # outer_flank_u) differ by outer_contrast_lab8 on outer_share of the depth bins (outer_bin_tl
    # apart, at least outer_min_bins with outer_min_pixels each) down outer_depth_tl: from below the neckline
    # to below the chest, where a print on a tee's front has ended and a jacket's opening has not (a tee's
    # big chest print, seen down to 0.45 only, passed for the inner top of a jacket). The flanks, the jacket,
    # keep one colour down the body on outer_share of the bins (within outer_steady_lab8 of their median):
    # a striped or crocheted top's colours change bin by bin at the flanks as in the middle.
    outer_centre_u: float = 0.1
    outer_flank_u: tuple[float, float] = (0.28, 0.5)
    outer_depth_tl: tuple[float, float] = (0.05, 0.7)
    outer_steady_lab8: float = 20.0
    outer_bin_tl: float = 0.05
    outer_min_pixels: int = 12
    outer_min_bins: int = 5
    outer_contrast_lab8: float = 25.0
    outer_share: float = 0.7
    outer_min_share: float = 0.4  # a jacket is at least this share of the clothing on the upper body
    outer_lightness_weight: float = 0.25  # each px goes to the nearer of the two colours, lightness weighted by this
    radius_table_size: int = 64  # the bare arm's radius is looked up at this many points down the arm
    # A strip of "clothing" this thin (of the unit) that runs along the person's outline beside skin is
    # the limb's own anti-aliased edge against a background of the garment's colour (a white dress on
    # white), when its pixels beside both make up over half of it and it is long (its area over
    # sliver_min_area discs of that width).
    sliver_u: float = 0.015
    sliver_min_area: float = 4.0
    fabric_u: float = 0.015  # a close sleeve's outline lies this far outside the arm...
    arm_share_range: tuple[float, float] = (0.7, 1.35)  # ...and the arm within this share of the model's bare arm
    # A top hangs from the shoulders: within this of the line from the neck's base to a shoulder joint (the
    # shoulder's top and the deltoid's cap, above the model's torso and arm) its outline, less the fabric,
    # is the body's.
    shoulder_cap_u: float = 0.2
    # ...but never above the line that leaves the neck's side this far above its base (the trapezius flares into
    # it) for the top of the shoulder (see _above_shoulder_lines): on the eval photos' bare shoulders the outline a
    # quarter of the way out lies under such a line in 95 % of them (it needs a rise of 0.07 at the median).
    trapezius_rise_u: float = 0.2
    shoulder_line_margin_u: float = 0.05  # ...and passes this far above the shoulder's top (its outline bulges there)
    # Where a limb comes out of the old garment bare (a knee below a skirt, a forearm below a sleeve),
    # the bare body under the garment starts as wide as the bare limb (measured over continue_measure_u
    # of it, in bins continue_bin_u long) and narrows to the model's over continue_u.
    continue_u: float = 0.35
    # A bared midriff's sides (see _beside_bare_midriff): this percentile of its skin's reach across the body from
    # each side (a stray pixel does not move them), once at least midriff_min_px of it show.
    midriff_side_percentile: float = 1.0
    midriff_min_px: int = 200
    continue_bin_u: float = 0.03
    continue_measure_u: float = 0.1
    continue_bare_share: float = 0.6  # a bin is bare when its skin is this wide against the model's limb
    continue_sample_px: int = 2  # the hem and the bare limb's sides are found on every 2nd pixel each way
    # Light clothing on a light backdrop: the segmentation stops short of the garment's outline. Pixels
    # up to past_outline_u outside the person of the garment's colour beside them (within
    # past_outline_lab8) and far nearer it than the backdrop's beyond them (by past_outline_margin, the two
    # past_outline_lab8 apart) are the old garment too (a white dress's flared side beside the hand).
    past_outline_u: float = 0.04
    past_outline_margin: float = 2.0
    past_outline_lab8: float = 8.0
    # ...and not skin: at least this far (squared Mahalanobis) from the person's skin colour (body's weak
    # skin test, SKIN.weak_sq: clothing cannot import body, which imports it).
    past_outline_skin_sq: float = 22.0
    # The half-resolution test for white and grey clothing that passes the skin test (skin_min_chroma_share)
    # misses the old garment's own rim where it meets a pale arm: a px or two of a white top's shaded edge,
    # kept as the arm, drew a white line beside the new top. Within this many full-resolution px of the old
    # clothing the test is made again on every pixel.
    grey_rim_px: int = 4
    # A piece of the old clothing cut off from the rest, smaller than this share of its largest piece, is
    # the garment only if its colour is the garment's: nearer a colour of its palette than the colours
    # around it (or a blend of the person's and the backdrop's, an anti-aliased outline). The outer rim of
    # a bare arm against the backdrop, hair tips and a shaded jaw fail the skin test pixel by pixel and
    # were taken for bits of the old top or bottoms, then painted over as a ragged edge. A piece of a top
    # seen between an arm and the body keeps its own colour.
    stray_share: float = 0.05
    stray_ring_px: int = 3


RULES = ParseRules()


@dataclasses.dataclass(frozen=True, eq=False)
class Clothing:
    """The person's clothing (all masks bool ``(H, W)`` at the photo's size).

    Attributes:
        top: the old top (sleeves included) as it shows, without what stays in front of it.
        bottoms: the old trousers, shorts or skirt as they show (without the top).
        sleeves: the old top's sleeves (part of ``top``), found along the arms wherever they hang.
        outer: an open outer layer (a jacket, cardigan or open hoodie over a top; part of ``top``, its
            sleeves included), or None: the inner top shows between its fronts down the chest.
        top_rimmed, bottoms_rimmed, sleeves_rimmed: the same grown over their anti-aliased rim (never
            onto bare arms beside them): what a new garment replaces.
        top_coloured, bottoms_coloured: pixels of the bottoms in the top's colour and of the top in the
            bottoms', along the line between the two (:func:`_coloured_as_the_other`): a new top takes the
            first with the old top, new bottoms the second with the old bottoms (never the other way: a
            garment that stays does not grow by a guess).
        one_piece: chest and thighs wear one garment (a dress, or a matching set).
        bare_midriff: a band of bare skin separates the old top from the bottoms.
        top_hem_tl: depth (torso lengths) where the old top ends down the body's middle, or None.
        clusters: int32 ``(H, W)``: colour cluster of each old-clothing pixel (top: 0.., bottoms:
            :data:`BOTTOM_CLUSTERS`..; -1 elsewhere), for measuring the photo's light.
        front: always in front of a new garment: face, hair (long hair over the chest too), hands.
        arms_front: arms in front of a garment's body (not of its sleeves): bare skin, and the arm's
            own thickness where the old top had a sleeve.
        bare_body: where skin would show if the clothing were removed (torso, neck, limbs).
        skin: the skin the photo shows: the body analysis' skin less the clothing that passed its test
            (skin-toned, white or grey cloth beside pale skin).
        shape: the bare body under it: the person model's shape with each arm under a close sleeve
            following the sleeve (:meth:`~tryon.stages.person.BodyShape.fitted_to`).
    """

    top: np.ndarray
    bottoms: np.ndarray
    sleeves: np.ndarray
    outer: np.ndarray | None
    top_rimmed: np.ndarray
    bottoms_rimmed: np.ndarray
    sleeves_rimmed: np.ndarray
    top_coloured: np.ndarray
    bottoms_coloured: np.ndarray
    one_piece: bool
    bare_midriff: bool
    top_hem_tl: float | None
    clusters: np.ndarray
    front: np.ndarray
    arms_front: np.ndarray
    bare_body: np.ndarray
    skin: np.ndarray
    shape: BodyShape

    def layers_for(self, category: str, frame: BodyFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(old, keep)`` for a new garment of ``category``: what it replaces, and the old clothing
        that stays and sits over it (a tucked-in top's waistband, the top over new trousers).

        A dress (or a matching set) under a new top or new bottoms is cut at the natural waist: a
        new top replaces the bodice and the skirt below stays; new bottoms replace the skirt and the
        bodice stays over their waistband. Under a new top, the old bottoms stay over it below the
        natural waist (a top worn tucked in stays tucked in: the photo's own outline is the best cue
        to how this person wears a top), and above it a new top covers whatever was there.
        """
        waist = frame.depth_map_tl() >= frame.waist_depth_px / frame.torso_px
        empty = np.zeros_like(self.top)
        if self.outer is not None and category != "lower":
            # A new top or dress goes under the open jacket, which stays on (in front of it).
            keep = self.outer | (self.bottoms & waist if category == "upper" else empty)
            replaced = (self.top_rimmed | (self.bottoms_rimmed if category == "dress" else empty)) & ~self.outer
            return replaced, keep
        if self.one_piece and category != "dress":
            # Its sleeves go with the bodice, wherever the arms hang.
            replaced = (self.top_rimmed | self.bottoms_rimmed) & ~self.sleeves_rimmed
            seen = self.top | self.bottoms
            if category == "upper":
                return (replaced & ~waist) | self.sleeves_rimmed, empty
            return replaced & waist, (seen & ~waist) | self.sleeves
        if category == "upper":
            if self.bare_midriff:  # the old top ended above bare skin: the bottoms start below it
                return self.top_rimmed | self.top_coloured, self.bottoms & waist & ~self.top_coloured
            # Above the natural waist a new top covers whatever was there (bottoms of the top's own
            # colour included: a navy top and navy jeans split badly by colour).
            return (self.top_rimmed | (self.bottoms_rimmed & ~waist) | self.top_coloured,
                    self.bottoms & waist & ~self.top_coloured)
        if category == "lower":
            return self.bottoms_rimmed | self.bottoms_coloured, self.top & ~self.bottoms_coloured
        return self.top_rimmed | self.bottoms_rimmed, empty

    def hem_tl_for(self, category: str, frame: BodyFrame) -> float | None:
        """Depth (torso lengths) where the old clothing over a new garment of ``category`` ends: the
        old top's hem, or the natural waist where a one-piece is cut for a new top or new bottoms."""
        if self.one_piece and category != "dress":
            return frame.waist_depth_px / frame.torso_px
        return self.top_hem_tl


@dataclasses.dataclass
class _Half:
    """The photo and its regions at the parse's resolution."""

    lab: np.ndarray  # float32 (h, w, 3) OpenCV 8-bit Lab
    regions: dict[str, np.ndarray]
    person: np.ndarray
    depth: np.ndarray  # torso lengths
    across: np.ndarray  # body units from the torso's axis (positive towards the wearer's left)
    landmarks: np.ndarray  # px at this resolution
    unit: float  # px at this resolution
    arms: np.ndarray
    hands: np.ndarray
    legs: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray, body: BodyAnalysis, frame: BodyFrame) -> _Half:
        k = RULES.step
        regions = {name: m[::k, ::k] for name, m in body.regions.items()}
        person = body.person_mask[::k, ::k]
        small = cv2.resize(image, (person.shape[1], person.shape[0]), interpolation=cv2.INTER_AREA)
        return cls(
            lab=cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32), regions=regions, person=person,
            depth=frame.depth_map_tl(k), across=frame.across_map_px(k) / np.float32(frame.unit_px),
            landmarks=frame.landmarks / k,
            unit=frame.unit_px / k,
            arms=_union(regions, ARM_PARTS), hands=_union(regions, ("hand_left", "hand_right")),
            legs=_union(regions, LEG_PARTS),
        )


def _union(regions: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    out = np.zeros_like(regions[names[0]])
    for name in names:
        out |= regions[name]
    return out


@dataclasses.dataclass
class _Palettes:
    """Colours of the old top and bottoms, and each clothing pixel's distance to them."""

    top: np.ndarray  # (k, 3) Lab8
    bottom: np.ndarray
    d_top: np.ndarray  # float32 (h, w), inf outside the clothing
    d_bottom: np.ndarray
    top_cluster: np.ndarray  # int32 (h, w)
    bottom_cluster: np.ndarray
    chest: np.ndarray  # clothing in the chest zone (bool)
    thighs: np.ndarray  # clothing in the thigh zone
    thigh_zone: np.ndarray
    dressed: np.ndarray  # skin-test pixels that have the clothing's colours


def parse_clothing(
    image: np.ndarray, body: BodyAnalysis, frame: BodyFrame, shape: BodyShape, silhouette: Silhouette
) -> Clothing:
    """The clothing the person in ``image`` (RGB uint8 ``(H, W, 3)``) wears; see the module docstring."""
    half = _Half.of(image, body, frame)
    skin = half.regions["skin"]
    clothed = half.person & ~skin & ~half.regions["face_hair"]
    pal = _palettes(half, clothed, np.asarray(body.skin_lab_mean, np.float32))
    skin = skin & ~pal.dressed
    clothed = (clothed | pal.dressed) & (~half.hands | (np.minimum(pal.d_top, pal.d_bottom) < RULES.hand_cloth_lab8))
    bare = _skin_band(half, skin)
    top, bottoms = _split_top_and_bottoms(half, clothed, skin, pal, bare)
    # The old top's sleeves run down the arms until the skin begins, wherever the arms hang (beside
    # the hips a navy sleeve and navy jeans cannot be told apart by colour, only along the arm).
    sleeves = np.zeros_like(top)
    for side in ("left", "right"):
        sleeves |= _sleeve(half, shape, frame, side, clothed & ~skin, top | bottoms)
    top |= sleeves
    bottoms &= ~sleeves
    outer = _open_outerwear(half, top, sleeves)
    one_piece = bare is None and _one_piece(pal)
    top_hem = _hem(half, top & ~half.arms)
    clusters = np.full(top.shape, -1, np.int32)
    clusters[top] = pal.top_cluster[top]
    clusters[bottoms] = pal.bottom_cluster[bottoms] + BOTTOM_CLUSTERS
    hair = _long_hair(half, half.regions["face_hair"] & ~skin, clothed & ~half.hands, pal.d_top)
    top &= ~hair
    return _at_full_size(image, body, frame, shape, silhouette, top=top, bottoms=bottoms, sleeves=sleeves & ~hair,
                         outer=outer, clusters=clusters, hair=hair, dressed=pal.dressed,
                         hands_clothed=half.hands & clothed, palettes=(pal.top, pal.bottom), one_piece=one_piece,
                         midriff=bare, top_hem=top_hem)


LIMB_PARTS = {"arm_left": ("upper_arm_left", "lower_arm_left"), "arm_right": ("upper_arm_right", "lower_arm_right"),
              "leg_left": ("thigh_left", "shin_left"), "leg_right": ("thigh_right", "shin_right")}


def _limb_continuations(
    skin: np.ndarray, old: np.ndarray, regions: RegionMasks, frame: BodyFrame, shape: BodyShape
) -> tuple[np.ndarray, np.ndarray]:
    """The bare body under the old garment next to where each limb comes out of it bare, and what of
    the model's limb lies beside it there (bool ``(H, W)`` each).

    A skirt ending above the knee, a sleeve ending above the elbow: below the hem the photo shows the
    limb as it is, wider or narrower than the model's, and placed a little off the joints' line. Up
    from the hem (towards the hip or shoulder) the bare limb starts with the sides measured on its
    visible part just below and turns into the model's over :attr:`ParseRules.continue_u`, so a painted
    thigh meets the real knee without a step; the second mask is the old garment's part of the limb
    outside those sides in that stretch, which the model's wider or offset limb must not claim.
    Only the first hem down each limb is followed (garments hide a limb from its root).
    """
    out = np.zeros(skin.shape, bool)
    beside = np.zeros(skin.shape, bool)
    unit = frame.unit_px
    step = RULES.continue_bin_u * unit
    if step < 1.0:
        return out, beside
    measure_bins = max(1, round(RULES.continue_measure_u / RULES.continue_bin_u))
    k = RULES.continue_sample_px
    for limb, parts in LIMB_PARTS.items():
        region = regions.union(parts)
        x, y, w, h = cv2.boundingRect(region.view(np.uint8))  # the limb's box: np.nonzero is slow
        box = (slice(y, y + h), slice(x, x + w))
        if not w or not (region[box] & old[box]).any() or not (region[box] & skin[box]).any():
            continue
        # Where the hem is and how wide the bare limb below it: on every k-th pixel each way.
        sample = (slice(y, y + h, k), slice(x, x + w, k))
        ys, xs = np.nonzero(region[sample] & (skin[sample] | old[sample]))
        ys, xs = ys * k + y, xs * k + x
        joints = [np.asarray(j, np.float64) for j in frame.chain(limb)]
        along, across, _ = _chain_coordinates(joints, xs, ys)
        bins = np.maximum(0, (along / step).astype(int))
        count = int(bins.max()) + 1
        bare = skin[ys, xs]
        skin_px = np.bincount(bins, bare, count) * k * k
        old_px = np.bincount(bins, old[ys, xs], count)
        radius = shape.limb_radii_px(limb, (np.arange(count) + 0.5) * step)
        covered = old_px * k * k > skin_px
        is_bare = (skin_px / step >= RULES.continue_bare_share * 2 * radius) & ~covered
        hem = next((n for n in range(1, count) if covered[n - 1] and is_bare[n]), None)
        if hem is None:
            continue
        # The bare limb's sides: each bin's outermost skin, the median over the bins (a stray pixel moves one).
        sides = [(across[sel].min(), across[sel].max()) for n in range(hem, min(count, hem + measure_bins))
                 if (sel := bare & (bins == n)).any()]
        if not sides:
            continue
        lo, hi = np.median(np.array(sides), axis=0)
        start, reach = hem * step, RULES.continue_u * unit
        # Then every pixel of the old garment around the hem, down to the measured stretch too (the hem's
        # own last rows lie in the first bare bins).
        cx, cy = _chain_point(joints, start)
        half = reach + measure_bins * step + 2 * max(abs(lo), abs(hi), float(radius.max())) + 2
        near = (slice(max(y, int(cy - half)), min(y + h, int(cy + half) + 1)),
                slice(max(x, int(cx - half)), min(x + w, int(cx + half) + 1)))
        fys, fxs = np.nonzero(region[near] & old[near])
        fys, fxs = fys + near[0].start, fxs + near[1].start
        f_along, f_across, _ = _chain_coordinates(joints, fxs, fys)
        under = (f_along < start + measure_bins * step) & (f_along > start - reach)
        r = np.interp(f_along[under], (np.arange(count) + 0.5) * step, radius)
        t = np.clip((start - f_along[under]) / reach, 0.0, 1.0)  # 0 at the hem, 1 where the model takes over
        inside = (f_across[under] >= (1 - t) * lo - t * r) & (f_across[under] <= (1 - t) * hi + t * r)
        out[fys[under][inside], fxs[under][inside]] = True
        if limb.startswith("leg"):
            # The model's leg, where it lies outside the same sides but turning into the model's own drawn
            # sides (bin by bin: a knee's round end is wider than the radius there), no notch where they
            # meet. Not for arms: round an arm the old garment holds the torso's flank, not the arm's.
            model = shape.limbs_mask((limb,))[near][::k, ::k]  # every k-th pixel, as above
            mys, mxs = np.nonzero(model)
            m_along, m_across, _ = _chain_coordinates(joints, mxs * k + near[1].start, mys * k + near[0].start)
            m_bins = np.clip((m_along / step).astype(int), 0, count - 1)
            m_lo, m_hi = np.full(count, np.inf), np.full(count, -np.inf)
            np.minimum.at(m_lo, m_bins, m_across)
            np.maximum.at(m_hi, m_bins, m_across)
            f_bins = np.clip((f_along[under] / step).astype(int), 0, count - 1)
            side_lo = (1 - t) * lo + t * np.minimum(m_lo[f_bins], lo)
            side_hi = (1 - t) * hi + t * np.maximum(m_hi[f_bins], hi)
            away = (f_across[under] < side_lo) | (f_across[under] > side_hi)
            beside[fys[under][away], fxs[under][away]] = True
    return out, beside


def _chain_point(joints: list[np.ndarray], distance: float) -> np.ndarray:
    """The point ``distance`` px down a limb's chain of joints (clamped to its ends)."""
    for a, b in itertools.pairwise(joints):
        length = float(np.linalg.norm(b - a))
        if distance <= length:
            return a + (b - a) * max(distance, 0.0) / max(length, 1e-6)
        distance -= length
    return joints[-1]


def _chain_coordinates(
    joints: list[np.ndarray], xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far down a limb's chain (px from its root joint) each pixel lies, how far across it (signed px:
    positive to the right of the chain's direction) and how far from it (px), by its nearest bone."""
    p = np.stack([xs, ys], axis=1).astype(np.float64)
    along, across, distance = np.zeros(len(p)), np.zeros(len(p)), np.full(len(p), np.inf)
    start = 0.0
    for a, b in itertools.pairwise(joints):
        d = b - a
        length = max(float(np.linalg.norm(d)), 1e-6)
        t = np.clip((p - a) @ d / length**2, 0.0, 1.0)
        rel = p - a
        dist = np.linalg.norm(rel - t[:, None] * d, axis=1)
        nearer = dist < distance
        along[nearer] = start + t[nearer] * length
        across[nearer] = (rel[nearer, 0] * d[1] - rel[nearer, 1] * d[0]) / length
        distance[nearer] = dist[nearer]
        start += length
    return along, across, distance


def _open_outerwear(half: _Half, top: np.ndarray, sleeves: np.ndarray) -> np.ndarray | None:
    """The outer layer of an open jacket (or cardigan, open hoodie) over a top, or None (bool, at the
    parse's resolution).

    Down the chest, the clothing along the body's middle has one colour (the inner top, a shirt) and the
    clothing at its flanks another, steady down the body, which the sleeves share (the jacket): on most of
    the depth bins, from just below the neckline to below the chest. A print on a plain top starts lower
    and ends higher, a colour-blocked top changes colour across, not down, a striped one at its flanks
    too: none is taken for a jacket.
    """
    torso = top & half.regions["torso"] & ~half.arms
    centre_mask = torso & (np.abs(half.across) < RULES.outer_centre_u)
    side = np.abs(half.across)
    flank_mask = torso & (side > RULES.outer_flank_u[0]) & (side < RULES.outer_flank_u[1])
    edges = np.arange(RULES.outer_depth_tl[0], RULES.outer_depth_tl[1] + 1e-6, RULES.outer_bin_tl)
    # Each side's pixels once, with their depths; the bins pick from those lists (not from the whole photo).
    centre_lab, centre_depth = half.lab[centre_mask], half.depth[centre_mask]
    flank_lab, flank_depth = half.lab[flank_mask], half.depth[flank_mask]
    known = differ = 0
    flanks = []
    for lo, hi in itertools.pairwise(edges):
        centre = centre_lab[(centre_depth >= lo) & (centre_depth < hi)]
        flank = flank_lab[(flank_depth >= lo) & (flank_depth < hi)]
        if len(centre) < RULES.outer_min_pixels or len(flank) < RULES.outer_min_pixels:
            continue
        known += 1
        flanks.append(np.median(flank, 0))
        differ += np.linalg.norm(np.median(centre, 0) - flanks[-1]) > RULES.outer_contrast_lab8
    if known < RULES.outer_min_bins or differ < RULES.outer_share * known:
        return None
    # Lightness counts for less than colour (below): a dark jacket's fold in the light is the same jacket.
    weight = np.array([RULES.outer_lightness_weight, 1.0, 1.0], np.float32)
    flanks = np.array(flanks) * weight
    steady = np.linalg.norm(flanks - np.median(flanks, 0), axis=1) <= RULES.outer_steady_lab8
    if steady.mean() < RULES.outer_share:
        return None
    inner_colour = np.median(centre_lab[centre_depth < RULES.outer_depth_tl[1]], 0)
    outer_colour = np.median(flank_lab[flank_depth < RULES.outer_depth_tl[1]], 0)
    if sleeves.sum() >= RULES.outer_min_pixels:  # the jacket's sleeves have its colour
        sleeve_colour = np.median(half.lab[sleeves], 0)
        if np.linalg.norm(sleeve_colour - outer_colour) > np.linalg.norm(sleeve_colour - inner_colour):
            return None
    # Lightness counts for less than colour: the inner top's edges in the jacket's shadow are darker, not another
    # colour (a pink tee's shaded strips beside a dark hoodie's fronts stayed with the hoodie).
    nearer_outer = (np.linalg.norm((half.lab - outer_colour) * weight, axis=2)
                    < np.linalg.norm((half.lab - inner_colour) * weight, axis=2))
    inner = masks.keep_touching(top & ~sleeves & ~nearer_outer, centre_mask & ~nearer_outer)
    outer = top & ~inner
    return outer if outer.sum() >= RULES.outer_min_share * top.sum() else None


def _arm_coordinates(half: _Half, frame: BodyFrame, side: str, zone: np.ndarray) -> tuple[np.ndarray, ...]:
    """For the pixels of ``zone``: ``(ys, xs, along, distance)``: how far down the arm's chain
    (shoulder -> elbow -> wrist) each lies and how far from it, in px at the parse's resolution."""
    k = RULES.step
    joints = [np.asarray(j, np.float64) / k for j in frame.chain(f"arm_{side}")]
    ys, xs = np.nonzero(zone)
    along, _, distance = _chain_coordinates(joints, xs, ys)
    return ys, xs, along, distance


def _sleeve(
    half: _Half, shape: BodyShape, frame: BodyFrame, side: str, clothed: np.ndarray, claimed: np.ndarray
) -> np.ndarray:
    """The old top's sleeve on arm ``side`` (bool, at the parse's resolution): clothing along the arm
    from the shoulder down to where its core turns to skin (a run of stations that are mostly skin);
    none when the arm is not seen or bare from the shoulder. ``claimed``: clothing of the top's body and
    the bottoms, which a sleeve's flare does not take."""
    r, k = half.regions, RULES.step
    chain = _CHAIN_INDICES[side]
    out = np.zeros(half.person.shape, bool)
    if min(frame.visibility[i] for i in chain[:2]) < VISIBLE_MIN:
        return out
    zone = (r[f"upper_arm_{side}"] | r[f"lower_arm_{side}"]) & half.person
    if not zone.any():
        return out
    # (The thighs only around the arm's chain: its joints' box, grown by the widest arm's radius.)
    joints = np.array([frame.landmarks[i] for i in chain]) / k
    margin = PROPORTIONS.arm_radii_u[0] * half.unit
    x0, y0 = np.floor(joints.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(joints.max(axis=0) + margin).astype(int)
    thighs = np.zeros_like(zone)
    box = (slice(max(0, y0), max(0, y1 + 1)), slice(max(0, x0), max(0, x1 + 1)))
    thighs[box] = half.legs[box] & half.person[box]
    ys, xs, along, distance = _arm_coordinates(half, frame, side, zone | thighs)
    table = np.linspace(0.0, float(along.max()) + 1.0, RULES.radius_table_size)
    radius = np.interp(along, table, shape.limb_radii_px(f"arm_{side}", np.asarray(table) * k) / k)
    # An arm hanging in front of a thigh: the thigh's pixels within the arm's own width are the arm's (a navy
    # cuff beside navy jeans is the sleeve's, whatever the parts' labels say).
    mine = zone[ys, xs] | (distance <= radius)
    ys, xs, along, distance, radius = ys[mine], xs[mine], along[mine], distance[mine], radius[mine]
    step = RULES.sleeve_station_u * half.unit
    bins = (along // step).astype(np.int64)
    core = distance <= RULES.sleeve_core_share * radius
    skin = half.regions["skin"][ys, xs]
    count = np.bincount(bins[core], minlength=bins.max() + 1)
    bare = np.bincount(bins[core & skin], minlength=bins.max() + 1) / np.maximum(count, 1)
    first = int(np.ceil(PROPORTIONS.arm_start_u * half.unit / step))
    end = len(count)  # the sleeve reaches the wrist unless the arm turns bare
    run = 0
    for i in range(first, len(count)):
        run = run + 1 if count[i] >= RULES.sleeve_min_pixels and bare[i] >= RULES.sleeve_bare_share else 0
        if run >= RULES.sleeve_bare_stations:
            end = i - run + 1
            break
    keep = (bins < end) & (distance <= RULES.sleeve_reach_share * radius) & clothed[ys, xs]
    out[ys[keep], xs[keep]] = True
    # Clothing further out from the bone at the sleeve's end, touching it, that no other garment claims is
    # the sleeve's too: a flared cuff. Not below the end (a bare arm's shaded outline), nor higher up (long
    # hair over the shoulder).
    flare = np.zeros_like(out)
    wide = (bins < end) & (bins >= end - RULES.cuff_stations) & ~keep & clothed[ys, xs]
    flare[ys[wide], xs[wide]] = True
    return out | masks.keep_touching(flare & ~claimed, masks.grow(out, 1.0))


def _palettes(half: _Half, clothed: np.ndarray, skin_mean: np.ndarray) -> _Palettes:
    """The old top's and bottoms' colours; clothing in skin-like colours is found here too."""
    r, lm = half.regions, half.landmarks
    chest_zone = r["torso"] & (half.depth > RULES.chest_tl[0]) & (half.depth < RULES.chest_tl[1]) & ~half.hands
    thigh_zone = np.zeros(half.person.shape, np.uint8)
    for hip, knee in ((LEFT_HIP, LEFT_KNEE), (RIGHT_HIP, RIGHT_KNEE)):
        a = lm[hip] + RULES.thigh_share[0] * (lm[knee] - lm[hip])
        b = lm[hip] + RULES.thigh_share[1] * (lm[knee] - lm[hip])
        masks.capsule(thigh_zone, a, b, RULES.thigh_zone_radius_u * half.unit)
    thigh_zone = thigh_zone.astype(bool) & ~half.arms & ~half.hands
    chest, thighs = clothed & chest_zone, clothed & thigh_zone
    # The whole chest's and thighs' colours that are clearly unlike the person's skin (as it shows
    # on the limbs, neck and face, lit and shaded, besides the model's mean) are clothing colours.
    everything = half.person & ~r["face_hair"] & ~half.hands
    limb_zone = (half.arms | half.hands | half.legs | r["neck"] | r["face_hair"]) & ~chest_zone & ~thigh_zone
    skin_colours = np.concatenate([skin_mean[None, :], palette(half.lab, r["skin"] & half.person & limb_zone)])
    unlike_top = _unlike_skin(palette(half.lab, everything & chest_zone), skin_colours)
    unlike_bottom = _unlike_skin(palette(half.lab, everything & thigh_zone), skin_colours)
    suspect = r["skin"] & half.person & ~r["face_hair"] & ~half.hands & ~r["neck"]
    dressed = np.zeros(half.person.shape, bool)
    for colours in (unlike_top, unlike_bottom):
        if len(colours):
            dressed |= palette_distance(half.lab, suspect, colours)[0] < RULES.skin_lookalike_lab8
    # White and grey clothing next to pale skin passes the skin test but has no skin's hue.
    dressed |= suspect & (_chroma_share(half.lab, skin_mean) < RULES.skin_min_chroma_share)
    top = np.concatenate([palette(half.lab, chest), unlike_top])
    bottom = np.concatenate([palette(half.lab, thighs), unlike_bottom])
    clothed = clothed | dressed
    d_top, top_cluster = palette_distance(half.lab, clothed, top)
    d_bottom, bottom_cluster = palette_distance(half.lab, clothed, bottom)
    return _Palettes(top=top, bottom=bottom, d_top=d_top, d_bottom=d_bottom, top_cluster=top_cluster,
                     bottom_cluster=bottom_cluster, chest=chest, thighs=thighs, thigh_zone=thigh_zone,
                     dressed=dressed)


def _split_top_and_bottoms(
    half: _Half, clothed: np.ndarray, skin: np.ndarray, pal: _Palettes, bare: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The old top and the old bottoms (bool, at the parse's resolution), made solid. ``bare``: the
    depths of a bare midriff (see :func:`_skin_band`), or None."""
    r = half.regions
    top_like = pal.d_top < pal.d_bottom
    if bare is not None:  # a bare midriff: the top ends above it, the bottoms start below it
        split, bottoms_from = bare
    else:
        split = _split_depth(half, clothed & (r["torso"] | half.legs) & ~half.arms, top_like)
        bottoms_from = split
    band = np.abs(half.depth - split) < RULES.split_band_tl
    near_top = pal.d_top < RULES.split_band_margin * pal.d_bottom  # near the boundary: clearly top-coloured
    top = _old_top(half, clothed, near_top, pal, split, bottoms_from, band)
    lower_zone = (half.legs | r["torso"] | half.arms | half.hands) & (
        (half.depth >= bottoms_from) | (band & ~near_top))
    bottoms = clothed & lower_zone & ~top & ~r["feet"] & ~(half.arms & near_top)
    # Full-length trousers end over the ankles, inside the feet's region: what has the bottoms'
    # colours above the ankle joints is trousers (the shoes below stay).
    cuffs = r["feet"] & clothed & (pal.d_bottom < RULES.hand_cloth_lab8)
    if cuffs.any():
        bottoms |= cuffs & _above_ankles(half, skin)
    bottoms = _connected_to(bottoms, pal.thighs, RULES.strap_width_u * half.unit)
    limb_skin = skin & (half.arms | half.hands | half.legs | r["neck"])
    close, hole = RULES.hole_close_u * half.unit, (RULES.hole_max_u * half.unit) ** 2
    top = _solid(top, close, hole, skin, limb_skin) & half.person
    bottoms = _solid(bottoms, close, hole, skin, limb_skin) & half.person & ~top
    return top, bottoms


def _old_top(
    half: _Half, clothed: np.ndarray, near_top: np.ndarray, pal: _Palettes, split: float, bottoms_from: float,
    band: np.ndarray,
) -> np.ndarray:
    """The old top: clothing above the split, sleeves hanging below it, connected to the chest."""
    r, depth = half.regions, half.depth
    upper_zone = (r["torso"] | r["neck"] | half.arms | half.hands | half.legs) & ((depth < split) | (band & near_top))
    upper_zone |= half.arms & near_top & (depth < bottoms_from)  # sleeves hanging below the split
    top = clothed & upper_zone & ~(half.legs & ~near_top & (depth > split))
    # On the arms only what looks like the top is its sleeve (shadowed skin is not clothing).
    if len(pal.top):
        shade_free = np.array([RULES.sleeve_lightness_weight, 1.0, 1.0], np.float32)
        d_sleeve, _ = palette_distance(half.lab * shade_free, clothed & half.arms, pal.top * shade_free)
        top &= ~half.arms | (d_sleeve < RULES.sleeve_max_lab8)
    pieces = top
    strap = RULES.strap_width_u * half.unit
    top = _connected_to(top, pal.chest, strap)
    # Pieces cut off at the shoulders are the top's own straps (nothing else hangs from there):
    # left behind, they would float above the new top's neckline.
    cut = (pieces & ~top).astype(np.uint8)
    if cut.any():
        count, labels = cv2.connectedComponents(cut, connectivity=8)
        is_strap = np.zeros(count, bool)
        is_strap[labels[masks.dilate(top, strap)]] = True
        is_strap[labels[depth >= RULES.chest_tl[0]]] = False  # hangs down the body: not a strap
        is_strap[0] = False
        top |= is_strap[labels]
    return top


def _at_full_size(
    image: np.ndarray, body: BodyAnalysis, frame: BodyFrame, shape: BodyShape, silhouette: Silhouette, *,
    top: np.ndarray, bottoms: np.ndarray,
    sleeves: np.ndarray, outer: np.ndarray | None, clusters: np.ndarray, hair: np.ndarray, dressed: np.ndarray,
    hands_clothed: np.ndarray, palettes: tuple[np.ndarray, np.ndarray],
    one_piece: bool, midriff: tuple[float, float] | None, top_hem: float | None,
) -> Clothing:
    """Bring the parse back to the photo's size and cut it to the full-resolution masks. ``palettes``: the
    old top's and bottoms' colours (Lab8 ``(k, 3)`` each), which settle the line between the two."""
    size = body.size
    full = body.regions
    skin, face = full["skin"], full["face_hair"]
    not_skin = body.person_mask & ~skin & ~face
    # Hands stay in front, except for what around them is plainly the old clothing: a hand is its
    # skin and what lies just around it (nails, shaded knuckles).
    hands = full["hand_left"] | full["hand_right"]
    hand = hands & masks.grow(hands & skin, RULES.hand_grow_u * frame.unit_px)
    hand_cloth = masks.grow(masks.upsample(hands_clothed, size), RULES.edge_grow_px) & not_skin
    front = face | (hand & ~hand_cloth) | (masks.upsample(hair, size) & ~skin)
    # Built from masks at lower resolutions, its outline has stairs that would show wherever the new
    # garment or a fill meets it (hair over a collar, a chin).
    front = (masks.smooth_outline(front, RULES.front_smooth_px) & body.person_mask) | face  # the face stays whole
    arms = full.union(ARM_PARTS)
    old = masks.upsample(top | bottoms | sleeves, size)
    grey_rim = _grey_rim(image, body, skin & ~face & ~hands & ~full["neck"], old)
    dressed_full = masks.upsample(dressed, size) | grey_rim

    upsampled: dict[int, np.ndarray] = {}  # by the parse mask's id: seen() and rimmed() share it
    sliver = _sliver_radius(frame.unit_px)
    outline_skin = _outline_skin(skin, body.person_mask, sliver)
    colours = {id(bottoms): palettes[1]}  # the rest (top, sleeves, an open jacket): the top's colours

    def full_size(mask: np.ndarray) -> np.ndarray:
        # Where cloth meets skin of a like tone, pixel by pixel the parse's outline is ragged: seen
        # through a fill's edge, the raggedness shows (a torn edge at the neck).
        if id(mask) not in upsampled:
            smooth = masks.smooth_outline(masks.upsample(mask, size), RULES.outline_smooth_px)
            smooth &= ~_edge_slivers(smooth, outline_skin, sliver)
            upsampled[id(mask)] = _without_strays(smooth, image, colours.get(id(mask), palettes[0]), body.person_mask)
        return upsampled[id(mask)]

    def seen(mask: np.ndarray) -> np.ndarray:
        return full_size(mask) & body.person_mask & ~front

    def within(mask: np.ndarray) -> np.ndarray:
        # Upsampled masks miss the garment's anti-aliased outline: they grow over the non-skin pixels
        # next to them, but not onto the bare arms beside the old garment.
        grown = full_size(mask)
        grown = grown | (masks.grow(grown, RULES.edge_grow_px) & not_skin)  # a new array: full_size's is cached
        grown |= masks.grow(grown, RULES.grey_rim_px) & grey_rim
        grown &= body.person_mask & ~front
        return grown & ~(arms & skin & ~dressed_full)

    inner = {id(mask): within(mask) for mask in (top, bottoms, sleeves)}
    # ...and past the person's outline where the segmentation stopped short of light clothing.
    past = _past_outline(image, body, np.logical_or.reduce(list(inner.values())), RULES.past_outline_u * frame.unit_px)

    def rimmed(mask: np.ndarray) -> np.ndarray:
        grown = inner[id(mask)]
        return grown | masks.keep_touching(past, masks.grow(grown, 1.5)) if past.any() else grown

    cluster_full = cv2.resize(clusters, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    # Under a sleeve that lay close, the arm has the sleeve's outline (less the fabric) made smooth, up to
    # a fuller arm than the model's; under a loose one, the model's arm.
    sleeves_full = seen(sleeves)
    fabric = max(1, round(RULES.fabric_u * frame.unit_px))
    shape = shape.fitted_to(sleeves_full, ("arm_left", "arm_right"), RULES.arm_share_range, inset_px=fabric)
    top_seen, bottoms_seen = seen(top), seen(bottoms)
    top_coloured, bottoms_coloured = _coloured_as_the_other(image, top_seen, bottoms_seen, *palettes, frame.unit_px)
    continued, beside = _limb_continuations(skin, top_seen | bottoms_seen | sleeves_full, full, frame, shape)
    caps = np.zeros(size, np.uint8)
    neck = frame.centre(frame.neck_base_depth_px)
    for side in ("arm_left", "arm_right"):
        masks.capsule(caps, neck, frame.chain(side)[0], RULES.shoulder_cap_u * frame.unit_px)
    hanging = top_seen | sleeves_full
    if outer is not None:
        hanging &= ~seen(outer)  # a jacket's shoulders are built up (padded), not the body's
    shoulders = caps.astype(bool) & cv2.erode(hanging.astype(np.uint8), masks.disc(fabric)).astype(bool)
    trunk = (shape.torso_mask() | shoulders) & ~_above_shoulder_lines(frame, silhouette)
    if midriff is not None:
        trunk &= ~_beside_bare_midriff(skin & ~arms & ~hands, frame, shape, midriff)
    bare_body = body.person_mask & (trunk | full["neck"] | (shape.limbs_mask() & ~beside) | skin | continued)
    return Clothing(
        top=top_seen, bottoms=bottoms_seen, sleeves=sleeves_full, outer=None if outer is None else seen(outer),
        top_rimmed=rimmed(top), bottoms_rimmed=rimmed(bottoms), sleeves_rimmed=rimmed(sleeves),
        top_coloured=top_coloured, bottoms_coloured=bottoms_coloured,
        one_piece=one_piece, bare_midriff=midriff is not None, top_hem_tl=top_hem, clusters=cluster_full,
        front=front, arms_front=_arms_front(body, frame, shape, sleeves_full, skin & ~grey_rim),
        bare_body=bare_body,
        skin=skin & ~dressed_full, shape=shape,
    )


def _without_strays(mask: np.ndarray, image: np.ndarray, colours: np.ndarray, person: np.ndarray) -> np.ndarray:
    """``mask`` (bool ``(H, W)``, old clothing) less its small cut-off pieces whose colour is not the garment's
    (see :attr:`ParseRules.stray_share`). ``image``: the photo, RGB uint8 ``(H, W, 3)``; ``colours``: the
    garment's palette in OpenCV's 8-bit Lab scale ``(k, 3)``; ``person``: the person mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    result = mask.copy()
    pad = RULES.stray_ring_px + 1
    kernel = masks.disc(RULES.stray_ring_px)
    for label in np.flatnonzero(areas < RULES.stray_share * areas.max()) + 1:
        x, y, w, h = stats[label, :4]
        box = (slice(max(y - pad, 0), y + h + pad), slice(max(x - pad, 0), x + w + pad))
        piece = labels[box] == label
        ring = cv2.dilate(piece.astype(np.uint8), kernel).astype(bool) & ~mask[box]
        if not ring.any():
            continue
        lab = cv2.cvtColor(np.ascontiguousarray(image[box]), cv2.COLOR_RGB2LAB).astype(np.float32)
        own = np.median(lab[piece], axis=0)
        garment = float(np.linalg.norm(colours - own, axis=1).min()) if len(colours) else np.inf
        around = [np.median(lab[ring & side], axis=0) for side in (person[box], ~person[box])
                  if (ring & side).any()]
        near = min(float(np.linalg.norm(c - own)) for c in around)
        if len(around) == 2:  # an anti-aliased outline: a blend of the person and the backdrop
            near = min(near, _to_segment(own, *around))
        if near < garment:
            result[box][piece] = False
    return result


def _to_segment(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance from ``point`` to the segment ``a``-``b`` (all ``(3,)``)."""
    ab = b - a
    t = float(np.clip(np.dot(point - a, ab) / max(float(np.dot(ab, ab)), 1e-6), 0.0, 1.0))
    return float(np.linalg.norm(point - (a + t * ab)))


def _beside_bare_midriff(
    skin: np.ndarray, frame: BodyFrame, shape: BodyShape, midriff: tuple[float, float]
) -> np.ndarray:
    """The model's torso just above a bare midriff that lies outside it (bool ``(H, W)``).

    ``skin``: the torso's visible skin (no arms or hands), bool ``(H, W)``; ``midriff``: the bare band's depths
    (torso lengths, see :func:`_skin_band`). Below an old top's hem the photo shows the waist as it is, narrower
    or wider than the model's and off the centre line a little: up from the hem the bare torso starts with the
    sides measured on the band's first :attr:`ParseRules.continue_measure_u` and turns into the model's over
    :attr:`ParseRules.continue_u`, as a limb does below a sleeve (a painted midriff stood out past the real
    one at the hem, in a step)."""
    start, end = midriff
    torso, unit = frame.torso_px, frame.unit_px
    reach = RULES.continue_u * unit / torso
    measure = min(end, start + RULES.continue_measure_u * unit / torso)
    outside = np.zeros(skin.shape, bool)
    # Only the stretch from `reach` above the band to the band's measured part matters: its rows' box.
    corners = [frame.centre(d * torso) + s * 2.0 * unit * frame.across for d in (start - reach, measure)
               for s in (-1.0, 1.0)]
    xs, ys = zip(*corners, strict=True)
    h, w = skin.shape
    box = (slice(max(0, int(min(ys))), min(h, int(max(ys)) + 1)),
           slice(max(0, int(min(xs))), min(w, int(max(xs)) + 1)))
    if box[0].stop <= box[0].start or box[1].stop <= box[1].start:
        return outside
    depth, across = frame.depth_map_tl(box=box), frame.across_map_px(box=box)
    below = skin[box] & (depth >= start) & (depth <= measure)
    if below.sum() < RULES.midriff_min_px:
        return outside
    lo, hi = np.percentile(across[below], (RULES.midriff_side_percentile, 100 - RULES.midriff_side_percentile))
    zone = (depth < start) & (depth > start - reach)
    t = np.clip((start - depth) / reach, 0.0, 1.0)  # 0 at the hem, 1 where the model takes over
    model = shape.half_width_px(depth)
    allowed = (across >= (1 - t) * lo - t * model) & (across <= (1 - t) * hi + t * model)
    outside[box] = zone & ~allowed
    return outside


def _above_shoulder_lines(frame: BodyFrame, silhouette: Silhouette) -> np.ndarray:
    """Above the line from the neck's side (:attr:`ParseRules.trapezius_rise_u` above its base) over the top of each
    shoulder (where a shoulder seam sits, see :meth:`Silhouette.shoulder_seam`) and on (bool ``(H, W)``): no trunk
    there (the neck and the arms are their own parts), whatever the old top's outline does: a shirt's collar
    stands up round the neck and a shoulder's top slopes from the neck, where the torso's box above the
    shoulders (cut by the person's outline) and the caps round the joints' line rose square to the collar's top."""
    unit, up = frame.unit_px, -frame.down
    neck = frame.centre(frame.neck_base_depth_px)
    reach = 2.0 * frame.torso_px  # far enough to close the polygons beyond the person
    canvas = np.zeros(frame.size, np.uint8)
    for side, out in (("left", frame.across), ("right", -frame.across)):
        side_of_neck = neck + out * PROPORTIONS.neck_radius_u * unit + up * RULES.trapezius_rise_u * unit
        top = silhouette.shoulder_seam(side) + up * RULES.shoulder_line_margin_u * unit
        far = top + reach * (top - side_of_neck) / max(float(np.linalg.norm(top - side_of_neck)), 1.0)
        polygon = [side_of_neck, far, far + up * reach, side_of_neck + up * reach]
        cv2.fillPoly(canvas, [np.round(np.array(polygon)).astype(np.int32)], 1)
    return canvas.astype(bool)


def _grey_rim(image: np.ndarray, body: BodyAnalysis, skin: np.ndarray, clothing: np.ndarray) -> np.ndarray:
    """The ``skin`` pixels (bool ``(H, W)``) on or within :attr:`ParseRules.grey_rim_px` of ``clothing`` that have no
    skin's hue (lightness-normalised chroma under :attr:`ParseRules.skin_min_chroma_share` of the person's
    skin): the anti-aliased rim of a white or grey garment beside pale skin. bool ``(H, W)``."""
    near = skin & masks.grow(clothing, RULES.grey_rim_px)
    out = np.zeros_like(skin)
    if not near.any():
        return out
    ys, xs = np.nonzero(near)
    lab = cv2.cvtColor(image[ys, xs][None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    grey = _chroma_share(lab, np.asarray(body.skin_lab_mean, np.float32)) < RULES.skin_min_chroma_share
    out[ys[grey], xs[grey]] = True
    return out


def _coloured_as_the_other(
    image: np.ndarray, top: np.ndarray, bottoms: np.ndarray, top_colours: np.ndarray, bottom_colours: np.ndarray,
    unit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Where the line between the old top and bottoms (bool ``(H, W)`` each) is wrong by their colours:
    ``(bottoms pixels of the top's colour, top pixels of the bottoms' colour)``, each within ``reach`` px of the
    other garment and joining it; a pixel is of the other's colour when its distance to the other's palette
    (Lab8 ``(k, 3)``) is under :attr:`ParseRules.split_refine_margin` times that to its own, lightness weighted
    down (a hem's shadow is still the top); ``reach`` is :attr:`ParseRules.split_refine_u` of the body's
    ``unit`` (px). The parse splits the two at half resolution and its outline is smoothed: a white top's mask
    reached a few px into the jeans below it, and a strip of the old jeans stayed between the top and new
    trousers. Pixels joining the other garment only: a blue stripe in a white top's print, clear of the jeans,
    is the top's."""
    empty = np.zeros_like(top)
    reach = RULES.split_refine_u * unit
    if reach < 1.0 or not len(top_colours) or not len(bottom_colours) or not top.any() or not bottoms.any():
        return empty, empty
    band = (top & masks.grow(bottoms, reach)) | (bottoms & masks.grow(top, reach))
    if not band.any():
        return empty, empty
    x, y, w, h = cv2.boundingRect(band.view(np.uint8))
    box = (slice(y, y + h), slice(x, x + w))
    weight = np.array([RULES.sleeve_lightness_weight, 1.0, 1.0], np.float32)
    lab = cv2.cvtColor(np.ascontiguousarray(image[box]), cv2.COLOR_RGB2LAB).astype(np.float32) * weight
    d_top, _ = palette_distance(lab, band[box], top_colours * weight)
    d_bottom, _ = palette_distance(lab, band[box], bottom_colours * weight)
    margin = RULES.split_refine_margin

    def joined(mine: np.ndarray, like_other: np.ndarray, other: np.ndarray) -> np.ndarray:
        # Solid runs, not specks or thin lines (a print's dots of the other's colours, a leopard's spots by a black
        # top: a run one pixel wide is as likely the print): opened, then closed over the specks of its own
        # colours left inside (a crochet's dark stitches in its white hem).
        found = cv2.morphologyEx((band[box] & mine & like_other).astype(np.uint8), cv2.MORPH_OPEN,
                                 np.ones((3, 3), np.uint8)).astype(bool)
        found = masks.close(found, RULES.split_refine_close_px) & band[box] & mine
        found = masks.keep_touching(found, masks.grow(other, 1.5))
        # The new line smoothed as the parse's outlines are (pixel by pixel it is ragged, and a new garment
        # cut along it would be too): the other garment with what joins it, its outline smoothed.
        return masks.smooth_outline(other | found, RULES.outline_smooth_px) & mine & band[box]

    top_coloured, bottoms_coloured = empty.copy(), empty.copy()
    top_coloured[box] = joined(bottoms[box], d_top < margin * d_bottom, top[box])
    bottoms_coloured[box] = joined(top[box], d_bottom < margin * d_top, bottoms[box])
    return top_coloured, bottoms_coloured


def _past_outline(image: np.ndarray, body: BodyAnalysis, clothing: np.ndarray, reach: float) -> np.ndarray:
    """The clothing's pixels the person mask missed (bool ``(H, W)``): within ``reach`` px outside the
    person, of the colour of the clothing (bool ``(H, W)``) beside them (within
    :attr:`ParseRules.past_outline_lab8`) and far nearer it than the backdrop's beyond them, each a local
    average (over about ``reach``) of its own pixels; never skin-coloured (a bare arm the mask missed).
    ``image``: the photo, RGB uint8 ``(H, W, 3)``. Which garment each belongs to is left to the caller
    (the one it touches).

    The segmentation's outline follows contrast: a white dress on a pale grey backdrop loses a strip of
    its side, which no fill then replaces (a white sliver beside the new dress)."""
    person = body.person_mask
    out = np.zeros_like(person)
    band = masks.grow(clothing, reach) & ~person
    if reach < 1.0 or not band.any():
        return out
    x, y, w, h = cv2.boundingRect(band.view(np.uint8))
    m = int(np.ceil(4 * reach)) + 2
    box = (slice(max(0, y - m), y + h + m), slice(max(0, x - m), x + w + m))
    inside = clothing[box] & ~masks.grow(~person[box], 1.0)  # clear of the outline's blend
    beyond = ~masks.grow(person[box] | band[box], reach)
    ys, xs = np.nonzero(band[box])
    pixels = np.ascontiguousarray(image[box][ys, xs][:, None, :])  # (N, 1, 3): the band's own colours
    # The local averages are smooth: worked out on a copy `step` times coarser, read at the band's pixels.
    step = max(1, int(reach // 2))
    small = (max(1, -(-inside.shape[1] // step)), max(1, -(-inside.shape[0] // step)))
    lab = cv2.cvtColor(cv2.resize(np.ascontiguousarray(image[box]), small, interpolation=cv2.INTER_AREA),
                       cv2.COLOR_RGB2LAB).astype(np.float32)
    at = (np.minimum(ys // step, small[1] - 1), np.minimum(xs // step, small[0] - 1))

    def local(where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weight = cv2.resize(where.astype(np.float32), small, interpolation=cv2.INTER_AREA)
        total = cv2.GaussianBlur(lab * weight[..., None], (0, 0), 2.0 * reach / step)
        weight = cv2.GaussianBlur(weight, (0, 0), 2.0 * reach / step)
        return total[at] / np.maximum(weight[at], 1e-6)[:, None], weight[at]

    cloth, cloth_weight = local(inside)
    backdrop, backdrop_weight = local(beyond)
    colour = cv2.cvtColor(pixels, cv2.COLOR_RGB2LAB).astype(np.float32)[:, 0]
    d_cloth = np.linalg.norm(colour - cloth, axis=1)
    d_backdrop = np.linalg.norm(colour - backdrop, axis=1)
    like = ((np.linalg.norm(cloth - backdrop, axis=1) >= RULES.past_outline_lab8)
            & (cloth_weight > 0.05) & (backdrop_weight > 0.05)
            & (d_cloth < RULES.past_outline_lab8) & (RULES.past_outline_margin * d_cloth < d_backdrop))
    skin = body.skin_distance_sq(pixels)[:, 0]
    like &= skin >= RULES.past_outline_skin_sq
    out[box][ys[like], xs[like]] = True
    return out


def _edge_slivers(mask: np.ndarray, outline_skin: np.ndarray, radius: int) -> np.ndarray:
    """The parts of a clothing mask (bool ``(H, W)``) that are a limb's outline, not clothing (bool ``(H, W)``).

    Where the background has the garment's colour (a white dress on white), the blend of skin and
    background along a bare limb's outline parses as the garment: a thin strip running down the leg
    from the hem. Removed there, it would be filled with background and the limb's outline would take
    the parse's stairs. ``outline_skin``: the pixels within ``2 * radius + 1`` px of both the skin and
    the background (:func:`_outline_skin`). Only the pixels of the mask's parts thinner than that
    which lie there go, and only from strips mostly made of them and long enough: a strap across a
    shoulder keeps all but its ends (if those), a hem's corner stays.
    """
    out = np.zeros_like(mask)
    if not mask.any():
        return out
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    pad = 2 * radius + 2
    box = (slice(max(0, y - pad), y + h + pad), slice(max(0, x - pad), x + w + pad))
    part = mask[box]
    opened = cv2.morphologyEx(part.view(np.uint8), cv2.MORPH_OPEN, masks.disc(radius)).astype(bool)
    thin = part & ~opened
    if not thin.any():
        return out
    beside = thin & outline_skin[box]
    # Pieces of one strip (where it widens for a moment the opening keeps a bit of it) count as one.
    count, labels = cv2.connectedComponents(masks.dilate(thin, radius).view(np.uint8), connectivity=8)
    size = np.bincount(labels[thin], minlength=count)
    along_outline = np.bincount(labels[beside], minlength=count)
    is_edge = (along_outline > 0.5 * size) & (size >= RULES.sliver_min_area * (2 * radius + 1) ** 2)
    is_edge[0] = False
    out[box] = beside & is_edge[labels]
    return out


def _sliver_radius(unit: float) -> int:
    """The opening's radius (px) of :func:`_edge_slivers`: strips thinner than ``2 * radius + 1`` px."""
    return max(2, round(RULES.sliver_u * unit))


def _outline_skin(skin: np.ndarray, person: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``2 * radius + 1`` px of both ``skin`` and the background (``~person``), bool
    ``(H, W)``: where a strip that thin would lie between a limb and the background."""
    width = 2 * radius + 1
    return masks.grow(~person, width) & masks.grow(skin, width)


def _arms_front(
    body: BodyAnalysis, frame: BodyFrame, shape: BodyShape, sleeves: np.ndarray, skin: np.ndarray
) -> np.ndarray:
    """Arms in front of a garment's body: bare ``skin`` (bool ``(H, W)``: the photo's skin less a white or grey
    garment's rim beside it, see :func:`_grey_rim`), and where the old top had a sleeve, the arm's own
    thickness (a sleeve over a forearm across the torso). The upper arm's model is drawn around the
    joints' line, which runs inside the torso's outline near the shoulder: there it is the arm only
    within the old sleeve (``sleeves``, bool ``(H, W)``), or it would cut a block out of the new top's
    side. The top of the shoulder is torso, never an arm in front of the garment: a strap's skin there
    would cut a notch in the new top. In a three-quarter view the arm turned away (:attr:`BodyFrame.far_arm`)
    is behind the torso where the two overlap: there only its skin is in front (its model, drawn around joints
    that lie inside the torso's outline, cut a block out of the new top where the old top's side passed for a
    sleeve); beside the torso it is in front as any arm."""
    full = body.regions
    h, w = body.size
    front = np.zeros((h, w), bool)
    ys, xs = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    for side, shoulder, elbow in (("left", LEFT_SHOULDER, LEFT_ELBOW), ("right", RIGHT_SHOULDER, RIGHT_ELBOW)):
        upper, lower = full[f"upper_arm_{side}"], full[f"lower_arm_{side}"]
        front |= (upper | lower) & skin
        if (upper & skin).sum() < RULES.bare_upper_arm_share * upper.sum():
            arm = shape.limbs_mask((f"arm_{side}",))
            if f"arm_{side}" == frame.far_arm:
                arm &= ~shape.torso_mask()
            front |= (upper & arm & sleeves) | (lower & arm)
        a, b = frame.landmarks[shoulder], frame.landmarks[elbow]
        bone = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
        x, y, bw, bh = cv2.boundingRect(upper.view(np.uint8))  # the cap matters on the upper arm only
        box = (slice(y, y + bh), slice(x, x + bw))
        cap = (xs[:, box[1]] - a[0]) * bone[0] + (ys[box[0]] - a[1]) * bone[1] < PROPORTIONS.arm_start_u * frame.unit_px
        front[box] &= ~(upper[box] & cap)
    # Built from the parts' masks at a lower resolution: without smoothing, the garment behind an arm
    # would be cut along their stairs.
    return masks.smooth_outline(front, RULES.front_smooth_px) & body.person_mask


# --- colour palettes ---------------------------------------------------------------------------


def palette(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """k-means colours (float32 ``(k, 3)``, same space as ``lab``) of the pixels in ``mask``; empty
    when there are too few."""
    pixels = lab[mask]
    if len(pixels) < RULES.palette_size * 4:
        return np.zeros((0, 3), np.float32)
    step = max(1, len(pixels) // RULES.palette_samples)
    sample = np.ascontiguousarray(pixels[::step], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)  # deterministic clusters
    _, labels, centres = cv2.kmeans(sample, RULES.palette_size, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    share = np.bincount(labels.ravel(), minlength=RULES.palette_size) / len(sample)
    return centres[share >= RULES.palette_min_share].astype(np.float32)


def _chroma_share(lab: np.ndarray, skin_lab: np.ndarray) -> np.ndarray:
    """Each pixel's lightness-normalised chroma, |(a*, b*)| / (L* + 16), as a share of the skin's (float32)."""

    def chroma(values: np.ndarray) -> np.ndarray:
        lightness = values[..., 0] * (100.0 / 255.0) + 16.0
        return np.hypot(values[..., 1] - 128.0, values[..., 2] - 128.0) / lightness

    return (chroma(lab) / max(float(chroma(np.asarray(skin_lab, np.float32))), 1e-6)).astype(np.float32)


def _unlike_skin(colours: np.ndarray, skin_lab: np.ndarray) -> np.ndarray:
    """The colours farther than :attr:`ParseRules.skin_unlike_lab8` from every skin colour."""
    if not len(colours):
        return colours
    skin = np.asarray(skin_lab, np.float32).reshape(-1, 3)
    distance = np.linalg.norm(colours[:, None, :] - skin[None, :, :], axis=2).min(axis=1)
    return colours[distance > RULES.skin_unlike_lab8]


def palette_distance(lab: np.ndarray, mask: np.ndarray, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each pixel in ``mask`` to its nearest colour, and that colour's index (float32 and
    int32 ``(H, W)``; inf and 0 outside ``mask`` or without colours)."""
    dist = np.full(mask.shape, np.inf, np.float32)
    index = np.zeros(mask.shape, np.int32)
    if not len(colours) or not mask.any():
        return dist, index
    pixels = lab[mask]
    d2 = (pixels * pixels).sum(axis=1)[:, None] - 2.0 * pixels @ colours.T + (colours * colours).sum(axis=1)[None, :]
    dist[mask] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    index[mask] = d2.argmin(axis=1)
    return dist, index


# --- where things end ---------------------------------------------------------------------------


def _middle_strip(half: _Half, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(ys, xs)`` of ``mask`` within :attr:`ParseRules.split_strip_u` of the torso's axis."""
    lm = half.landmarks
    top = 0.5 * (lm[LEFT_SHOULDER] + lm[RIGHT_SHOULDER])
    down = 0.5 * (lm[LEFT_HIP] + lm[RIGHT_HIP]) - top
    across = np.array([down[1], -down[0]]) / max(float(np.linalg.norm(down)), 1e-6)
    ys, xs = np.nonzero(mask)
    keep = np.abs((xs - top[0]) * across[0] + (ys - top[1]) * across[1]) < RULES.split_strip_u * half.unit
    return ys[keep], xs[keep]


def _skin_band(half: _Half, skin: np.ndarray) -> tuple[float, float] | None:
    """A bare band across the middle of the body (a midriff): ``(start, end)`` depths, or None.

    Bins down the middle strip where most of the body is skin; the first run of
    :attr:`ParseRules.skin_band_bins` or more such bins, between clothing above (the top) and
    clothing below (the bottoms).
    """
    middle = half.person & (half.regions["torso"] | half.legs) & ~half.arms
    ys, xs = _middle_strip(half, middle)
    if not len(ys):
        return None
    n = RULES.skin_band_bins
    edges = np.arange(RULES.skin_band_from_tl, RULES.split_tl[1] + 1e-6, RULES.split_bin_tl)
    idx = np.searchsorted(edges, half.depth[ys, xs])
    total = np.bincount(idx, minlength=len(edges) + 1)
    share = np.bincount(idx[skin[ys, xs]], minlength=len(edges) + 1) / np.maximum(total, 1)
    is_bare = (share >= RULES.skin_band_share) & (total > 0)
    is_clothed = (share < 1 - RULES.skin_band_share) & (total > 0)
    clothed_run = bare_run = 0
    covered = False  # a clothed stretch (the top) came first: a V-neck above the top is not a midriff
    for i in range(1, len(edges)):
        clothed_run = clothed_run + 1 if is_clothed[i] else 0
        covered |= clothed_run >= n + 1
        bare_run = bare_run + 1 if is_bare[i] else 0
        if covered and bare_run >= n:
            start = end = i - bare_run + 1
            while end + 1 < len(edges) and is_bare[end + 1]:
                end += 1
            # Clothing again below it (the bottoms): bare legs below shorts are not a midriff.
            after = is_clothed[end + 1 : end + 1 + n]
            return (float(edges[start - 1]), float(edges[end])) if len(after) == n and after.all() else None
    return None


def _split_depth(half: _Half, clothed: np.ndarray, top_like: np.ndarray) -> float:
    """Depth (torso lengths) of the boundary between the top and the bottoms: the one that maximises
    top-like clothing above plus bottom-like below down the middle strip, snapped to the sharpest
    colour step nearby (the hem itself). With no bottoms in view it is the end of the search range."""
    ys, xs = _middle_strip(half, clothed)
    lab, d, t = half.lab[ys, xs], half.depth[ys, xs], top_like[ys, xs]
    edges = np.arange(RULES.split_tl[0], RULES.split_tl[1] + 1e-6, RULES.split_bin_tl)
    if not len(d):
        return float(RULES.split_tl[1])
    idx = np.clip(np.searchsorted(edges, d), 0, len(edges))
    tops = np.bincount(idx[t], minlength=len(edges) + 1).astype(np.float64)
    bottoms = np.bincount(idx[~t], minlength=len(edges) + 1).astype(np.float64)
    # score(k) = top-like in bins < k + bottom-like in bins >= k
    above = np.concatenate([[0.0], np.cumsum(tops)])[:-1]
    score = above + bottoms.sum() - np.concatenate([[0.0], np.cumsum(bottoms)])[:-1]
    k = int(np.clip(np.argmax(score) - 1, 0, len(edges) - 1))
    return float(edges[_sharpest_step(lab, idx, k, len(edges))])


def _sharpest_step(lab: np.ndarray, idx: np.ndarray, k: int, n_bins: int) -> int:
    """The bin near ``k`` with the largest colour step between the bins above and below it, or ``k``."""
    reach = RULES.split_snap_bins
    medians = np.full((n_bins + 1, 3), np.nan, np.float32)
    for i in range(max(0, k - reach), min(n_bins, k + reach + 1) + 1):
        sel = idx == i
        if sel.sum() >= 10:
            medians[i] = np.median(lab[sel], axis=0)
    best, best_step = k, RULES.split_min_step_lab8
    for i in range(max(2, k - reach), min(n_bins - 1, k + reach) + 1):
        above, below = medians[i - 1 : i + 1], medians[i + 1 : i + 3]
        if np.isnan(above).any() or np.isnan(below).any():
            continue
        step = float(np.linalg.norm(above.mean(axis=0) - below.mean(axis=0)))
        if step > best_step:
            best, best_step = i, step
    return best


def _hem(half: _Half, top: np.ndarray) -> float | None:
    """Depth (torso lengths) where the old top ends down the middle of the body, or None. Where it runs on
    out of the photo, below the photo's edge (see :attr:`ParseRules.hem_out_of_photo_tl`)."""
    ys, xs = _middle_strip(half, top)
    if len(ys) < RULES.hem_min_pixels:
        return None
    depths = half.depth[ys, xs]
    if ys.max() >= top.shape[0] - 1:
        return float(depths.max()) + RULES.hem_out_of_photo_tl
    return float(np.percentile(depths, RULES.hem_percentile))


def _one_piece(pal: _Palettes) -> bool:
    """Whether the clothing on the chest and on the thighs is one garment: the thighs are clothed and
    each zone's clothing has the other zone's colours."""
    if pal.thighs.sum() < RULES.one_piece_cover * max(int(pal.thigh_zone.sum()), 1) or not pal.chest.any():
        return False
    return bool(np.mean(pal.d_top[pal.thighs] < RULES.one_piece_lab8) >= RULES.one_piece_share
                and np.mean(pal.d_bottom[pal.chest] < RULES.one_piece_lab8) >= RULES.one_piece_share)


def _above_ankles(half: _Half, skin: np.ndarray) -> np.ndarray:
    """Pixels beside each ankle joint and above the line across its shin :attr:`ParseRules.ankle_margin_u`
    below it, or further down, above the top of the bare ankle where ``skin`` (bool, at the parse's
    resolution) shows below that line: a hem that breaks over the shoe ends where the ankle's skin begins (the
    joint's landmark sits a few cm above or below the ankle bone from photo to photo)."""
    h, w = half.person.shape
    lm, unit = half.landmarks, half.unit
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    above = np.zeros((h, w), bool)
    for knee, ankle in ((LEFT_KNEE, LEFT_ANKLE), (RIGHT_KNEE, RIGHT_ANKLE)):
        shin = lm[ankle] - lm[knee]
        shin = shin / max(float(np.linalg.norm(shin)), 1e-6)
        along = (xs - lm[ankle][0]) * shin[0] + (ys - lm[ankle][1]) * shin[1]
        side = np.abs((xs - lm[ankle][0]) * shin[1] - (ys - lm[ankle][1]) * shin[0]) < RULES.ankle_half_width_u * unit
        reach = RULES.ankle_margin_u * unit
        bare = side & skin & (along >= reach) & (along <= RULES.ankle_skin_reach_u * unit)
        if bare.sum() >= RULES.ankle_skin_min_px:
            reach = max(reach, float(np.percentile(along[bare], RULES.ankle_skin_percentile)))
        above |= side & (along < reach)
    return above


def _long_hair(half: _Half, head_hair: np.ndarray, clothed: np.ndarray, d_top: np.ndarray) -> np.ndarray:
    """Hair falling below the shoulders (bool, at the parse's resolution): clothing-classified pixels
    in the upper chest with the colours of the hair on the head (and clearly not the top's),
    connected to the head. Black hair on a black top cannot be told apart and stays under the new
    garment; hair that ends above the shoulders hangs over nothing (a light print there is not hair)."""
    colours = palette(half.lab, head_hair)
    if not len(colours) or not (head_hair & (half.depth > RULES.long_hair_from_tl)).any():
        return np.zeros_like(clothed)
    zone = clothed & (half.depth < RULES.hair_depth_tl)
    d_hair, _ = palette_distance(half.lab, zone, colours)
    candidate = zone & (d_hair < RULES.hair_lab8) & (d_hair * RULES.hair_margin < d_top)
    if not candidate.any():
        return candidate
    return masks.keep_touching(candidate, masks.dilate(head_hair, 2) & candidate)


# --- garment masks -----------------------------------------------------------------------------


def _connected_to(mask: np.ndarray, seeds: np.ndarray, strap: float) -> np.ndarray:
    """The parts of ``mask`` connected to ``seeds`` through more than thin straps.

    An opening cuts links narrower than ``strap`` px (a strap of the top hanging down to the
    trousers) and splits the mask into solid parts; every pixel of the mask then goes with the
    solid part nearest to it, and the parts touching ``seeds`` are kept.
    """
    whole = masks.keep_touching(mask, seeds)
    if not whole.any():
        return whole
    opened = cv2.morphologyEx(whole.astype(np.uint8), cv2.MORPH_OPEN, masks.disc(strap / 2))
    count, parts = cv2.connectedComponents(opened, connectivity=8)
    if count <= 2:  # one solid part (or none): nothing was cut
        return whole
    keep = np.zeros(count, bool)
    keep[parts[seeds & (parts > 0)]] = True
    keep[0] = False
    if not keep.any():
        return whole
    nearest = masks.fill_nearest(parts.astype(np.int32), whole)
    return whole & keep[nearest]


def _solid(mask: np.ndarray, close: float, hole: float, skin: np.ndarray, limb_skin: np.ndarray) -> np.ndarray:
    """A garment's mask with small gaps closed and enclosed pockets (a print) filled, but not over the
    body's own skin: skin that the filling took in on the limbs or neck, or that joins skin outside
    the garment (an arm between a tank top's front and back), stays out."""
    solid = masks.fill_small_holes(masks.close(mask, close), hole)
    taken = solid & ~mask & skin
    if taken.any():
        solid &= ~(taken & limb_skin)
        solid &= ~masks.keep_touching(skin & (taken | ~solid), skin & ~solid)
    return solid
