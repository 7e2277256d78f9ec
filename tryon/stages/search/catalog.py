"""Reading a catalog folder: garment photos and their ``catalog.csv`` sidecar.

Sidecar columns: ``file, caption, category`` and optionally ``source, licence, commercial``
(``yes``/``no``: whether the photo may be shown in commercial use). Photos the sidecar does not
list are captioned from their file name's words and count as the catalog owner's own (commercial).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SIDECAR = "catalog.csv"
PEOPLE_SIDECAR = "people.csv"  # the example people's sidecar: file, description, framing, licence...
EXAMPLE_SETS = ("commercial", "all")  # Settings.examples: which shipped examples to show
YES = ("yes", "true", "1")


@dataclasses.dataclass(frozen=True)
class CatalogRecord:
    """One catalog photo as listed (nothing measured yet).

    Attributes:
        path: the photo file.
        caption: its description (sidecar caption or the words of its file name).
        category: "upper", "lower", "dress" or None (then parsed from the caption).
        licence: SPDX-like licence id from the sidecar, or "" when not stated.
        commercial: whether the photo may be used commercially (sidecar ``commercial``; True when
            the sidecar does not say: photos in a shop's own folder are the shop's).
    """

    path: Path
    caption: str
    category: str | None = None
    licence: str = ""
    commercial: bool = True


def caption_from_filename(path: Path) -> str:
    """Words of a file name: ``red_long-sleeve_shirt_01.jpg`` -> "red long-sleeve shirt"."""
    words = re.split(r"[_\s.]+", Path(path).stem)
    return " ".join(w for w in words if w and not w.isdigit()).strip() or Path(path).stem


def read_records(folder: Path, sidecar: str = SIDECAR, caption_column: str = "caption") -> list[CatalogRecord]:
    """Every photo in ``folder`` (not its subfolders) with its sidecar row; a missing folder is empty.

    ``sidecar`` names the CSV file and ``caption_column`` its caption column (the example people's
    ``people.csv`` has a ``description``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    rows: dict[str, dict[str, str]] = {}
    sidecar_path = folder / sidecar
    if sidecar_path.is_file():
        with open(sidecar_path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name = (row.get("file") or "").strip()
                if name:
                    rows[name] = {k: (v or "").strip() for k, v in row.items() if k}
    records = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        row = rows.get(path.name, {})
        commercial = row.get("commercial", "")
        records.append(
            CatalogRecord(
                path=path,
                caption=row.get(caption_column) or caption_from_filename(path),
                category=row.get("category") or None,
                licence=row.get("licence", ""),
                commercial=commercial.lower() in YES if commercial else True,
            )
        )
    return records


def read_folder(folder: Path) -> list[tuple[Path, str, str | None]]:
    """``(path, caption, category)`` for every photo in ``folder`` (sidecar captions first)."""
    return [(r.path, r.caption, r.category) for r in read_records(folder)]


def read_catalog(folders: Iterable[Path], examples: str = "all") -> list[CatalogRecord]:
    """The records of every folder (missing folders skipped, a photo listed twice kept once).

    Args:
        folders: catalog folders, e.g. the shipped ``assets/garments`` and a shop's own.
        examples: "all", or "commercial" to leave out photos whose sidecar says ``commercial=no``.
    """
    if examples not in EXAMPLE_SETS:
        raise ValueError(f"examples must be one of {', '.join(EXAMPLE_SETS)}, not {examples!r}")
    seen: set[Path] = set()
    records = []
    for folder in folders:
        for record in read_records(Path(folder)):
            key = record.path.resolve()
            if key in seen or (examples == "commercial" and not record.commercial):
                continue
            seen.add(key)
            records.append(record)
    return records
