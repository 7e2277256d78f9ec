"""Body analysis with MediaPipe: pose landmarks, person mask, face box, body regions, skin.

Input: the person photo, RGB ``uint8`` ``(H, W, 3)``.
Output: :class:`BodyAnalysis` (all masks ``bool`` ``(H, W)``, points in pixels).

Side convention used everywhere in tryon: ``left``/``right`` are the *wearer's*
sides (MediaPipe's convention), so in a front view the wearer's left shoulder
is on the image's right.

Steps of :func:`analyze_body`:

1. pose (33 landmarks + a coarse person mask), selfie segmentation (a sharper
   person mask) and face detection (to count people);
2. the person mask: selfie mask plus the area pose is sure of (white clothes on
   light backgrounds), only the blobs the skeleton touches; another person-sized
   blob, a second face, or much of the mask far from the skeleton is an error;
3. body parts (at ~512 px, then upsampled): capsules along the bones scaled by the
   shoulder width, disjoint by priority, grown to tile the person mask; person
   pixels above the shoulder line start as head;
4. skin: a Lab colour model (mean + covariance) from the cheeks and bare forearms,
   and a lightness-normalised chroma model; skin is smooth (prints and weaves fail a
   texture test), lies in or connects to limbs, neck or face, needs a closer match on
   the torso (where the old garment is), shaded rims join by hysteresis and deep
   shadows on the limbs by hue; the hand parts keep only the skin-coloured pixels
   connected to the hand landmarks, and take the skin-coloured part of the hand model's
   palm and fingers (:mod:`tryon.stages.hands`: fingertips the pose's four hand points miss);
5. hair: colour models of hair and clothing sort the shoulder area: garment tops
   and bare shoulders leave the head, hair falling over the chest joins it (by
   colour, or by its strands' texture over a plain top of the same colour).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping

import cv2
import numpy as np

from ..errors import TryOnError
from ..models import load_model, model_lock
from . import masks
from .clothing import Clothing, parse_clothing
from .hands import hand_shapes
from .landmarks import (
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_FOOT,
    LEFT_HEEL,
    LEFT_HIP,
    LEFT_INDEX,
    LEFT_KNEE,
    LEFT_PINKY,
    LEFT_SHOULDER,
    LEFT_THUMB,
    LEFT_WRIST,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_FOOT,
    RIGHT_HEEL,
    RIGHT_HIP,
    RIGHT_INDEX,
    RIGHT_KNEE,
    RIGHT_PINKY,
    RIGHT_SHOULDER,
    RIGHT_THUMB,
    RIGHT_WRIST,
    SKELETON,
    VISIBLE_MIN,
)
from .person import PROPORTIONS, BodyFrame, BodyShape, Silhouette

# Region names in BodyAnalysis.regions (each a bool (H, W) mask inside the person).
REGION_NAMES = (
    "torso",
    "neck",
    "face_hair",  # face and hair: always stays on top of a new garment
    "upper_arm_left", "upper_arm_right",
    "lower_arm_left", "lower_arm_right",
    "hand_left", "hand_right",
    "thigh_left", "thigh_right",
    "shin_left", "shin_right",
    "feet",
    "skin",  # pixels that look like the person's skin (face/arm colour model)
)
# Every region but "skin" is a body part; body parts are disjoint and together cover the person mask.
PART_NAMES = tuple(name for name in REGION_NAMES if name != "skin")
# Where two part shapes overlap, the earlier part wins (what is usually in front in a photo).
PART_PRIORITY = (
    "face_hair",
    "hand_left", "hand_right",
    "lower_arm_left", "lower_arm_right",
    "upper_arm_left", "upper_arm_right",
    "neck",
    "torso",
    "feet",
    "shin_left", "shin_right",
    "thigh_left", "thigh_right",
)
# Parts whose pixels may be bare skin; skin elsewhere must connect to them.
SKIN_BEARING_PARTS = (
    "face_hair", "neck",
    "upper_arm_left", "upper_arm_right", "lower_arm_left", "lower_arm_right",
    "hand_left", "hand_right",
    "thigh_left", "thigh_right", "shin_left", "shin_right", "feet",
)


@dataclasses.dataclass(frozen=True)
class DetectionRules:
    """When a photo holds one usable person (``_share``: of the image or of the person; ``_u``: body units)."""

    person_prob_threshold: float = 0.5
    # The segmentation's own grid (its input side, px) shows in the thresholded outline as steps a few
    # pixels long wherever the photo is larger; the outline is smoothed over this share of one grid cell,
    # so garments, fills and cuts that follow it have curves, not stairs.
    segmentation_side_px: int = 256
    outline_smooth_cells: float = 1.0
    # Pose's own mask is coarse but fills white-on-white gaps; it only adds where it is confident
    # (pose_prob ** 4 > 0.5 means pose_prob > 0.84).
    pose_mask_exponent: int = 4
    # A mask blob the skeleton does not touch, this big (fraction of the person's area) and this tall
    # (fraction of the image height), is another person.
    other_person_area_share: float = 0.3
    other_person_height_share: float = 0.3
    # Two people standing close merge into one blob: if this fraction of the person mask lies farther
    # than DETECT.far_from_skeleton_u body units from the skeleton, the blob holds someone the pose did not see.
    far_from_skeleton_u: float = 1.2
    far_area_share: float = 0.2
    far_grid_px: int = 4  # px per cell of the grid this is measured on
    min_person_height_share: float = 0.25  # the person must be at least this tall in the frame
    min_unit_px: int = 24  # below this the regions are meaningless
    # ...and the shoulders must span this fraction of the image's long side (a person ~40% of a
    # full-length photo's height): smaller people come out as a few blurry pixels.
    min_unit_share: float = 0.07
    face_score_min: float = 0.6  # face detections counted as people
    # A second face must be at least this fraction of the main face's width (not a logo or a print).
    other_face_min_width_share: float = 0.4
    in_frame_margin_share: float = 0.01  # landmarks this close (fraction of the side) to the border count as outside
    # A face box guessed from the pose (no face detected: a phone held up for a mirror selfie, a head turned away)
    # ends above the shoulders by this share of their span (the neck; 0.26 on an eval photo whose face shows): with
    # the face hidden, pose puts the mouth low and the box ran down over the neck and chest, which then stayed in
    # front of a new top as a block of the old one.
    chin_above_shoulders_share: float = 0.2
    # Without knees in view, a dress needs the person seen below the hip joints by this fraction of the
    # shoulder-hip length (the top of the thighs: enough to place a dress's skirt; eval case v16).
    dress_below_hips_share: float = 0.15
    # A top also suits a waist-up photo (a selfie, a mirror photo), the hip joints out of the frame: pose then
    # places them from the rest of the body (within ~0.1-0.2 torso lengths on the eval photos cropped above
    # the hips). The photo must show this share of the shoulder-hip length below the shoulders (the chest
    # at least), and the placed hips must make a torso this long for the shoulder span (a wild guess, not a body).
    upper_shown_share: float = 0.5
    torso_per_shoulder_range: tuple[float, float] = (0.8, 2.5)
    # A person shorter than this share of the photo's height, or narrower than this share of its width
    # (a full-length portrait with room at the sides), is posed on a crop around them, with this share
    # of their size as room on every side.
    crop_below_height_share: float = 0.85
    crop_below_width_share: float = 0.6
    crop_margin_share: float = 0.12


DETECT = DetectionRules()



@dataclasses.dataclass(frozen=True)
class PartTerritories:
    """Where each body part's pixels may lie, in body units ``_u``: its territory, wider than the bare
    limb of :class:`~tryon.stages.person.BodyShape` (clothing on the limb belongs to it)."""

    torso_shoulder_widen_u: float = 0.12
    torso_hip_widen_u: float = 0.18
    upper_arm_radius_u: float = 0.15
    lower_arm_radius_u: float = 0.12
    hand_radius_u: float = 0.11
    hand_reach_share: float = 2.2  # fingertips are ~2.2x the wrist-to-knuckle (MediaPipe index/pinky) distance away
    # The hand parts keep only skin-coloured pixels (skin, shaded skin) connected to the hand landmarks;
    # the clothing the hand shapes also cover (a pocket, a sleeve's cuff, a hip) goes to the nearest part.
    hand_seed_radius_u: float = 0.03  # body units around the wrist, knuckles and thumb landmarks
    hand_hole_area_u2: float = 0.002  # holes smaller than this (body units squared) are filled (not a gap to a pocket)
    thigh_radius_u: float = 0.26
    shin_radius_u: float = 0.17
    foot_radius_u: float = 0.13
    face_grow_side_share: float = 0.25  # face box grown sideways (fraction of its width) for ears and hair
    face_grow_up_share: float = 0.6  # and upwards for the top of the head
    face_grow_down_share: float = 0.1
    shoulder_line_raise_u: float = 0.1  # person pixels above the raised shoulder line, not neck or arm, are head/hair


PARTS = PartTerritories()


# Generic skin prior (covers light to dark skin), used when neither face nor forearms are visible.
SKIN_PRIOR_MEAN = np.array([150.0, 145.0, 150.0], np.float32)
SKIN_PRIOR_COV = np.diag([1600.0, 60.0, 80.0]).astype(np.float32)
# Added to a sampled covariance: shading varies lightness far more than hue.
SKIN_COV_FLOOR = np.diag([120.0, 6.0, 6.0]).astype(np.float32)

@dataclasses.dataclass(frozen=True)
class SkinRules:
    """The skin test: colour distances are squared Mahalanobis distances in OpenCV 8-bit Lab (``_sq``);
    sizes in body units (``_u``, areas ``_u2``) or px."""

    mahalanobis_sq: float = 11.3  # chi-square, 3 dof, 99%
    weak_sq: float = 22.0  # shaded skin connected to confident skin may be this far
    weak_reach_u: float = 0.03  # ...within this many body units of it
    trim_sq: float = 7.8  # samples beyond this (chi-square 95%) are dropped when refitting a colour model
    min_samples: int = 60
    trim_rounds: int = 3
    max_colour_samples: int = 3000  # colour models are fitted on at most this many pixels
    # Cheek window inside the face box, as fractions (x0, y0, x1, y1): below the eyes, above the mouth corners.
    cheek_box: tuple[float, float, float, float] = (0.2, 0.45, 0.8, 0.75)
    forearm_core_share: float = 0.5  # fraction of the forearm capsule radius sampled for skin colour
    # Skin is smooth: the lightness standard deviation in a SKIN.texture_window_px-px window (full resolution)
    # is ~3-10 on skin and ~30 or more on gingham, prints and denim. Skin must be near smooth skin.
    texture_window_px: int = 7
    max_texture: float = 16.0
    grow_u: float = 0.03  # smooth skin grows this far (body units) into skin-coloured edges
    min_area_u2: float = 0.003  # skin blobs smaller than this (body units squared) are noise
    hole_area_u2: float = 0.04  # holes in skin smaller than this (eyes, highlights, freckles) are filled
    # Skin's edge-tolerant texture (see _texture) is ~1-4; fabric's 10 or more even where a fine check is
    # soft-focus. Between SKIN.smooth_pattern and SKIN.max_texture, skin only this close to smooth skin.
    smooth_pattern: float = 6.0
    pattern_sigma_px: float = 1.5  # full-resolution px: detail finer than this is weave, print or pores
    pattern_reach_u: float = 0.02  # body units
    # Shading-invariant skin colour: chroma over lightness, (a*, b*) / (L* + 16). Darkening a colour
    # (scaling its RGB) scales L* + 16, a* and b* alike, so shadowed skin keeps the chroma of lit skin
    # while orange, tan or pink clothing does not (it is more or less saturated, or of another hue).
    chroma_sq: float = 9.2  # chi-square, 2 dof, 99%: skin must match the chroma model too
    # Where the old garment is (the torso, not a skin-bearing part) skin needs stronger evidence.
    torso_sq: float = 7.8  # chi-square, 3 dof, 95%
    torso_chroma_sq: float = 6.0  # chi-square, 2 dof, 95%
    # Shadowed skin (an arm's inner side against the body) is much darker and, lit by light bounced off
    # skin, more saturated than the model: it is found by hue, not by the models. On the limbs and the
    # neck only, within reach of confident skin and connected to it, smooth; of the skin's hue; at least
    # as saturated for its lightness; clearly darker than lit skin (a bright orange or tan garment is
    # not) but not black or grey.
    shadow_hue_rad: float = np.radians(25.0)  # largest hue difference (Lab hue angle) from the skin model
    shadow_min_chroma: float = 8.0  # C* (Lab units): greys and blacks have no hue
    shadow_saturation_share: float = 0.8  # C* / (L* + 16) at least this share of the skin model's
    shadow_darker_sd: float = 2.0  # at least this many lightness standard deviations below the skin model
    shadow_min_lightness_share: float = 0.15  # x the skin model's mean lightness
    shadow_reach_u: float = 0.1  # body units from confident skin
    # ...and at most this many times as colourful (C*) as lit skin: a shadow is darker, so even light bounced
    # off skin leaves it less colourful than this; a red skirt or an orange top beside the arm is more.
    shadow_max_chroma_share: float = 2.0


SKIN = SkinRules()

SKIN_CHROMA_FLOOR = np.diag([4e-4, 4e-4]).astype(np.float32)  # added to a sampled chroma covariance
SHADOW_SKIN_PARTS = (
    "neck", "upper_arm_left", "upper_arm_right", "lower_arm_left", "lower_arm_right", "hand_left", "hand_right",
    "thigh_left", "thigh_right", "shin_left", "shin_right", "feet",
)


@dataclasses.dataclass(frozen=True)
class HairRules:
    """Sorting hair from clothing below the shoulders (sizes in body units ``_u`` or work-resolution px)."""

    min_samples: int = 80
    seen_above_share: float = 0.5  # hair is looked for above this share of the face box's height
    band_half_width_u: float = 0.75  # long hair lies within this many body units of the face centre
    max_length_u: float = 1.6  # and at most this many body units below the shoulder line
    # Hair and clothing colour models this close (Mahalanobis, squared) cannot be told apart: no long hair...
    min_separation_sq: float = 16.0
    # ...unless the two models still sort their own samples: at least this share of the head's hair taken
    # for hair and at most this share of the torso's cloth (brown hair over a navy top: close means, but
    # the hair's wide spread of light and shade inflates the distance test, not the overlap).
    sorted_hair_share: float = 0.8
    sorted_cloth_share: float = 0.03
    open_px: int = 2  # at work resolution: removes specks before the connectivity test
    # Hair the colour of the clothing (black hair over a black top) is told apart by its texture: fine,
    # directional strands. Only where the clothing is plain (its texture this many times weaker than the
    # hair's on the head) and only pixels as textured as the head's hair (this share of it, median) whose
    # local orientation is coherent (strands run one way), connected to the head.
    texture_contrast: float = 2.5
    texture_share: float = 0.5
    min_coherence: float = 0.35  # ((l1 - l2) / (l1 + l2))^2 of the structure tensor; 0 for isotropic noise
    tensor_sigma_px: float = 2.0  # work px: the window the orientation is averaged over
    close_px: int = 2  # work px: strands with dark gaps between them close into one region
    lock_px: int = 3  # work px: what is thinner than this after closing is a seam or an edge, not hair
    edge_px: int = 3  # work px kept clear of the person's outline


HAIR = HairRules()


# Region and skin work happens at this long side (px), then label maps are upsampled.
WORK_SIDE = 512
ARM_SKIN_GROW_PX = 2  # the arms' skin grown over its anti-aliased rim (a 5x5 square in the first version)


class RegionMasks(Mapping):
    """Read-only ``{region name: bool (H, W) mask}`` stored as one label map plus the skin mask.

    Masks are made on access, so a cached :class:`BodyAnalysis` costs ~2 bytes per pixel, not 15.
    """

    def __init__(self, part_labels: np.ndarray, skin: np.ndarray) -> None:
        self._labels = part_labels
        self._skin = skin

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "skin":
            return self._skin.copy()
        if name not in PART_NAMES:
            raise KeyError(name)
        return self._labels == PART_NAMES.index(name) + 1

    def union(self, names: Iterable[str], size: tuple[int, int] | None = None) -> np.ndarray:
        """The body parts ``names`` together (bool ``(H, W)``; not "skin"), in one pass over the label map;
        at ``size`` (``(h, w)``, nearest label) when given, which is cheaper for a coarse use."""
        table = np.zeros(256, np.uint8)
        for name in names:
            table[PART_NAMES.index(name) + 1] = 1
        labels = self._labels
        if size is not None and size != labels.shape:
            labels = cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        if labels.dtype == np.uint8:  # a lookup table: ~8x faster than numpy's fancy indexing
            return cv2.LUT(labels, table).view(bool)
        return table[labels].view(bool)

    def __iter__(self) -> Iterator[str]:
        return iter(REGION_NAMES)

    def __len__(self) -> int:
        return len(REGION_NAMES)


@dataclasses.dataclass(frozen=True, eq=False)
class BodyAnalysis:
    """What the body stage found in one person photo.

    Attributes:
        size: ``(H, W)`` of the analysed image.
        landmarks: ``(33, 2)`` float32, MediaPipe pose landmarks in pixels ``(x, y)``.
        visibility: ``(33,)`` float32 in [0, 1], MediaPipe's visibility per landmark.
        landmark_z: ``(33,)`` float32, MediaPipe's estimate of each landmark's distance from the camera
            relative to the hips' midpoint, in px on the same scale as ``landmarks`` (smaller: nearer);
            None when not known (an analysis built by hand).
        person_prob: ``(H, W)`` float32 in [0, 1], soft person mask.
        person_mask: ``(H, W)`` bool, the person (``person_prob > 0.5`` cleaned up).
        face_box: ``(x0, y0, x1, y1)`` int pixels of the face, or None if not seen.
        regions: region name -> ``(H, W)`` bool mask, names in :data:`REGION_NAMES`.
            The body parts (:data:`PART_NAMES`) are disjoint and cover ``person_mask``;
            ``"skin"`` overlaps them.
        skin_lab_mean: ``(3,)`` float32, mean skin colour in OpenCV 8-bit Lab.
        skin_lab_cov: ``(3, 3)`` float32, its covariance (for a Mahalanobis skin test).
        skin_rgb: ``(3,)`` uint8, a representative skin colour (fills bared skin).
        face_count: faces the face detector found (0 when the photo crops the face off).
        part_labels: ``(H, W)`` uint8, 0 outside the person, else ``1 + PART_NAMES.index(part)``;
            None when built by hand (then ``regions`` is the source).
        person: the :class:`PersonModel` every later stage reads its body rules from (None only
            when built by hand without one: see :func:`model_person`).
    """

    size: tuple[int, int]
    landmarks: np.ndarray
    visibility: np.ndarray
    person_prob: np.ndarray
    person_mask: np.ndarray
    face_box: tuple[int, int, int, int] | None
    regions: Mapping[str, np.ndarray]
    skin_lab_mean: np.ndarray
    skin_lab_cov: np.ndarray
    skin_rgb: np.ndarray
    face_count: int = 0
    part_labels: np.ndarray | None = None
    person: PersonModel | None = None
    landmark_z: np.ndarray | None = None

    def point(self, index: int) -> np.ndarray:
        """Landmark ``index`` as a float32 ``(2,)`` pixel position ``(x, y)``."""
        return self.landmarks[index]

    @property
    def shoulder_width(self) -> float:
        """Distance between the shoulder joints in pixels (the body unit is :attr:`BodyFrame.unit_px`)."""
        return _shoulder_width(self.landmarks)

    @property
    def frame(self) -> BodyFrame:
        """The torso's frame (from the person model, or from the landmarks when there is none)."""
        if self.person is not None:
            return self.person.frame
        return BodyFrame.from_landmarks(self.landmarks, self.visibility, self.size, z=self.landmark_z)

    def in_frame(self, index: int) -> bool:
        """Whether landmark ``index`` is seen (visibility) and inside the image."""
        return _in_frame(self.landmarks[index], float(self.visibility[index]), self.size)

    def skin_distance_sq(self, image: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of every pixel to this person's skin colour.

        Args:
            image: RGB uint8 ``(H, W, 3)`` (any size).

        Returns:
            float32 ``(H, W)``; below ``SKIN.mahalanobis_sq`` looks like this person's skin.
        """
        return _mahalanobis_sq(_lab(image), self.skin_lab_mean, self.skin_lab_cov)


def analyze_body(image: np.ndarray) -> BodyAnalysis:
    """Run pose, segmentation and face detection on a person photo.

    Args:
        image: RGB uint8 ``(H, W, 3)``.

    Returns:
        The :class:`BodyAnalysis`; nothing global is changed.

    Raises:
        TryOnError: no person, several people, person too small.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise TryOnError("The person photo must be an RGB image: load it with tryon.stages.intake.load_image.")
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]

    # 1. Models (MediaPipe graphs are not re-entrant: one caller at a time per model).
    with model_lock("selfie"):
        selfie_prob = np.array(load_model("selfie").process(image).segmentation_mask, np.float32)
    landmarks, visibility, landmark_z, pose_prob = _pose(image, selfie_prob)
    with model_lock("faces"):
        faces = _face_boxes(load_model("faces").process(image).detections, (height, width))

    # 2. Person mask, people count, size (full resolution).
    unit = BodyFrame.from_landmarks(landmarks, visibility, (height, width)).unit_px
    person_prob = _person_prob(selfie_prob, pose_prob)
    person_mask = _person_mask(person_prob, landmarks, visibility, unit)
    if len(faces) > 1:
        raise TryOnError(
            f"The photo shows {len(faces)} faces: use a photo of one person only (crop the others out)."
        )
    _check_size(person_mask, unit)
    face_box = _face_box(faces, landmarks, (height, width))

    # 3. Body parts, skin and long hair at work resolution (the shapes are smooth; this keeps it fast).
    scale = min(1.0, WORK_SIDE / max(height, width))
    work_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    work_mask = cv2.resize(person_mask.astype(np.uint8) * 255, work_size, interpolation=cv2.INTER_AREA) > 127
    work_face = None if face_box is None else tuple(round(v * scale) for v in face_box)
    work_points, work_unit = landmarks * scale, unit * scale
    labels = _part_labels(work_mask, work_points, work_face, work_unit)

    work_image = cv2.resize(image, work_size, interpolation=cv2.INTER_AREA)
    lab = _lab(work_image)
    texture, pattern = _texture(image, work_size)
    mean, cov = _fit_skin_model(lab, work_mask, work_face, work_points, work_unit)
    skin = _skin_mask(lab, texture, pattern, mean, cov, work_mask, labels, work_unit)
    labels = _restrict_hands(labels, lab, texture, skin, (mean, cov), work_points, work_unit)
    hands = hand_shapes(image, landmarks, visibility, unit)
    _add_hands(labels, hands, work_mask, work_image, (mean, cov), work_unit)
    labels = _refine_hair(lab, texture, labels, skin, (mean, cov), work_points, work_face, work_unit)

    # 4. Back to full resolution, cut to the full-resolution person mask.
    part_labels = _upsample_labels(labels, person_mask)
    _add_hands(part_labels, hands, person_mask, image, (mean, cov), unit)
    skin_full = cv2.resize(skin.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
    skin_full &= person_mask
    analysis = BodyAnalysis(
        size=(height, width),
        landmarks=landmarks,
        visibility=visibility,
        person_prob=person_prob,
        person_mask=person_mask,
        face_box=face_box,
        regions=RegionMasks(part_labels, skin_full),
        skin_lab_mean=mean,
        skin_lab_cov=cov,
        skin_rgb=_lab_to_rgb(mean),
        face_count=len(faces),
        part_labels=part_labels,
        landmark_z=landmark_z,
    )
    # 5. The person model: frame, bare body, silhouette and what the person wears.
    return dataclasses.replace(analysis, person=model_person(image, analysis))


@dataclasses.dataclass(frozen=True, eq=False)
class PersonModel:
    """One description of the person that every stage reads its body rules from.

    Attributes:
        frame: the torso's axis, unit and centre line (:class:`~tryon.stages.person.BodyFrame`).
        shape: the bare body under the clothes (:class:`~tryon.stages.person.BodyShape`).
        silhouette: outline measurements (:class:`~tryon.stages.person.Silhouette`).
        clothing: what the person wears (:class:`~tryon.stages.clothing.Clothing`).
    """

    frame: BodyFrame
    shape: BodyShape
    silhouette: Silhouette
    clothing: Clothing


def model_person(image: np.ndarray, body: BodyAnalysis) -> PersonModel:
    """The :class:`PersonModel` of ``image`` (RGB uint8 ``(H, W, 3)``) from its body analysis."""
    frame = BodyFrame.from_landmarks(body.landmarks, body.visibility, body.size, z=body.landmark_z)
    shape = BodyShape.of(frame, skin=body.regions["skin"] & body.person_mask)
    silhouette = _silhouette(body, frame)
    return PersonModel(frame=frame, shape=shape, silhouette=silhouette,
                       clothing=parse_clothing(image, body, frame, shape, silhouette))


def _silhouette(body: BodyAnalysis, frame: BodyFrame) -> Silhouette:
    regions = body.regions
    arms = np.zeros(body.size, bool)
    for name in ("upper_arm_left", "upper_arm_right", "lower_arm_left", "lower_arm_right"):
        arms |= regions[name]
    # Bare arms are not torso; clothed arms cannot be told from the torso beside them, so they stay.
    arm_skin = arms & masks.dilate(regions["skin"], ARM_SKIN_GROW_PX)
    face = regions["face_hair"]
    trunk = body.person_mask & ~arm_skin & ~face & ~regions["hand_left"] & ~regions["hand_right"]
    return Silhouette(frame=frame, person=body.person_mask, trunk=trunk, arm_skin=arm_skin,
                      no_head=body.person_mask & ~face)


def check_visible(body: BodyAnalysis, category: str) -> None:
    """Raise TryOnError if the body part that ``category`` dresses is not in the photo.

    ``category``: "upper" needs both shoulders in frame and both hips, or the body down to the chest at
    least (a waist-up photo, see :attr:`DetectionRules.upper_shown_share`); "lower" needs hips
    and knees; "dress" needs shoulders and hips, and the photo must go on below the hips
    (knees in view, or the person seen at least a third of the shoulder-hip length below
    the hips: a dress on a person cropped at mid-thigh still shows its fit). The message
    says what to do.

    Raises:
        TryOnError: a needed body part is outside the photo or hidden; unknown category.
    """
    shoulders = body.in_frame(LEFT_SHOULDER) and body.in_frame(RIGHT_SHOULDER)
    hips = body.in_frame(LEFT_HIP) and body.in_frame(RIGHT_HIP)
    knees = body.in_frame(LEFT_KNEE) and body.in_frame(RIGHT_KNEE)
    if category == "upper":
        if not shoulders:
            raise TryOnError(
                "The photo does not show both shoulders: use a photo with both in the picture, from the head "
                "down to at least the chest (down to the waist is best), facing the camera."
            )
        if not (hips or _shows_chest(body)):
            raise TryOnError(
                "The photo does not show enough of your upper body: use a photo that shows you from the "
                "head down to at least the chest (down to the waist is best), facing the camera."
            )
    elif category == "lower":
        if not (hips and knees):
            raise TryOnError(
                "The photo does not show the legs: for trousers, shorts and skirts use a photo "
                "that shows you from the waist down to at least the knees."
            )
    elif category == "dress":
        if not (shoulders and hips and (knees or _extends_below_hips(body))):
            raise TryOnError(
                "The photo does not show enough of the body for a dress: use a photo that shows "
                "you from the shoulders down to at least mid-thigh, ideally to the knees."
            )
    else:
        raise TryOnError(f"Unknown garment category {category!r}: choose upper, lower or dress.")


# --- landmarks, faces, people -------------------------------------------------------------------


NO_PERSON = (
    "No person was found in the photo: upload a photo of one person, standing and "
    "facing the camera, with the body from the shoulders down in view."
)


def _pose(
    image: np.ndarray, selfie_prob: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Pose landmarks (px), their visibility, their distance from the camera (px, relative to the hips'
    midpoint) and pose's soft person mask (float32 ``(H, W)`` or None).

    MediaPipe's pose model finds a small or narrow person (a full-length photo with much room around
    them) far less reliably than one who fills the frame (it took a front view for a back view, with
    the shoulders swapped): then pose runs on a crop around the segmented person and its answer is
    mapped back.
    """
    height, width = image.shape[:2]
    box = _person_box(selfie_prob)
    if box is not None:
        x0, y0, x1, y1 = box
        crop = _run_pose(np.ascontiguousarray(image[y0:y1, x0:x1]))
        if crop is not None:
            landmarks, visibility, z = _landmarks_px(crop.pose_landmarks, (y1 - y0, x1 - x0))
            prob = None
            if crop.segmentation_mask is not None:
                prob = np.zeros((height, width), np.float32)
                prob[y0:y1, x0:x1] = crop.segmentation_mask
            return landmarks + np.array([x0, y0], np.float32), visibility, z, prob
    result = _run_pose(image)
    if result is None:
        raise TryOnError(NO_PERSON)
    landmarks, visibility, z = _landmarks_px(result.pose_landmarks, (height, width))
    return landmarks, visibility, z, result.segmentation_mask


def _run_pose(image: np.ndarray) -> object | None:
    with model_lock("pose"):
        result = load_model("pose").process(image)
    return None if result.pose_landmarks is None else result


def _person_box(selfie_prob: np.ndarray) -> tuple[int, int, int, int] | None:
    """A box ``(x0, y0, x1, y1)`` around the largest segmented blob, with room around it, when that
    blob is small or narrow in the photo (pose then runs on the box); None otherwise."""
    mask = (selfie_prob > DETECT.person_prob_threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    height, width = mask.shape
    if h >= DETECT.crop_below_height_share * height and w >= DETECT.crop_below_width_share * width:
        return None
    margin = DETECT.crop_margin_share * max(w, h)
    x0, y0 = int(max(0, x - margin)), int(max(0, y - margin))
    x1, y1 = int(min(width, x + w + margin)), int(min(height, y + h + margin))
    return (x0, y0, x1, y1) if (x1 - x0) >= 32 and (y1 - y0) >= 32 else None


def _landmarks_px(pose_landmarks: object, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks ``(33, 2)`` px, visibility ``(33,)`` and distance from the camera ``(33,)`` px (MediaPipe
    gives it on the scale of x: a share of the image's width)."""
    height, width = size
    points = pose_landmarks.landmark  # type: ignore[attr-defined]
    xy = np.array([(p.x * width, p.y * height) for p in points], np.float32)
    visibility = np.array([p.visibility for p in points], np.float32).clip(0.0, 1.0)
    z = np.array([p.z * width for p in points], np.float32)
    return xy, visibility, z


def _in_frame(point: np.ndarray, visibility: float, size: tuple[int, int]) -> bool:
    height, width = size
    margin_x, margin_y = DETECT.in_frame_margin_share * width, DETECT.in_frame_margin_share * height
    inside = margin_x <= point[0] <= width - margin_x and margin_y <= point[1] <= height - margin_y
    return bool(visibility >= VISIBLE_MIN and inside)


def _shoulder_width(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[LEFT_SHOULDER] - landmarks[RIGHT_SHOULDER]))


