"""Description edits of a garment photo, through the whole try-on: the render does what the note says."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

from tryon.pipeline import try_on
from tryon.stages import text

PERSON = REPO / "assets" / "people" / "vitonhd_00034_00.jpg"  # sleeveless top: the arms show
LONG_SLEEVES = REPO / "assets" / "garments" / "vitonhd_09176_00.jpg"  # pink long-sleeve henley
COLOUR_BLOCKS = REPO / "assets" / "garments" / "vitonhd_00126_00.jpg"  # red / white / navy FILA tee


def forearm_cover(result) -> float:
    arms = result.body.regions["lower_arm_left"] | result.body.regions["lower_arm_right"]
    return float((result.garment_mask & arms).sum() / max(int(arms.sum()), 1))


@pytest.mark.slow
@pytest.mark.parametrize("words", ["short sleeves", "短袖"])
def test_short_sleeves_on_a_long_sleeve_photo_bare_the_forearms(words: str) -> None:
    plain = try_on(PERSON, LONG_SLEEVES)
    edited = try_on(PERSON, LONG_SLEEVES, words)
    assert plain.garment.sleeve == "long" and edited.garment.sleeve == "short"
    assert any("Cut the sleeves to short" in note for note in edited.notes)
    assert forearm_cover(plain) > 0.6 > 0.3 > forearm_cover(edited), (forearm_cover(plain), forearm_cover(edited))


@pytest.mark.slow
def test_make_it_green_turns_every_block_of_a_colour_block_tee_green() -> None:
    result = try_on(PERSON, COLOUR_BLOCKS, "make it green")
    garment = result.garment
    lab = text.rgb_to_lab(garment.image[garment.mask].astype(np.float32))
    green = text.rgb_to_lab(np.array(text.COLOUR_RGB["green"], np.float32))
    greenish = np.hypot(lab[:, 1] - green[1], lab[:, 2] - green[2]) < 30
    reddish = (lab[:, 1] > 30) & (np.abs(lab[:, 2]) < 40)
    assert greenish.mean() > 0.6 and reddish.mean() < 0.1, (greenish.mean(), reddish.mean())
    assert result.check is not None and result.check.measures["colour_delta_e"] < 15
    assert any("Recoloured the garment to green" in note for note in result.notes)
