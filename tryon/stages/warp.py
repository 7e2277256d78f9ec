"""Warp a garment photo onto a body: a smooth body warp plus per-limb warps.

Input: :class:`tryon.stages.garment.GarmentAnalysis` and :class:`tryon.stages.body.BodyAnalysis`.
Output: :class:`WarpedGarment`, the garment in the person photo's frame.

How it works. Every piece of the garment gets an *inverse* map (person pixel -> garment
photo pixel), evaluated on a coarse grid, upsampled to full resolution and applied with
one ``cv2.remap`` (one resampling of the garment photo, so prints stay sharp):

* the garment's body (torso, and for dresses the skirt) is a thin-plate spline through
  control points: neckline -> base of the neck, shoulder seams -> tops of the shoulders,
  armpits, side seams and hem -> the body's outline at the same depth. Depth scales with
  the garment's own proportions (a crop top stays cropped, a tunic stays long); widths come
  from the person's silhouette at each level, so a turned body still gets a full-width top;
* each sleeve and each trouser leg follows its bones piecewise (shoulder -> elbow -> wrist,
  waist -> knee -> ankle): a product-photo sleeve that hangs at 45 degrees is rotated and
  stretched along the upper arm and the forearm, so it follows a bent arm;
* skirts are a spline from the waist to the hem, flaring with the garment.

Sides follow :mod:`tryon.stages.body`: ``left``/``right`` are the wearer's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from . import masks
from .garment import GarmentAnalysis
from .person import PROPORTIONS, ray_extent, sample_mask

if TYPE_CHECKING:
    from .body import BodyAnalysis, PersonModel


@dataclasses.dataclass(frozen=True)
class MapRules:
    """How the inverse maps are sampled and applied (px)."""

    step_px: int = 8  # px between the coarse map samples; upsampled bilinearly to every pixel
    # Thin-plate regularisation (SciPy's kernel r^2 log r, on coordinates in body units): stiff but not affine.
    tps_smoothing: float = 5e-4
    edge_erode_px: int = 1  # output px of the garment photo's anti-aliased/JPEG halo trimmed off its outline
    max_edge_erode_px: int = 8  # ...never more than this many garment px, however much the map shrinks the photo
    keypoint_search_px: int = 12  # a keypoint belongs to the piece whose mask comes this close to it
    background_sample_step_px: int = 4  # px between the garment photo's background samples


MAPS = MapRules()


@dataclasses.dataclass(frozen=True)
class CleanRules:
    """Cleaning the garment photo's outline before it is warped."""

    # The mask's outline band (this share of the garment's size, the square root of its area) is
    # checked for the photo's background colour: JPEG halos and background caught in notches
    # (armpits, between a sleeve and the body) would paint white specks along the garment's edges.
    edge_band_share: float = 0.015
    edge_band_min_px: int = 2
    # RGB distance: garment colours this close to the background are kept as they are.
    background_tolerance_rgb: float = 40.0
    # The outline's own px (anti-aliased, a blend with the background; a px or two of the render, several
    # of a large product photo): this share of the band.
    halo_share: float = 0.5
    neck_cut_min_drop_px: float = 2.0  # px: a neckline whose centre is not this far below its corners is not cut


CLEAN = CleanRules()



@dataclasses.dataclass(frozen=True)
class FitRules:
    """How a flat product photo sits on a body (``_u``: body units, ``_tl``: torso lengths, ``_share``: of
    the garment's own measure)."""

    # A garment laid flat spans half its circumference; seen from the front on a body it is narrower.
    flat_to_front: float = 1.2
    fit_tolerance: float = 1.3  # a garment stretches or gathers by at most this factor to follow the body...
    # ...except that below the armpits a top is never narrower than the torso it is worn on (up to
    # this factor of its own width): the wearer buys her size, so a fuller body is covered to its sides.
    body_cover_max: float = 1.8
    # Below the hips a skirt widens over the body (spread legs, tight trousers' hips) but not over old clothes
    # that stand off it by more than this share of the bare body's width (a flared skirt, wide trousers).
    skirt_body_share: float = 1.2
    strap_inset_u: float = 0.08  # a sleeveless top's straps sit this far inside where a seam would
    min_torso_half_width_u: float = 0.3  # a torso is never narrower than this (each side of the centre line)
    # A lower garment's waist is measured on the outline, where an arm or a hand resting on the hip joins it
    # (a sleeve, a hand in a pocket, a bag): each side is at most waist_max_share x the bare body's there (over
    # the eval photos clothed waists without an arm measure 1.2-1.6) and the wider side at most
    # waist_side_ratio x the narrower (a body is near symmetric about its centre line from the front).
    waist_max_share: float = 1.6
    waist_side_ratio: float = 1.25
    neck_ring_depth_u: float = 0.25  # the first this-much of a neckline's drop wraps around the neck...
    neck_ring_squash: float = 0.4  # ...and looks this much shallower from the front
    neckline_points: tuple[float, float] = (1 / 3, 2 / 3)  # control points along each chord neck corner -> centre
    # ...and along each shoulder line, neck corner -> seam, on the outline itself (the garment's edge is trimmed
    # by a px as it is drawn): one in the middle, set inside the outline, left the edge a few px below a sloping
    # shoulder's outline on either side of it, a strip of the old top painted as skin (v10's, v61's shoulders).
    shoulder_line_points: tuple[float, ...] = (0.25, 0.5, 0.75)
    hair_probe_px: float = 3.0  # ...an outline the person goes on this far above is hair's lower edge
    neck_hug_u: float = 0.25  # a neckline this narrow (half width) hugs the neck: its corners find the neck's base
    # An off-the-shoulder top (see garment.off_the_shoulder) sits with its top edge round the upper arms, this
    # far (torso lengths) down them from the shoulder seams (about 7 cm on a 50 cm torso); a strapless one's
    # top corners sit on the torso's sides this far below the shoulder line (under the arms, above the bust).
    off_shoulder_drop_tl: float = 0.14
    strapless_top_tl: float = 0.22
    strap_span_share: float = 0.15  # of the shoulder span: a neck corner this near the shoulder point is a strap top
    # The shoulder span sets the scale only while it agrees with the torso length within
    # FIT.scale_tolerance (a body turned sideways shows narrow shoulders, but its torso keeps its length).
    torso_per_shoulder: float = 1.5  # torso length (shoulder line to hip joints) per shoulder-seam span
    scale_tolerance: float = 1.3
    side_levels: int = 6  # levels between the armpits and the hem where the side seams are placed...
    side_spacing_tl: float = 0.15  # ...at least one per this many torso lengths
    armhole_points: tuple[float, float] = (1 / 3, 2 / 3)  # control points along the armhole seam (shoulder -> armpit)
    # Bounds on stretching a top's length (armpits to hem) to meet a given hem. A boxy tee scaled to the
    # shoulders lands short of an old hem it nearly meets: reaching it takes up to about 1.45 (v05's, v36's).
    hem_stretch: tuple[float, float] = (0.75, 1.6)
    # Meeting the old clothing (see :func:`meet_old_hem`): a new top whose hem lands this close (torso
    # lengths) above / below the old top's hem is placed to meet it (nearly matching cuts should not
    # leave a sliver of skin or old shirt)...
    hem_snap: tuple[float, float] = (0.2, 0.1)
    hem_overlap: float = 0.02  # ...and then reaches this far past it, so no sliver of the old hem shows;
    # trousers whose waistband lands up to this far below the top's hem are raised to reach this far
    # under it (the top hangs over the waistband).
    waist_snap: float = 0.15
    waist_tuck: float = 0.02


FIT = FitRules()



@dataclasses.dataclass(frozen=True)
class SeamRules:
    """Where the pieces of a garment meet."""

    close_u: float = 0.04  # gaps narrower than about twice this (body units) between a sleeve and the body close


SEAMS = SeamRules()


@dataclasses.dataclass(frozen=True)
class LimbRules:
    """Sleeves and trouser legs along the bones (``_u``: body units, ``_share``: of the limb or seam)."""

    leg_stations: int = 9  # samples along a trouser leg where its widths are measured
    seam_fade_share: float = 0.6  # a trouser leg's waistband shear fades out over this share of the thigh
    max_seam_shear: float = 2.0
    leg_split_share: float = 0.3  # above this share of the thigh a trouser leg's inner side reaches the midline...
    crotch_stations: int = 4  # ...or above the garment's crotch, held at this many stations
    leg_overlap_u: float = 0.015  # above the crotch the two legs overlap this much at the midline
    long_sleeve_end_share: float = 1.02  # a long sleeve ends just past the wrist (of the shoulder-wrist length)
    full_leg_end_share: float = 1.0  # a full-length trouser leg ends at the ankle (of the waist-ankle length)
    seam_overlap_u: float = 0.04  # a sleeve's seam overlaps the garment's body by this much...
    seam_cut_below_share: float = 0.5  # ...and is cut off inside it, down to this share of the seam below the armpit
    sleeve_stations: int = 6  # control points along each sleeve edge
    cuff_probe_share: float = 0.93  # a cuff's or trouser hem's width is measured this far along the axis
    joint_blend_u: float = 0.15  # bone directions blend over this length around the elbow / knee
    sleeve_margin_u: float = 0.12  # a sleeve may reach this far past its outline's control points
    min_sleeve_span_u: float = 0.05  # a sleeve runs at least this far past its seam (of the unit)


LIMBS = LimbRules()


