"""Colour and cut advice: constructed skin tones, a constructed body, and real photos through MediaPipe."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

from tryon.stages import advice, body, landmarks, text

POSE_LANDMARKS = 33  # MediaPipe pose landmarks

# Constructed skin colours (CIELAB) and how colour analysis reads them.
SKINS = [
    # (L*, a*, b*), depth, undertone, season without hair, season with black hair (L* 12)
    ((78.0, 13.0, 9.0), "very light", "cool", "summer", "winter"),  # fair, pink: hue 35°, ITA 71°
    ((70.0, 9.0, 22.0), "light", "warm", "spring", "spring"),  # hue 68°, ITA 42°
    ((45.0, 12.0, 22.0), "brown", "warm", "autumn", "autumn"),  # ITA -13°
    ((36.0, 14.0, 11.0), "dark", "cool", "winter", "winter"),  # hue 38°, ITA -52°
    ((62.0, 12.0, 17.0), "intermediate", "neutral", "summer", "winter"),  # hue 55°: contrast decides
]


@pytest.mark.parametrize(("lab", "depth", "undertone", "season", "with_dark_hair"), SKINS)
def test_constructed_skin_tones_read_as_their_depth_undertone_and_season(lab, depth, undertone, season,
                                                                        with_dark_hair) -> None:
    skin = advice.skin_tone(lab)
    assert (skin.depth, skin.undertone) == (depth, undertone), (skin.ita, skin.hue)
    plain = advice.colour_advice(skin)
    assert plain.season == season and plain.contrast is None
    dark_hair = advice.colour_advice(skin, np.array([12.0, 1.0, 2.0], np.float32))
    assert dark_hair.season == with_dark_hair
    assert dark_hair.contrast == pytest.approx(lab[0] - 12.0)
    assert season in plain.reason and depth in plain.reason and "CIELAB" in plain.reason
    assert not {n for n, _ in plain.suits} & {n for n, _ in plain.avoid}


def test_opencv_8_bit_lab_is_converted_to_cielab() -> None:
    lab8 = np.array([0.62 * 255, 128 + 12, 128 + 17], np.float32)
    assert np.allclose(text.lab8_to_cielab(lab8), [62.0, 12.0, 17.0], atol=1e-4)
    # And it is what OpenCV gives for a uint8 image, against the float (CIELAB) conversion.
    import cv2

    pixel = np.array([[[200, 150, 120]]], np.uint8)
    eight = cv2.cvtColor(pixel, cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)
    assert np.allclose(text.lab8_to_cielab(eight), text.rgb_to_lab(pixel[0, 0].astype(np.float32)), atol=1.0)


def test_catalog_colours_rank_by_the_suited_palette() -> None:
    summer = advice.colour_advice(advice.skin_tone((78.0, 13.0, 9.0)))
    garments = {name: text.rgb_to_lab(np.array([text.COLOUR_RGB[name]], np.float32)) for name in
                ("lavender", "orange", "grey", "light blue")}
    ranked = advice.rank_by_colour(summer, list(garments.values()), [np.ones(1)] * len(garments))
    order = [list(garments)[i] for i, _, _ in ranked]
    assert order[-1] == "orange" and set(order[:2]) == {"lavender", "light blue"}
    assert "lavender suits a summer colouring" in ranked[0][2] or "light blue suits" in ranked[0][2]
    assert "keep away from the face" in ranked[-1][2] and ranked[-1][1] == 0.0


def constructed_body(shoulder_half: int, hip_half: int, leg: int) -> body.BodyAnalysis:
    """A front-facing figure drawn as boxes: shoulders ``2 * shoulder_half`` wide at y=100 (arms to
    y=300), hips ``2 * hip_half`` wide below the hip joints at y=300, legs ``leg`` px long."""
    h, w, cx = 360 + leg, 400, 200
    points = np.zeros((POSE_LANDMARKS, 2), np.float32)
    points[:] = (cx, 60)
    points[landmarks.LEFT_SHOULDER], points[landmarks.RIGHT_SHOULDER] = (cx + 60, 100), (cx - 60, 100)
    points[landmarks.LEFT_HIP], points[landmarks.RIGHT_HIP] = (cx + 40, 300), (cx - 40, 300)
    points[landmarks.LEFT_ANKLE], points[landmarks.RIGHT_ANKLE] = (cx + 35, 300 + leg), (cx - 35, 300 + leg)
    points[landmarks.LEFT_EYE], points[landmarks.RIGHT_EYE] = (cx + 10, 40), (cx - 10, 40)
    person = np.zeros((h, w), bool)
    person[95:300, cx - shoulder_half : cx + shoulder_half] = True
    person[300 : 300 + leg + 10, cx - hip_half : cx + hip_half] = True
    torso = np.zeros_like(person)
    torso[95:360, cx - hip_half : cx + hip_half] = True
    regions = {name: np.zeros_like(person) for name in body.REGION_NAMES}
    regions["torso"] = torso & person
    return body.BodyAnalysis(
        size=(h, w), landmarks=points, visibility=np.ones(POSE_LANDMARKS, np.float32),
        person_prob=person.astype(np.float32), person_mask=person, face_box=None, regions=regions,
        skin_lab_mean=np.array([160, 140, 150], np.float32), skin_lab_cov=np.eye(3, dtype=np.float32),
        skin_rgb=np.array([200, 160, 140], np.uint8),
    )


@pytest.mark.parametrize(
    ("shoulder_half", "hip_half", "leg", "shape", "legs"),
    [(100, 60, 300, "inverted triangle", "balanced"), (70, 75, 300, "triangle", "balanced"),
     (73, 60, 300, "balanced", "balanced"), (73, 60, 380, "balanced", "long"), (73, 60, 240, "balanced", "short")],
)
def test_constructed_proportions_give_their_shape_and_length_advice(shoulder_half, hip_half, leg, shape, legs):
    result = advice.body_proportions(constructed_body(shoulder_half, hip_half, leg))
    assert result.shoulder_hip == pytest.approx(shoulder_half / hip_half, rel=0.02)
    assert result.torso_leg == pytest.approx(200 / leg, rel=0.02)
    assert (result.shape, result.legs) == (shape, legs)
    assert len(result.tips) == 2 and all("typical" in tip for tip in result.tips)


@pytest.mark.slow
def test_advice_for_real_photos_through_mediapipe_and_the_catalog() -> None:
    from tryon.pipeline import colour_advice

    full = colour_advice(REPO / "assets" / "people" / "openvto_2_posture.jpg", k=5)
    assert full.label.startswith("A suggestion")
    assert full.proportions.legs is not None and full.proportions.shape is not None
    assert full.colours.hair_lab is not None and full.colours.season in advice.SEASONS
    assert len(full.suggestions) == 5 and full.suggestions[0].score >= full.suggestions[-1].score
    suited = {n for n, _ in full.colours.suits}
    assert any(name in full.suggestions[0].reason for name in suited)
    selfie = colour_advice(REPO / "assets" / "people" / "openvto_2_selfie.jpg", k=1)
    assert selfie.proportions.legs is None and "not fully in the photo" in selfie.proportions.tips[-1]
    assert selfie.colours.season == full.colours.season  # the same person in two photos