def _shows_chest(body: BodyAnalysis) -> bool:
    """The person is seen :attr:`DetectionRules.upper_shown_share` of the shoulder-hip length below the
    shoulders, the hips placed where pose puts them (in the photo or below it) and making a body's torso."""
    shoulders = 0.5 * (body.point(LEFT_SHOULDER) + body.point(RIGHT_SHOULDER))
    hips = 0.5 * (body.point(LEFT_HIP) + body.point(RIGHT_HIP))
    drop = float(hips[1] - shoulders[1])
    low, high = DETECT.torso_per_shoulder_range
    if not low * body.shoulder_width <= float(np.linalg.norm(hips - shoulders)) <= high * body.shoulder_width:
        return False
    rows = np.flatnonzero(body.person_mask.any(axis=1))
    return bool(rows.size) and drop > 0 and rows[-1] >= shoulders[1] + DETECT.upper_shown_share * drop


def _extends_below_hips(body: BodyAnalysis) -> bool:
    """The person mask reaches clearly below the hip joints."""
    hip_y = float(max(body.point(LEFT_HIP)[1], body.point(RIGHT_HIP)[1]))
    shoulder_y = float(min(body.point(LEFT_SHOULDER)[1], body.point(RIGHT_SHOULDER)[1]))
    rows = np.flatnonzero(body.person_mask.any(axis=1))
    return bool(rows.size) and rows[-1] >= hip_y + DETECT.dress_below_hips_share * (hip_y - shoulder_y)


