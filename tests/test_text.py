"""Description parsing (English, Chinese, mixed), the word tables, recolouring and sleeve edits."""

from __future__ import annotations

import csv
import dataclasses
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import garment_analysis

from tryon.errors import TryOnError
from tryon.stages import text

TABLE = Path(__file__).parent / "data" / "descriptions.csv"
COLUMNS = ("category", "garment_type", "colours", "sleeve", "length", "pattern")
MIN_ACCURACY = 0.90


def read_table() -> list[dict[str, str]]:
    with open(TABLE, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def observed(spec: text.GarmentSpec, column: str) -> str:
    if column == "colours":
        return "+".join(name for name, _ in spec.colours)
    return getattr(spec, column) or ""


def extras(row: dict[str, str]) -> dict[str, str]:
    return dict(pair.split("=") for pair in row["extras"].split(";") if pair)


@pytest.fixture(scope="module")
def parsed() -> list[tuple[dict[str, str], text.GarmentSpec]]:
    return [(row, text.parse(row["description"])) for row in read_table()]


def test_table_is_large_and_half_chinese() -> None:
    rows = read_table()
    chinese = [r for r in rows if r["lang"] in ("zh", "mixed")]
    assert len(rows) >= 80
    assert len(chinese) >= len(rows) / 2


def test_attribute_accuracy_per_attribute(parsed) -> None:
    correct: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    misses: list[str] = []
    for row, spec in parsed:
        for column in COLUMNS:
            for group in ("all", row["lang"]):
                total[f"{column}/{group}"] += 1
            if observed(spec, column) == row[column]:
                for group in ("all", row["lang"]):
                    correct[f"{column}/{group}"] += 1
            else:
                misses.append(
                    f"{row['description']!r} {column}: got {observed(spec, column)!r}, want {row[column]!r}"
                )
        for key, want in extras(row).items():
            total["extras/all"] += 1
            if (getattr(spec, key) or "") == want:
                correct["extras/all"] += 1
            else:
                misses.append(f"{row['description']!r} {key}: got {getattr(spec, key)!r}, want {want!r}")
    print("\nattribute accuracy (all / en / zh+mixed):")
    for column in (*COLUMNS, "extras"):
        cells = []
        for group in ("all", "en", "zh", "mixed"):
            key = f"{column}/{group}"
            if total[key]:
                cells.append(f"{group} {correct[key] / total[key]:.1%} ({correct[key]}/{total[key]})")
        print(f"  {column:13s} " + "  ".join(cells))
    print("misses:\n  " + "\n  ".join(misses))
    for column in (*COLUMNS, "extras"):
        accuracy = correct[f"{column}/all"] / total[f"{column}/all"]
        assert accuracy >= MIN_ACCURACY, f"{column} accuracy {accuracy:.1%}"


@pytest.mark.parametrize(
    "row", [r for r in read_table() if r["strict"] == "1"], ids=lambda r: r["description"]
)
def test_unambiguous_description_parses_exactly(row: dict[str, str]) -> None:
    spec = text.parse(row["description"])
    got = {column: observed(spec, column) for column in COLUMNS}
    assert got == {column: row[column] for column in COLUMNS}
    for key, want in extras(row).items():
        assert getattr(spec, key) == want, key


def test_chinese_and_english_descriptions_agree() -> None:
    pairs = [
        ("a red long-sleeve shirt", "红色长袖衬衫"),
        ("black dress", "黑色连衣裙"),
        ("navy striped t-shirt", "藏青色条纹T恤"),
        ("blue jeans", "蓝色牛仔裤"),
    ]
    for english, chinese in pairs:
        a, b = text.parse(english), text.parse(chinese)
        assert (a.category, a.garment_type, a.colours, a.sleeve, a.pattern) == (
            b.category,
            b.garment_type,
            b.colours,
            b.sleeve,
            b.pattern,
        )


def test_compound_head_is_the_last_garment_word() -> None:
    assert text.parse("white dress shirt").garment_type == "shirt"
    assert text.parse("white shirt dress").category == "dress"
    assert text.parse("grey dress pants").category == "lower"
    assert text.parse("衬衫裙").category == "dress"


def test_blue_jeans_are_a_lower_garment() -> None:
    spec = text.parse("blue jeans")
    assert spec.category == "lower" and spec.garment_type == "jeans" and spec.pattern == "denim"


@pytest.mark.parametrize("description", ["", "   ", "\n\t"])
def test_empty_description_raises_a_helpful_error(description: str) -> None:
    with pytest.raises(TryOnError, match="Describe the garment"):
        text.parse(description)


def test_non_text_description_raises_a_helpful_error() -> None:
    with pytest.raises(TryOnError, match="Describe the garment"):
        text.parse(None)  # type: ignore[arg-type]


def test_unreadable_emoji_says_it_could_not_tell() -> None:
    spec = text.parse("😀🎉✨")
    assert not spec.understood
    assert spec.category is None and not spec.colours
    assert {"category", "colour"} <= set(spec.uncertain)
    assert any("e.g." in m for m in spec.messages)
    assert ("category", "could not tell") in spec.summary()


def test_garment_and_colour_emoji_are_read() -> None:
    spec = text.parse("👗🔴")
    assert spec.category == "dress" and spec.colours[0][0] == "red"


def test_very_long_description_is_read_up_to_the_limit() -> None:
    description = "a red long-sleeve shirt. " + "It is lovely and soft. " * 250
    assert len(description) > 5000
    spec = text.parse(description)
    assert spec.garment_type == "shirt" and spec.colours[0][0] == "red" and spec.sleeve == "long"
    assert any("characters" in m for m in spec.messages)
    assert len(spec.text) == text.MAX_DESCRIPTION_CHARS


def test_contradictory_colour_is_uncertain_with_a_message() -> None:
    spec = text.parse("a red and not red shirt")
    assert spec.category == "upper"
    assert not spec.colours
    assert "colour" in spec.uncertain
    assert any("red" in m for m in spec.messages)


def test_contradictory_sleeves_are_uncertain() -> None:
    spec = text.parse("a long-sleeve short-sleeve shirt")
    assert spec.sleeve is None and "sleeve" in spec.uncertain


def test_negated_colour_is_not_used_and_replacement_is() -> None:
    assert [n for n, _ in text.parse("make it navy instead of red").colours] == ["navy"]
    assert [n for n, _ in text.parse("from red to navy").colours] == ["navy"]
    assert [n for n, _ in text.parse("不要红色，要蓝色").colours] == ["blue"]


def test_several_garments_keep_the_first_and_say_so() -> None:
    spec = text.parse("a white shirt with blue jeans")
    assert spec.garment_type == "shirt" and "category" in spec.uncertain and spec.messages


def test_colour_codes_and_modifiers() -> None:
    assert text.parse("shirt #1E90FF").colours[0][1] == (30, 144, 255)
    assert text.parse("shirt #f00").colours[0][1] == (255, 0, 0)
    assert text.parse("shirt rgb(10, 20, 30)").colours[0][1] == (10, 20, 30)
    dark = text.parse("dark purple dress").colours[0]
    plain = text.parse("purple dress").colours[0]
    assert dark[0] == "dark purple"
    assert (
        text.rgb_to_lab(np.array(dark[1], np.float32))[0] < text.rgb_to_lab(np.array(plain[1], np.float32))[0]
    )


def test_stated_sleeve_beats_the_garment_default() -> None:
    spec = text.parse("a long-sleeve t-shirt")
    assert spec.sleeve == "long" and "sleeve" not in spec.implied
    assert "sleeve" in text.parse("a t-shirt").implied


# Garment words in neither the word tables nor the encoder's prototype phrases (checked below), with
# the garment they name: only the encoder's sense of meaning can read them.
UNSEEN_GARMENT_WORDS = (
    ("pantaloni", "lower", "trousers"),  # Italian
    ("chemisier", "upper", "shirt"),  # French
    ("bermudas", "lower", "shorts"),
    ("tracksuit bottoms", "lower", "joggers"),
    ("a caftan", "dress", "dress"),  # the prototypes spell it "kaftan"
)


@pytest.mark.parametrize(("description", "category", "garment_type"), UNSEEN_GARMENT_WORDS)
def test_encoder_reads_garment_words_outside_the_lexicon_and_prototypes(description, category, garment_type) -> None:
    from tryon.stages.text.lexicon import lexicon, prototype_phrases

    words = set(description.split()) - {"a"}
    known = {phrase.lower() for phrase, _ in prototype_phrases()} | set(lexicon().terms)
    assert not words & known and not lexicon().regex.search(description.split()[-1])
    spec = text.parse(description)
    assert (spec.category, spec.garment_type) == (category, garment_type)
    assert "category" in spec.encoded


def test_filler_words_do_not_become_attributes() -> None:
    spec = text.parse("something nice for the office please")
    assert not spec.understood


def test_summary_labels_and_implied_marks() -> None:
    rows = dict(text.parse("navy t-shirt").summary())
    assert rows["garment"] == "t-shirt" and rows["category"] == "upper"
    assert rows["colour"].startswith("navy #")
    assert rows["sleeves"] == "short (implied)"


# --- recolouring ----------------------------------------------------------------------------


def fabric_photo(
    rgb: tuple[int, int, int], logo: tuple[int, int, int] = (30, 30, 30), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A garment-like patch on white: base colour, folds, fine grain and a contrasting logo."""
    rng = np.random.default_rng(seed)
    h, w = 240, 200
    image = np.full((h, w, 3), 255, np.uint8)
    mask = np.zeros((h, w), bool)
    mask[20:220, 30:170] = True
    yy, xx = np.mgrid[0:h, 0:w]
    shade = 1.0 + 0.12 * np.sin(xx / 9.0) * np.cos(yy / 23.0) + rng.normal(0, 0.03, (h, w))
    fabric = np.clip(np.array(rgb, np.float32)[None, None] * shade[..., None], 0, 255)
    image[mask] = fabric[mask].astype(np.uint8)
    cv2.putText(image, "LOGO", (55, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.2, logo, 3)
    return image, mask


def high_pass(luminance: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Luminance minus its local mean over ``region`` only (the white background and the
    logo, whose contrast to the fabric changes with the colour, do not leak in)."""
    weight = region.astype(np.float32)
    local = cv2.GaussianBlur(luminance * weight, (0, 0), 4.0) / np.maximum(
        cv2.GaussianBlur(weight, (0, 0), 4.0), 1e-6
    )
    return luminance - local


@pytest.mark.parametrize(
    ("source", "logo", "target"),
    [
        ((200, 40, 40), (235, 235, 235), "navy"),
        ((30, 60, 160), (235, 235, 235), "红色"),
        ((230, 200, 60), (200, 30, 30), "black"),
        ((40, 40, 45), (240, 200, 40), "white"),
        ((40, 40, 45), (235, 235, 235), "red"),
        ((120, 120, 120), (30, 30, 30), "#1e90ff"),
    ],
)
def test_recolour_moves_hue_and_keeps_texture(source, logo, target) -> None:
    image, mask = fabric_photo(source, logo)
    info = garment_analysis(image, mask)
    spec = text.parse(f"{target} shirt")
    edited = text.edit_garment(info, spec)
    assert edited is not info and dataclasses.is_dataclass(edited)
    assert np.array_equal(edited.image[~mask], image[~mask])
    want = text.rgb_to_lab(np.array(spec.rgb, np.float32))
    before = text.dominant_lab(text.rgb_to_lab(image[mask].astype(np.float32)))
    after = text.dominant_lab(text.rgb_to_lab(edited.image[mask].astype(np.float32)))
    assert float(text.delta_e(after, want)) < 10 < float(text.delta_e(before, want))
    lum_before = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lum_after = cv2.cvtColor(edited.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    logo = inner & (np.abs(lum_before - np.median(lum_before[inner])) > 60)
    fabric = inner & ~cv2.dilate(logo.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    corr = np.corrcoef(high_pass(lum_before, fabric)[fabric], high_pass(lum_after, fabric)[fabric])[0, 1]
    print(f"{source} -> {target}: high-pass luminance correlation {corr:.3f}")
    assert corr > 0.9
    # The logo stays readable: it keeps a clear luminance contrast to the recoloured fabric.
    assert abs(np.median(lum_after[logo]) - np.median(lum_after[fabric])) > 40


def test_edit_without_colour_returns_the_same_object() -> None:
    image, mask = fabric_photo((200, 40, 40))
    info = garment_analysis(image, mask)
    assert text.edit_garment(info, text.parse("a shirt")) is info


def test_a_stated_sleeve_on_a_garment_without_found_sleeves_is_kept_and_said() -> None:
    image, mask = fabric_photo((200, 40, 40))
    info = garment_analysis(image, mask, sleeve="long")  # no parts, no keypoints
    result = text.apply_edits(info, text.parse("make it navy, short sleeves"))
    assert result.garment.sleeve == "long"  # the label follows the pixels, which could not be cut
    assert any("Could not find the sleeves" in note for note in result.notes)
    assert text.edit_garment(info, text.parse("navy t-shirt")).sleeve == "long"  # implied, not stated


# --- sleeve edits on real garment analyses --------------------------------------------------


@pytest.fixture(scope="module")
def long_sleeve_shirt():
    from tryon.stages import synth
    from tryon.stages.garment import analyze_garment

    info = analyze_garment(synth.synthesize_garment(text.parse("navy long-sleeve shirt"), size=(512, 384)))
    assert info.sleeve == "long" and {"sleeve_left", "sleeve_right"} <= set(info.parts)
    return info


@pytest.mark.parametrize(("words", "length"), [("short sleeves", "short"), ("短袖", "short"),
                                                ("three-quarter sleeves", "three_quarter"), ("无袖", "none")])
def test_shorter_sleeves_are_cut_and_the_garment_stage_reads_the_new_length(long_sleeve_shirt, words, length):
    from tryon.stages.garment import analyze_garment

    info = long_sleeve_shirt
    result = text.apply_edits(info, text.parse(words))
    edited = result.garment
    assert edited.sleeve == length and result.notes
    assert edited.mask.sum() < info.mask.sum() and not (edited.mask & ~info.mask).any()
    assert analyze_garment(edited.image).sleeve == length  # the pixels say it, not just the label
    cut = info.mask & ~edited.mask
    background = np.median(info.image[~info.mask], axis=0)
    assert np.abs(edited.image[cut].astype(int) - background).max() <= 2  # cut away cleanly
    assert np.array_equal(edited.image[~info.mask], info.image[~info.mask])
    near_cut = cv2.dilate(cut.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    kept = edited.parts["body"] & ~near_cut  # the body is untouched, but for a softened new edge
    assert np.array_equal(edited.image[kept], info.image[kept])


def test_longer_sleeves_cannot_be_made_from_a_photo_and_the_note_says_so(long_sleeve_shirt) -> None:
    short = text.cut_sleeves(long_sleeve_shirt, "short")
    result = text.apply_edits(short, text.parse("long sleeves"))
    assert result.garment is short
    assert any("cannot be lengthened" in note and "stay short" in note for note in result.notes)


# --- recolouring every block, or one part ---------------------------------------------------


def colour_block_tee() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A FILA-like tee: red yoke, white chest band with navy letters, navy body; the letters' mask."""
    image, mask = fabric_photo((200, 32, 42), logo=(200, 32, 42))
    image[90:150][mask[90:150]] = (246, 246, 243)
    image[150:220][mask[150:220]] = (26, 36, 72)
    cv2.putText(image, "LOGO", (45, 135), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (26, 36, 72), 5)
    letters = np.zeros_like(mask)
    letters[90:150] = (image[90:150].astype(int).sum(axis=2) < 300) & mask[90:150]
    return image, mask, letters


def hue_share(image: np.ndarray, region: np.ndarray, rgb: tuple[int, int, int], limit: float = 25.0) -> float:
    """Share of ``region`` whose a*b* (hue and chroma, any lightness) is within ``limit`` of ``rgb``'s."""
    lab = text.rgb_to_lab(image[region].astype(np.float32))
    want = text.rgb_to_lab(np.array(rgb, np.float32))
    return float((np.hypot(lab[:, 1] - want[1], lab[:, 2] - want[2]) < limit).mean())


def test_make_it_green_recolours_every_block_of_a_colour_block_tee() -> None:
    image, mask, letters = colour_block_tee()
    info = garment_analysis(image, mask, sleeve="short")
    edited = text.edit_garment(info, text.parse("make it green")).image
    green = text.COLOUR_RGB["green"]
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    around = cv2.dilate(letters.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    for rows in (slice(20, 85), slice(95, 145), slice(155, 215)):  # red yoke, white band, navy body
        block = np.zeros_like(mask)
        block[rows] = inner[rows]
        block &= ~around
        assert hue_share(edited, block, green) > 0.9, rows
    core = cv2.erode(letters.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert share_near(edited, core, (26, 36, 72), 8) > 0.9  # the letters keep their colour
    lum = cv2.cvtColor(edited, cv2.COLOR_RGB2GRAY).astype(float)
    assert lum[100:140, 60:80].mean() > lum[160:200, 60:80].mean() + 10  # the blocks stay readable as tones


def test_make_the_sleeves_green_recolours_only_the_sleeves(long_sleeve_shirt) -> None:
    spec = text.parse("make the sleeves green")
    assert spec.colour_part == "sleeves" and text.parse("袖子改成绿色").colour_part == "sleeves"
    assert text.parse("a white shirt with red sleeves").colour_part is None  # two colours: a description
    info = long_sleeve_shirt
    edited = text.edit_garment(info, spec).image
    sleeves = info.parts["sleeve_left"] | info.parts["sleeve_right"]
    inner = cv2.erode(sleeves.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert hue_share(edited, inner, text.COLOUR_RGB["green"]) > 0.9
    assert np.array_equal(edited[info.parts["body"]], info.image[info.parts["body"]])


def test_warm_up_loads_the_encoder_and_prototypes() -> None:
    text.warm_up()
    bank, labels = text.prototype_bank()
    assert bank.shape == (len(labels), 384)
    assert np.allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-3)


# --- which colour a recolour changes ---------------------------------------------------------


def striped_photo(stripe: tuple[int, int, int], ground=(246, 246, 243)) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal stripes of equal width on a pale ground, edge to edge (a breton top)."""
    image, mask = fabric_photo(ground)
    rows = (np.arange(image.shape[0]) // 10) % 2 == 1
    band = mask & rows[:, None]
    image[band] = stripe
    return image, mask


def share_near(image: np.ndarray, region: np.ndarray, rgb: tuple[int, int, int], limit: float = 12.0) -> float:
    lab = text.rgb_to_lab(image[region].astype(np.float32))
    return float((text.delta_e(lab, text.rgb_to_lab(np.array(rgb, np.float32))[None, :]) < limit).mean())


def test_recolouring_a_striped_top_changes_the_stripes_not_the_white_ground() -> None:
    image, mask = striped_photo((26, 36, 72))
    edited = text.recolor(image, mask, text.COLOUR_RGB["burgundy"])
    assert share_near(image, mask, text.COLOUR_RGB["burgundy"]) == 0.0
    assert share_near(edited, mask, text.COLOUR_RGB["burgundy"], 15) > 0.35
    assert share_near(edited, mask, (246, 246, 243)) > 0.35  # the white stripes stay white


def test_a_small_logo_on_a_white_tee_leaves_the_white_as_the_colour_to_change() -> None:
    image, mask = fabric_photo((246, 246, 243), logo=(26, 36, 72))
    edited = text.recolor(image, mask, text.COLOUR_RGB["red"])
    assert share_near(edited, mask, text.COLOUR_RGB["red"], 15) > 0.7


def logo_band_photo() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A navy tee with a white chest band carrying navy letters (a FILA-like colour block)."""
    image, mask = fabric_photo((26, 36, 72), logo=(26, 36, 72))
    band = np.zeros_like(mask)
    band[90:150, 30:170] = True
    image[band] = (246, 246, 243)
    cv2.putText(image, "LOGO", (45, 135), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (26, 36, 72), 5)
    letters = band & (image.astype(int).sum(axis=2) < 300)
    return image, mask, letters


def test_letters_in_the_main_colour_framed_by_another_colour_keep_their_colour() -> None:
    image, mask, letters = logo_band_photo()
    edited = text.recolor(image, mask, text.COLOUR_RGB["green"])
    fabric = mask.copy()
    fabric[80:160] = False
    assert share_near(edited, fabric, text.COLOUR_RGB["green"], 15) > 0.8
    core = cv2.erode(letters.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert share_near(edited, core, (26, 36, 72), 8) > 0.9  # the logo's letters are still navy


def test_the_ground_of_an_all_over_print_changes_everywhere() -> None:
    """Ground showing through a busy multi-colour print is fabric, not a logo: it is recoloured."""
    rng = np.random.default_rng(3)
    image, mask = fabric_photo((40, 130, 150), logo=(40, 130, 150))
    for _ in range(300):  # small gold, black and white links all over the fabric
        x, y = int(rng.integers(30, 170)), int(rng.integers(20, 220))
        colour = [(214, 170, 70), (20, 20, 22), (240, 240, 236)][int(rng.integers(3))]
        cv2.ellipse(image, (x, y), (6, 4), float(rng.uniform(0, 180)), 0, 360, colour, 2)
    image[~mask] = 255
    edited = text.recolor(image, mask, text.COLOUR_RGB["blue"])
    assert share_near(edited, mask, (40, 130, 150), 10) < 0.01  # no teal patch is left


def test_colour_palette_lists_main_colours_with_shares() -> None:
    image, mask = striped_photo((26, 36, 72))
    palette = text.colour_palette(text.rgb_to_lab(image[mask].astype(np.float32)))
    assert len(palette) >= 2
    (first, share1), (second, share2) = palette[:2]
    assert share1 >= share2 > 0.3 and share1 + share2 <= 1.0
    names = {text.nearest_colour_name(text.lab_to_rgb(c)) for c in (first, second)}
    assert names == {"white", "navy"}


# --- the word tables (data files) --------------------------------------------------------------


def test_word_tables_are_package_data_and_well_formed() -> None:
    """Editors of tryon/stages/text/data/*.toml get a failing test, not a silently ignored word."""
    from importlib import resources

    from tryon.stages.text import lexicon

    names = {p.name for p in resources.files("tryon.stages.text.data").iterdir()}
    assert {"colours.toml", "garments.toml", "attributes.toml", "stopwords.toml", "prototypes.toml"} <= names
    for name, rgb in text.COLOUR_RGB.items():
        assert len(rgb) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in rgb), name
    for gtype, info in text.GARMENT_TYPES.items():
        assert info["category"] in text.CATEGORIES, gtype
    for term in lexicon.lexicon().terms:
        assert term == lexicon.normalise(term), f"{term!r} is not written as the parser reads it"
    attributes = {attr for _, (attr, _) in lexicon.prototype_phrases()}
    assert attributes <= {"garment", "sleeve", "pattern", "material", "filler"}

