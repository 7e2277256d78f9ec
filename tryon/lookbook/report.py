"""What a person looks at: thumbnails, one grid image per person, the ``index.html`` contact sheet, a zip.

Everything is drawn from the files in the output folder and the pair records (journal), so a rerun
or an interrupted run redraws it the same way. Images come in as RGB ``uint8`` ``(H, W, 3)`` arrays.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import io
import textwrap
import zipfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..config import get_settings
from .check import UNCHECKED, is_trusted
from .plan import (
    FAILED,
    GRIDS_DIR,
    INDEX,
    OK,
    PENDING,
    REFUSED,
    TABLE_CSV,
    TABLE_PARQUET,
    THUMBS_DIR,
    Pair,
    Photo,
    Plan,
    write_atomic,
)

# Results are written losslessly; PNG level 1 is ~5x faster than the default 6 for ~1 % more bytes.
PNG_COMPRESS_LEVEL = 1
JPEG_QUALITY = 92  # --format jpg results
THUMB_QUALITY = 85
THUMB_HEIGHT = 320  # px, contact-sheet and grid thumbnails (sharp on a high-density screen at 160 px)
THUMB_REDUCING_GAP = 1.5
# Grid image: cells of THUMB_HEIGHT, a caption strip under each, GRID_COLUMNS garments per row.
CELL_WIDTH = 240
CAPTION_HEIGHT = 46
GRID_COLUMNS = 6
GRID_GAP = 8
GRID_TITLE_HEIGHT = 40
INSET_SIDE = 72  # px, the garment photo in the corner of its result
MESSAGE_WRAP = 30  # characters per line of a refusal message in a grid cell
MESSAGE_LINES = 12
FONT_SIZE = 14
SMALL_FONT_SIZE = 12
GRID_QUALITY = 88
# Colours (RGB) of the grid image's cells and captions.
WHITE = (255, 255, 255)
INK = (24, 24, 27)
MUTED = (113, 113, 122)
STATUS_FILL = {REFUSED: (244, 244, 245), FAILED: (254, 226, 226), PENDING: (250, 250, 250)}
VERDICT_INK = {"pass": (21, 128, 61), "fail": (185, 28, 28), REFUSED: (82, 82, 91),
               FAILED: (185, 28, 28), PENDING: MUTED}
# While a run is going, the contact sheet reloads itself this often (s).
REFRESH_S = 5


# ---------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------


def encode_result(image: np.ndarray, fmt: str) -> bytes:
    """A result (RGB uint8 ``(H, W, 3)``) as PNG (lossless) or JPEG bytes."""
    buffer = io.BytesIO()
    if fmt == "png":
        Image.fromarray(image).save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        Image.fromarray(image).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def thumbnail_jpeg(image: np.ndarray | Image.Image, height: int = THUMB_HEIGHT) -> bytes:
    """A JPEG ``height`` px tall (never enlarged) of an RGB uint8 image."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    picture = picture.convert("RGB")
    if picture.height > height:
        # reducing_gap: a box reduction by a whole factor first, then Lanczos (~2x faster, same look at this size)
        picture = picture.resize((max(1, round(picture.width * height / picture.height)), height),
                                 Image.Resampling.LANCZOS, reducing_gap=THUMB_REDUCING_GAP)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=THUMB_QUALITY)
    return buffer.getvalue()


def photo_thumb_path(photo: Photo) -> str:
    folder = "people" if photo.role == "person" else "garments"
    return f"{THUMBS_DIR}/{folder}/{photo.id}.jpg"


def grid_path(person: Photo) -> str:
    return f"{GRIDS_DIR}/{person.id}.jpg"


def photo_thumbnail_from_file(path: Path | None) -> bytes:
    """A thumbnail of a photo file the pipeline refused (upright, RGB), or b"" when it cannot be decoded."""
    if path is None:
        return b""
    try:
        with Image.open(path) as picture:
            if picture.width * picture.height > get_settings().max_pixels:  # what intake refuses to decode
                return b""
            picture.draft("RGB", (THUMB_HEIGHT * 2, THUMB_HEIGHT * 2))  # JPEGs decode at a fraction of the size
            return thumbnail_jpeg(ImageOps.exif_transpose(picture))
    except (OSError, ValueError, Image.DecompressionBombError):
        return b""


def ensure_thumb(out_dir: Path, pair: Pair) -> bool:
    """Remake a result's thumbnail from the result when it is missing (a deleted thumbs folder)."""
    thumb = out_dir / pair.thumb
    if thumb.is_file():
        return True
    try:
        with Image.open(out_dir / pair.output) as result:
            write_atomic(thumb, thumbnail_jpeg(result))
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------
# Grid image per person
# ---------------------------------------------------------------------------------------------------


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit(path: Path, box: tuple[int, int]) -> Image.Image | None:
    try:
        with Image.open(path) as picture:
            return ImageOps.contain(picture.convert("RGB"), box, Image.Resampling.LANCZOS)
    except OSError:
        return None