@dataclasses.dataclass(frozen=True, eq=False)
class WarpedGarment:
    """The garment placed on the body, in the person photo's pixel frame.

    Attributes:
        rgb: RGB uint8 ``(H, W, 3)``, warped garment colours (undefined outside ``alpha``).
        alpha: float32 ``(H, W)`` in [0, 1], garment coverage (soft edges).
        parts: part name ("body", "sleeve_left", "sleeve_right", "leg_left", "leg_right")
            -> bool ``(H, W)`` mask of the warped part.
        category: "upper", "lower" or "dress".
        sleeve: the garment's sleeve length (see :data:`tryon.stages.garment.SLEEVE_LENGTHS`).
        keypoints: garment keypoint name -> float32 ``(2,)`` pixel ``(x, y)`` where the warp put
            it in the person photo (found by inverting the maps; absent when not drawn).
        hem_depth: how far below the shoulder joints' midpoint the hem lies (for trousers: the
            lowest leg opening), in px along the torso axis.
        waist_depth: trousers and skirts: how far below the shoulder joints' midpoint the
            waistband lies (px along the torso axis); None for tops and dresses.
        background_rgb: float32 ``(3,)``, the garment photo's background colour (its white point),
            or None when the photo has no background around the garment.
        garment: the :class:`tryon.stages.garment.GarmentAnalysis` as the warp used it: neck opening
            cut out, background-coloured edge pixels repainted (to warp it again with another
            hem: ``warp_garment(warped.garment, body, hem_depth=..., clean=False)``).
        old_hem_tl: the old clothing's hem (torso lengths) the warp was asked to meet (see
            :func:`meet_old_hem`), or None when it was not.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    parts: dict[str, np.ndarray]
    category: str
    sleeve: str
    keypoints: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    hem_depth: float = 0.0
    waist_depth: float | None = None
    background_rgb: np.ndarray | None = None
    garment: GarmentAnalysis | None = None
    old_hem_tl: float | None = None


# =================================================================================================
# Geometry helpers
# =================================================================================================


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else np.array([0.0, 1.0])


def _perp(v: np.ndarray) -> np.ndarray:
    """``v`` rotated by -90 degrees in image coordinates (x right, y down)."""
    return np.array([v[1], -v[0]])


def _run_extents(mask: np.ndarray, origin: np.ndarray, normal: np.ndarray, max_px: float) -> tuple[float, float]:
    """Extents (along +normal, along -normal) of the mask run through ``origin`` (or nearest to it)."""
    steps = np.arange(-int(max_px), int(max_px) + 1, dtype=np.float64)
    hits = sample_mask(mask, origin[None, :] + steps[:, None] * normal[None, :])
    if not hits.any():
        return 0.0, 0.0
    centre = len(steps) // 2
    if not hits[centre]:
        centre = int(np.flatnonzero(hits)[np.argmin(np.abs(np.flatnonzero(hits) - centre))])
    hi = centre
    while hi + 1 < len(hits) and hits[hi + 1]:
        hi += 1
    lo = centre
    while lo - 1 >= 0 and hits[lo - 1]:
        lo -= 1
    return float(steps[hi]), float(-steps[lo])


# =================================================================================================
# Thin-plate spline
# =================================================================================================


class _Spline:
    """Regularised thin-plate spline from ``src`` points (N, 2) to ``dst`` values (N, 2) (SciPy's
    ``RBFInterpolator``), on coordinates centred and divided by ``scale`` (the body unit) so the
    smoothing is in body units whatever the photo's size."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, scale: float) -> None:
        self.centre = src.mean(axis=0)
        self.scale = max(scale, 1.0)
        points = (src - self.centre) / self.scale
        try:
            self._map = RBFInterpolator(points, dst, kernel="thin_plate_spline", smoothing=MAPS.tps_smoothing)
        except np.linalg.LinAlgError:  # control points on one line: the best affine map instead
            design = np.hstack([np.ones((len(points), 1)), points])
            coef = np.linalg.lstsq(design, dst, rcond=None)[0]
            self._map = lambda p: np.hstack([np.ones((len(p), 1)), p]) @ coef

    def __call__(self, points: np.ndarray) -> np.ndarray:
        p = (points.reshape(-1, 2) - self.centre) / self.scale
        return np.asarray(self._map(p)).reshape(points.shape)


# =================================================================================================
# The body: centre line, outline widths, shoulders, limbs
# =================================================================================================


# =================================================================================================
# Pieces: a part of the garment photo and its inverse map
# =================================================================================================


