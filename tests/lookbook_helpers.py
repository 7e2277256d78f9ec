"""Helpers shared by the lookbook tests: example inputs copied from the repository's assets, readers for
the output folder."""

from __future__ import annotations

import csv
import html.parser
import json
import shutil
from pathlib import Path

from conftest import REPO

from tryon.lookbook.plan import JOURNAL, TABLE_CSV

PEOPLE = REPO / "assets" / "people"
GARMENTS = REPO / "assets" / "garments"
PERSON_FILES = ("vitonhd_00034_00.jpg", "vitonhd_05997_00.jpg")
GARMENT_FILES = ("vitonhd_09176_00.jpg", "vitonhd_00151_00.jpg")
LEGS_MESSAGE = "does not show the legs"


def make_inputs(root: Path, people: tuple[str, ...] = PERSON_FILES, garments: tuple[str, ...] = GARMENT_FILES,
                ) -> tuple[Path, Path]:
    """Copies of example photos in ``root/people`` and ``root/garments``."""
    people_dir, garments_dir = root / "people", root / "garments"
    for folder, source, names in ((people_dir, PEOPLE, people), (garments_dir, GARMENTS, garments)):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(source / name, folder / name)
    return people_dir, garments_dir


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: set[str] = set()
        self.images: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.add(values["href"])
        if tag == "img" and values.get("src"):
            self.images.add(values["src"])


def page_links(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def read_table(out: Path) -> list[dict[str, str]]:
    with open(out / TABLE_CSV, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def journal_pair_lines(out: Path) -> list[dict]:
    return [r for r in map(json.loads, (out / JOURNAL).read_text().splitlines()) if r["kind"] == "pair"]


def no_executor():  # a run that has nothing to do must not start any
    raise AssertionError("the rerun started an executor although every pair was done")
