"""The text evaluation cases (tests/data/text_cases.csv) and the harness features they use:
a ``--root`` for relative paths and a ``description`` column."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import pytest

from tryon.errors import TryOnError
from tryon.measure import evaluate
from tryon.stages import text

CASES = Path(__file__).parent / "data" / "text_cases.csv"


def rows() -> list[dict[str, str]]:
    with open(CASES, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def is_chinese(description: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in description)


def test_every_eval_person_gets_four_descriptions_in_both_languages_and_all_categories(eval_dir) -> None:
    persons = {p.relative_to(eval_dir).as_posix() for p in eval_dir.glob("**/person/*.jpg")}
    by_person: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows():
        if not row["garment"]:
            by_person[row["person"]].append(row)
    assert set(by_person) == persons
    categories: set[str] = set()
    for person, cases in by_person.items():
        chinese = sum(is_chinese(c["description"]) for c in cases)
        assert len(cases) >= 4 and chinese >= 2 and len(cases) - chinese >= 2, person
        categories |= {c["category"] for c in cases}
        assert {"upper", "lower"} <= {c["category"] for c in cases}, person
    assert categories == {"upper", "lower", "dress"}


@pytest.mark.parametrize("row", rows(), ids=lambda r: r["id"])
def test_each_description_reads_as_its_case_category(row: dict[str, str]) -> None:
    spec = text.parse(row["description"])
    assert spec.understood
    if not row["garment"]:  # text-only: the words alone must say which garment
        assert spec.category == row["category"]
    else:  # a recolour: the words name a colour
        assert spec.colours


def write_cases(folder: Path, person: str) -> Path:
    path = folder / "cases.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "person", "garment", "category", "paired", "notes", "description"])
        writer.writerow(["a", person, "", "lower", "no", "", "一件蓝色的牛仔裤"])
    return path


def test_relative_paths_start_from_root_and_absolute_paths_stay(tmp_path, eval_dir) -> None:
    path = write_cases(tmp_path, "person/dresscode_049205_0.jpg")
    (case,) = evaluate.read_cases(path, root=eval_dir)
    assert case.person == eval_dir / "person/dresscode_049205_0.jpg" and case.garment is None
    assert case.description == "一件蓝色的牛仔裤" and case.category == "lower"
    (case,) = evaluate.read_cases(path)  # no root: relative to the file, as before
    assert case.person == tmp_path / "person/dresscode_049205_0.jpg"
    absolute = write_cases(tmp_path, str(eval_dir / "person/dresscode_049205_0.jpg"))
    (case,) = evaluate.read_cases(absolute, root=Path("/nowhere"))
    assert case.person == eval_dir / "person/dresscode_049205_0.jpg"


def test_a_case_with_neither_garment_nor_description_is_refused(tmp_path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("id,person,garment,category,description\nx,p.jpg,,upper,\n", encoding="utf-8")
    with pytest.raises(TryOnError, match="no garment and no description"):
        evaluate.read_cases(path)


def test_text_case_runs_through_the_harness_with_description_and_self_check(tmp_path, eval_dir) -> None:
    out = tmp_path / "out"
    args = evaluate_args(["--cases", str(CASES), "--root", str(eval_dir), "--out", str(out), "--ids", "t09c"])
    assert evaluate.run(args) == 0
    (row,) = [r for r in evaluate.read_metrics(out) if r["kind"] == "case"]
    assert row["description"] == "blue jeans" and row["category"] == "lower"
    assert row["check_ok"] in (0, 1) and not math.isnan(row["coverage"])  # the self-check ran
    assert (out / "t09c.png").is_file() and (out / evaluate.SHEET_FILE).is_file()


def evaluate_args(argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    return parser.parse_args(argv)
