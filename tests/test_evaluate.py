"""The evaluation harness: outputs, failures, CLI flags, --compare, and a real two-case run."""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

# The synthetic figure and print of the metric tests (tests/ is on sys.path under pytest).
from test_metrics import SKIN, H, W, person_mask, standing_landmarks, texture

from tryon import pipeline
from tryon.errors import TryOnError
from tryon.measure import evaluate, metrics
from tryon.stages.intake import load_image


def figure() -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (33, 2) and person mask of the front-facing figure of test_metrics."""
    lm = standing_landmarks()
    return lm, person_mask(lm)


def write_scene(folder: Path) -> Path:
    """Person and garment PNGs plus cases.csv and lengths.csv; returns the cases file."""
    lm, mask = figure()
    person = np.full((H, W, 3), 235, np.uint8)
    person[mask] = SKIN
    top = metrics.garment_region(lm, mask, "upper")
    person[top] = texture(H, W, 1, (40, 60, 150))[top]
    garment = np.full((H, W, 3), 250, np.uint8)
    garment[60:360, 60:260] = texture(H, W, 2, (150, 60, 60))[60:360, 60:260]
    (folder / "img").mkdir()
    for name in ("person", "paired", "bad", "bug"):
        Image.fromarray(person).save(folder / "img" / f"{name}.png")
    Image.fromarray(garment).save(folder / "img" / "garment.png")
    with open(folder / "cases.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "person", "garment", "category", "paired", "notes"])
        w.writerow(["p1", "img/paired.png", "img/garment.png", "upper", "yes", "paired"])
        w.writerow(["u1", "img/person.png", "img/garment.png", "upper", "no", "unpaired"])
        w.writerow(["bad", "img/bad.png", "img/garment.png", "upper", "no", "the renderer refuses it"])
        w.writerow(["bug", "img/bug.png", "img/garment.png", "upper", "no", "the renderer crashes"])
    with open(folder / "lengths.csv", "w", newline="") as fh:
        fh.write("id,segment,from,to,expect,why\nu1,forearm,0.2,0.9,skin,bare forearms\n")
    return folder / "cases.csv"


@pytest.fixture()
def fake_renderer(monkeypatch):
    """try_on replaced by a renderer that pastes the garment print onto the torso.

    The paired person photo comes back unchanged; bad.png raises TryOnError, bug.png crashes.
    """
    lm, mask = figure()
    calls = []

    def fake_try_on(person, garment=None, description=None, *, category="auto", renderer=None, **_):
        name = Path(person).stem
        calls.append((name, category, renderer))
        if name == "bad":
            raise TryOnError("No person found in the photo: use a photo of one person.")
        if name == "bug":
            raise RuntimeError("stage bug")
        person_rgb = load_image(person)
        garment_rgb = load_image(garment)
        gmask = np.zeros((H, W), bool)
        gmask[60:360, 60:260] = True
        top = metrics.garment_region(lm, mask, "upper")
        image = person_rgb.copy()
        if name != "paired":
            image[top] = texture(H, W, 2, (150, 60, 60))[top]
        body = SimpleNamespace(
            landmarks=lm,
            visibility=np.ones(33, np.float32),
            person_mask=mask,
            skin_lab_mean=cv2.cvtColor(np.array([[SKIN]], np.uint8), cv2.COLOR_RGB2Lab)
            .reshape(3)
            .astype(float),
            skin_lab_cov=np.diag([30.0, 8.0, 8.0]),
        )
        return pipeline.TryOnResult(
            image=image,
            person=person_rgb,
            edit_mask=top,
            garment_mask=top,
            garment_image=garment_rgb,
            category=category,
            renderer=renderer,
            body=body,
            garment=SimpleNamespace(
                image=garment_rgb, mask=gmask, mean_rgb=garment_rgb[gmask].mean(axis=0).astype(np.uint8)
            ),
            timings={"body": 0.01, "total": 0.02},
        )

    monkeypatch.setattr(pipeline, "try_on", fake_try_on)
    return calls


def test_eval_writes_images_sheet_metrics_and_report(tmp_path, fake_renderer):
    cases = write_scene(tmp_path)
    out = tmp_path / "out"
    lines = []
    rows = evaluate.evaluate(cases, out, progress=lines.append)
    by = {(r["id"], r["kind"]): r for r in rows}
    assert [r["id"] for r in rows if r["kind"] == "case"] == ["p1", "u1", "bad", "bug"]
    assert [r["id"] for r in rows if r["kind"] == "floor"] == ["p1"]
    assert len(lines) == 4 and fake_renderer[0] == ("paired", "upper", "warp")
    # One bad case is a recorded failure with its message; a crash is recorded too.
    assert by["bad", "case"]["status"] == "failed" and "one person" in by["bad", "case"]["error"]
    assert by["bug", "case"]["status"] == "error" and "stage bug" in by["bug", "case"]["error"]
    # The paired render reproduced the photo: perfect region SSIM, above the flat-colour floor.
    p1, floor, u1 = by["p1", "case"], by["p1", "floor"], by["u1", "case"]
    assert p1["region_ssim"] == pytest.approx(1.0) and floor["region_ssim"] < 0.9
    assert floor["detail"] < 0.2 and math.isnan(p1["ghosting"])
    # The unpaired render pasted a sharp print: detail kept, no ghosting, torso covered, no leak.
    assert u1["detail"] > 0.7 and abs(u1["ghosting"]) < 0.1 and math.isnan(u1["region_ssim"])
    assert u1["coverage"] == 1.0 and u1["leakage"] == 0.0 and u1["preservation"] == pytest.approx(1.0)
    assert u1["length"] == 1.0 and u1["length_points"] == 2 * metrics.LENGTH_POINTS_PER_SIDE
    assert u1["time_total"] == 0.02 and u1["time_body"] == 0.01
    # Files.
    assert (out / "p1.png").is_file() and (out / "u1.png").is_file() and not (out / "bad.png").exists()
    sheet = Image.open(out / evaluate.SHEET_FILE)
    assert sheet.height == 4 * evaluate.SHEET_HEIGHT + 3 * evaluate.SHEET_GAP
    # The result panel differs from the person panel on the unpaired row (it shows the render).
    row = np.asarray(sheet)[
        evaluate.SHEET_HEIGHT + evaluate.SHEET_GAP : 2 * evaluate.SHEET_HEIGHT + evaluate.SHEET_GAP
    ]
    width = round(W * evaluate.SHEET_HEIGHT / H)
    person_panel = row[:, :width].astype(int)
    result_panel = row[:, 2 * (width + evaluate.SHEET_GAP) : 2 * (width + evaluate.SHEET_GAP) + width].astype(
        int
    )
    assert np.abs(person_panel - result_panel).mean() > 5
    saved = evaluate.read_metrics(out)
    assert [(r["id"], r["kind"]) for r in saved] == [(r["id"], r["kind"]) for r in rows]
    assert saved[1]["detail"] == pytest.approx(u1["detail"], rel=1e-5)
    text = (out / evaluate.REPORT_FILE).read_text()
    for needle in (
        "## Targets",
        "| no failures | 2 | **FAIL** | bad, bug |",
        "## Worst cases",
        "## Slowest cases",
        "bad (failed): No person found",
        "floor region SSIM",
    ):
        assert needle in text


def test_cli_flags_select_cases_and_compare_prints_the_change(tmp_path, fake_renderer, capsys):
    cases = write_scene(tmp_path)
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    first = tmp_path / "first"
    args = parser.parse_args(["--cases", str(cases), "--out", str(first), "--ids", "p1,u1"])
    assert evaluate.run(args) == 0
    assert [r["id"] for r in evaluate.read_metrics(first) if r["kind"] == "case"] == ["p1", "u1"]
    # Make the earlier run look worse on detail, then compare.
    rows = evaluate.read_metrics(first)
    for r in rows:
        if r["id"] == "u1" and r["kind"] == "case":
            r["detail"] = 0.25
    evaluate.write_metrics(first / evaluate.METRICS_FILE, rows)
    second = tmp_path / "second"
    args = parser.parse_args(
        ["--cases", str(cases), "--out", str(second), "--limit", "3", "--compare", str(first)]
    )
    assert evaluate.run(args) == 1  # case 'bad' failed
    printed = capsys.readouterr().out
    assert "Change against" in printed and "| detail retention | 0.25 |" in printed and "better" in printed
    assert "FAIL  no failures: 1" in printed
    assert "Change against" in (second / evaluate.REPORT_FILE).read_text()
    assert [r["id"] for r in evaluate.read_metrics(second) if r["kind"] == "case"] == ["p1", "u1", "bad"]


def test_bad_arguments_say_what_to_do(tmp_path, capsys):
    cases = write_scene(tmp_path)
    with pytest.raises(TryOnError, match="Unknown case id"):
        evaluate.select_cases(evaluate.read_cases(cases), ["v99"], None)
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    assert (
        evaluate.run(parser.parse_args(["--cases", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])) == 2
    )
    assert "No cases file" in capsys.readouterr().err
    missing = tmp_path / "empty.csv"
    missing.write_text("id,person,garment,category\nx1,img/person.png,,upper\n")
    with pytest.raises(TryOnError, match="no garment and no description"):
        evaluate.read_cases(missing)
    described = tmp_path / "text.csv"
    described.write_text("id,person,garment,category,description\nx1,img/person.png,,auto,a red shirt\n")
    (case,) = evaluate.read_cases(described)
    assert (
        case.garment is None
        and case.description == "a red shirt"
        and case.person == tmp_path / "img/person.png"
    )


def test_compare_counts_only_cases_in_both_runs():
    before = [
        {"id": "a", "kind": "case", "status": "ok", "ghosting": 0.2, "detail": 0.9},
        {"id": "b", "kind": "case", "status": "ok", "ghosting": 0.9, "detail": 0.1},
    ]
    after = [{"id": "a", "kind": "case", "status": "ok", "ghosting": 0.05, "detail": 0.8}]
    text = evaluate.compare(before, after, "old")
    assert "(1 cases in both runs)" in text
    assert "| ghosting (unpaired) | 0.200 | 0.050 | -0.1500 | better | 1 |" in text
    assert "| detail retention | 0.90 | 0.80 | -0.1000 | worse | 1 |" in text


def test_targets_pass_and_fail_per_case_or_on_the_mean():
    rows = [
        {
            "id": "a",
            "kind": "case",
            "status": "ok",
            "paired": False,
            "solid": True,
            "detail": 0.9,
            "leakage": 0.002,
            "colour_de": 3.0,
            "length": 1.0,
        },
        {
            "id": "b",
            "kind": "case",
            "status": "ok",
            "paired": False,
            "solid": False,
            "detail": 0.4,
            "leakage": 0.02,
            "colour_de": 30.0,
            "length": 0.86,
        },
    ]
    results = evaluate.check_targets(rows)

    def target(prefix: str) -> tuple[str, bool | None, str]:
        (found,) = [(v, p, bad) for d, v, p, bad in results if d.startswith(prefix)]
        return found

    assert target("no failures") == ("0", True, "")
    assert target("detail retention >= 0.60 (every case)") == ("0.40", False, "b")
    assert target("leakage <= 1.00% (every case)") == ("2.00%", False, "b")
    assert target("colour fidelity (dE) <= 6.0 (every case on solid") == ("3.0", True, "")
    assert target("length correctness >= 0.90 (mean)") == ("0.93", True, "b")  # the mean passes
    assert target("region SSIM (paired) >= 0.720")[1] is None  # no paired case: not measured


def test_eval_runs_end_to_end_on_two_real_cases(eval_dir, tmp_path, capsys):
    """The real pipeline on one paired case and one unpaired case with length annotations."""
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    out = tmp_path / "eval-warp"
    args = parser.parse_args(["--cases", str(eval_dir / "cases.csv"), "--out", str(out), "--ids", "v01,v03"])
    status = evaluate.run(args)
    rows = evaluate.read_metrics(out)
    cases = {r["id"]: r for r in rows if r["kind"] == "case"}
    assert {i: r["error"] for i, r in cases.items() if r["status"] != "ok"} == {}
    assert status == 0
    v01, v03 = cases["v01"], cases["v03"]
    floor = next(r for r in rows if r["kind"] == "floor")
    assert 0 < floor["region_ssim"] < 1 and 0 < v01["region_ssim"] < 1
    assert v03["length_points"] > 0 and 0 <= v03["length"] <= 1
    for row in (v01, v03):
        for column in ("preservation", "detail", "coverage", "leakage", "colour_de", "time_total"):
            assert math.isfinite(row[column]), (row["id"], column)
        assert 0 < row["preservation"] <= 1 and 0 <= row["coverage"] <= 1 and row["leakage"] >= 0
    assert math.isfinite(v03["ghosting"]) and math.isnan(v01["ghosting"])
    for name in ("v01.png", "v03.png", evaluate.SHEET_FILE, evaluate.METRICS_FILE, evaluate.REPORT_FILE):
        assert (out / name).is_file(), name
    assert Image.open(out / "v03.png").size == Image.open(eval_dir / "person/vitonhd_00034_00.jpg").size
    assert "## Targets" in (out / evaluate.REPORT_FILE).read_text()