@dataclasses.dataclass
class _Piece:
    """One garment part with its inverse map (person pixel -> garment pixel) on a box."""

    name: str
    mask: np.ndarray  # bool (h, w) in the garment photo
    inverse: Callable[[np.ndarray], np.ndarray]  # float (N, 2) person points -> (N, 2) garment points
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the person photo (x1, y1 exclusive)
    clip: np.ndarray | None = None  # polygon (N, 2) in the person photo the piece stays near
    clip_margin: float = 0.0  # px the piece may extend past ``clip``
    # A sleeve stops at its seam: (seam start, seam end, unit normal towards the torso). The
    # piece is dropped on the torso's side of the seam, down to a little below its end.
    seam: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _box_around(points: np.ndarray, margin: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = size
    x0, y0 = np.floor(points.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + margin).astype(int)
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def _dense_map(piece: _Piece) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coarse grid of the inverse map upsampled to every pixel of the box.

    Returns ``(map_x, map_y, grid)``: float32 ``(bh, bw)`` maps for ``cv2.remap`` and the
    coarse grid of garment positions ``(gh, gw, 2)`` with its sample positions implied by
    ``MAPS.step_px`` (used to locate keypoints).
    """
    x0, y0, x1, y1 = piece.box
    step = MAPS.step_px
    gw, gh = -(-(x1 - x0) // step), -(-(y1 - y0) // step)
    # cv2.resize by an integer factor samples source cell i at (i + 0.5) * step - 0.5.
    xs = x0 + (np.arange(gw) + 0.5) * step - 0.5
    ys = y0 + (np.arange(gh) + 0.5) * step - 0.5
    grid_pts = np.stack(np.meshgrid(xs, ys), axis=-1)
    grid = piece.inverse(grid_pts.reshape(-1, 2)).reshape(gh, gw, 2)
    # Bounded by construction: a point the map sends off the garment photo (or to inf/nan) samples
    # nothing, so it is pinned just outside the photo, where the remap reads the empty border.
    height, width = piece.mask.shape
    grid = np.nan_to_num(grid, nan=-1.0, posinf=-1.0, neginf=-1.0)
    grid = np.clip(grid, -1.0, (width, height)).astype(np.float32)
    full = cv2.resize(grid, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)
    full = full[: y1 - y0, : x1 - x0]
    return np.ascontiguousarray(full[..., 0]), np.ascontiguousarray(full[..., 1]), grid


def _locate(grid: np.ndarray, box: tuple[int, int, int, int], target: np.ndarray) -> np.ndarray | None:
    """Person-photo point whose garment position is ``target``: inverse of the coarse grid."""
    d2 = ((grid - target[None, None, :]) ** 2).sum(axis=2)
    gy, gx = np.unravel_index(int(np.argmin(d2)), d2.shape)
    if d2[gy, gx] > (3 * MAPS.step_px) ** 2 * 4:
        return None
    # One Newton step with the local Jacobian of the grid.
    gx1 = min(gx + 1, grid.shape[1] - 1) if gx + 1 < grid.shape[1] else gx - 1
    gy1 = min(gy + 1, grid.shape[0] - 1) if gy + 1 < grid.shape[0] else gy - 1
    jx = (grid[gy, gx1] - grid[gy, gx]) / ((gx1 - gx) * MAPS.step_px or 1)
    jy = (grid[gy1, gx] - grid[gy, gx]) / ((gy1 - gy) * MAPS.step_px or 1)
    jac = np.stack([jx, jy], axis=1).astype(np.float64)
    pos = np.array([box[0] + (gx + 0.5) * MAPS.step_px - 0.5, box[1] + (gy + 0.5) * MAPS.step_px - 0.5])
    if abs(np.linalg.det(jac)) > 1e-6:
        delta = np.linalg.solve(jac, target - grid[gy, gx])
        if np.linalg.norm(delta) < 2 * MAPS.step_px:
            pos = pos + delta
    return pos.astype(np.float32)


# =================================================================================================
# Garment measurements
# =================================================================================================


def _row_span(mask: np.ndarray, y: float) -> tuple[float, float] | None:
    """(x_min, x_max) of a garment mask row (image coordinates), or None when the row is empty."""
    yi = int(np.clip(round(y), 0, mask.shape[0] - 1))
    xs = np.flatnonzero(mask[yi])
    if not xs.size:
        return None
    return float(xs[0]), float(xs[-1])


def _kp(garment: GarmentAnalysis, name: str) -> np.ndarray | None:
    p = garment.keypoints.get(name)
    return None if p is None else np.asarray(p, np.float64)


# =================================================================================================
# Torso and skirt: thin-plate spline through outline control points
# =================================================================================================


def _side_half_width(want: float, body: float, skirt: bool, cover: bool = False) -> float:
    """Half-width of a garment at one level: the body's outline within what the fabric allows.

    ``want``: the garment's own half-width seen from the front; ``body``: the silhouette's
    (0 when unmeasured). A top follows the body, stretched or gathered by at most
    ``FIT.fit_tolerance`` (with ``cover``, below the armpits, it reaches the body's side up to
    ``FIT.body_cover_max``); a skirt keeps its own flare and only widens over spread legs.
    """
    if body <= 0:
        return want
    if skirt:
        return max(want, min(body, FIT.fit_tolerance * want))
    upper = want * (FIT.body_cover_max if cover else FIT.fit_tolerance)
    return float(np.clip(body, want / FIT.fit_tolerance, upper))


@dataclasses.dataclass
class _TorsoFit:
    """How a top's or dress's body sits on the person: garment rows -> depths, and the seams.

    Garment rows (y, px in the garment photo) map to depths (px below the shoulder midpoint) at
    ``scale`` body px per garment px from the shoulder seams down to the armpits, and ``stretch``
    times that below them (to meet a given hem).
    """

    garment: GarmentAnalysis
    part: np.ndarray  # bool, the body part's mask in the garment photo
    kp: dict[str, np.ndarray]
    seams: tuple[np.ndarray, np.ndarray]  # garment shoulder points (wearer's left, right)
    body_seams: tuple[np.ndarray, np.ndarray]  # where they go on the person
    centre_x: float
    shoulder_y: float
    armpit_y: float
    hem_y: float
    scale: float
    base_depth: float  # the shoulder seams' depth
    stretch: float = 1.0

    def depth(self, y: float) -> float:
        if y <= self.armpit_y:
            return self.base_depth + (y - self.shoulder_y) * self.scale
        return self.base_depth + ((self.armpit_y - self.shoulder_y) + (y - self.armpit_y) * self.stretch) * self.scale

    @property
    def seam_span(self) -> float:
        return max(float(np.linalg.norm(self.seams[0] - self.seams[1])), 1.0)


def _fit_torso(
    garment: GarmentAnalysis, person: PersonModel, part: np.ndarray, dress: bool, hem_depth: float | None
) -> _TorsoFit:
    """The garment's levels and the scale: shoulder seams on shoulder seams, bounded by the torso
    length (turned bodies); a sleeveless top's shoulder points are strap tops, a little inside."""
    kp = {name: _kp(garment, name) for name in garment.keypoints}
    ys, xs = np.nonzero(part)
    top_y, bottom_y = float(ys.min()), float(ys.max())
    sh_l, sh_r = kp.get("shoulder_left"), kp.get("shoulder_right")
    if sh_l is None or sh_r is None:  # no shoulder points: the top corners of the mask
        span = _row_span(part, top_y + 0.05 * (bottom_y - top_y)) or (xs.min(), xs.max())
        sh_r = np.array([span[0], top_y + 0.05 * (bottom_y - top_y)])
        sh_l = np.array([span[1], sh_r[1]])
    centre_x = 0.5 * (sh_l[0] + sh_r[0])
    if kp.get("neck_left") is not None and kp.get("neck_right") is not None:
        centre_x = 0.5 * (kp["neck_left"][0] + kp["neck_right"][0])
    shoulder_y = 0.5 * (sh_l[1] + sh_r[1])
    if garment.off_shoulder:
        body_l, body_r = _off_shoulder_seams(person, sleeved=garment.sleeve != "none")
    else:
        inset = FIT.strap_inset_u if garment.sleeve == "none" else 0.0
        body_l, body_r = (person.silhouette.shoulder_seam(side, inset) for side in ("left", "right"))
    g_span = max(float(np.linalg.norm(sh_l - sh_r)), 1.0)
    by_length = person.frame.torso_px / (FIT.torso_per_shoulder * g_span)
    scale = float(np.clip(float(np.linalg.norm(body_l - body_r)) / g_span,
                          by_length / FIT.scale_tolerance, by_length * FIT.scale_tolerance))
    ap_l, ap_r = kp.get("armpit_left"), kp.get("armpit_right")
    armpit_y = 0.5 * (ap_l[1] + ap_r[1]) if ap_l is not None and ap_r is not None else (
        shoulder_y + 0.25 * (bottom_y - shoulder_y))
    hl, hr = kp.get("hem_left"), kp.get("hem_right")
    hem_y = min(bottom_y, 0.5 * (hl[1] + hr[1])) if hl is not None and hr is not None else bottom_y
    fit = _TorsoFit(garment=garment, part=part, kp=kp, seams=(sh_l, sh_r), body_seams=(body_l, body_r),
                    centre_x=centre_x, shoulder_y=shoulder_y, armpit_y=armpit_y, hem_y=hem_y, scale=scale,
                    base_depth=person.frame.depth_px(0.5 * (body_l + body_r)))
    if dress and hem_depth is None:
        # A dress hangs from the shoulders at its own length, but never over the feet.
        lowest = person.frame.lowest_hem_px()
        if lowest is not None and fit.depth(hem_y) > lowest:
            hem_depth = lowest
    if hem_depth is not None and hem_y > armpit_y + 1:
        wanted = hem_depth - fit.depth(armpit_y)
        fit.stretch = float(np.clip(wanted / ((hem_y - armpit_y) * scale), *FIT.hem_stretch))
    return fit


def _off_shoulder_seams(person: PersonModel, *, sleeved: bool) -> tuple[np.ndarray, np.ndarray]:
    """Where an off-the-shoulder garment's top corners (its shoulder points) go, wearer's left and right: a
    sleeved one's round the upper arms, :attr:`FitRules.off_shoulder_drop_tl` down each arm from the shoulder
    seam; a strapless one's on the torso's sides :attr:`FitRules.strapless_top_tl` below the shoulders."""
    frame = person.frame
    if not sleeved:
        depth = FIT.strapless_top_tl * frame.torso_px
        half = float(person.shape.half_width_px(FIT.strapless_top_tl))
        return frame.centre(depth) + half * frame.across, frame.centre(depth) - half * frame.across
    seams = []
    for side in ("left", "right"):
        joint, elbow = frame.chain(f"arm_{side}")[:2]
        drop = FIT.off_shoulder_drop_tl * frame.torso_px
        seams.append(person.silhouette.shoulder_seam(side) + drop * _unit(elbow - joint))
    return seams[0], seams[1]


def _torso_piece(
    garment: GarmentAnalysis, person: PersonModel, part: np.ndarray, dress: bool, hem_depth: float | None = None
) -> tuple[_Piece, float, float, dict[str, np.ndarray]]:
    """Body of a top or dress: a thin-plate spline through the shoulder seams, the neckline and the
    side seams down to the hem.

    ``hem_depth``: put the hem this far (px) below the shoulder midpoint instead of where the
    garment's proportions put it (the length between armpits and hem is stretched, within
    ``FIT.hem_stretch``).

    Returns the piece, the scale (body px per garment px), the hem depth below the shoulder
    midpoint, and the body anchors (shoulder seams and armpits) the sleeves attach to.
    """
    fit = _fit_torso(garment, person, part, dress, hem_depth)
    pairs = [(fit.body_seams[0], fit.seams[0]), (fit.body_seams[1], fit.seams[1])]  # (person point, garment point)
    pairs += _neckline_pairs(fit, person)
    anchors = {"shoulder_left": fit.body_seams[0], "shoulder_right": fit.body_seams[1]}
    pairs += _side_pairs(fit, person, dress, anchors)
    src = np.array([np.asarray(p, np.float64) for p, _ in pairs])
    dst = np.array([np.asarray(g, np.float64) for _, g in pairs])
    spline = _Spline(src, dst, person.frame.unit_px)
    box = _box_around(src, 0.35 * person.frame.unit_px, person.frame.size)
    return _Piece("body", part, spline, box), fit.scale, fit.depth(fit.hem_y), anchors


def _neckline_pairs(fit: _TorsoFit, person: PersonModel) -> list[tuple[np.ndarray, np.ndarray]]:
    """Control points of the neckline: the opening keeps the garment's width (at least a neck's), its
    corners no higher than the base of the neck. A neckline is a ring around the neck seen edge-on:
    its first stretch below the corners looks much shallower on a body than laid flat."""
    frame, kp, pairs = person.frame, fit.kp, []
    nl, nr, nc = kp.get("neck_left"), kp.get("neck_right"), kp.get("neck_center")
    if nl is None or nr is None:
        return [(frame.centre(fit.depth(nc[1])), nc)] if nc is not None else []
    corner_y = 0.5 * (nl[1] + nr[1])
    corner_depth = max(fit.depth(corner_y), frame.neck_base_depth_px)
    half = max(0.5 * abs(nl[0] - nr[0]) * fit.scale, PROPORTIONS.neck_radius_u * frame.unit_px)
    corners = []
    for point, sign, seam, g_seam in ((nl, 1.0, fit.body_seams[0], fit.seams[0]),
                                      (nr, -1.0, fit.body_seams[1], fit.seams[1])):
        corner = frame.centre(corner_depth) + sign * half * frame.across
        if half <= FIT.neck_hug_u * frame.unit_px:  # a neckline close round the neck sits at its base
            corner = person.silhouette.neck_base(corner)
        pairs.append((corner, point))
        corners.append((corner, point))
        # The shoulder line between the neck and the seam follows the top of the shoulder
        # (a strap has none: its top is both the neck corner and the shoulder point).
        if abs(point[0] - g_seam[0]) < FIT.strap_span_share * fit.seam_span:
            continue
        for f in FIT.shoulder_line_points:
            g_x = point[0] + f * (g_seam[0] - point[0])
            column = np.flatnonzero(fit.part[:, int(np.clip(round(g_x), 0, fit.part.shape[1] - 1))])
            if not column.size:
                continue
            guess = corner + f * (seam - corner)
            on_top = person.silhouette.shoulder_top(guess, inset_px=0.0)
            # Where hair lies on the shoulder its lower edge is no outline: the garment goes on under it, up to that
            # edge where it is above the straight line neck corner -> seam (the old top shows below the hair), but
            # never above the corner (by the neck the hair's edge can be: the map would fold over there).
            if sample_mask(person.silhouette.person, on_top - FIT.hair_probe_px * frame.down)[()]:
                if frame.depth_px(on_top) >= frame.depth_px(guess):
                    continue
                on_top = on_top + frame.down * max(frame.depth_px(corner) - frame.depth_px(on_top), 0.0)
            pairs.append((on_top, np.array([g_x, float(column[0])])))
    if nc is not None:
        drop = max(nc[1] - corner_y, 0.0) * fit.scale
        ring = FIT.neck_ring_depth_u * frame.unit_px
        centre = frame.centre(corner_depth + FIT.neck_ring_squash * min(drop, ring) + max(drop - ring, 0.0))
        pairs.append((centre, nc))
        # The chords corner -> centre keep their shape: a deep V-neck stays a V, not a keyhole.
        for corner, point in corners:
            pairs += [(corner + f * (centre - corner), point + f * (nc - point)) for f in FIT.neckline_points]
    return pairs


def _side_pairs(
    fit: _TorsoFit, person: PersonModel, dress: bool, anchors: dict[str, np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Control points of the side seams from the armpits to the hem: the garment's own widths, at
    least the body's; levels at most FIT.side_spacing_tl apart on the body (a long dress's bodice is held as
    firmly as a top's). Fills ``anchors`` with the armpits the sleeves attach to."""
    frame, pairs = person.frame, []
    span = fit.depth(fit.hem_y) - fit.depth(fit.armpit_y)
    levels = max(FIT.side_levels, int(np.ceil(span / (FIT.side_spacing_tl * frame.torso_px))) + 1)
    legs = None  # below the hips a skirt widens over the legs, not over the old clothes' outline (made once)
    levels_found: list[tuple[float, float, tuple[float, float], float, float]] = []  # y, depth, row, half-widths
    for i, y in enumerate(np.linspace(fit.armpit_y, fit.hem_y, levels)):
        row = _row_span(fit.part, y)
        if row is None:
            continue
        g_left, g_right = row[1] - fit.centre_x, fit.centre_x - row[0]  # wearer's left is image right
        d = fit.depth(y)
        skirt = dress and d > frame.hip_depth_px
        if skirt:
            # An old skirt or wide trousers stand off the legs; they are removed where the new skirt does not
            # reach, so they do not widen it (a straight dress over a flared mini bulged to the mini's hem).
            if legs is None:
                legs = person.clothing.bare_body & person.silhouette.trunk  # not a hand or arm hanging beside
            bare = person.silhouette.half_widths(d, legs)
            b_left, b_right = (min(b, FIT.skirt_body_share * a)
                               for b, a in zip(person.silhouette.half_widths(d), bare, strict=True))
        else:
            b_left, b_right = person.silhouette.half_widths(d)
        if dress and not skirt:  # the hips are there even where a hand or forearm hides their outline
            hips = person.shape.hip_half_width_px(d)
            b_left, b_right = max(b_left, hips), max(b_right, hips)
        left, right = (_side_half_width(g * fit.scale / FIT.flat_to_front, b, skirt, cover=i > 0)
                       for g, b in ((g_left, b_left), (g_right, b_right)))
        levels_found.append((y, d, row, left, right))
    # A side seam does not dip in and out: where an arm or a hand touches the body at one level its outline jumps
    # there and back, and the spline, bent through the jump, folded the garment over at its side (a streak of
    # mirrored print). A level narrower than both its neighbours takes the narrower of theirs (never narrower:
    # the old garment would show beside it).
    widths = np.array([[left, right] for *_, left, right in levels_found]).reshape(-1, 2)
    if len(widths) > 2:
        widths[1:-1] = np.maximum(widths[1:-1], np.minimum(widths[:-2], widths[2:]))
    for i, ((y, d, row, _, _), (left, right)) in enumerate(zip(levels_found, widths, strict=True)):
        c = frame.centre(d)
        pairs += [(c + left * frame.across, np.array([row[1], y])), (c - right * frame.across, np.array([row[0], y])),
                  (c, np.array([fit.centre_x, y]))]
        if i == 0:
            anchors["armpit_left"], anchors["armpit_right"] = c + left * frame.across, c - right * frame.across
            pairs += _armhole_pairs(fit, anchors)
    return pairs


def _armhole_pairs(fit: _TorsoFit, anchors: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The armhole seam runs straight from shoulder to armpit, as the sleeve's does."""
    pairs = []
    for side, seam in (("left", fit.body_seams[0]), ("right", fit.body_seams[1])):
        g_top, g_pit = fit.kp.get(f"shoulder_{side}"), fit.kp.get(f"armpit_{side}")
        if g_top is not None and g_pit is not None:
            pairs += [(seam + f * (anchors[f"armpit_{side}"] - seam), g_top + f * (g_pit - g_top))
                      for f in FIT.armhole_points]
    return pairs


def _waist_fit(
    person: PersonModel, depth_px: float, wl: np.ndarray, wr: np.ndarray
) -> tuple[float, float, float]:
    """A lower garment's waistband ``wl`` -> ``wr`` (garment px) on the body ``depth_px`` down the centre line:
    the outline's reach there (wearer's left, right; px), less an arm or a hand resting on the hip (see
    :attr:`FitRules.waist_max_share`), and the scale (body px per garment px) that fits the band to it."""
    left, right = person.silhouette.half_widths(depth_px)
    cap = FIT.waist_max_share * float(person.shape.half_width_px(depth_px / person.frame.torso_px))
    left, right = min(left, cap), min(right, cap)
    left, right = min(left, FIT.waist_side_ratio * right), min(right, FIT.waist_side_ratio * left)
    body_waist = max(left + right, 2 * FIT.min_torso_half_width_u * person.frame.unit_px)
    return left, right, body_waist * FIT.flat_to_front / max(abs(wl[0] - wr[0]), 1.0)


def _skirt_piece(
    garment: GarmentAnalysis, person: PersonModel, part: np.ndarray, waist_depth: float
) -> tuple[_Piece, float, float]:
    """A skirt (or any lower garment without legs): waist on the waist, flaring to its hem."""
    kp = {name: _kp(garment, name) for name in garment.keypoints}
    ys, xs = np.nonzero(part)
    top_y, bottom_y = float(ys.min()), float(ys.max())
    wl, wr = kp.get("waist_left"), kp.get("waist_right")
    if wl is None or wr is None:
        span = _row_span(part, top_y + 2) or (xs.min(), xs.max())
        wr, wl = np.array([span[0], top_y]), np.array([span[1], top_y])
    centre_x = 0.5 * (wl[0] + wr[0])
    waist_y = 0.5 * (wl[1] + wr[1])
    b_left, b_right, scale = _waist_fit(person, waist_depth, wl, wr)

    def depth(y: float) -> float:
        return waist_depth + (y - waist_y) * scale

    src, dst = [], []
    for y in np.linspace(waist_y, bottom_y, FIT.side_levels + 1):
        span = _row_span(part, y)
        if span is None:
            continue
        d = depth(y)
        bl, br = (b_left, b_right) if y == waist_y else (0.0, 0.0)
        left = max((span[1] - centre_x) * scale / FIT.flat_to_front, bl)
        right = max((centre_x - span[0]) * scale / FIT.flat_to_front, br)
        c = person.frame.centre(d)
        src += [c + left * person.frame.across, c - right * person.frame.across, c]
        dst += [(span[1], y), (span[0], y), (centre_x, y)]
    src_a, dst_a = np.array(src, np.float64), np.array(dst, np.float64)
    spline = _Spline(src_a, dst_a, person.frame.unit_px)
    box = _box_around(src_a, 0.3 * person.frame.unit_px, person.frame.size)
    return _Piece("body", part, spline, box), scale, depth(bottom_y) - waist_depth


# =================================================================================================
# Limbs: sleeves and trouser legs follow the bones piecewise
# =================================================================================================


class _LimbMap:
    """Inverse map of a sleeve or trouser leg along a two-bone chain.

    A person pixel is expressed as (t, d): arc length along the chain root -> joint -> end
    (the segment is chosen by the joint's bisector, and t is clamped at the joint so the
    outside of a bend fans out instead of tearing) and signed distance from the bone
    (positive on the limb's outer side). ``t`` maps linearly to the garment's straight axis,
    ``d`` piecewise linearly between the body's and the garment's widths at that station.

    Near the root both frames are sheared so that the seam (shoulder seam -> armpit, or
    waistband side -> centre) maps onto the body's seam: without it the cap of a sleeve
    that hangs at 45 degrees in the photo would stick up above the shoulder.
    """

    def __init__(self, body: dict[str, np.ndarray | float], garment: dict[str, np.ndarray | float],
                 widths: dict[str, np.ndarray]) -> None:
        self.p0, self.p1, self.p2 = body["p0"], body["p1"], body["p2"]
        self.u1 = _unit(self.p1 - self.p0)
        self.u2 = _unit(self.p2 - self.p1)
        sign = float(body["outer_sign"])
        self.n1, self.n2 = sign * _perp(self.u1), sign * _perp(self.u2)
        self.l1 = float(np.linalg.norm(self.p1 - self.p0))
        self.bisector = _unit(self.u1 + self.u2)
        self.shear_b, self.fade_b = float(body["shear"]), float(body["fade"])
        self.g_root, self.g_axis, self.g_normal = garment["root"], garment["axis"], garment["normal"]
        self.shear_g = float(garment["shear"])
        self.t_scale = float(garment["t_scale"])  # garment px per body px along the chain
        self.w = widths  # stations (body arc length) and outer/inner widths, body and garment

    def __call__(self, points: np.ndarray) -> np.ndarray:
        p = points.reshape(-1, 2)
        first = ((p - self.p1) @ self.bisector) < 0
        r0, r1 = p - self.p0, p - self.p1
        t = np.where(first, np.minimum(r0 @ self.u1, self.l1), self.l1 + np.maximum(r1 @ self.u2, 0.0))
        d = np.where(first, r0 @ self.n1, r1 @ self.n2)
        t = t - self.shear_b * d * np.clip(1.0 - t / self.fade_b, 0.0, 1.0)  # 0 on the body's seam

        w = self.w
        ts = np.clip(t, w["stations"][0], w["stations"][-1])
        b_out, b_in = np.interp(ts, w["stations"], w["b_out"]), np.interp(ts, w["stations"], w["b_in"])
        g_out, g_in = np.interp(ts, w["stations"], w["g_out"]), np.interp(ts, w["stations"], w["g_in"])
        gd = np.where(d >= 0, d * g_out / np.maximum(b_out, 1e-3), d * g_in / np.maximum(b_in, 1e-3))

        # Undo the garment's seam shear: solve t_g - k * (1 - t_g / F)_+ = t (k = shear * d_g).
        gt = t * self.t_scale
        fade = self.fade_b * self.t_scale
        k = self.shear_g * gd
        before = gt + k
        within = (gt + k) / np.maximum(1.0 + k / fade, 0.2)
        tg = np.where(before <= 0, before, np.where(within < fade, within, gt))
        out = self.g_root[None, :] + tg[:, None] * self.g_axis[None, :] + gd[:, None] * self.g_normal[None, :]
        return out.reshape(points.shape)


def _shear(seam: np.ndarray, axis: np.ndarray, normal: np.ndarray) -> float:
    """How far along ``axis`` the seam line advances per unit of ``normal`` (clamped)."""
    across = float(np.dot(seam, normal))
    if abs(across) < 1e-6:
        return 0.0
    return float(np.clip(np.dot(seam, axis) / across, -LIMBS.max_seam_shear, LIMBS.max_seam_shear))


def _run_widths(
    mask: np.ndarray, root: np.ndarray, axis: np.ndarray, normal: np.ndarray, ts: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray]:
    """Outer/inner extents of a mask perpendicular to an axis at each station ``ts``."""
    outs, ins = [], []
    for t in ts:
        o, i = _run_extents(mask, root + t * axis, normal, reach)
        outs.append(o)
        ins.append(i)
    return np.array(outs), np.array(ins)


def _fill_small(values: np.ndarray, floor: float) -> np.ndarray:
    """Replace unmeasured (tiny) widths by the nearest measured ones, then apply a floor."""
    v = values.astype(np.float64).copy()
    good = v > 1.0
    if good.any() and not good.all():
        idx = np.arange(len(v))
        v[~good] = np.interp(idx[~good], idx[good], v[good])
    return np.maximum(v, floor)


@dataclasses.dataclass
class _LimbSpec:
    """What one sleeve or trouser leg needs: its garment axis and seam, and the body's."""

    name: str
    kind: str  # "arm" or "leg"
    part: np.ndarray  # bool mask of the piece in the garment photo
    g_seam: tuple[np.ndarray, np.ndarray]  # garment seam (outer end, inner end)
    g_end: np.ndarray  # centre of the cuff / leg opening in the garment photo
    b_seam: tuple[np.ndarray, np.ndarray]  # body seam (outer end, inner end)
    chain: list[np.ndarray]  # body joints: (shoulder|hip, elbow|knee, wrist|ankle)
    length: float  # how far along the chain (body px from the seam) the piece reaches
    scale: float  # body px per garment px across the limb
    midline: np.ndarray | None = None  # legs: the body's midline at the waist (inner side reach)
    g_crotch: np.ndarray | None = None  # legs: the garment's crotch (above it the legs meet at the midline)


def _limb_piece(spec: _LimbSpec, person: PersonModel) -> _Piece:
    """A sleeve or trouser leg warped along its bones."""
    unit = person.frame.unit_px
    g_outer, g_inner = spec.g_seam
    g_root = 0.5 * (g_outer + g_inner)
    g_axis = _unit(spec.g_end - g_root)
    g_normal = _perp(g_axis)
    if np.dot(g_normal, g_outer - g_root) < 0:
        g_normal = -g_normal
    g_len = max(float(np.linalg.norm(spec.g_end - g_root)), 1.0)

    b_outer, b_inner = spec.b_seam
    p0 = 0.5 * (b_outer + b_inner)
    p1, p2 = spec.chain[1], spec.chain[2]
    u1, u2 = _unit(p1 - p0), _unit(p2 - p1)
    outer_sign = 1.0 if np.dot(_perp(u1), b_outer - b_inner) >= 0 else -1.0
    n1, n2 = outer_sign * _perp(u1), outer_sign * _perp(u2)
    l1, l2 = float(np.linalg.norm(p1 - p0)), float(np.linalg.norm(p2 - p1))
    length = float(np.clip(spec.length, 0.1 * unit, l1 + l2 * 1.2))
    t_scale = g_len / length
    fade = LIMBS.seam_fade_share * l1

    # Widths at stations along the limb: the garment's own (seen from the front), at least the
    # limb's outline (outer side: the inner side may touch the torso or the other leg).
    stations = np.linspace(0.0, length, LIMBS.leg_stations)
    split = LIMBS.leg_split_share * l1
    if spec.midline is not None and spec.g_crotch is not None:
        # Down to the crotch the two legs are one garment: their inner sides meet on the midline,
        # held by stations close enough that no wedge opens between them.
        split = float(np.clip(np.dot(spec.g_crotch - g_root, g_axis) / t_scale, 0.0, l1))
        stations = np.unique(np.concatenate([stations, np.linspace(0.0, split, LIMBS.crotch_stations)]))
    # The opening's edge is slanted: measured on it the width is a sliver, which stretched to the leg's
    # width drew the hem's corner out into a wedge. The last stations measure just inside it.
    probes = np.minimum(stations * t_scale, LIMBS.cuff_probe_share * g_len)
    g_out, g_in = _run_widths(spec.part, g_root, g_axis, g_normal, probes, 2.0 * unit)
    g_floor = 0.02 * unit / spec.scale
    g_out, g_in = _fill_small(g_out, g_floor), _fill_small(g_in, g_floor)
    limb_name = spec.name  # "leg_left", ...: the person model's limb names
    b_out, b_in = [], []
    for i, t in enumerate(stations):
        c, n = (p0 + u1 * t, n1) if t <= l1 else (p1 + u2 * (t - l1), n2)
        bare = person.shape.limb_radius_px(limb_name, float(np.linalg.norm(c - spec.chain[0])))
        limb = max(person.silhouette.limb_half_width(c, n, limb_name), bare)
        b_out.append(max(limb, g_out[i] * spec.scale / FIT.flat_to_front))
        inner = max(limb, g_in[i] * spec.scale / FIT.flat_to_front)
        if spec.midline is not None and t <= split:
            midline = person.frame.centre(person.frame.depth_px(c))  # the body's centre line at this station's depth
            # Above the crotch: up to the midline, a little past it so the two legs never part.
            inner = abs(float(np.dot(midline - c, n))) + LIMBS.leg_overlap_u * unit
        b_in.append(inner)
    widths = {"stations": stations, "g_out": g_out, "g_in": g_in, "b_out": np.array(b_out), "b_in": np.array(b_in)}

    body = {"p0": p0, "p1": p1, "p2": p2, "outer_sign": outer_sign, "fade": fade,
            "shear": _shear(b_outer - b_inner, u1, n1)}
    garment = {"root": g_root, "axis": g_axis, "normal": g_normal, "t_scale": t_scale,
               "shear": _shear(g_outer - g_inner, g_axis, g_normal)}
    ends = [b_outer, b_inner, p0] + ([p1, p1 + u2 * (length - l1)] if length > l1 else [p0 + u1 * length])
    box = _box_around(np.array(ends), max(max(b_out), max(b_in)) + 0.2 * unit, person.frame.size)
    return _Piece(spec.name, spec.part, _LimbMap(body, garment, widths), box)


def _bone_point(chain: list[np.ndarray], t: float, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Point ``t`` px along joint -> joint -> joint (negative: before the first) and the
    bone's direction there, blended across the middle joint."""
    p0, p1, p2 = chain
    u1, u2 = _unit(p1 - p0), _unit(p2 - p1)
    l1 = float(np.linalg.norm(p1 - p0))
    point = p0 + u1 * t if t <= l1 else p1 + u2 * (t - l1)
    blend = float(np.clip((t - l1) / (LIMBS.joint_blend_u * unit) + 0.5, 0.0, 1.0))
    return point, _unit((1 - blend) * u1 + blend * u2)


class _TwoBoneMap:
    """Two splines split by the bisector at the middle joint (elbow or knee).

    One spline over the whole limb folds where a bent arm's inner edges cross; one per bone
    cannot fold, and both pass through the same control points on the bisector, so they
    meet without a seam.
    """

    def __init__(self, joint: np.ndarray, bisector: np.ndarray, upper: _Spline, lower: _Spline | None) -> None:
        self.joint, self.bisector, self.upper, self.lower = joint, bisector, upper, lower

    def __call__(self, points: np.ndarray) -> np.ndarray:
        p = points.reshape(-1, 2)
        out = self.upper(p)
        if self.lower is not None:
            below = ((p - self.joint) @ self.bisector) > 0
            if below.any():
                out[below] = self.lower(p[below])
        return out.reshape(points.shape)


@dataclasses.dataclass(frozen=True)
class _SleeveOutline:
    """A sleeve in the garment photo: its seam (shoulder point, armpit) and cuff corners (px)."""

    shoulder: np.ndarray
    armpit: np.ndarray
    cuff_out: np.ndarray  # the cuff's corner on the shoulder's side
    cuff_in: np.ndarray  # the cuff's corner on the armpit's side


def _sleeve_outline(garment: GarmentAnalysis, side: str, part: np.ndarray, reach_px: float) -> _SleeveOutline | None:
    """The outline of sleeve ``side`` (None without its seam keypoints); the cuff's width is measured
    across the sleeve axis near its end, within ``reach_px`` garment px."""
    shoulder, armpit, end = (_kp(garment, f"{k}_{side}") for k in ("shoulder", "armpit", "sleeve_end"))
    if shoulder is None or armpit is None:
        return None
    if end is None:  # cuff not found: the farthest sleeve pixel from the seam
        ys, xs = np.nonzero(part)
        far = np.argmax((xs - shoulder[0]) ** 2 + (ys - shoulder[1]) ** 2)
        end = np.array([xs[far], ys[far]], np.float64)
    root = 0.5 * (shoulder + armpit)
    axis = _unit(end - root)
    normal = _perp(axis)
    if np.dot(normal, shoulder - root) < 0:
        normal = -normal
    probe = root + LIMBS.cuff_probe_share * float(np.linalg.norm(end - root)) * axis
    out, inner = _run_extents(part, probe, normal, reach_px)
    if out + inner < 2:
        out = inner = 0.25 * float(np.linalg.norm(shoulder - armpit))
    return _SleeveOutline(shoulder=shoulder, armpit=armpit, cuff_out=end + out * normal, cuff_in=end - inner * normal)


def _sleeve_length(garment: GarmentAnalysis, g: _SleeveOutline, t_top: float, t_pit: float, arm_len: float,
                   scale: float, unit: float) -> float:
    """How far down the arm (px from the shoulder joint) the sleeve reaches: its own length, a long
    sleeve at least to the wrist. Bounds that cannot cross: an armhole reaching past the wrist (a
    garment keypoint gone astray) still leaves a sleeve at least LIMBS.min_sleeve_span_u long."""
    length = t_top + float(np.linalg.norm(g.cuff_out - g.shoulder)) * scale
    longest = LIMBS.long_sleeve_end_share * arm_len
    if garment.sleeve == "long":
        length = max(length, longest)
    return float(np.clip(length, min(max(t_top, t_pit) + LIMBS.min_sleeve_span_u * unit, longest), longest))


def _sleeve_piece(
    garment: GarmentAnalysis, side: str, person: PersonModel, scale: float, anchors: dict
) -> _Piece | None:
    """A sleeve as splines between its outline and the arm's.

    The sleeve's top edge (shoulder seam -> outer cuff corner) runs down the outside of the
    arm, its underarm edge (armpit -> inner cuff corner) down the inside, and its axis along
    the bones: a sleeve that hangs at 45 degrees in the photo follows the arm, bent or not.
    """
    part = garment.parts.get(f"sleeve_{side}")
    unit = person.frame.unit_px
    g = None if part is None or not part.any() else _sleeve_outline(garment, side, part, unit / scale)
    if g is None:
        return None
    chain = list(person.frame.chain(f"arm_{side}"))
    joint, elbow = chain[0], chain[1]
    u1, u2 = _unit(elbow - joint), _unit(chain[2] - elbow)
    l1 = float(np.linalg.norm(elbow - joint))
    torso_mid = person.frame.mid_shoulder + person.frame.down * 0.5 * person.frame.torso_px
    # The sleeve's seam sits a little over the garment's body, so the two never part.
    inward = (-person.frame.across if side == "left" else person.frame.across) * LIMBS.seam_overlap_u * unit
    b_top, b_pit = anchors[f"shoulder_{side}"] + inward, anchors[f"armpit_{side}"] + inward
    t_top, t_pit = float(np.dot(b_top - joint, u1)), float(np.dot(b_pit - joint, u1))
    length = _sleeve_length(garment, g, t_top, t_pit, l1 + float(np.linalg.norm(chain[2] - elbow)), scale, unit)
    bent = length > l1 + 0.05 * unit and t_pit < l1 - 0.05 * unit
    sign = 1.0 if np.dot(_perp(u1), joint - torso_mid) >= 0 else -1.0
    rows = _sleeve_rows(g, person, side, chain, (b_top, b_pit), (t_top, t_pit), length, bent, sign, scale)

    def spline(selected: list) -> _Spline:
        src = [p for r in selected for p in (r[0], r[1], 0.5 * (r[0] + r[1]))]
        dst = [p for r in selected for p in (r[2], r[3], 0.5 * (r[2] + r[3]))]
        return _Spline(np.array(src), np.array(dst), unit)

    split = LIMBS.sleeve_stations // 2
    lower = spline(rows[split:]) if bent else None
    limb_map = _TwoBoneMap(elbow, _unit(u1 + u2), spline(rows[: split + 1] if bent else rows), lower)
    polygon = np.array([r[0] for r in rows] + [r[1] for r in rows[::-1]])
    box = _box_around(polygon, LIMBS.sleeve_margin_u * unit, person.frame.size)
    seam_normal = _perp(_unit(b_pit - b_top))
    if np.dot(seam_normal, torso_mid - b_top) < 0:
        seam_normal = -seam_normal
    return _Piece(f"sleeve_{side}", part, limb_map, box, clip=polygon, clip_margin=LIMBS.sleeve_margin_u * unit,
                  seam=(b_top, b_pit, seam_normal))


def _sleeve_rows(
    g: _SleeveOutline, person: PersonModel, side: str, chain: list[np.ndarray],
    b_seam: tuple[np.ndarray, np.ndarray], t_seam: tuple[float, float], length: float, bent: bool, sign: float,
    scale: float,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Matched stations down the sleeve: (body out, body in, garment out, garment in) per station,
    the body's sides at least the bare arm's (or the silhouette's) half-width, the garment's seen
    from the front; a bent arm gets half the stations on each bone."""
    unit, l1 = person.frame.unit_px, float(np.linalg.norm(chain[1] - chain[0]))
    (t_top, t_pit), limb = t_seam, f"arm_{side}"

    def stations(start: float) -> np.ndarray:
        if not bent:
            return np.linspace(start, length, LIMBS.sleeve_stations)
        upper = np.linspace(start, l1, LIMBS.sleeve_stations // 2 + 1)
        return np.concatenate([upper, np.linspace(l1, length, LIMBS.sleeve_stations // 2 + 1)[1:]])

    rows = []
    for i, (t_out, t_in) in enumerate(zip(stations(t_top), stations(t_pit), strict=True)):
        shortest = LIMBS.min_sleeve_span_u * unit
        g_out = g.shoulder + (t_out - t_top) / max(length - t_top, shortest) * (g.cuff_out - g.shoulder)
        g_in = g.armpit + (t_in - t_pit) / max(length - t_pit, shortest) * (g.cuff_in - g.armpit)
        want = 0.5 * float(np.linalg.norm(g_out - g_in)) * scale / FIT.flat_to_front
        if i == 0:
            rows.append((b_seam[0], b_seam[1], g_out, g_in))
            continue
        p_out, dir_out = _bone_point(chain, t_out, unit)
        p_in, dir_in = _bone_point(chain, t_in, unit)
        n_out, n_in = sign * _perp(dir_out), sign * _perp(dir_in)
        half = max(person.silhouette.limb_half_width(p_out, n_out, limb), person.shape.limb_radius_px(limb, t_out))
        # Inside, the arm may touch the torso: only bare skin tells where it ends.
        reach = PROPORTIONS.arm_reach_u * unit
        half_in = max(half, ray_extent(person.silhouette.arm_skin, p_in, -n_in, reach, 2.0))
        rows.append((p_out + max(half, want) * n_out, p_in - max(half_in, want) * n_in, g_out, g_in))
    return rows


def _sleeve_pieces(
    garment: GarmentAnalysis, person: PersonModel, scale: float, anchors: dict[str, np.ndarray]
) -> list[_Piece]:
    pieces = [_sleeve_piece(garment, side, person, scale, anchors) for side in ("left", "right")]
    return [piece for piece in pieces if piece is not None]


def _trouser_pieces(
    garment: GarmentAnalysis, person: PersonModel, waist_depth: float
) -> tuple[list[_Piece], float, float]:
    """Each trouser leg from the waistband to its opening, split along the garment's centre line."""
    kp = {name: _kp(garment, name) for name in garment.keypoints}
    mask = garment.mask
    ys, xs = np.nonzero(mask)
    top_y = float(ys.min())
    wl, wr = kp.get("waist_left"), kp.get("waist_right")
    if wl is None or wr is None:
        span = _row_span(mask, top_y + 2) or (xs.min(), xs.max())
        wr, wl = np.array([span[0], top_y]), np.array([span[1], top_y])
    centre = np.array([0.5 * (wl[0] + wr[0]), 0.5 * (wl[1] + wr[1])])
    b_left, b_right, scale = _waist_fit(person, waist_depth, wl, wr)
    waist_centre = person.frame.centre(waist_depth)
    cols = np.arange(mask.shape[1])[None, :]
    pieces = []
    hem_depth = 0.0
    for side, waist_pt, sign in (("left", wl, 1.0), ("right", wr, -1.0)):
        half = mask & ((cols >= centre[0]) if sign > 0 else (cols < centre[0]))
        end = kp.get(f"leg_end_{side}")
        if end is None:
            hy, hx = np.nonzero(half)
            low = hy >= hy.max() - 3
            end = np.array([hx[low].mean(), hy.max()], np.float64)
        chain = list(person.frame.chain(f"leg_{side}"))
        body_side = waist_centre + sign * (b_left if sign > 0 else b_right) * person.frame.across
        root = 0.5 * (body_side + waist_centre)
        leg_len = float(np.linalg.norm(chain[1] - root) + np.linalg.norm(chain[2] - chain[1]))
        length = min(float(np.linalg.norm(end - 0.5 * (waist_pt + centre))) * scale, LIMBS.full_leg_end_share * leg_len)
        hem_depth = max(hem_depth, person.frame.depth_px(root) + length - waist_depth)
        pieces.append(_limb_piece(_LimbSpec(
            name=f"leg_{side}", kind="leg", part=half, g_seam=(waist_pt, centre), g_end=end,
            b_seam=(body_side, waist_centre), chain=chain, length=length, scale=scale, midline=waist_centre,
            g_crotch=kp.get("crotch"),
        ), person))
    return pieces, scale, hem_depth


# =================================================================================================
# Rendering the pieces
# =================================================================================================


def _render(
    pieces: list[_Piece], garment: GarmentAnalysis, person: PersonModel
) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """Remap every piece into the person frame; later pieces are drawn over earlier ones.

    Colours are resampled premultiplied by the piece's mask, so the garment photo's
    background never bleeds into the garment's edge.
    """
    h, w = person.frame.size
    premult = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    parts: dict[str, np.ndarray] = {}
    grids: dict[str, tuple[np.ndarray, tuple[int, int, int, int]]] = {}
    image = garment.image
    for piece in pieces:
        x0, y0, x1, y1 = piece.box
        bx, by, bw, bh = cv2.boundingRect(piece.mask.astype(np.uint8))
        if x1 <= x0 or y1 <= y0 or bw == 0:
            continue
        map_x, map_y, grid = _dense_map(piece)
        grids[piece.name] = (grid, piece.box)
        # Work on the part's own bounding box in the garment photo (cheaper), maps shifted to it.
        gx0, gy0 = max(0, bx - 2), max(0, by - 2)
        gx1, gy1 = min(image.shape[1], bx + bw + 2), min(image.shape[0], by + bh + 2)
        map_x -= gx0
        map_y -= gy0
        # Trim the photo's anti-aliased/JPEG halo: about one output pixel, in garment pixels.
        steps = np.linalg.norm(np.diff(grid, axis=1), axis=2) if grid.shape[1] > 1 else np.ones((1, 1))
        garment_per_px = float(np.median(steps)) / MAPS.step_px if steps.size else 1.0
        r = int(np.clip(np.ceil(MAPS.edge_erode_px * garment_per_px), 1, MAPS.max_edge_erode_px))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        inside = cv2.erode(piece.mask[gy0:gy1, gx0:gx1].astype(np.uint8), kernel)
        # The mask is binary, so the premultiplied colours are the photo with zeros outside.
        source = image[gy0:gy1, gx0:gx1] * inside[..., None]
        a = cv2.remap(inside.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        c = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT).astype(np.float32)
        if piece.seam is not None:
            top, pit, normal = piece.seam
            length = max(float(np.linalg.norm(pit - top)), 1.0)
            along = (pit - top) / length
            ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            rx, ry = xs - top[0], ys - top[1]
            t = (rx * along[0] + ry * along[1]) / length
            inside = (rx * normal[0] + ry * normal[1] > 0) & (t < 1.0 + LIMBS.seam_cut_below_share)
            # Only where the garment's body (drawn before) is: where it narrows below the armpit faster than
            # the seam's line, an arm hanging close to the side was left bare between the two (a hole in a
            # loose blouse's sleeve at the elbow).
            inside &= alpha[y0:y1, x0:x1] >= 0.5
            a[inside] = 0.0
            c[inside] = 0.0
        if piece.clip is not None:
            # Splines extrapolate wildly far from their control points: keep the piece near them.
            outside = np.ones(a.shape, np.uint8)
            cv2.fillPoly(outside, [np.round(piece.clip - (x0, y0)).astype(np.int32)], 0)
            near = (cv2.distanceTransform(outside, cv2.DIST_L2, 3) <= piece.clip_margin).astype(np.float32)
            a *= near
            c *= near[..., None]
        keep = (1.0 - a)[..., None]
        premult[y0:y1, x0:x1] = c + premult[y0:y1, x0:x1] * keep
        alpha[y0:y1, x0:x1] = a + alpha[y0:y1, x0:x1] * keep[..., 0]
        part_mask = parts.setdefault(piece.name, np.zeros((h, w), bool))
        part_mask[y0:y1, x0:x1] |= a > 0.5
    _close_seams(premult, alpha, parts, person.frame.unit_px)
    rgb = np.zeros((h, w, 3), np.uint8)
    drawn = [p.box for p in pieces if p.name in grids]
    if drawn:
        bx0, by0 = min(b[0] for b in drawn), min(b[1] for b in drawn)
        bx1, by1 = max(b[2] for b in drawn), max(b[3] for b in drawn)
        region = premult[by0:by1, bx0:bx1] / np.maximum(alpha[by0:by1, bx0:bx1], 1e-3)[..., None]
        rgb[by0:by1, bx0:bx1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
    return rgb, alpha, parts, grids


def _close_seams(premult: np.ndarray, alpha: np.ndarray, parts: dict[str, np.ndarray], unit: float) -> None:
    """Close the gaps where a sleeve meets the garment's body (in place): pixels a closing of the
    garment adds within reach of both the body and a sleeve take the colours around them (a seam is
    sewn; two warps that do not quite meet would show the background through an armhole)."""
    body = parts.get("body")
    sleeves = [parts[name] for name in ("sleeve_left", "sleeve_right") if name in parts]
    if body is None or not sleeves or not body.any():
        return
    reach = max(1.0, SEAMS.close_u * unit)
    covered = alpha > 0.5
    gap = masks.close(covered, reach) & ~covered & masks.grow(body, 2 * reach)
    gap &= np.logical_or.reduce([masks.grow(sleeve, 2 * reach) for sleeve in sleeves])
    if not gap.any():
        return
    ys, xs = np.nonzero(gap)
    box = (slice(max(0, ys.min() - 3 * int(reach)), ys.max() + 3 * int(reach) + 1),
           slice(max(0, xs.min() - 3 * int(reach)), xs.max() + 3 * int(reach) + 1))
    weight = alpha[box] * covered[box]
    spread = cv2.GaussianBlur(weight, (0, 0), reach)
    colour = cv2.GaussianBlur(premult[box] / np.maximum(alpha[box], 1e-3)[..., None] * weight[..., None], (0, 0), reach)
    colour /= np.maximum(spread, 1e-3)[..., None]
    inside = gap[box]
    premult[box][inside] = colour[inside]
    alpha[box][inside] = 1.0
    body[gap] = True


def _keypoints_in_photo(garment: GarmentAnalysis, pieces: list[_Piece], grids: dict) -> dict[str, np.ndarray]:
    """Where each garment keypoint landed: located in the piece whose mask lies nearest to it
    (keypoints sit on outlines, so "nearest" rather than "inside")."""
    found: dict[str, np.ndarray] = {}
    r = MAPS.keypoint_search_px
    for name, point in garment.keypoints.items():
        p = np.asarray(point, np.float64)
        x, y = round(p[0]), round(p[1])
        best, best_d = None, np.inf
        for piece in pieces:
            if piece.name not in grids:
                continue
            ys, xs = np.nonzero(piece.mask[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1])
            if ys.size:
                d = float(np.min((xs + max(0, x - r) - p[0]) ** 2 + (ys + max(0, y - r) - p[1]) ** 2))
                if d < best_d:
                    best, best_d = piece, d
        if best is not None:
            grid, box = grids[best.name]
            located = _locate(grid, box, p)
            if located is not None:
                found[name] = located
    return found


# =================================================================================================
# Entry point
# =================================================================================================


def warp_garment(
    garment: GarmentAnalysis, body: BodyAnalysis, *, hem_depth: float | None = None,
    waist_depth: float | None = None, clean: bool = True, old_hem_tl: float | None = None,
) -> WarpedGarment:
    """Place a garment on a body.

    Args:
        garment: :class:`tryon.stages.garment.GarmentAnalysis` (image, mask, category, keypoints, parts).
        body: :class:`tryon.stages.body.BodyAnalysis` of the person photo.
        hem_depth: tops and dresses only: put the hem this many px below the shoulder joints'
            midpoint (along the torso) instead of where the garment's proportions put it; the
            composite uses it to meet the old garment's hem when the cuts nearly match.
        waist_depth: trousers and skirts only: put the waistband this many px below the
            shoulder joints' midpoint instead of at the natural waist (the composite uses it to meet
            the hem of the top that stays).
        clean: cut the neck opening out and repaint background-coloured edge pixels first; False
            when ``garment`` is a warp's own :attr:`WarpedGarment.garment` (already clean).
        old_hem_tl: the hem of the old clothing the garment goes with (torso lengths below the
            shoulder joints; the composite's layers know it): where the garment's own hem or waistband
            lands near it, they meet (:func:`meet_old_hem`), placed so before anything is drawn.

    Returns:
        :class:`WarpedGarment` in the person photo's frame.
    """
    person = body.person
    if person is None:
        raise ValueError("warp_garment needs the person model: analyse the photo with tryon.stages.body.analyze_body")
    garment = _cleaned(garment) if clean else garment
    category = garment.category
    given = hem_depth is not None or waist_depth is not None
    pieces, hem_depth, waist_depth = _placed(garment, person, hem_depth, waist_depth)
    if old_hem_tl is not None and not given:
        met = meet_old_hem(category, garment.sleeve, hem_depth, waist_depth, old_hem_tl, person.frame.torso_px)
        if met is not None:
            pieces, hem_depth, waist_depth = _placed(garment, person, *met)
    rgb, alpha, warped_parts, grids = _render(pieces, garment, person)
    return WarpedGarment(
        rgb=rgb,
        alpha=alpha,
        parts=warped_parts,
        category=category,
        sleeve=garment.sleeve,
        keypoints=_keypoints_in_photo(garment, pieces, grids),
        hem_depth=float(hem_depth),
        waist_depth=float(waist_depth) if waist_depth is not None else None,
        background_rgb=_background_rgb(garment),
        garment=garment,
        old_hem_tl=old_hem_tl,
    )


def _placed(
    garment: GarmentAnalysis, person: PersonModel, hem_depth: float | None, waist_depth: float | None
) -> tuple[list[_Piece], float, float | None]:
    """The garment's pieces on the person, with its hem's and (lower garments) waistband's depths (px)."""
    parts = garment.parts or {"body": garment.mask}
    if garment.category == "lower":
        if waist_depth is None:
            waist_depth = person.frame.waist_depth_px
        legs = "crotch" in garment.keypoints and ("leg_left" in parts or "leg_right" in parts)
        if legs:
            pieces, _, hem = _trouser_pieces(garment, person, waist_depth)
        else:
            piece, _, hem = _skirt_piece(garment, person, garment.mask, waist_depth)
            pieces = [piece]
        return pieces, hem + waist_depth, waist_depth
    body_part = parts.get("body", garment.mask)
    piece, scale, hem, anchors = _torso_piece(
        garment, person, body_part, dress=garment.category == "dress", hem_depth=hem_depth
    )
    return [piece, *_sleeve_pieces(garment, person, scale, anchors)], hem, None


def meet_old_hem(
    category: str, sleeve: str, hem_depth: float, waist_depth: float | None, old_hem_tl: float, torso_px: float
) -> tuple[float | None, float | None] | None:
    """Where a garment placed at ``hem_depth`` / ``waist_depth`` (px) should go instead to meet the old
    clothing's hem at ``old_hem_tl`` (torso lengths): ``(hem_depth, waist_depth)`` to place it at
    again, or None to leave it.

    A top whose hem lands within :attr:`FitRules.hem_snap` of the old top's hem reaches just past it
    (a sleeveless top's own length is less certain, its shoulder points being strap tops: it may
    be raised as far as it may be lowered); trousers or a skirt whose waistband lands up to
    :attr:`FitRules.waist_snap` below the hem of the top that stays go up under it.
    """
    if category == "lower" and waist_depth is not None:
        gap = waist_depth / torso_px - old_hem_tl  # > 0: the waistband is below the hem
        if 0.0 < gap <= FIT.waist_snap:
            return None, (old_hem_tl - FIT.waist_tuck) * torso_px
        return None
    if category != "upper":
        return None
    gap = old_hem_tl - hem_depth / torso_px  # > 0: the old hem is lower
    above = FIT.hem_snap[1] if sleeve != "none" else FIT.hem_snap[0]
    if -above <= gap <= FIT.hem_snap[0] and abs(gap) > 0.01:
        return (old_hem_tl + FIT.hem_overlap) * torso_px, None
    return None


def _background_rgb(garment: GarmentAnalysis) -> np.ndarray | None:
    """Median colour of the garment photo away from the garment (its white point)."""
    step = MAPS.background_sample_step_px
    mask = garment.mask[::step, ::step]
    around = ~cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if around.sum() < 50:
        return None
    return np.median(garment.image[::step, ::step][around], axis=0).astype(np.float32)


def _front_mask(garment: GarmentAnalysis) -> np.ndarray:
    """The garment's mask less everything above its front neckline (bool, garment photo frame).

    Whatever lies above the line neck corner -> neckline centre -> neck corner, between the
    corners, is the inner back of the neck (label, lining of a V-neck) seen through the
    opening: on a body the neck shows there.
    """
    mask = garment.mask
    nl, nr, nc = (_kp(garment, k) for k in ("neck_left", "neck_right", "neck_center"))
    if garment.category == "lower" or nl is None or nr is None or nc is None:
        return mask
    if nc[1] < 0.5 * (nl[1] + nr[1]) + CLEAN.neck_cut_min_drop_px:
        return mask
    opening = np.array([nl, nc, nr, (nr[0], -1.0), (nl[0], -1.0)])
    cut = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(cut, [np.round(opening).astype(np.int32)], 1)
    return mask & ~cut.astype(bool)


def _decontaminated(image: np.ndarray, mask: np.ndarray, background: np.ndarray | None) -> np.ndarray:
    """The garment photo with the background repainted out of the mask's outline band.

    Within :attr:`CleanRules.halo_share` of the band of the outline each pixel is taken as a blend of the photo's
    background colour and the garment's own colour just inside the band (a normalised blur of the band's
    interior), and its share of the background is replaced by that inner colour; further in, a pixel
    nearer the background than that colour takes it whole (background caught in a notch). Garments whose
    colour there is itself close to the background (white on white) are left alone.
    """
    if background is None or not mask.any():
        return image
    band = max(CLEAN.edge_band_min_px, round(CLEAN.edge_band_share * float(np.sqrt(mask.sum()))))
    bx, by, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
    y0, y1 = max(0, by - 1), min(mask.shape[0], by + bh + 1)
    x0, x1 = max(0, bx - 1), min(mask.shape[1], bx + bw + 1)
    m = mask[y0:y1, x0:x1]
    # The band and the interior's colour next to it are smooth: worked out at half resolution.
    h, w = m.shape
    small = (max(1, -(-w // 2)), max(1, -(-h // 2)))  # rounded up: the last odd row and column count too
    m_small = cv2.resize(m.astype(np.uint8), small, interpolation=cv2.INTER_NEAREST)
    inside = (cv2.distanceTransform(m_small, cv2.DIST_L2, 3) > band / 2).astype(np.float32)
    if not inside.any():
        return image
    weight = cv2.GaussianBlur(inside, (0, 0), band / 2)
    crop_small = cv2.resize(image[y0:y1, x0:x1], small, interpolation=cv2.INTER_AREA).astype(np.float32)
    colour = cv2.GaussianBlur(crop_small * inside[..., None], (0, 0), band / 2)
    colour /= np.maximum(weight, 1e-3)[..., None]
    interior = cv2.resize(inside, (w, h), interpolation=cv2.INTER_NEAREST) > 0
    ys_e, xs_e = np.nonzero(m & ~interior)
    if not ys_e.size:
        return image
    sy, sx = np.minimum(ys_e // 2, small[1] - 1), np.minimum(xs_e // 2, small[0] - 1)
    bg = np.asarray(background, np.float32)
    pixels, ref = image[y0 + ys_e, x0 + xs_e].astype(np.float32), colour[sy, sx]
    span = ref - bg
    distinct = np.linalg.norm(span, axis=1) > CLEAN.background_tolerance_rgb
    ok = distinct & (weight[sy, sx] > 0.05)
    if not ok.any():
        return image
    # The outline's own px are a blend of the background and the colour inside (anti-aliasing): their
    # share of the background (the projection onto background -> inside) is swapped for the inside colour,
    # or a light fringe stays. Further in, a px nearer the background than the inside colour is background
    # caught in a notch and takes the inside colour whole; others (a white stripe) stay.
    edge = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)[ys_e, xs_e] <= CLEAN.halo_share * band
    share = np.clip(1.0 - np.einsum("nc,nc->n", pixels - bg, span) / np.einsum("nc,nc->n", span, span), 0.0, 1.0)
    caught = np.linalg.norm(pixels - bg, axis=1) < np.linalg.norm(pixels - ref, axis=1)
    share = np.where(edge, share, caught.astype(np.float32))
    fixed = pixels[ok] + share[ok, None] * span[ok]
    out = image.copy()
    out[y0 + ys_e[ok], x0 + xs_e[ok]] = np.clip(fixed + 0.5, 0, 255).astype(np.uint8)
    return out


def _cleaned(garment: GarmentAnalysis) -> GarmentAnalysis:
    """The garment with its neck opening cut out of every part and its outline decontaminated."""
    mask = _front_mask(garment)
    parts = garment.parts or {"body": garment.mask}
    parts = {name: part & mask for name, part in parts.items()}
    image = _decontaminated(garment.image, mask, _background_rgb(garment))
    return dataclasses.replace(garment, image=image, mask=mask, parts=parts)