def _face_boxes(detections: object, size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Confident face detections as pixel boxes, largest first; tiny ones (prints, logos) dropped."""
    height, width = size
    boxes = []
    for detection in detections or []:  # type: ignore[attr-defined]
        if detection.score[0] < DETECT.face_score_min:
            continue
        rel = detection.location_data.relative_bounding_box
        x0, y0 = rel.xmin * width, rel.ymin * height
        x1, y1 = x0 + rel.width * width, y0 + rel.height * height
        boxes.append((int(max(0, x0)), int(max(0, y0)), int(min(width, x1)), int(min(height, y1))))
    boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    if boxes:
        main_width = boxes[0][2] - boxes[0][0]
        boxes = [b for b in boxes if b[2] - b[0] >= DETECT.other_face_min_width_share * main_width]
    return boxes


def _face_box(
    faces: list[tuple[int, int, int, int]], landmarks: np.ndarray, size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The detected face box of the posed person, else one estimated from the face landmarks."""
    nose = landmarks[NOSE]
    for box in faces:
        if box[0] <= nose[0] <= box[2] and box[1] <= nose[1] <= box[3]:
            return box
    # No detection (the photo crops the face, or it is turned away): eyes, ears and mouth span the face.
    height, width = size
    if not (0 <= nose[0] < width and nose[1] < height):
        return None
    half_width = max(
        0.5 * float(np.ptp(landmarks[[LEFT_EAR, RIGHT_EAR, LEFT_EYE, RIGHT_EYE], 0])),
        0.25 * _shoulder_width(landmarks),
    )
    eye_y = float(landmarks[[LEFT_EYE, RIGHT_EYE], 1].mean())
    mouth_y = float(landmarks[[MOUTH_LEFT, MOUTH_RIGHT], 1].mean())
    eye_to_mouth = max(mouth_y - eye_y, 0.4 * half_width)
    x0, x1 = nose[0] - half_width, nose[0] + half_width
    y0, y1 = eye_y - 0.9 * eye_to_mouth, mouth_y + 0.9 * eye_to_mouth
    shoulder_y = float(min(landmarks[LEFT_SHOULDER, 1], landmarks[RIGHT_SHOULDER, 1]))
    y1 = min(y1, shoulder_y - DETECT.chin_above_shoulders_share * _shoulder_width(landmarks))
    x0, y0, x1, y1 = int(max(0, x0)), int(max(0, y0)), int(min(width, x1)), int(min(height, y1))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _check_size(person_mask: np.ndarray, unit: float) -> None:
    rows = np.flatnonzero(person_mask.any(axis=1))
    tall = rows.size > 0 and (rows[-1] - rows[0] + 1) >= DETECT.min_person_height_share * person_mask.shape[0]
    wide = unit >= max(DETECT.min_unit_px, DETECT.min_unit_share * max(person_mask.shape))
    if not (tall and wide):
        raise TryOnError(
            "The person is too small in the photo: crop it so the person fills most of the frame, "
            "or take the photo closer."
        )


# --- person mask -------------------------------------------------------------------------------

MORE_THAN_ONE_PERSON = (
    "The photo seems to show more than one person: use a photo of one person only (crop the others out)."
)


def _person_prob(selfie_prob: np.ndarray, pose_prob: np.ndarray | None) -> np.ndarray:
    """Selfie segmentation, with pose's confident area added (fills white-on-white gaps); a new array."""
    prob = np.array(selfie_prob, np.float32)  # a copy: MediaPipe owns its output buffers
    if pose_prob is not None:
        np.maximum(prob, cv2.pow(np.asarray(pose_prob, np.float32), DETECT.pose_mask_exponent), out=prob)
    return np.clip(prob, 0.0, 1.0, out=prob)


def _skeleton_mask(
    landmarks: np.ndarray, visibility: np.ndarray, size: tuple[int, int], thickness: float
) -> np.ndarray:
    """The visible bones drawn ``thickness`` px wide, bool ``(H, W)``."""
    canvas = np.zeros(size, np.uint8)
    for a, b in SKELETON:
        if visibility[a] >= VISIBLE_MIN and visibility[b] >= VISIBLE_MIN:
            masks.capsule(canvas, landmarks[a], landmarks[b], thickness / 2)
    return canvas.astype(bool)


def _person_mask(
    prob: np.ndarray, landmarks: np.ndarray, visibility: np.ndarray, unit: float
) -> np.ndarray:
    """Threshold, keep the blobs the skeleton touches; raise if another person is in the photo."""
    mask = (prob > DETECT.person_prob_threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    skeleton = _skeleton_mask(landmarks, visibility, mask.shape, max(3.0, 0.05 * unit))
    keep = np.zeros(count, bool)
    keep[labels[skeleton]] = True
    keep[0] = False
    person_area = int(stats[keep, cv2.CC_STAT_AREA].sum())
    if person_area == 0:
        raise TryOnError(
            "No person was found in the photo: upload a photo of one person, standing and "
            "facing the camera, against a plain background."
        )
    others = ~keep
    others[0] = False
    big = stats[:, cv2.CC_STAT_AREA] >= DETECT.other_person_area_share * person_area
    tall = stats[:, cv2.CC_STAT_HEIGHT] >= DETECT.other_person_height_share * mask.shape[0]
    if np.any(others & big & tall):
        raise TryOnError(MORE_THAN_ONE_PERSON)
    person = keep[labels]
    if _far_from_skeleton_fraction(person, landmarks, visibility, unit) > DETECT.far_area_share:
        # People standing close share one blob: then much of it is far from this skeleton.
        raise TryOnError(MORE_THAN_ONE_PERSON)
    cell = max(person.shape) / DETECT.segmentation_side_px
    return masks.smooth_outline(person, DETECT.outline_smooth_cells * cell) if cell > 1.0 else person


def _far_from_skeleton_fraction(
    person: np.ndarray, landmarks: np.ndarray, visibility: np.ndarray, unit: float
) -> float:
    """Fraction of ``person`` farther than DETECT.far_from_skeleton_u body units from the bones."""
    # A coarse grid is plenty for distances of a shoulder width (and 16x cheaper).
    height, width = person.shape
    small_size = (max(1, width // DETECT.far_grid_px), max(1, height // DETECT.far_grid_px))
    small = cv2.resize(person.astype(np.uint8), small_size, interpolation=cv2.INTER_NEAREST) > 0
    skeleton = _skeleton_mask(landmarks / DETECT.far_grid_px, visibility, small.shape, 1.0)
    distance = cv2.distanceTransform((~skeleton).astype(np.uint8), cv2.DIST_L2, 3)
    far = np.count_nonzero(small & (distance > DETECT.far_from_skeleton_u * unit / DETECT.far_grid_px))
    return far / max(1, np.count_nonzero(small))


# --- body parts --------------------------------------------------------------------------------


def _part_shapes(
    size: tuple[int, int],
    pt: np.ndarray,
    face_box: tuple[int, int, int, int] | None,
    unit: float,
) -> dict[str, np.ndarray]:
    """Geometric part shapes (uint8 0/1 ``(H, W)``; they overlap and ignore the person mask)."""
    shapes = {name: np.zeros(size, np.uint8) for name in PART_NAMES}

    # Torso: the shoulder-hip quadrilateral, widened sideways and raised to the top of the shoulders.
    mid_shoulder = 0.5 * (pt[LEFT_SHOULDER] + pt[RIGHT_SHOULDER])
    mid_hip = 0.5 * (pt[LEFT_HIP] + pt[RIGHT_HIP])
    across = _unit_vector(pt[LEFT_SHOULDER] - pt[RIGHT_SHOULDER])
    hip_across = _unit_vector(pt[LEFT_HIP] - pt[RIGHT_HIP])
    up = np.array([across[1], -across[0]], np.float32)  # perpendicular to the shoulder line...
    if np.dot(up, mid_shoulder - mid_hip) < 0:  # ...pointing from the hips to the shoulders
        up = -up
    lift = PROPORTIONS.shoulder_rise_u * unit * up
    quad = np.array([
        pt[LEFT_SHOULDER] + PARTS.torso_shoulder_widen_u * unit * across + lift,
        pt[RIGHT_SHOULDER] - PARTS.torso_shoulder_widen_u * unit * across + lift,
        pt[RIGHT_HIP] - PARTS.torso_hip_widen_u * unit * hip_across,
        pt[LEFT_HIP] + PARTS.torso_hip_widen_u * unit * hip_across,
    ])
    cv2.fillPoly(shapes["torso"], [np.round(quad).astype(np.int32)], 1)

    # Neck: from the shoulder midpoint up towards the mouth.
    mouth = 0.5 * (pt[MOUTH_LEFT] + pt[MOUTH_RIGHT])
    neck_top = mid_shoulder + PROPORTIONS.neck_reach_share * (mouth - mid_shoulder)
    masks.capsule(shapes["neck"], mid_shoulder, neck_top, PROPORTIONS.neck_radius_u * unit)

    # Head: the face box grown for ears and hair.
    if face_box is not None:
        gx0, gy0, gx1, gy1 = _grown_face_box(face_box, size)
        shapes["face_hair"][gy0:gy1, gx0:gx1] = 1

    for side, (shoulder, elbow, wrist, pinky, index, thumb) in (
        ("left", (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST, LEFT_PINKY, LEFT_INDEX, LEFT_THUMB)),
        ("right", (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST, RIGHT_PINKY, RIGHT_INDEX, RIGHT_THUMB)),
    ):
        masks.capsule(shapes[f"upper_arm_{side}"], pt[shoulder], pt[elbow], PARTS.upper_arm_radius_u * unit)
        masks.capsule(shapes[f"lower_arm_{side}"], pt[elbow], pt[wrist], PARTS.lower_arm_radius_u * unit)
        knuckles = 0.5 * (pt[pinky] + pt[index])
        masks.capsule(shapes[f"hand_{side}"], pt[wrist], pt[wrist] + PARTS.hand_reach_share * (knuckles - pt[wrist]),
                 PARTS.hand_radius_u * unit)
        hull = cv2.convexHull(np.round(pt[[wrist, pinky, index, thumb]]).astype(np.int32))
        cv2.fillConvexPoly(shapes[f"hand_{side}"], hull, 1)

    for side, (hip, knee, ankle, heel, foot) in (
        ("left", (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE, LEFT_HEEL, LEFT_FOOT)),
        ("right", (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE, RIGHT_HEEL, RIGHT_FOOT)),
    ):
        masks.capsule(shapes[f"thigh_{side}"], pt[hip], pt[knee], PARTS.thigh_radius_u * unit)
        masks.capsule(shapes[f"shin_{side}"], pt[knee], pt[ankle], PARTS.shin_radius_u * unit)
        for a, b in ((ankle, heel), (heel, foot), (ankle, foot)):
            masks.capsule(shapes["feet"], pt[a], pt[b], PARTS.foot_radius_u * unit)
    return shapes


def _unit_vector(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-6)).astype(np.float32)


def _part_labels(
    person_mask: np.ndarray,
    landmarks: np.ndarray,
    face_box: tuple[int, int, int, int] | None,
    unit: float,
) -> np.ndarray:
    """Label map uint8 ``(H, W)``: 0 off the person, else ``1 + PART_NAMES.index(part)``.

    Every person pixel gets a part.
    """
    size = person_mask.shape
    shapes = _part_shapes(size, landmarks, face_box, unit)

    # Head and hair: person pixels above the (raised) shoulder line that are not neck, arm or hand,
    # in the blobs that touch the face (a raised hand is not hair).
    line_y = _shoulder_line_y(landmarks, size[1]) - PARTS.shoulder_line_raise_u * unit
    head = (np.arange(size[0], dtype=np.float32)[:, None] < line_y[None, :]) & person_mask
    for name in ("neck", "upper_arm_left", "upper_arm_right", "hand_left", "hand_right"):
        head &= shapes[name] == 0
    face_seed = shapes["face_hair"].astype(bool) | _point_mask(size, landmarks[NOSE])
    shapes["face_hair"] |= masks.keep_touching(head, face_seed).astype(np.uint8)

    # Each pixel goes to the first part in PART_PRIORITY whose shape covers it...
    labels = np.zeros(size, np.uint8)
    for name in reversed(PART_PRIORITY):
        labels[shapes[name] > 0] = PART_NAMES.index(name) + 1
    labels[~person_mask] = 0
    # ...and person pixels no shape covers (loose clothes, big hair) to the nearest part.
    return masks.fill_nearest(labels, person_mask)


def _shoulder_line_y(landmarks: np.ndarray, width: int) -> np.ndarray:
    """y of the line through both shoulders at every column x, float32 ``(W,)``."""
    (lx, ly), (rx, ry) = landmarks[LEFT_SHOULDER], landmarks[RIGHT_SHOULDER]
    slope = (ly - ry) / (lx - rx) if abs(lx - rx) > 1 else 0.0
    return (ry + slope * (np.arange(width, dtype=np.float32) - rx)).astype(np.float32)


def _point_mask(size: tuple[int, int], point: np.ndarray) -> np.ndarray:
    mask = np.zeros(size, bool)
    x, y = round(float(point[0])), round(float(point[1]))
    if 0 <= x < size[1] and 0 <= y < size[0]:
        mask[y, x] = True
    return mask


def _upsample_labels(labels: np.ndarray, person_mask: np.ndarray) -> np.ndarray:
    """Work-resolution label map to the full-resolution person mask (edge pixels from their neighbours)."""
    height, width = person_mask.shape
    full = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    full[~person_mask] = 0
    missing = person_mask & (full == 0)
    if missing.any():
        # Mask edges differ by a pixel or two between resolutions: borrow the neighbouring label.
        grown = cv2.dilate(full, np.ones((3, 3), np.uint8), iterations=3)
        full[missing] = grown[missing]
        full = masks.fill_nearest(full, person_mask)
    return full


# --- skin and hair colour ------------------------------------------------------------------------


def _lab(image: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` to OpenCV 8-bit Lab as float32 ``(H, W, 3)``."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    pixel = np.clip(np.round(lab), 0, 255).astype(np.uint8).reshape(1, 1, 3)
    return cv2.cvtColor(pixel, cv2.COLOR_LAB2RGB).reshape(3)


def _texture(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Local lightness standard deviation, and the edge-tolerant fine detail, at ``size`` (W, H).

    Both float32 ``(h, w)`` on a 0-255 scale, measured in SKIN.texture_window_px-px windows at full
    resolution (fine weaves vanish when downscaled). The second (*pattern*) is the RMS of the
    lightness minus its SKIN.pattern_sigma_px blur (shading and soft shadows have none), the least of the
    windows around a pixel: near a single edge one of them lies on one side of it (low), while in a
    check or print every window holds the pattern (high).
    """
    lightness = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    window = (SKIN.texture_window_px, SKIN.texture_window_px)
    mean = cv2.resize(cv2.boxFilter(lightness, cv2.CV_32F, window), size, interpolation=cv2.INTER_AREA)
    mean_sq = cv2.resize(cv2.sqrBoxFilter(lightness, cv2.CV_32F, window), size, interpolation=cv2.INTER_AREA)
    texture = cv2.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    fine = cv2.subtract(lightness, cv2.GaussianBlur(lightness, (0, 0), SKIN.pattern_sigma_px), dtype=cv2.CV_16S)
    # Erode the mean square (same order as its root), take the root at work resolution: cheaper.
    detail = cv2.erode(cv2.sqrBoxFilter(fine, cv2.CV_32F, window), cv2.getStructuringElement(cv2.MORPH_RECT, window))
    return texture, cv2.sqrt(cv2.resize(detail, size, interpolation=cv2.INTER_AREA))


def _mahalanobis_sq(lab: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of Lab pixels ``(..., 3)`` to (mean, cov), float32 ``(...)``."""
    # Whiten (rotate to the covariance's eigenvectors, scale by 1/sqrt(eigenvalue)): then the distance
    # is a plain sum of squares. cv2.eigen on a 3x3 avoids LAPACK's per-call overhead.
    _, eigenvalues, eigenvectors = cv2.eigen(cov.astype(np.float64))
    whitener = eigenvectors / np.sqrt(np.maximum(eigenvalues, 1e-9))
    affine = np.hstack([whitener, -(whitener @ mean.astype(np.float64))[:, None]]).astype(np.float32)
    flat = np.ascontiguousarray(lab, np.float32).reshape(-1, 1, 3)
    if flat.shape[0] == 0:
        return np.zeros(lab.shape[:-1], np.float32)
    white = cv2.transform(flat, affine).reshape(lab.shape)
    return np.einsum("...i,...i->...", white, white)


def _subsample(samples: np.ndarray) -> np.ndarray:
    """At most ``SKIN.max_colour_samples`` rows of ``(N, C)`` samples, evenly strided (the same fit, faster)."""
    if len(samples) > SKIN.max_colour_samples:
        samples = samples[:: len(samples) // SKIN.max_colour_samples + 1]
    return samples


def _median(samples: np.ndarray) -> np.ndarray:
    """Per-channel median of ``(N, 3)`` samples, on an even subsample when N is large."""
    return np.median(_subsample(samples), axis=0)


def _trimmed_fit(
    samples: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    distance_sq: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    max_distance_sq: float,
    cov_floor: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit (mean, covariance) of ``(N, C)`` samples on those within ``max_distance_sq`` of the
    current model, up to ``SKIN.trim_rounds`` rounds; returns float32 ``(C,)``, ``(C, C)``."""
    for _ in range(SKIN.trim_rounds):
        near = samples[distance_sq(samples, mean, cov) < max_distance_sq]
        if len(near) < SKIN.min_samples:
            break
        mean = near.mean(axis=0)
        cov = np.cov(near, rowvar=False) + cov_floor
    return mean.astype(np.float32), cov.astype(np.float32)


def _robust_fit(samples: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refit a Lab mean/covariance on the samples near the current model, a few rounds (float32)."""
    return _trimmed_fit(_subsample(samples), mean, cov, _mahalanobis_sq, SKIN.trim_sq, SKIN_COV_FLOOR)


def _fit_skin_model(
    lab: np.ndarray,
    person_mask: np.ndarray,
    face_box: tuple[int, int, int, int] | None,
    landmarks: np.ndarray,
    unit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Skin colour (Lab mean, covariance) from the cheeks, refined with bare forearm pixels."""
    mean, cov = SKIN_PRIOR_MEAN, SKIN_PRIOR_COV
    cheeks = np.zeros(person_mask.shape, bool)
    if face_box is not None:
        x0, y0, x1, y1 = face_box
        bw, bh = x1 - x0, y1 - y0
        cheeks[int(y0 + SKIN.cheek_box[1] * bh): int(y0 + SKIN.cheek_box[3] * bh),
               int(x0 + SKIN.cheek_box[0] * bw): int(x0 + SKIN.cheek_box[2] * bw)] = True
        cheeks &= person_mask
    # Only what could be anybody's skin: a phone held up for a mirror selfie, sunglasses or a mask over the
    # cheeks would make the model theirs (grey or black: no skin found, the bare arms taken for sleeves).
    face_samples = lab[cheeks]
    face_samples = face_samples[_could_be_skin(face_samples)]
    if len(face_samples) >= SKIN.min_samples:
        # Start at the median: robust to hair strands, eyes and lips inside the cheek window.
        mean, cov = _robust_fit(face_samples, _median(face_samples), SKIN_PRIOR_COV / 4)
    else:
        face_samples = face_samples[:0]

    # Forearm cores: bare forearms widen the model to the body's lighting (sleeves fail the test).
    forearms = np.zeros(person_mask.shape, np.uint8)
    for elbow, wrist in ((LEFT_ELBOW, LEFT_WRIST), (RIGHT_ELBOW, RIGHT_WRIST)):
        radius = SKIN.forearm_core_share * PARTS.lower_arm_radius_u * unit
        masks.capsule(forearms, landmarks[elbow], landmarks[wrist], radius)
    arm_samples = lab[(forearms > 0) & person_mask]
    arm_samples = arm_samples[_mahalanobis_sq(arm_samples, mean, 2 * cov) < SKIN.mahalanobis_sq]
    samples = np.concatenate([face_samples, arm_samples])
    if len(samples) >= SKIN.min_samples:
        mean, cov = _robust_fit(samples, mean, 2 * cov)
    return mean.astype(np.float32), cov.astype(np.float32)


def _could_be_skin(lab: np.ndarray) -> np.ndarray:
    """Which Lab colours (OpenCV 8-bit, ``(N, 3)``) any skin could have (bool ``(N,)``): near the generic skin
    prior, with a hue (greys, black and white have none)."""
    chroma = np.hypot(lab[:, 1] - 128.0, lab[:, 2] - 128.0)
    return (_mahalanobis_sq(lab, SKIN_PRIOR_MEAN, SKIN_PRIOR_COV) < SKIN.weak_sq) & (chroma >= SKIN.shadow_min_chroma)


def _skin_mask(
    lab: np.ndarray,
    texture: np.ndarray,
    pattern: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    person_mask: np.ndarray,
    labels: np.ndarray,
    unit: float,
) -> np.ndarray:
    """Skin-coloured person pixels near smooth skin, in or connected to skin-bearing parts (bool).

    Tan or pink clothing can match the colour model: a print or weave fails the smoothness test,
    a plain garment must connect to the limbs, neck or face through skin-coloured pixels, match the
    skin's chroma (lightness-normalised) as well, and on the torso, where the old garment is, match
    both more closely. Shadowed skin on the limbs and neck is added by chroma. Off the face, skin
    must be smooth in ``pattern`` (see :func:`_texture`) or lie along smooth skin.
    """
    distance = _mahalanobis_sq(lab, mean, cov)
    bearing = _parts_mask(labels, SKIN_BEARING_PARTS)
    grow = max(1, round(SKIN.grow_u * unit))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    flat = texture < SKIN.max_texture

    colour = (distance < SKIN.mahalanobis_sq) & person_mask
    # Chroma only where the Lab model leaves a chance (weak or better): the rest is not skin anyway.
    candidate = (distance < SKIN.weak_sq) & person_mask
    chroma = _chroma(lab[candidate])
    chroma_distance = np.full(distance.shape, np.inf, np.float32)
    samples = chroma[(colour & flat & bearing)[candidate]]
    if len(samples) >= SKIN.min_samples:
        chroma_distance[candidate] = _chroma_distance_sq(chroma, *_fit_chroma(samples))
    else:  # too little skin to model its chroma: the Lab model alone
        chroma_distance[candidate] = 0.0
    colour &= chroma_distance < SKIN.chroma_sq
    colour &= bearing | ((distance < SKIN.torso_sq) & (chroma_distance < SKIN.torso_chroma_sq))

    smooth = cv2.dilate((colour & flat).astype(np.uint8), kernel) > 0
    strong = masks.keep_touching(colour & smooth, colour & smooth & bearing, SKIN.min_area_u2 * unit * unit)
    # Hysteresis: shaded skin (arm rims, the far side of the face) is further from the model; accept
    # it in skin-bearing parts next to confident skin (a short reach keeps it off sleeves).
    reach = max(1, round(SKIN.weak_reach_u * unit))
    near = cv2.dilate(strong.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))) > 0
    weak = near & bearing & person_mask & (distance < SKIN.weak_sq) & (chroma_distance < SKIN.chroma_sq)
    skin = strong | weak
    # Shadowed skin on the limbs and neck (see SKIN.shadow_hue_rad).
    limbs = _parts_mask(labels, SHADOW_SKIN_PARTS)
    reach = max(1, round(SKIN.shadow_reach_u * unit))
    near = cv2.dilate(skin.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    shadow = limbs & near & person_mask & flat & ~skin
    shadow[shadow] = _shadowed_skin_colour(lab[shadow], mean, cov)  # only where it may be
    if shadow.any():
        skin |= masks.keep_touching(skin | shadow, skin)
    # Growing and shaded skin stop at patterned cloth (a fine check averages to a skin tone here), and
    # soft-focus or low-contrast print is skin only along smooth skin; not on the face (eyes, lips are
    # textured), and on the hands only the first rule (the gaps between fingers are textured).
    smooth_reach = max(1, round(SKIN.pattern_reach_u * unit))
    near_smooth = cv2.dilate((skin & (pattern < SKIN.smooth_pattern)).astype(np.uint8), np.ones(
        (2 * smooth_reach + 1,) * 2, np.uint8)) > 0
    hands = _parts_mask(labels, ("hand_left", "hand_right"))
    smooth_enough = (pattern < SKIN.max_texture) & ((pattern < SKIN.smooth_pattern) | near_smooth | hands)
    skin &= smooth_enough | _parts_mask(labels, ("face_hair",))
    # Pieces this cut off from smooth skin in skin-bearing parts are patches of print.
    skin = masks.keep_touching(skin, skin & flat & bearing, SKIN.min_area_u2 * unit * unit)
    return masks.fill_small_holes(skin, SKIN.hole_area_u2 * unit * unit) & person_mask


def _parts_mask(labels: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Pixels of a label map (uint8) that belong to any of the parts ``names`` (bool)."""
    lookup = np.zeros(256, np.uint8)
    lookup[[PART_NAMES.index(name) + 1 for name in names]] = 1
    return cv2.LUT(labels, lookup).view(bool)  # a table lookup: much faster than NumPy indexing


def _shadowed_skin_colour(lab: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Pixels whose colour could be this skin in shadow (bool), see ``SKIN.shadow_hue_rad``."""
    a, b = lab[..., 1] - 128.0, lab[..., 2] - 128.0
    lightness = lab[..., 0] * (100.0 / 255.0) + 16.0
    skin_a, skin_b = float(mean[1]) - 128.0, float(mean[2]) - 128.0
    skin_lightness = float(mean[0]) * (100.0 / 255.0) + 16.0
    chroma = np.hypot(a, b)
    # Hue difference via the angle between (a, b) and the skin's (a, b): cos >= cos(limit).
    cos_hue = (a * skin_a + b * skin_b) / np.maximum(chroma * np.hypot(skin_a, skin_b), 1e-6)
    darker = float(mean[0]) - SKIN.shadow_darker_sd * float(np.sqrt(cov[0, 0]))
    return (
        (cos_hue > np.cos(SKIN.shadow_hue_rad))
        & (chroma >= SKIN.shadow_min_chroma)
        & (chroma <= SKIN.shadow_max_chroma_share * np.hypot(skin_a, skin_b))
        & (chroma / lightness >= SKIN.shadow_saturation_share * np.hypot(skin_a, skin_b) / skin_lightness)
        & (lab[..., 0] < darker)
        & (lab[..., 0] > SKIN.shadow_min_lightness_share * float(mean[0]))
    )


def _chroma(lab: np.ndarray) -> np.ndarray:
    """OpenCV 8-bit Lab ``(..., 3)`` to lightness-normalised chroma (a*, b*) / (L* + 16), float32 ``(..., 2)``."""
    scale = 1.0 / (lab[..., 0] * (100.0 / 255.0) + 16.0)
    return np.stack([(lab[..., 1] - 128.0) * scale, (lab[..., 2] - 128.0) * scale], axis=-1).astype(np.float32)


def _chroma_distance_sq(chroma: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of chroma ``(..., 2)`` to (mean, cov), float32 ``(...)``."""
    inverse = np.linalg.inv(cov.astype(np.float64)).astype(np.float32)
    da, db = chroma[..., 0] - mean[0], chroma[..., 1] - mean[1]
    return inverse[0, 0] * da * da + 2 * inverse[0, 1] * da * db + inverse[1, 1] * db * db


def _fit_chroma(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chroma model (mean, covariance) of ``(N, 2)`` samples, refitted on the samples near it."""
    samples = _subsample(samples)
    mean = np.median(samples, axis=0)
    cov = np.cov(samples, rowvar=False) + SKIN_CHROMA_FLOOR
    return _trimmed_fit(samples, mean, cov, _chroma_distance_sq, SKIN.chroma_sq, SKIN_CHROMA_FLOOR)


def _restrict_hands(
    labels: np.ndarray,
    lab: np.ndarray,
    texture: np.ndarray,
    skin: np.ndarray,
    skin_model: tuple[np.ndarray, np.ndarray],
    landmarks: np.ndarray,
    unit: float,
) -> np.ndarray:
    """Hand parts cut to the skin-coloured pixels connected to the hand landmarks (15-22); the rest
    of the hand shapes goes to the nearest other part. Returns the new label map (uint8)."""
    mean, cov = skin_model
    size = labels.shape
    out = labels.copy()
    removed = np.zeros(size, bool)
    for side, indices in (
        ("left", (LEFT_WRIST, LEFT_PINKY, LEFT_INDEX, LEFT_THUMB)),
        ("right", (RIGHT_WRIST, RIGHT_PINKY, RIGHT_INDEX, RIGHT_THUMB)),
    ):
        hand = labels == PART_NAMES.index(f"hand_{side}") + 1
        if not hand.any():
            continue
        rows, cols = np.flatnonzero(hand.any(axis=1)), np.flatnonzero(hand.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        # Skin, or shaded skin that is smooth (not a print with skin tones), or of the skin's own colour however
        # textured (fingers: the gaps between them are edges).
        distance = _mahalanobis_sq(lab[box], mean, cov)
        shaded = (distance < SKIN.weak_sq) | _shadowed_skin_colour(lab[box], mean, cov)
        skin_like = skin[box] | (shaded & (texture[box] < SKIN.max_texture)) | (distance < SKIN.mahalanobis_sq)
        seeds = np.zeros(size, np.uint8)
        for index in indices:
            x, y = (round(float(v)) for v in landmarks[index])
            cv2.circle(seeds, (x, y), max(1, round(PARTS.hand_seed_radius_u * unit)), 1, -1)
        kept = masks.keep_touching(hand[box] & skin_like, seeds[box].astype(bool) & hand[box])
        kept = masks.fill_small_holes(kept, PARTS.hand_hole_area_u2 * unit * unit) & hand[box]
        removed[box] |= hand[box] & ~kept
    if removed.any():
        others = out.copy()
        hands = _parts_mask(out, ("hand_left", "hand_right"))
        others[removed | hands] = 0
        filled = masks.fill_nearest(others, removed)
        out[removed] = filled[removed]
    return out


def _add_hands(
    labels: np.ndarray, hands: dict[str, np.ndarray | None], person: np.ndarray, image: np.ndarray,
    skin_model: tuple[np.ndarray, np.ndarray], unit: float,
) -> None:
    """Label the hand model's hand shapes (:func:`~tryon.stages.hands.hand_shapes`, full size) as the hands in
    ``labels`` (uint8, the size of ``image`` and ``person``, changed in place) where they look like the skin, lit
    or shaded (a sleeve's cuff over the wrist, jeans round fingers in a pocket are not the hand), off the face.
    ``image``: RGB uint8 at the labels' size; ``unit``: the body unit at that size, px."""
    mean, cov = skin_model
    face = PART_NAMES.index("face_hair") + 1
    for side, shape in hands.items():
        if shape is None:
            continue
        if shape.shape != labels.shape:
            size = (labels.shape[1], labels.shape[0])
            shape = cv2.resize(shape.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
        if not shape.any():
            continue
        x, y, w, h = cv2.boundingRect(shape.view(np.uint8))
        box = (slice(y, y + h), slice(x, x + w))
        lab = _lab(np.ascontiguousarray(image[box]))
        hued = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0) >= SKIN.shadow_min_chroma  # not the backdrop's grey
        skin_like = ((_mahalanobis_sq(lab, mean, cov) < SKIN.weak_sq) & hued) | _shadowed_skin_colour(lab, mean, cov)
        # The gaps between the fingers and the nails fail the colour test: holes, filled.
        hand = masks.fill_small_holes(shape[box] & skin_like, PARTS.hand_hole_area_u2 * unit * unit) & shape[box]
        labels[box][hand & person[box] & (labels[box] != face)] = PART_NAMES.index(f"hand_{side}") + 1


@dataclasses.dataclass
class _HairContext:
    """What sorting hair from clothing needs (work resolution)."""

    lab: np.ndarray
    texture: np.ndarray
    skin: np.ndarray
    skin_model: tuple[np.ndarray, np.ndarray]
    face: np.ndarray  # pixels labelled face_hair
    hair_area: np.ndarray  # the grown head box less the face box
    head_box: np.ndarray
    torso_core: np.ndarray
    hair_model: tuple[np.ndarray, np.ndarray] | None  # None: too few hair or clothing pixels
    cloth_model: tuple[np.ndarray, np.ndarray] | None
    separable: bool  # hair and clothing colours can be told apart
    hair_seen: bool  # hair beside or above the upper face

    def hair_like(self, window: tuple[slice, slice]) -> np.ndarray:
        """Pixels in ``window`` nearer the hair's colour than the clothing's and the skin's (bool)."""
        if not self.separable:
            return np.zeros(self.face[window].shape, bool)
        return _nearest_hair(self.lab[window], self.hair_model, self.cloth_model, self.skin_model) & ~self.skin[window]


def _nearest_hair(
    lab: np.ndarray, hair: tuple[np.ndarray, np.ndarray], cloth: tuple[np.ndarray, np.ndarray],
    skin: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Lab colours (float ``(..., 3)``) nearer the hair model than the clothing's and the skin's, and
    within the hair model's own reach (bool ``(...)``)."""
    hair_d = _mahalanobis_sq(lab, *hair)
    nearest = (hair_d < _mahalanobis_sq(lab, *cloth)) & (hair_d < _mahalanobis_sq(lab, *skin))
    return nearest & (hair_d < SKIN.mahalanobis_sq)


def _hair_context(
    lab: np.ndarray, texture: np.ndarray, labels: np.ndarray, skin: np.ndarray,
    skin_model: tuple[np.ndarray, np.ndarray], face_box: tuple[int, int, int, int],
) -> _HairContext:
    """Colour models of hair (the head box outside the face) and clothing (the torso's core)."""
    size = labels.shape
    x0, y0, x1, y1 = face_box
    gx0, gy0, gx1, gy1 = _grown_face_box(face_box, size)
    head_box = np.zeros(size, bool)
    head_box[gy0:gy1, gx0:gx1] = True
    hair_area = head_box.copy()
    hair_area[y0:y1, x0:x1] = False  # the face itself is skin, eyes and lips, not hair
    face = labels == PART_NAMES.index("face_hair") + 1
    torso_core = cv2.erode((labels == PART_NAMES.index("torso") + 1).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    hair_samples, cloth_samples = lab[face & hair_area & ~skin], lab[torso_core & ~skin]
    # Whether there is hair at all is judged beside and above the upper face: lower down the box holds
    # the neck and the shoulders of a top (they rise beside the jaw when the photo is cut above the eyes).
    upper = hair_area.copy()
    upper[round(y0 + HAIR.seen_above_share * (y1 - y0)):] = False
    hair_seen = int((face & upper & ~skin).sum()) >= HAIR.min_samples
    hair_model = cloth_model = None
    separable = False
    if len(hair_samples) >= HAIR.min_samples and len(cloth_samples) >= HAIR.min_samples:
        hair_model = _robust_fit(hair_samples, _median(hair_samples), SKIN_PRIOR_COV / 4)
        cloth_model = _robust_fit(cloth_samples, _median(cloth_samples), SKIN_PRIOR_COV / 4)
        separable = bool(_mahalanobis_sq(cloth_model[0], *hair_model) >= HAIR.min_separation_sq)
        if not separable:
            hair_taken = _nearest_hair(hair_samples, hair_model, cloth_model, skin_model).mean()
            cloth_taken = _nearest_hair(cloth_samples, hair_model, cloth_model, skin_model).mean()
            separable = bool(hair_taken >= HAIR.sorted_hair_share and cloth_taken <= HAIR.sorted_cloth_share)
    return _HairContext(lab=lab, texture=texture, skin=skin, skin_model=skin_model, face=face, hair_area=hair_area,
                        head_box=head_box, torso_core=torso_core, hair_model=hair_model, cloth_model=cloth_model,
                        separable=separable, hair_seen=hair_seen)


def _refine_hair(
    lab: np.ndarray,
    texture: np.ndarray,
    labels: np.ndarray,
    skin: np.ndarray,
    skin_model: tuple[np.ndarray, np.ndarray],
    landmarks: np.ndarray,
    face_box: tuple[int, int, int, int] | None,
    unit: float,
) -> np.ndarray:
    """Sort hair from clothing around the shoulders by colour; returns the new label map.

    ``face_hair`` first takes every person pixel above the shoulder line (see :func:`_part_labels`).
    Hair colour is sampled in the head box outside the face, clothing colour in the torso.
    1. Skin below the chin, and outside the head box whatever is not hair-coloured, goes to the
       nearest body part (neck, torso, upper arm).
    2. Hair that falls below the shoulders (over the chest or arms) joins ``face_hair``: pixels in a
       band under the face nearer the hair colour than the clothing's and the skin's, not neck,
       connected to the head.
    When hair and clothing have the same colour they cannot be told apart by colour: step 1 then
    moves only pixels below the chin, and step 2 uses texture (strands) where the clothing is plain
    (see ``HAIR.texture_contrast``), or is skipped.
    """
    if face_box is None:
        return labels
    ctx = _hair_context(lab, texture, labels, skin, skin_model, face_box)
    out = _head_to_body(ctx, labels, face_box)
    separable = ctx.separable
    by_texture = not separable and _strands_stand_out(texture, ctx.face & ctx.hair_area & ~skin, ctx.torso_core & ~skin)
    if not separable and not by_texture:
        return out
    return _long_hair_band(ctx, out, landmarks, face_box, unit, by_texture)


def _head_to_body(ctx: _HairContext, labels: np.ndarray, face_box: tuple[int, int, int, int]) -> np.ndarray:
    """Head pixels that are body go to the nearest body part: skin below the chin (neck, bare
    shoulders), and outside the head box whatever is not hair-coloured (a garment's shoulder can rise
    above the shoulder line); only below the chin when hair and clothing cannot be told apart. With no
    hair beside or above the upper face, whatever lies below the chin, inside the head box too. Hair out
    there is a lock connected to the head's hair: hair-coloured tape, piping or trim on the shoulders,
    cut off from the hair by skin or cloth, is clothing."""
    gx0, gy0, gx1, gy1 = _grown_face_box(face_box, labels.shape)
    out = labels.copy()
    to_body = ctx.face & ctx.skin
    to_body[:gy1] = False
    outside = ctx.face & ~ctx.head_box
    if not ctx.hair_seen:
        # No hair beside or above the face (a photo cut above the eyes, a shaved head): below the chin
        # is body, a collar or the shoulders of a top that rise into the head box.
        outside[face_box[3]:] |= ctx.face[face_box[3]:]
    elif not ctx.separable:
        outside[:gy1] = False
    rows, cols = np.nonzero(outside)
    if rows.size:
        box = (slice(min(rows.min(), gy0), max(rows.max() + 1, gy1)),
               slice(min(cols.min(), gx0), max(cols.max() + 1, gx1)))
        hair = ctx.face[box] & ctx.hair_like(box)
        outside[box] &= ~masks.keep_touching(hair, hair & ctx.hair_area[box])
    to_body |= outside
    if to_body.any():
        others = labels.copy()
        others[ctx.face] = 0
        out[to_body] = masks.fill_nearest(others, to_body)[to_body]
    return out


def _long_hair_band(
    ctx: _HairContext, out: np.ndarray, landmarks: np.ndarray, face_box: tuple[int, int, int, int], unit: float,
    by_texture: bool,
) -> np.ndarray:
    """Long hair: in a band under the face, from the shoulder line down, pixels that look like the
    head's hair (by colour, or by strands' texture over a plain top of the same colour), not neck,
    connected to the head, join ``face_hair``. Returns ``out`` (changed in place)."""
    face_label, neck_label = PART_NAMES.index("face_hair") + 1, PART_NAMES.index("neck") + 1
    height, width = out.shape
    x0, _, x1, y1 = face_box
    centre_x = 0.5 * (x0 + x1)
    bx0 = int(max(0, centre_x - HAIR.band_half_width_u * unit))
    bx1 = int(min(width, centre_x + HAIR.band_half_width_u * unit))
    if bx1 <= bx0:
        return out
    line_y = _shoulder_line_y(landmarks, width)[bx0:bx1]
    by0 = int(max(0, min(y1, line_y.min() - PARTS.shoulder_line_raise_u * unit)))
    by1 = int(min(height, line_y.max() + HAIR.max_length_u * unit))
    if by1 <= by0:
        return out
    window = (slice(by0, by1), slice(bx0, bx1))
    band = out[window]
    candidates = _strand_candidates(ctx, out, window) if by_texture else ctx.hair_like(window)
    # Not the neck by colour: its shadowed skin is often nearer brown hair than the clothing (skin has
    # no strands, so the texture test may look there).
    hairy = ((band > 0) & ((band != neck_label) | by_texture) & candidates) | (band == face_label)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HAIR.open_px + 1,) * 2)
    hairy = cv2.morphologyEx(hairy.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    band[masks.keep_touching(hairy, band == face_label) & (band > 0)] = face_label
    return out


def _strand_candidates(ctx: _HairContext, labels: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """Pixels in ``window`` textured like the head's hair strands, hair-coloured, off the person's
    outline; locks are broad, the seams and straps that pass the test are thin lines (bool)."""
    hair_texture = float(np.median(ctx.texture[ctx.face & ctx.hair_area & ~ctx.skin]))
    candidates = _strand_like(ctx.lab[window][..., 0], ctx.texture[window], hair_texture) & ~ctx.skin[window]
    if ctx.hair_model is not None:
        candidates &= _mahalanobis_sq(ctx.lab[window], *ctx.hair_model) < SKIN.weak_sq  # still hair-coloured
    edge = np.ones((2 * HAIR.edge_px + 1,) * 2, np.uint8)  # an edge against the background is textured too
    candidates &= cv2.erode((labels[window] > 0).astype(np.uint8), edge) > 0
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HAIR.close_px + 1,) * 2)
    candidates = cv2.morphologyEx(candidates.astype(np.uint8), cv2.MORPH_CLOSE, close) > 0
    lock = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HAIR.lock_px + 1,) * 2)
    return cv2.morphologyEx(candidates.astype(np.uint8), cv2.MORPH_OPEN, lock) > 0


def _strands_stand_out(texture: np.ndarray, hair: np.ndarray, cloth: np.ndarray) -> bool:
    """Whether the head's hair (bool mask) is much more textured than the plain clothing (bool mask)."""
    if hair.sum() < HAIR.min_samples or cloth.sum() < HAIR.min_samples:
        return False
    return float(np.median(texture[hair])) >= HAIR.texture_contrast * (float(np.median(texture[cloth])) + 1.0)


def _strand_like(lightness: np.ndarray, texture: np.ndarray, hair_texture: float) -> np.ndarray:
    """Pixels textured like hair strands (bool): as textured as the head's hair and coherently
    oriented (structure tensor of ``lightness``, float ``(h, w)``)."""
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), HAIR.tensor_sigma_px)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), HAIR.tensor_sigma_px)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), HAIR.tensor_sigma_px)
    coherence = ((jxx - jyy) ** 2 + 4 * jxy**2) / np.maximum((jxx + jyy) ** 2, 1e-6)
    return (texture >= HAIR.texture_share * hair_texture) & (coherence >= HAIR.min_coherence)


def _grown_face_box(face_box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The face box grown for ears, hair and the top of the head, clipped to the image."""
    height, width = size
    x0, y0, x1, y1 = face_box
    box_w, box_h = x1 - x0, y1 - y0
    return (
        int(max(0, x0 - PARTS.face_grow_side_share * box_w)),
        int(max(0, y0 - PARTS.face_grow_up_share * box_h)),
        int(min(width, x1 + PARTS.face_grow_side_share * box_w)),
        int(min(height, y1 + PARTS.face_grow_down_share * box_h)),
    )
