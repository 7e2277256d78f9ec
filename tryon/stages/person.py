"""The person model: one description of the body in a photo that every stage reads.

Built once per photo by the body stage (and cached with its :class:`~tryon.stages.body.BodyAnalysis`):

* :class:`BodyFrame`: where the torso is and how big: the shoulder and hip midpoints, the torso
  axis (``down``) and its normal (``across``, towards the wearer's left), the torso length, the
  body unit and the centre line down to the ankles. Depth is measured along ``down`` from the
  shoulder midpoint, in px (``depth_px``) or torso lengths (``depth_tl``: 0 at the shoulders, 1
  at the hips).
* :class:`BodyShape`: the bare body under the clothes: a torso profile (half-widths down the
  axis, with a waist and hips), a neck and tapered limbs (shins swell at the calf).
* :class:`Silhouette`: measurements on the person mask: the torso's outline at a depth, the top
  of the shoulders, a limb's outline.

Every size is a :data:`PROPORTIONS` field whose name ends in its unit: ``_u`` body units
(:attr:`BodyFrame.unit_px`), ``_tl`` torso lengths, ``_hw`` hip-joint widths, ``_share`` a plain
ratio. Nothing here changes per request; the model is frozen.

Sides follow :mod:`tryon.stages.body`: ``left``/``right`` are the *wearer's*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import cv2
import numpy as np

from .landmarks import (
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    VISIBLE_MIN,
)

LIMBS = ("arm_left", "arm_right", "leg_left", "leg_right")
_CHAINS = {
    "arm_left": (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST),
    "arm_right": (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST),
    "leg_left": (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE),
    "leg_right": (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE),
}


@dataclasses.dataclass(frozen=True)
class Proportions:
    """The body proportions the person model assumes (one place for every body rule)."""

    # The unit: the shoulder span, but never less than half the torso (a body turned sideways
    # shows close shoulder joints) nor a few pixels.
    unit_torso_share: float = 0.5
    min_unit_px: float = 8.0
    # Shoulders: the top of the shoulder sits this far above its joint; the torso's outline
    # starts at the shoulder tops, a little outside the joints, and narrows to the chest.
    shoulder_rise_u: float = 0.08
    shoulder_outset_u: float = 0.02
    seam_outset_u: float = 0.03  # a garment's shoulder seam sits this far outside the joint (on the arm's cap)
    # Above the shoulder joints the person's silhouette between the shoulders is body (a garment's
    # shoulder lies on it, the trapezius rises to the neck): the bare torso's outline runs this far
    # up at the shoulders' width, and the person mask cuts it.
    shoulder_box_tl: float = 0.5
    chest_inset_u: float = 0.02
    chest_tl: float = 0.3
    # The waist: the natural waist (narrowest; where a top tucks in and a waistband sits) lies this
    # far down the torso, this wide (of the shoulders' span); it flares smoothly to the hips,
    # whose flesh reaches hip_flesh_hw past each hip joint.
    natural_waist_tl: float = 0.75
    waist_share: float = 0.75
    hip_flesh_hw: float = 0.45
    hip_taper_steps: int = 6
    torso_end_tl: float = 1.2  # the torso profile runs a little below the hip joints
    # The neck: a capsule from the shoulder midpoint towards the mouth; its base (where a
    # neckline sits) lies a little above the shoulder joints' midpoint.
    neck_radius_u: float = 0.15
    neck_reach_share: float = 0.8
    neck_base_rise_u: float = 0.2
    # Bare limbs: radii at both ends of each bone (upper arm at the shoulder and elbow, forearm at
    # the elbow and wrist; thigh at the hip and knee, shin at the knee and ankle). The upper arm
    # starts arm_start_u down its bone (the shoulder itself is torso); the calf swells.
    # The legs' are 1.1x the first guesses (0.22, 0.12, 0.125, 0.075, a 0.14 calf), which bare legs in the
    # eval photos measured 1.15x thicker (median, 11 people; now 1.00 on 12): legs painted under old
    # trousers were sticks.
    arm_radii_u: tuple[float, float, float, float] = (0.11, 0.085, 0.085, 0.065)
    leg_radii_u: tuple[float, float, float, float] = (0.24, 0.13, 0.14, 0.08)
    # A limb's girth measured where it shows bare (_limb_girth_scale): stations along each bone's middle...
    girth_span: tuple[float, float] = (0.15, 0.85)
    girth_stations: int = 8
    girth_reach_share: float = 2.5  # ...runs of skin searched this many model radii each side...
    girth_min_stations: int = 6  # ...enough of them to trust (on either limb of the pair)...
    girth_scale_range: tuple[float, float] = (0.8, 1.5)  # ...and how far from the model it may go
    arm_start_u: float = 0.12
    wrist_reach_share: float = 1.0  # the wrist carries on this many of its radii past the joint (the hand's heel)
    ankle_reach_share: float = 1.5  # and the ankle as many of its own down to the heel (inside a shoe's opening)
    # A limb under a close sleeve (BodyShape.fitted_to): the sleeve's run across the bone is measured at
    # stations down each segment, and the segment fitted where enough of them give a radius near the model's.
    hug_span: tuple[float, float] = (0.1, 0.9)
    hug_stations: int = 9
    hug_min_stations: int = 4
    calf_at_share: float = 0.3  # of the shin, from the knee
    calf_radius_u: float = 0.155
    # Limb outlines in a photo are searched at most this far from the bone (loose sleeves,
    # wide trousers), and the torso's outline this far either side of the centre line.
    arm_reach_u: float = 0.2
    leg_reach_u: float = 0.45
    torso_reach_u: float = 1.2
    outline_gap_u: float = 0.06  # gaps in the silhouette narrower than this do not end an outline
    shoulder_search_u: float = 0.25  # the top of the shoulder is searched this far above its joint
    shoulder_band_u: tuple[float, float] = (0.15, 0.12)  # the shoulder line: below / above a straight line
    shoulder_line_inset_px: float = 2.0  # a garment's shoulder line sits just inside the silhouette
    neck_base_search_u: float = 0.12  # a neckline's corner rises at most this far to the outline above it
    dress_hem_clearance_share: float = 0.1  # a dress ends at least this share of the shin above the ankles
    centre_line_extension_tl: float = 4.0  # the centre line runs on past the last joint seen
    # A body turned from the camera (a three-quarter view): one shoulder lies further from the camera than
    # the other by more than this share of the shoulders' span as seen (the tangent of the turn: 1.3 is
    # 52 degrees). MediaPipe's depth is rough (it put bodies that look frontal up to 1.2 spans apart in the
    # eval photos), so only a plain turn counts.
    turned_depth_share: float = 1.3


PROPORTIONS = Proportions()


def _unit_vector(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else np.array([0.0, 1.0])


def _perp(v: np.ndarray) -> np.ndarray:
    """``v`` rotated by -90 degrees in image coordinates (x right, y down)."""
    return np.array([v[1], -v[0]])


@dataclasses.dataclass(frozen=True, eq=False)
class BodyFrame:
    """The torso's frame in one photo, from the pose landmarks (all lengths in px).

    Attributes:
        size: ``(H, W)`` of the photo.
        landmarks: ``(33, 2)`` float64 pixel ``(x, y)``; visibility ``(33,)`` in [0, 1].
        mid_shoulder, mid_hip: ``(2,)`` midpoints of the shoulder and hip joints.
        down: unit ``(2,)`` vector from the shoulder midpoint towards the hip midpoint.
        across: unit ``(2,)`` vector perpendicular to ``down``, towards the wearer's left.
        torso_px: shoulder midpoint to hip midpoint (at least 1).
        shoulder_px, hip_px: distances between the shoulder joints and between the hip joints.
        unit_px: the body unit (see :class:`Proportions`).
        centre_line: ``(K, 2)`` polyline shoulders -> hips -> knees -> ankles (the joints seen),
            extended along its last direction.
        far_arm: in a three-quarter view (:attr:`Proportions.turned_depth_share`), the arm on the side
            turned away from the camera (``"arm_left"`` or ``"arm_right"``), which the torso hides where
            the two overlap in the photo; None when the body faces the camera or its depth is not known.
    """

    size: tuple[int, int]
    landmarks: np.ndarray
    visibility: np.ndarray
    mid_shoulder: np.ndarray
    mid_hip: np.ndarray
    down: np.ndarray
    across: np.ndarray
    torso_px: float
    shoulder_px: float
    hip_px: float
    unit_px: float
    centre_line: np.ndarray
    far_arm: str | None = None

    @classmethod
    def from_landmarks(
        cls, landmarks: np.ndarray, visibility: np.ndarray, size: tuple[int, int], z: np.ndarray | None = None
    ) -> BodyFrame:
        """The frame of ``landmarks`` (``(33, 2)`` px) seen with ``visibility`` in a photo of ``size``;
        ``z`` (``(33,)`` px, smaller is nearer the camera) tells a three-quarter view."""
        p = PROPORTIONS
        lm = np.asarray(landmarks, np.float64)
        mid_shoulder = 0.5 * (lm[LEFT_SHOULDER] + lm[RIGHT_SHOULDER])
        mid_hip = 0.5 * (lm[LEFT_HIP] + lm[RIGHT_HIP])
        torso = max(float(np.linalg.norm(mid_hip - mid_shoulder)), 1.0)
        down = _unit_vector(mid_hip - mid_shoulder)
        across = _perp(down)
        if np.dot(across, lm[LEFT_SHOULDER] - lm[RIGHT_SHOULDER]) < 0:
            across = -across
        shoulder = float(np.linalg.norm(lm[LEFT_SHOULDER] - lm[RIGHT_SHOULDER]))
        unit = max(shoulder, p.unit_torso_share * torso, p.min_unit_px)
        vis = np.asarray(visibility, np.float64)
        line = [mid_shoulder, mid_hip]
        for left, right in ((LEFT_KNEE, RIGHT_KNEE), (LEFT_ANKLE, RIGHT_ANKLE)):
            if vis[left] < VISIBLE_MIN or vis[right] < VISIBLE_MIN:
                break
            line.append(0.5 * (lm[left] + lm[right]))
        line.append(line[-1] + _unit_vector(line[-1] - line[-2]) * p.centre_line_extension_tl * torso)
        return cls(size=tuple(size), landmarks=lm, visibility=vis, mid_shoulder=mid_shoulder, mid_hip=mid_hip,
                   down=down, across=across, torso_px=torso, shoulder_px=shoulder,
                   hip_px=float(np.linalg.norm(lm[LEFT_HIP] - lm[RIGHT_HIP])), unit_px=unit,
                   centre_line=np.array(line), far_arm=_far_arm(z, vis, shoulder))

    # -- depth ---------------------------------------------------------------------------------
    def depth_px(self, point: np.ndarray) -> float:
        """Depth of ``point`` (px along ``down`` below the shoulder midpoint; negative above)."""
        return float(np.dot(np.asarray(point, np.float64) - self.mid_shoulder, self.down))

    def depth_tl(self, point: np.ndarray) -> float:
        """Depth of ``point`` in torso lengths (0 at the shoulder midpoint, 1 at the hip midpoint)."""
        return self.depth_px(point) / self.torso_px

    def depth_map_tl(self, step: int = 1, box: tuple[slice, slice] | None = None) -> np.ndarray:
        """Depth in torso lengths of every ``step``-th pixel, float32 ``(ceil(H/step), ceil(W/step))``; of the
        pixels in ``box`` (rows, columns) only when given (``step`` 1)."""
        return self._along_map(self.down / self.torso_px, step, box)

    def across_map_px(self, step: int = 1, box: tuple[slice, slice] | None = None) -> np.ndarray:
        """How far across the body (px along ``across``, positive towards the wearer's left) from the shoulder
        midpoint every ``step``-th pixel lies; shaped and boxed as :meth:`depth_map_tl`."""
        return self._along_map(np.asarray(self.across, np.float64), step, box)

    def _along_map(self, axis: np.ndarray, step: int, box: tuple[slice, slice] | None) -> np.ndarray:
        """Every ``step``-th pixel's (or ``box``'s) offset from the shoulder midpoint projected on ``axis``."""
        h, w = self.size
        rows, cols = box if box is not None else (slice(0, h, step), slice(0, w, step))
        xs = (np.arange(*cols.indices(w), dtype=np.float32) - self.mid_shoulder[0]) * axis[0]
        ys = (np.arange(*rows.indices(h), dtype=np.float32) - self.mid_shoulder[1]) * axis[1]
        return (ys[:, None] + xs[None, :]).astype(np.float32)

    @property
    def hip_depth_px(self) -> float:
        """Depth of the hip midpoint (the torso length, measured along ``down``)."""
        return self.depth_px(self.mid_hip)

    @property
    def waist_depth_px(self) -> float:
        """Depth of the natural waist (where a top tucks in and a waistband sits)."""
        return PROPORTIONS.natural_waist_tl * self.torso_px

    @property
    def neck_base_depth_px(self) -> float:
        """Depth of the base of the neck (where a neckline's corners sit), above the shoulder joints."""
        return -PROPORTIONS.neck_base_rise_u * self.unit_px

    # -- the centre line ---------------------------------------------------------------------------
    def centre(self, depth_px: float) -> np.ndarray:
        """The point on the centre line ``depth_px`` below the shoulder midpoint (above: along ``down``)."""
        line = self.centre_line
        if depth_px <= 0:
            return line[0] + self.down * depth_px
        seg = np.diff(line, axis=0)
        lengths = np.linalg.norm(seg, axis=1)
        cum = np.concatenate([[0.0], np.cumsum(lengths)])
        i = int(np.clip(np.searchsorted(cum, depth_px) - 1, 0, len(seg) - 1))
        return line[i] + seg[i] / max(lengths[i], 1e-6) * (depth_px - cum[i])

    def lowest_hem_px(self) -> float | None:
        """Depth (along the centre line) a dress's hem may reach, just above the ankles; None when the
        ankles are not seen."""
        line = self.centre_line
        if len(line) < 5:  # shoulders, hips, knees, ankles and the extension
            return None
        lengths = np.linalg.norm(np.diff(line[:4], axis=0), axis=1)
        return float(lengths.sum() - PROPORTIONS.dress_hem_clearance_share * lengths[2])

    # -- limbs -------------------------------------------------------------------------------------
    def chain(self, limb: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Joints of ``limb`` (one of :data:`LIMBS`): (shoulder|hip, elbow|knee, wrist|ankle), px."""
        a, b, c = _CHAINS[limb]
        return self.landmarks[a].copy(), self.landmarks[b].copy(), self.landmarks[c].copy()

    @property
    def mouth(self) -> np.ndarray:
        return 0.5 * (self.landmarks[MOUTH_LEFT] + self.landmarks[MOUTH_RIGHT])

    def neck_top(self) -> np.ndarray:
        """Where the neck ends, towards the mouth."""
        return self.mid_shoulder + PROPORTIONS.neck_reach_share * (self.mouth - self.mid_shoulder)


@dataclasses.dataclass(frozen=True)
class Segment:
    """A tapered segment of the bare body: radius ``ra`` at ``a`` to ``rb`` at ``b`` (px)."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float
    limb: str  # one of LIMBS, or "neck"


@dataclasses.dataclass(frozen=True, eq=False)
class BodyShape:
    """The bare body under the clothes, from the frame: narrower than any loose garment.

    Attributes:
        frame: the :class:`BodyFrame` it was built from.
        profile: ``(N, 2)`` float64 (depth in torso lengths, half-width in px) down the torso.
        segments: the limbs' and neck's tapered segments.
    """

    frame: BodyFrame
    profile: np.ndarray
    segments: tuple[Segment, ...]

    @classmethod
    def of(cls, frame: BodyFrame, skin: np.ndarray | None = None) -> BodyShape:
        """The shape from the frame's proportions; with ``skin`` (bool ``(H, W)``, the photo's visible
        skin), each limb takes the girth its bare part shows (see :func:`_limb_girth_scale`)."""
        segments = _limb_segments(frame)
        if skin is not None:
            # One girth for both arms and one for both legs: a body is symmetric, a photo's skin is not
            # (an arm in shadow, a hand on a hip).
            scales = {}
            for pair in (("arm_left", "arm_right"), ("leg_left", "leg_right")):
                scale = _limb_girth_scale([s for s in segments if s.limb in pair], skin)
                scales.update(dict.fromkeys(pair, scale))
            segments = tuple(dataclasses.replace(s, ra=s.ra * scales[s.limb], rb=s.rb * scales[s.limb])
                             if s.limb in scales else s for s in segments)
        segments = _wrists_and_ankles(_thighs_meet(frame, segments))
        return cls(frame=frame, profile=_torso_profile(frame), segments=segments)

    def half_width_px(self, depth_tl: float | np.ndarray) -> float | np.ndarray:
        """The bare torso's half-width (px) at ``depth_tl``."""
        return np.interp(depth_tl, self.profile[:, 0], self.profile[:, 1])

    def hip_half_width_px(self, depth_px: float) -> float:
        """Half-width (px) the hips reach at ``depth_px`` whatever hides their outline (a hand, a
        forearm): the bare torso's from the natural waist down, 0 above it."""
        depth_tl = depth_px / self.frame.torso_px
        if depth_tl < PROPORTIONS.natural_waist_tl:
            return 0.0
        return float(self.half_width_px(depth_tl))

    def limb_radii_px(self, limb: str, along_px: np.ndarray) -> np.ndarray:
        """The bare ``limb``'s radii at points ``along_px`` (float ``(N,)``) px down its chain from the
        shoulder/hip joint (the first segment's radius before it starts, the last one's past its end)."""
        start = self.frame.chain(limb)[0]
        pieces = [s for s in self.segments if s.limb == limb]
        at = float(np.linalg.norm(pieces[0].a - start))
        along = np.asarray(along_px, np.float64)
        out = np.full(along.shape, pieces[-1].rb, np.float64)
        done = np.zeros(along.shape, bool)
        for n, piece in enumerate(pieces):
            length = max(float(np.linalg.norm(piece.b - piece.a)), 1e-6)
            here = ~done & ((along <= at + length) | (n == len(pieces) - 1))
            t = np.clip((along[here] - at) / length, 0.0, 1.0)
            out[here] = piece.ra + t * (piece.rb - piece.ra)
            done |= here
            at += length
        return out

    def limb_radius_px(self, limb: str, along_px: float) -> float:
        """The bare ``limb``'s radius ``along_px`` down its chain from the shoulder/hip joint
        (the first segment's radius before it starts, the last one's past its end)."""
        return float(self.limb_radii_px(limb, np.array([along_px]))[0])

    def fitted_to(
        self, cover: np.ndarray, limbs: Iterable[str], share_range: tuple[float, float], inset_px: float = 0.0
    ) -> BodyShape:
        """This shape with the ``limbs`` that ``cover`` (bool ``(H, W)``, a close sleeve) hugs following
        its outline, ``inset_px`` inside it (the fabric): at stations down each segment the cover's run
        across the bone gives the limb's middle and radius, each fitted as a straight line down the segment
        (the cover's ragged outline becomes a limb's smooth one), the radii clipped to ``share_range`` of the
        model's. A segment stays the model's where too few stations measure a radius within that range (a
        loose sleeve standing off the arm, a sleeve merging into the torso's clothing, no cover there)."""
        names = set(limbs)
        segments = [_fitted_segment(s, cover, share_range, inset_px) if s.limb in names else s
                    for s in self.segments]
        for i in range(len(segments) - 1):  # a limb's segments meet where they did (at the elbow)
            s, t = segments[i], segments[i + 1]
            if s.limb in names and s.limb == t.limb:
                joint, radius = 0.5 * (s.b + t.a), 0.5 * (s.rb + t.ra)
                segments[i] = dataclasses.replace(s, b=joint, rb=radius)
                segments[i + 1] = dataclasses.replace(t, a=joint, ra=radius)
        return dataclasses.replace(self, segments=tuple(segments))

    def torso_mask(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """The bare torso, bool ``(H, W)``."""
        f = self.frame
        left = [f.mid_shoulder + d * f.torso_px * f.down + half * f.across for d, half in self.profile]
        right = [f.mid_shoulder + d * f.torso_px * f.down - half * f.across for d, half in self.profile[::-1]]
        canvas = np.zeros(size or f.size, np.uint8)
        cv2.fillPoly(canvas, [np.round(np.array(left + right)).astype(np.int32)], 1)
        return canvas.astype(bool)

    def limbs_mask(
        self, which: Iterable[str] | None = None, size: tuple[int, int] | None = None, scale: float = 1.0
    ) -> np.ndarray:
        """The bare limbs and neck (bool ``(H, W)``), or only the limbs named in ``which``; ``scale``
        widens every radius (a fuller limb than the model's)."""
        names = None if which is None else set(which)
        canvas = np.zeros(size or self.frame.size, np.uint8)
        for s in self.segments:
            if names is None or s.limb in names:
                draw_tapered(canvas, s.a, s.b, scale * s.ra, scale * s.rb)
        return canvas.astype(bool)

    def roundness(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Where across its part each pixel lies: 0 on the part's axis, 1 on its outline (float32
        ``(N,)``; above 1 outside every part). The part is the one the pixel lies deepest in, except
        that an arm hanging beside the torso does not claim the torso's flanks."""
        return np.abs(self.across(ys, xs)[0])

    def across(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`roundness` with a sign and the part: float32 ``(N,)`` in about [-1, 1] across the part
        (negative towards the photo's left; towards its top for a part lying across the photo) and int8
        ``(N,)``: the part's index in :data:`PART_KINDS` (-1 outside every part, where the position is inf)."""
        signed, kind, _ = self.across_limbs(ys, xs)
        return signed, kind

    def across_limbs(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`across`, and which limb: int8 ``(N,)``, the index in :data:`LIMBS` (-1 on the torso and
        neck and outside every part)."""
        f = self.frame
        p = np.stack([xs, ys], axis=1).astype(np.float64)
        rel = p - f.mid_shoulder
        depth = rel @ f.down / f.torso_px
        best = (rel @ _towards_photo_right(f.across)) / np.maximum(self.half_width_px(depth), 1e-3)
        best[(depth < self.profile[0, 0]) | (depth > self.profile[-1, 0])] = np.inf
        kind = np.where(np.isfinite(best), PART_KINDS.index("torso"), -1).astype(np.int8)
        limb = np.full(kind.shape, -1, np.int8)
        in_torso = np.abs(best) <= 1.0
        for seg in self.segments:
            d = seg.b - seg.a
            t = np.clip((p - seg.a) @ d / max(float(d @ d), 1e-6), 0.0, 1.0)
            off = p - (seg.a + t[:, None] * d)
            r = np.linalg.norm(off, axis=1) / np.maximum(seg.ra + t * (seg.rb - seg.ra), 1e-3)
            if seg.limb.startswith("arm"):
                r[in_torso] = np.inf
            normal = _towards_photo_right(np.array([-d[1], d[0]]))
            closer = r < np.abs(best)
            best[closer] = np.copysign(r, off @ normal)[closer]
            kind[closer] = PART_KINDS.index(seg.limb.split("_")[0])
            limb[closer] = LIMBS.index(seg.limb) if seg.limb in LIMBS else -1
        return best.astype(np.float32), kind, limb


PART_KINDS = ("torso", "arm", "leg", "neck")  # the kinds of part BodyShape.across tells apart


def _far_arm(z: np.ndarray | None, visibility: np.ndarray, shoulder_px: float) -> str | None:
    """The arm turned away from the camera (see :attr:`BodyFrame.far_arm`)."""
    if z is None or min(visibility[LEFT_SHOULDER], visibility[RIGHT_SHOULDER]) < VISIBLE_MIN:
        return None
    further = float(z[LEFT_SHOULDER] - z[RIGHT_SHOULDER])
    if abs(further) <= PROPORTIONS.turned_depth_share * shoulder_px:
        return None
    return "arm_left" if further > 0 else "arm_right"


def _towards_photo_right(v: np.ndarray) -> np.ndarray:
    """``v`` or ``-v``, whichever points towards the photo's right (its bottom when ``v`` is vertical)."""
    return -v if (v[0], v[1]) < (0.0, 0.0) else v


def _torso_profile(frame: BodyFrame) -> np.ndarray:
    """(depth tl, half-width px) down the bare torso: shoulders, chest, a waist, hips."""
    p, u = PROPORTIONS, frame.unit_px
    shoulder_half = 0.5 * frame.shoulder_px
    hip_half = (0.5 + p.hip_flesh_hw) * frame.hip_px
    chest_half = shoulder_half - p.chest_inset_u * u
    waist_half = min(p.waist_share * shoulder_half, chest_half, hip_half)
    shoulder = shoulder_half + p.shoulder_outset_u * u
    # A bared midriff shows the waist: narrow at the natural waist, flaring to the hips along a
    # smooth (eased) curve, so no corner shows where the flare starts or ends.
    waist = p.natural_waist_tl
    flare = [(waist + t * (1.0 - waist), waist_half + (0.5 - 0.5 * np.cos(np.pi * t)) * (hip_half - waist_half))
             for t in np.linspace(0.0, 1.0, p.hip_taper_steps + 1)]
    return np.array([(-p.shoulder_box_tl, shoulder), (0.0, shoulder), (p.chest_tl, chest_half), *flare,
                     (p.torso_end_tl, hip_half)])


def _limb_segments(frame: BodyFrame) -> tuple[Segment, ...]:
    p, u = PROPORTIONS, frame.unit_px
    segments: list[Segment] = []
    for limb in LIMBS:
        a, b, c = frame.chain(limb)
        if limb.startswith("arm"):
            a = a + p.arm_start_u * u * _unit_vector(b - a)  # the shoulder itself is torso
            r = [v * u for v in p.arm_radii_u]
            segments += [Segment(a, b, r[0], r[1], limb), Segment(b, c, r[2], r[3], limb)]
        else:  # a shin is not a cone: it swells at the calf
            r = [v * u for v in p.leg_radii_u]
            calf = b + p.calf_at_share * (c - b)
            swell = p.calf_radius_u * u
            segments += [Segment(a, b, r[0], r[1], limb), Segment(b, calf, r[2], swell, limb),
                         Segment(calf, c, swell, r[3], limb)]
    neck = p.neck_radius_u * u
    segments.append(Segment(frame.mid_shoulder, frame.neck_top(), neck, neck, "neck"))
    return tuple(segments)


def _wrists_and_ankles(segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    """``segments`` with each forearm carried on past the wrist joint as wide as it ends there, to where
    the hand's heel begins, and each shin past the ankle joint to the heel: a limb ending at the joint in
    a round cap left a notch of backdrop between a painted arm and the hand below an old cuff, and a
    painted shin's rounded stump above a shoe whose top a trouser hem had covered."""
    out = []
    for s, following in zip(segments, (*segments[1:], None), strict=True):
        out.append(s)
        if s.limb.startswith(("arm", "leg")) and (following is None or following.limb != s.limb):
            share = PROPORTIONS.wrist_reach_share if s.limb.startswith("arm") else PROPORTIONS.ankle_reach_share
            out.append(Segment(s.b, s.b + share * s.rb * _unit_vector(s.b - s.a), s.rb, s.rb, s.limb))
    return tuple(out)


def _thighs_meet(frame: BodyFrame, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    """``segments`` with each thigh reaching the body's middle at its top: the thighs meet below the
    crotch. A thigh is about as thick there as from its outer flesh to the middle (a 55 cm girth, hip
    joints 17 cm apart); a slim person's girth measured on their shins made painted thighs sticks
    with a gap of backdrop between them up to the hem. The outer side stays where it was (an arm
    hanging beside the hips), the top thickens and moves inwards."""
    left, right = frame.chain("leg_left")[0], frame.chain("leg_right")[0]
    half = 0.5 * float(np.linalg.norm(left - right))
    out = []
    for s in segments:
        joint = frame.chain(s.limb)[0] if s.limb.startswith("leg") else None
        if joint is not None and np.allclose(s.a, joint) and half > s.ra:  # the thigh, at the hip
            inward = _unit_vector(0.5 * (left + right) - joint)
            radius = 0.5 * (half + s.ra)
            s = dataclasses.replace(s, a=joint + (radius - s.ra) * inward, ra=radius)
        out.append(s)
    return tuple(out)


def _fitted_segment(seg: Segment, cover: np.ndarray, share_range: tuple[float, float], inset_px: float) -> Segment:
    """``seg`` with its axis and radii where ``cover`` runs across it (see :meth:`BodyShape.fitted_to`)."""
    p = PROPORTIONS
    d = seg.b - seg.a
    length = float(np.linalg.norm(d))
    if length < 1.0:
        return seg
    n = np.array([-d[1], d[0]]) / length  # draw_tapered's normal
    ts = np.linspace(*p.hug_span, p.hug_stations)
    model = seg.ra + ts * (seg.rb - seg.ra)
    centres, radii = np.full(len(ts), np.nan), np.full(len(ts), np.nan)
    for i, (t, radius) in enumerate(zip(ts, model, strict=True)):
        # The joints' line may run off the sleeve's middle by up to the widest arm's radius.
        reach = int(np.ceil(2.0 * share_range[1] * radius + inset_px)) + 1
        run = _run_across(cover, seg.a + t * d, n, reach)
        if run is None:
            continue  # no cover here, or it runs on: another limb, the torso's clothing
        minus, plus = run[0] - inset_px, run[1] - inset_px  # the limb lies the fabric's width inside the cover
        centres[i], radii[i] = 0.5 * (plus - minus), 0.5 * (plus + minus)
    ok = (radii >= share_range[0] * model) & (radii <= share_range[1] * model)
    if ok.sum() < p.hug_min_stations:
        return seg  # the model's
    ends = np.array([0.0, 1.0])
    radius = np.polyval(np.polyfit(ts[ok], radii[ok], 1), ends)
    radius = np.clip(radius, share_range[0] * np.array([seg.ra, seg.rb]), share_range[1] * np.array([seg.ra, seg.rb]))
    shift = np.polyval(np.polyfit(ts[ok], centres[ok], 1), ends)
    return dataclasses.replace(seg, a=seg.a + shift[0] * n, b=seg.b + shift[1] * n, ra=float(radius[0]),
                               rb=float(radius[1]))


def _run_across(mask: np.ndarray, centre: np.ndarray, normal: np.ndarray, reach: int) -> tuple[float, float] | None:
    """How far ``mask``'s run through ``centre`` reaches along ``-normal`` and ``normal`` (px from ``centre`` to
    the outline, half a pixel beyond the run's last pixel), sampled on whole pixels out to ``reach``; None when
    the line leaves the photo, ``centre`` is not in the mask or the run goes on past ``reach`` on a side."""
    h, w = mask.shape
    offsets = np.arange(-reach, reach + 1)
    xs = np.round(centre[0] + offsets * normal[0]).astype(int)
    ys = np.round(centre[1] + offsets * normal[1]).astype(int)
    if not ((xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)).all() or not mask[ys[reach], xs[reach]]:
        return None
    off = np.flatnonzero(~mask[ys, xs])
    below, above = off[off < reach], off[off > reach]
    if not len(below) or not len(above):
        return None
    return reach - below[-1] - 0.5, above[0] - reach - 0.5


def _limb_girth_scale(segments: list[Segment], skin: np.ndarray) -> float:
    """How much thicker (or thinner) a limb is than the model's, measured where it shows bare.

    Across each segment at :attr:`Proportions.girth_stations` points, the run of ``skin`` (bool ``(H, W)``)
    through the bone is measured; runs that end within :attr:`Proportions.girth_reach_share` model radii on
    both sides are the limb's width (others touch other skin, or show none). With enough of them the
    median of measured / model radius, within :attr:`Proportions.girth_scale_range`; otherwise 1: a
    painted shin then continues the visible one instead of narrowing to the model's.
    """
    p = PROPORTIONS
    ratios = []
    for seg in segments:
        d = seg.b - seg.a
        length = float(np.linalg.norm(d))
        if length < 1.0:
            continue
        n = np.array([-d[1], d[0]]) / length
        for t in np.linspace(*p.girth_span, p.girth_stations):
            radius = seg.ra + t * (seg.rb - seg.ra)
            reach = int(np.ceil(p.girth_reach_share * radius))
            # (No run: the skin goes on past the reach, another limb or the torso, or shows none.)
            if reach >= 2 and (run := _run_across(skin, seg.a + t * d, n, reach)) is not None:
                ratios.append(sum(run) / (2.0 * radius))
    if len(ratios) < p.girth_min_stations:
        return 1.0
    return float(np.clip(np.median(ratios), *p.girth_scale_range))


def draw_tapered(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float, value: int = 1) -> None:
    """Fill, on a uint8 ``canvas``, a segment whose radius goes from ``ra`` at ``a`` to ``rb`` at ``b``
    (px), with round ends. ``ra == rb`` draws a capsule."""
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    n = np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-6)
    quad = np.array([a + n * ra, b + n * rb, b - n * rb, a - n * ra])
    cv2.fillConvexPoly(canvas, np.round(quad).astype(np.int32), value)
    for point, r in ((a, ra), (b, rb)):
        cv2.circle(canvas, (round(float(point[0])), round(float(point[1]))), max(1, round(r)), value, -1)


@dataclasses.dataclass(frozen=True, eq=False)
class Silhouette:
    """The person's outline in the photo, for measuring where a garment must reach.

    Attributes (bool ``(H, W)`` masks):
        person: the person mask.
        trunk: the person less the bare arms, the face and hair and the hands: torso and legs as
            clothed (clothed arms cannot be told from the torso beside them, so they stay; the
            garment's own width caps what they add).
        arm_skin: bare skin on the arms (it bridges a forearm held across the torso).
        no_head: the person less the face and hair (where the top of a shoulder is searched).
    """

    frame: BodyFrame
    person: np.ndarray
    trunk: np.ndarray
    arm_skin: np.ndarray
    no_head: np.ndarray

    def half_widths(self, depth_px: float, mask: np.ndarray | None = None) -> tuple[float, float]:
        """The outline's reach (wearer's left, right) in px at ``depth_px`` from the centre line, on
        the trunk (or on ``mask``)."""
        f, p = self.frame, PROPORTIONS
        bridge = self.arm_skin if mask is None else None
        mask = self.trunk if mask is None else mask
        c = f.centre(depth_px)
        reach, gap = p.torso_reach_u * f.unit_px, p.outline_gap_u * f.unit_px
        return (ray_extent(mask, c, f.across, reach, gap, bridge), ray_extent(mask, c, -f.across, reach, gap, bridge))

    def limb_half_width(self, point: np.ndarray, normal: np.ndarray, limb: str) -> float:
        """How far the person reaches from ``point`` on a ``limb``'s bone along ``normal`` (px), up to
        the limb's search reach; 0 when the person is not there."""
        reach = (PROPORTIONS.arm_reach_u if limb.startswith("arm") else PROPORTIONS.leg_reach_u) * self.frame.unit_px
        return ray_extent(self.person, point, normal, reach, 2.0)

    def shoulder_seam(self, side: str, inset_u: float = 0.0) -> np.ndarray:
        """Where a shoulder seam sits: just outside the joint (less ``inset_u`` units), on top of the
        shoulder: the silhouette's top above it where that is the background's edge; where hair hides it or
        the outline is unclear, as high as the other shoulder's clear top, else
        :attr:`Proportions.shoulder_rise_u` above the joint (never lower than the hair's edge)."""
        base, top, clear = self._shoulder_rise(side, inset_u)
        if not clear:
            # Hair lies on this shoulder: its top is hidden, at least as high as where the hair begins; the
            # other shoulder's, where that one's outline is clear (a body is level), else the model's.
            _, other, other_clear = self._shoulder_rise("right" if side == "left" else "left", inset_u)
            top = max(top, other if other_clear else PROPORTIONS.shoulder_rise_u * self.frame.unit_px)
        return base - self.frame.down * top

    def _shoulder_rise(self, side: str, inset_u: float) -> tuple[np.ndarray, float, bool]:
        """Where above a shoulder the search starts, how far above it the person's outline ends (px; the
        model's rise when it is not found) and whether it ends against the background (not hair)."""
        f, p = self.frame, PROPORTIONS
        joint = f.landmarks[LEFT_SHOULDER if side == "left" else RIGHT_SHOULDER]
        out = f.across if side == "left" else -f.across
        base = joint + out * (p.seam_outset_u - inset_u) * f.unit_px
        steps = np.arange(0, int(p.shoulder_search_u * f.unit_px) + 1, dtype=np.float64)
        points = base[None, :] - steps[:, None] * f.down[None, :]
        hits = sample_mask(self.no_head, points)
        if not hits[0] or hits.all():
            return base, p.shoulder_rise_u * f.unit_px, False
        end = int(np.argmin(hits))
        return base, float(steps[end]) - 1.0, not bool(sample_mask(self.person, points[end:end + 1])[0])

    def neck_base(self, corner: np.ndarray) -> np.ndarray:
        """Where a neckline's corner sits: ``corner`` (from the model's base of the neck), raised to the
        outline above it when the outline is within :attr:`Proportions.neck_base_search_u` and is the
        background's edge (a neck held high or a sloping trapezius). Inside the neck's own width the
        person goes on up into the head: the model's corner stays."""
        f, p = self.frame, PROPORTIONS
        steps = np.arange(0, int(p.neck_base_search_u * f.unit_px) + 1, dtype=np.float64)
        points = corner[None, :] - steps[:, None] * f.down[None, :]
        body, person = sample_mask(self.no_head, points), sample_mask(self.person, points)
        if not body[0] or body.all():
            return corner
        first_out = int(np.argmin(body))
        if person[first_out]:  # the head begins there: the corner is on the neck
            return corner
        return corner - f.down * max(0.0, first_out - 1 - p.shoulder_line_inset_px)

    def shoulder_top(self, guess: np.ndarray, inset_px: float = PROPORTIONS.shoulder_line_inset_px) -> np.ndarray:
        """The silhouette's top above (or below) ``guess``, within a band around it, ``inset_px`` inside."""
        f, p = self.frame, PROPORTIONS
        below, above = p.shoulder_band_u
        start = guess + f.down * below * f.unit_px
        steps = np.arange(0, int((below + above) * f.unit_px) + 1, dtype=np.float64)
        hits = sample_mask(self.no_head, start[None, :] - steps[:, None] * f.down[None, :])
        if not hits[0]:
            return guess
        rise = float(steps[np.argmin(hits)] - 1) if not hits.all() else float(steps[-1])
        return start - f.down * (rise - inset_px)


def sample_mask(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Nearest-pixel lookup of a bool mask at float ``(..., 2)`` points ``(x, y)``; outside is False."""
    h, w = mask.shape
    xi = np.round(points[..., 0]).astype(np.int64)
    yi = np.round(points[..., 1]).astype(np.int64)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = np.zeros(points.shape[:-1], bool)
    out[inside] = mask[yi[inside], xi[inside]]
    return out


def ray_extent(
    mask: np.ndarray, origin: np.ndarray, direction: np.ndarray, max_px: float, gap_px: float,
    bridge: np.ndarray | None = None,
) -> float:
    """How far ``mask`` reaches from ``origin`` along unit ``direction`` (px), bridging small gaps.

    A start outside the mask (between the legs) is allowed: the reach is measured from the origin
    to the far end of the first stretch of mask whose gaps are narrower than ``gap_px``. Pixels of
    ``bridge`` (a forearm across the torso) never end a stretch, but the reach ends on the mask.
    Returns 0 when there is no mask within ``max_px``.
    """
    steps = np.arange(0, int(max_px) + 1, dtype=np.float64)
    points = origin[None, :] + steps[:, None] * direction[None, :]
    hits = sample_mask(mask, points)
    joined = hits if bridge is None else hits | sample_mask(bridge, points)
    idx = np.flatnonzero(joined)
    if not idx.size:
        return 0.0
    jumps = np.flatnonzero(np.diff(idx) > gap_px)
    last = idx[jumps[0]] if jumps.size else idx[-1]
    on_mask = np.flatnonzero(hits[: last + 1])
    return float(on_mask[-1]) if on_mask.size else 0.0