def _ellipsis(text: str, width: int, font: Any) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _status_line(record: dict[str, Any]) -> tuple[str, str]:
    """``(text, colour key)`` under a cell: the verdict and time, or the status."""
    status = record.get("status", PENDING)
    if status != OK:
        return status, status
    verdict = record.get("verdict") or UNCHECKED
    seconds = record.get("seconds")
    timing = f" · {seconds:.2f} s" if isinstance(seconds, (int, float)) else ""
    return f"{verdict}{timing}", verdict


def cell_image(out_dir: Path, pair: Pair, record: dict[str, Any], caption: bool = True) -> Image.Image:
    """One garment's cell: the result (garment photo in the corner) or the message, then (``caption``) a strip
    with the garment's name and the verdict or status."""
    cell = Image.new("RGB", (CELL_WIDTH, THUMB_HEIGHT + (CAPTION_HEIGHT if caption else 0)), WHITE)
    draw = ImageDraw.Draw(cell)
    status = record.get("status", PENDING)
    result = _fit(out_dir / pair.thumb, (CELL_WIDTH, THUMB_HEIGHT)) if status == OK else None
    if result is not None:
        cell.paste(result, ((CELL_WIDTH - result.width) // 2, (THUMB_HEIGHT - result.height) // 2))
    else:
        draw.rectangle((0, 0, CELL_WIDTH - 1, THUMB_HEIGHT - 1), fill=STATUS_FILL.get(status, WHITE), outline=MUTED)
        message = record.get("message") or "not rendered yet: run the command again"
        lines = textwrap.wrap(message, MESSAGE_WRAP)[:MESSAGE_LINES]
        draw.multiline_text((10, INSET_SIDE + 18), "\n".join(lines), fill=INK, font=_font(SMALL_FONT_SIZE), spacing=3)
    inset = _fit(out_dir / photo_thumb_path(pair.garment), (INSET_SIDE, INSET_SIDE))
    if inset is not None:
        draw.rectangle((4, 4, inset.width + 9, inset.height + 9), fill=WHITE, outline=MUTED)
        cell.paste(inset, (7, 7))
    if not caption:
        return cell
    font = _font(FONT_SIZE)
    draw.text((4, THUMB_HEIGHT + 4), _ellipsis(pair.garment.label, CELL_WIDTH - 8, font), fill=INK, font=font)
    text, colour = _status_line(record)
    draw.text((4, THUMB_HEIGHT + 24), _ellipsis(text, CELL_WIDTH - 8, font), fill=VERDICT_INK.get(colour, MUTED),
              font=font)
    return cell


def write_grid(out_dir: Path, person: Photo, pairs: list[Pair], records: dict[str, dict[str, Any]]) -> Path:
    """``grids/<person>.jpg``: the person photo, then each garment's result (or why there is none)."""
    out_dir = Path(out_dir)
    columns = min(GRID_COLUMNS, max(1, len(pairs)))
    rows = max(1, -(-len(pairs) // columns))
    cell_h = THUMB_HEIGHT + CAPTION_HEIGHT
    width = GRID_GAP + (columns + 1) * (CELL_WIDTH + GRID_GAP)
    height = GRID_TITLE_HEIGHT + GRID_GAP + rows * (cell_h + GRID_GAP)
    sheet = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(sheet)
    counts = Counter((records.get(p.key) or {}).get("status", PENDING) for p in pairs)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    draw.text((GRID_GAP, 10), _ellipsis(f"{person.label}: {len(pairs)} garments ({summary})", width - 2 * GRID_GAP,
                                         _font(FONT_SIZE + 4)), fill=INK, font=_font(FONT_SIZE + 4))
    top = GRID_TITLE_HEIGHT + GRID_GAP
    portrait = _fit(out_dir / photo_thumb_path(person), (CELL_WIDTH, THUMB_HEIGHT))
    if portrait is not None:
        sheet.paste(portrait, (GRID_GAP + (CELL_WIDTH - portrait.width) // 2, top))
    draw.text((GRID_GAP + 4, top + THUMB_HEIGHT + 4), "person", fill=MUTED, font=_font(FONT_SIZE))
    for index, pair in enumerate(pairs):
        row, column = divmod(index, columns)
        x = GRID_GAP + (column + 1) * (CELL_WIDTH + GRID_GAP)
        sheet.paste(cell_image(out_dir, pair, records.get(pair.key) or {}), (x, top + row * (cell_h + GRID_GAP)))
    path = out_dir / grid_path(person)
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=GRID_QUALITY)
    write_atomic(path, buffer.getvalue())
    return path


def pairs_by_person(plan: Plan) -> dict[str, list[Pair]]:
    """The plan's pairs grouped by person id, people and garments in plan order."""
    groups: dict[str, list[Pair]] = {person.id: [] for person in plan.people}
    for pair in plan.pairs:
        groups.setdefault(pair.person.id, []).append(pair)
    return {person_id: pairs for person_id, pairs in groups.items() if pairs}


# ---------------------------------------------------------------------------------------------------
# index.html
# ---------------------------------------------------------------------------------------------------

PAGE_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#18181b;background:#fafafa}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #e4e4e7;padding:12px 20px;z-index:1}
h1{font-size:20px;margin:0 0 4px} .sub{color:#71717a;margin:0 0 8px}
.chip{display:inline-block;border-radius:999px;padding:1px 10px;margin-right:4px;font-size:13px;border:1px solid}
.chip.ok{border-color:#a1a1aa}.chip.trusted{border-color:#15803d;color:#15803d}
.chip.refused{border-color:#52525b}.chip.failed{border-color:#b91c1c;color:#b91c1c}
.chip.pending{border-style:dashed}
.running{background:#fef9c3;border:1px solid #eab308;padding:4px 10px;border-radius:6px;display:inline-block}
nav label{margin-right:12px;cursor:pointer}
main{padding:12px 20px}
section.person{display:flex;gap:10px;align-items:flex-start;padding:12px 0;border-bottom:1px solid #e4e4e7}
.who{flex:0 0 150px} .who img{width:150px;border-radius:6px;display:block}
.who .name{font-weight:600;word-break:break-word} .who a{font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{width:168px;background:#fff;border:1px solid #e4e4e7;border-radius:8px;overflow:hidden;position:relative}
.card .shot{display:block;height:213px;background:#f4f4f5;text-align:center}
.card .shot img{max-width:168px;max-height:213px}
.card .inset{position:absolute;top:6px;left:6px;width:46px;height:46px;object-fit:contain;background:#fff;
 border:1px solid #d4d4d8;border-radius:4px}
.card .label{padding:4px 6px 0;font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card .meta{padding:0 6px 6px;font-size:11.5px;color:#71717a;white-space:nowrap}
.badge{font-weight:600} .badge.pass{color:#15803d} .badge.warn{color:#b45309} .badge.fail{color:#b91c1c}
.badge.unchecked{color:#71717a}
.card.trusted{border-color:#15803d;box-shadow:0 0 0 1px #15803d}
.card.refused .shot,.card.failed .shot,.card.pending .shot{height:auto;min-height:120px;text-align:left;
 padding:56px 8px 8px;font-size:12px}
.card.failed .shot{background:#fee2e2} .card.pending .shot{background:#fff;border-bottom:1px dashed #d4d4d8}
footer{padding:12px 20px 40px;color:#52525b}
body.only-trusted .card:not(.trusted),body.only-look .card:not(.ok),body.only-look .card.trusted,
body.only-problems .card.ok,body.only-problems .card.pending{display:none}
"""
PAGE_SCRIPT = """
for (const input of document.querySelectorAll('nav input')) {
  input.addEventListener('change', () => {
    document.body.className = input.value === 'all' ? '' : 'only-' + input.value;
  });
}
"""
FILTERS = (("all", "all"), ("trusted", "trusted only"), ("look", "needs a look"), ("problems", "refused or failed"))


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _card(pair: Pair, record: dict[str, Any]) -> str:
    status = record.get("status", PENDING)
    verdict = record.get("verdict") or UNCHECKED
    trusted = status == OK and is_trusted(verdict)
    classes = " ".join(c for c in ("card", status, "trusted" if trusted else "") if c)
    inset = f"<img class='inset' src='{_esc(photo_thumb_path(pair.garment))}' alt=''>"
    if status == OK:
        tip = "; ".join(x for x in (record.get("verdict_reasons", ""), *record.get("notes", [])) if x)
        shot = (f"<a class='shot' href='{_esc(pair.output)}' title='{_esc(tip)}'><img loading='lazy' "
                f"src='{_esc(pair.thumb)}' alt='{_esc(pair.person.label)} wearing {_esc(pair.garment.label)}'></a>")
        seconds = record.get("seconds")
        meta = (f"<span class='badge {_esc(verdict)}'>{_esc(verdict)}</span> · {_esc(record.get('category', ''))}"
                + (f" · {seconds:.2f} s" if isinstance(seconds, (int, float)) else ""))
    else:
        message = record.get("message") or "not rendered yet: run the same command again to finish"
        shot = f"<div class='shot'>{_esc(message)}</div>"
        meta = f"<span class='badge'>{_esc(status)}</span>"
    return (f"<div class='{classes}' data-pair='{_esc(pair.key)}'>{inset}{shot}"
            f"<div class='label' title='{_esc(pair.garment.label)}'>{_esc(pair.garment.label)}</div>"
            f"<div class='meta'>{meta}</div></div>")


def _counts(plan: Plan, records: dict[str, dict[str, Any]]) -> Counter:
    counts: Counter = Counter()
    for pair in plan.pairs:
        record = records.get(pair.key) or {}
        status = record.get("status", PENDING)
        counts[status] += 1
        if status == OK and is_trusted(record.get("verdict")):
            counts["trusted"] += 1
    return counts


def index_html(plan: Plan, records: dict[str, dict[str, Any]], *, running: bool = False, version: str = "",
               notes: Iterable[str] = ()) -> str:
    """The contact sheet: per person, a card per garment (result, verdict, time; or the message)."""
    counts = _counts(plan, records)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    shape = (f"{len(plan.people)} people × {len(plan.garments)} garments" if plan.grid
             else f"{len(plan.pairs)} listed pairs of {len(plan.people)} people and {len(plan.garments)} garments")
    chips = "".join(f"<span class='chip {key}'>{counts.get(key, 0)} {label}</span>" for key, label in (
        (OK, "rendered"), ("trusted", "trusted"), (REFUSED, "refused"), (FAILED, "failed"), (PENDING, "pending")))
    done = len(plan.pairs) - counts.get(PENDING, 0)
    banner = (f"<p class='running'>Running: {done} of {len(plan.pairs)} pairs done. This page reloads every "
              f"{REFRESH_S} s.</p>" if running else "")
    filters = "".join(f"<label><input type='radio' name='show' value='{v}'{' checked' if v == 'all' else ''}> "
                      f"{label}</label>" for v, label in FILTERS)
    sections = []
    for person_id, pairs in pairs_by_person(plan).items():
        person = pairs[0].person
        cards = "".join(_card(pair, records.get(pair.key) or {}) for pair in pairs)
        sections.append(
            f"<section class='person' id='{_esc(person_id)}'><div class='who'>"
            f"<img src='{_esc(photo_thumb_path(person))}' alt='{_esc(person.label)}'>"
            f"<div class='name'>{_esc(person.label)}</div><a href='{_esc(grid_path(person))}'>grid image</a></div>"
            f"<div class='cards'>{cards}</div></section>")
    footer = "".join(f"<p>{_esc(note)}</p>" for note in notes)
    refresh = f"<meta http-equiv='refresh' content='{REFRESH_S}'>" if running else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"{refresh}<title>Lookbook: {_esc(shape)}</title><style>{PAGE_CSS}</style></head><body>"
        f"<header><h1>Lookbook</h1><p class='sub'>{_esc(shape)} · {_esc(plan.renderer)} renderer · "
        f"updated {when}{f' · tryon {_esc(version)}' if version else ''}</p>{banner}<p>{chips}</p>"
        f"<p>Table: <a href='{TABLE_CSV}'>CSV</a> · <a href='{TABLE_PARQUET}'>Parquet</a>. Click a result for "
        "the full-size image; a green frame marks a result the pipeline's self-check passed.</p>"
        f"<nav>Show: {filters}</nav></header><main>{''.join(sections)}</main>"
        f"<footer>{footer}</footer><script>{PAGE_SCRIPT}</script></body></html>"
    )


def write_index(out_dir: Path, plan: Plan, records: dict[str, dict[str, Any]], **kwargs: Any) -> Path:
    path = Path(out_dir) / INDEX
    write_atomic(path, index_html(plan, records, **kwargs).encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------------
# Zip
# ---------------------------------------------------------------------------------------------------

STORED_SUFFIXES = (".png", ".jpg", ".jpeg", ".parquet")  # already compressed


def zip_folder(out_dir: Path, zip_path: Path) -> Path:
    """Zip the output folder (results, thumbnails, grids, index.html, tables) for download."""
    out_dir = Path(out_dir)
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(out_dir.rglob("*")):
            if not path.is_file() or path.name.endswith(".tmp") or path.resolve() == Path(zip_path).resolve():
                continue
            kind = zipfile.ZIP_STORED if path.suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            archive.write(path, path.relative_to(out_dir).as_posix(), compress_type=kind)
    return Path(zip_path)
