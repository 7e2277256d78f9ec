"""Body analysis with MediaPipe: pose landmarks, person mask, face box, body regions, skin.

Input: the person photo, RGB ``uint8`` ``(H, W, 3)``.
Output: :class:`BodyAnalysis` (all masks ``bool`` ``(H, W)``, points in pixels).

Side convention used everywhere in tryon: ``left``/``right`` are the *wearer's*
sides (MediaPipe's convention), so in a front view the wearer's left shoulder
is on the image's right.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# MediaPipe Pose landmark indices (33 in all).
NOSE = 0
LEFT_EAR, RIGHT_EAR = 7, 8
MOUTH_LEFT, MOUTH_RIGHT = 9, 10
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_FOOT, RIGHT_FOOT = 31, 32

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


@dataclasses.dataclass(frozen=True, eq=False)
class BodyAnalysis:
    """What the body stage found in one person photo.

    Attributes:
        size: ``(H, W)`` of the analysed image.
        landmarks: ``(33, 2)`` float32, MediaPipe pose landmarks in pixels ``(x, y)``.
        visibility: ``(33,)`` float32 in [0, 1], MediaPipe's visibility per landmark.
        person_prob: ``(H, W)`` float32 in [0, 1], soft person mask.
        person_mask: ``(H, W)`` bool, the person (``person_prob > 0.5`` cleaned up).
        face_box: ``(x0, y0, x1, y1)`` int pixels of the face, or None if not seen.
        regions: region name -> ``(H, W)`` bool mask, names in :data:`REGION_NAMES`.
        skin_lab_mean: ``(3,)`` float32, mean skin colour in OpenCV 8-bit Lab.
        skin_lab_cov: ``(3, 3)`` float32, its covariance (for a Mahalanobis skin test).
        skin_rgb: ``(3,)`` uint8, a representative skin colour (fills bared skin).
    """

    size: tuple[int, int]
    landmarks: np.ndarray
    visibility: np.ndarray
    person_prob: np.ndarray
    person_mask: np.ndarray
    face_box: tuple[int, int, int, int] | None
    regions: dict[str, np.ndarray]
    skin_lab_mean: np.ndarray
    skin_lab_cov: np.ndarray
    skin_rgb: np.ndarray

    def point(self, index: int) -> np.ndarray:
        """Landmark ``index`` as a float32 ``(2,)`` pixel position ``(x, y)``."""
        return self.landmarks[index]


def analyze_body(image: np.ndarray) -> BodyAnalysis:
    """Run pose, segmentation and face detection on a person photo.

    Args:
        image: RGB uint8 ``(H, W, 3)``.

    Raises:
        TryOnError: no person, several people.
    """
    raise NotImplementedError("filled in by the body stage")


def check_visible(body: BodyAnalysis, category: str) -> None:
    """Raise TryOnError if the body part that ``category`` dresses is not in the photo.

    ``category``: "upper" needs shoulders and hips region (torso); "lower" needs hips and
    knees; "dress" needs shoulders, hips and knees. The message says what to do
    (e.g. "use a photo that shows you from the shoulders to the knees").
    """
    raise NotImplementedError("filled in by the body stage")
