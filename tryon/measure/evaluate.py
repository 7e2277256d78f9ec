"""``python -m tryon eval``: run a renderer over a cases file and measure the results.

    cases.csv -> try_on per case -> metrics (tryon.measure.metrics) -> out/eval-<renderer>/
        <id>.png            each result
        contact_sheet.png   one row per case: person | garment | result | figures
        metrics.csv         one row per case, plus a "floor" reference row per paired case
        report.md           targets with pass/fail, summary, worst and slowest cases

Cases file columns: ``id, person, garment, category, paired, notes`` and optionally
``description`` (text for the text stage; ``garment`` may then be empty for a text-only
try-on, or given to recolour it). Paths are absolute or relative to the file's folder, or
to ``--root`` when given (a cases file kept in the repo pointing into ../shared/eval).
Length annotations are read from ``lengths.csv`` next to it when present
(``id, segment, from, to, expect``).

One bad case never stops the run: its error is recorded as a failure. Targets are
reported, never asserted; the exit status is 0 when every case rendered, 1 when some
failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..config import get_settings
from ..errors import TryOnError
from . import metrics

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RENDERER = "warp"
LENGTHS_FILE = "lengths.csv"
METRICS_FILE = "metrics.csv"
REPORT_FILE = "report.md"
DEFAULT_LABELS = Path("tests/data/eval_labels.csv")  # hand labels of the 64 results (see README)
SHEET_FILE = "contact_sheet.png"

# Contact sheet layout.
SHEET_HEIGHT = 256  # px, every photo scaled to this height
SHEET_TEXT_WIDTH = 300  # px, the panel with the id and figures
SHEET_FONT_SIZE = 15
SHEET_WRAP = 34  # characters per line of the figures panel
SHEET_CJK_FONTS = (  # Debian/Ubuntu fonts-noto-cjk, fonts-wqy-microhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
SHEET_GAP = 4  # px between panels and rows
SHEET_BACKGROUND = (255, 255, 255)
SHEET_TEXT = (20, 20, 20)
SHEET_FAIL = (190, 30, 30)
MISSING_PANEL = (200, 200, 200)

SLOWEST_SHOWN = 3
KIND_CASE = "case"
KIND_FLOOR = "floor"  # the garment region filled with the garment photo's mean colour


@dataclasses.dataclass(frozen=True)
class Metric:
    """One column of metrics.csv with how to read it."""

    column: str
    label: str
    higher_is_better: bool
    fmt: str
    noise: float  # --compare calls smaller changes of the mean "same"


METRICS = (
    Metric("region_ssim", "region SSIM (paired)", True, "{:.3f}", 0.001),
    Metric("whole_ssim", "whole-image SSIM (paired)", True, "{:.3f}", 0.001),
    Metric("preservation", "preservation (SSIM outside)", True, "{:.4f}", 0.0001),
    Metric("detail", "detail retention", True, "{:.2f}", 0.01),
    Metric("ghosting", "ghosting (unpaired)", False, "{:.3f}", 0.001),
    Metric("length", "length correctness", True, "{:.2f}", 0.01),
    Metric("coverage", "coverage", True, "{:.3f}", 0.001),
    Metric("leakage", "leakage", False, "{:.2%}", 0.0001),
    Metric("colour_de", "colour fidelity (dE)", False, "{:.1f}", 0.1),
    Metric("time_total", "time per case (s)", False, "{:.2f}", 0.01),
)
METRIC_BY_COLUMN = {m.column: m for m in METRICS}
FIXED_COLUMNS = (
    "id",
    "kind",
    "renderer",
    "category",
    "paired",
    "solid",
    "status",
    "error",
    *(m.column for m in METRICS if m.column != "time_total"),
    "length_points",
    "cached_body",
    "notes",
    "description",
    "check_ok",
    "check_problems",
    "time_total",
    "time_metrics",
)


@dataclasses.dataclass(frozen=True)
class Target:
    """A figure the warp renderer aims for; ``every`` checks each case, else the mean."""

    column: str
    op: str  # ">=" or "<="
    threshold: float
    every: bool
    subset: str = "all"  # "all", "paired", "unpaired" or "solid"

    def describe(self) -> str:
        scope = {
            "all": "",
            "paired": " on paired cases",
            "unpaired": " on unpaired cases",
            "solid": " on solid garments",
        }[self.subset]
        value = METRIC_BY_COLUMN[self.column].fmt.format(self.threshold)
        how = "every case" if self.every else "mean"
        return f"{METRIC_BY_COLUMN[self.column].label} {self.op} {value} ({how}{scope})"

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold


# The quality issue's targets (on all cases, and on each garment category on its own).
TARGETS = (
    Target("preservation", ">=", 0.99, every=True),
    Target("region_ssim", ">=", 0.72, every=False, subset="paired"),
    Target("detail", ">=", 0.6, every=True),
    Target("ghosting", "<=", 0.05, every=True, subset="unpaired"),
    Target("length", ">=", 0.9, every=False),
    Target("coverage", ">=", 0.95, every=False),
    Target("leakage", "<=", 0.01, every=True),
    Target("colour_de", "<=", 6.0, every=True, subset="solid"),
)


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the cases file, paths resolved."""

    id: str
    person: Path
    garment: Path | None
    description: str
    category: str
    paired: bool
    notes: str


@dataclasses.dataclass(frozen=True)
class LengthCheck:
    """One row of lengths.csv: what a bone segment must show after try-on."""

    segment: str
    start: float
    stop: float
    expect: str


# =========================================================================================
# Reading inputs
# =========================================================================================


def default_cases_path() -> Path:
    """``<eval_dir>/cases.csv`` from the settings, a relative eval_dir taken from the repo."""
    eval_dir = get_settings().eval_dir
    return (eval_dir if eval_dir.is_absolute() else REPO / eval_dir).resolve() / "cases.csv"


def read_cases(path: Path, root: Path | None = None) -> list[Case]:
    """Parse a cases file; relative paths are taken from ``root``, by default the file's folder.

    Raises:
        TryOnError: missing file or column, a case with neither garment nor description.
    """
    path = Path(path)
    if not path.is_file():
        raise TryOnError(
            f"No cases file at {path}: pass --cases PATH (columns id, person, garment, category)."
        )
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    missing = {"id", "person", "garment", "category"} - set(rows[0] if rows else {})
    if missing:
        raise TryOnError(f"{path} lacks the column(s) {', '.join(sorted(missing))}: add them to its header.")
    base = Path(root) if root is not None else path.parent
    cases = []
    for row in rows:
        garment = (row.get("garment") or "").strip()
        description = (row.get("description") or "").strip()
        if not garment and not description:
            raise TryOnError(f"Case {row['id']} in {path} has no garment and no description: give one.")
        cases.append(
            Case(
                id=row["id"].strip(),
                person=base / row["person"].strip(),  # an absolute path stays as it is
                garment=base / garment if garment else None,
                description=description,
                category=(row.get("category") or "").strip() or "auto",
                paired=(row.get("paired") or "").strip().lower() in ("yes", "true", "1"),
                notes=(row.get("notes") or "").strip(),
            )
        )
    return cases


def read_lengths(path: Path) -> dict[str, list[LengthCheck]]:
    """Parse lengths.csv into case id -> checks; an absent file gives no checks."""
    checks: dict[str, list[LengthCheck]] = {}
    if not Path(path).is_file():
        return checks
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            checks.setdefault(row["id"].strip(), []).append(
                LengthCheck(
                    row["segment"].strip(), float(row["from"]), float(row["to"]), row["expect"].strip()
                )
            )
    return checks


def select_cases(cases: list[Case], ids: Iterable[str] | None, limit: int | None) -> list[Case]:
    """Keep the cases named in ``ids`` (in file order), then the first ``limit``.

    Raises:
        TryOnError: an id that is not in the file.
    """
    if ids:
        wanted = [i.strip() for i in ids if i.strip()]
        unknown = sorted(set(wanted) - {c.id for c in cases})
        if unknown:
            raise TryOnError(f"Unknown case id(s) {', '.join(unknown)}: pick ids from the cases file.")
        cases = [c for c in cases if c.id in wanted]
    return cases[:limit] if limit is not None else cases


# =========================================================================================
# Measuring one render
# =========================================================================================


def measure(
    result: Any, image: np.ndarray, garment_mask: np.ndarray, paired: bool, lengths: list[LengthCheck]
) -> dict[str, Any]:
    """Every metric of one render (see :mod:`tryon.measure.metrics`).

    Args:
        result: the :class:`tryon.pipeline.TryOnResult`; its ``person``, ``body`` (landmarks,
            person mask, skin model), ``garment`` (photo and mask) and ``category`` are used.
        image: RGB uint8 ``(H, W, 3)``, the render to measure (``result.image`` or a reference).
        garment_mask: bool ``(H, W)``, where ``image`` shows the new garment.
        paired: the person photo already shows the garment.
        lengths: the case's length annotations.

    Returns:
        column -> value (nan where not measurable for this case).
    """
    person, body, garment, category = result.person, result.body, result.garment, result.category
    landmarks, person_mask = body.landmarks, body.person_mask
    region = metrics.garment_region(landmarks, person_mask, category)
    row: dict[str, Any] = {
        "region_ssim": metrics.region_ssim(image, person, region) if paired else math.nan,
        "whole_ssim": metrics.whole_ssim(image, person) if paired else math.nan,
        "preservation": metrics.preservation(
            image, person, metrics.allowed_region(landmarks, person.shape[:2], category)
        ),
        "detail": metrics.detail_retention(image, person, garment.image, garment.mask),
        "ghosting": math.nan if paired else metrics.ghosting(image, person),
        "coverage": metrics.coverage(garment_mask, metrics.core_region(landmarks, person_mask, category)),
        "leakage": metrics.leakage(garment_mask, person_mask, landmarks, category),
        "colour_de": metrics.colour_fidelity(garment.image, garment.mask, image, garment_mask),
        "length": math.nan,
        "length_points": 0,
    }
    if lengths:
        palette = metrics.colour_palette(garment.image, garment.mask)
        correct = total = 0
        for check in lengths:
            points = metrics.length_points(
                landmarks, body.visibility, person_mask, check.segment, check.start, check.stop
            )
            ok, n = metrics.length_correctness(
                image, garment_mask, points, check.expect, body.skin_lab_mean, body.skin_lab_cov, palette
            )
            correct, total = correct + ok, total + n
        row["length"] = correct / total if total else math.nan
        row["length_points"] = total
    return row


def floor_row(case: Case, result: Any, lengths: list[LengthCheck]) -> dict[str, Any]:
    """The reference row of a paired case: its garment region filled with the garment's mean colour."""
    region = metrics.garment_region(result.body.landmarks, result.body.person_mask, result.category)
    image = metrics.floor_render(result.person, region, result.garment.mean_rgb)
    row = {
        "id": case.id,
        "kind": KIND_FLOOR,
        "renderer": KIND_FLOOR,
        "category": result.category,
        "paired": case.paired,
        "status": "ok",
        "notes": "garment region filled with the garment's mean colour",
    }
    row.update(measure(result, image, region, case.paired, lengths))
    return row


# =========================================================================================
# The run
# =========================================================================================


def _render(case: Case, renderer: str) -> Any:
    from .. import pipeline

    return pipeline.try_on(
        case.person, case.garment, case.description or None, category=case.category, renderer=renderer
    )


def _understood(spec: Any) -> str:
    """The parsed description in a few English words, for the contact sheet ("" without one)."""
    if spec is None:
        return ""
    shown = ("garment", "colour", "sleeves", "length", "pattern")
    return ", ".join(value.split(" #")[0] for label, value in spec.summary() if label in shown)


def evaluate_case(case: Case, renderer: str, lengths: list[LengthCheck]) -> tuple[dict[str, Any], Any]:
    """Render and measure one case; errors become a failed row, never an exception.

    Returns:
        ``(row, result)``; ``result`` is the TryOnResult or None when rendering failed.
    """
    row: dict[str, Any] = {
        "id": case.id,
        "kind": KIND_CASE,
        "renderer": renderer,
        "category": case.category,
        "paired": case.paired,
        "status": "ok",
        "error": "",
        "description": case.description,
    }
    try:
        result = _render(case, renderer)
    except TryOnError as exc:
        row.update(status="failed", error=str(exc))
        return row, None
    except Exception as exc:  # a bug in a stage: record it and go on with the other cases
        traceback.print_exc(file=sys.stderr)
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        return row, None
    row.update(
        renderer=result.renderer,
        category=result.category,
        cached_body=result.cached_body,
        notes=" ".join(result.notes),
        solid=metrics.is_solid(result.garment.image, result.garment.mask),
        check_ok=int(result.check.ok) if result.check is not None else math.nan,
        check_problems=" ".join(result.check.problems) if result.check is not None else "",
        understood=_understood(result.spec),
        **{f"time_{stage}": seconds for stage, seconds in result.timings.items()},
    )
    start = time.perf_counter()
    try:
        if result.image.shape != result.person.shape:
            raise ValueError(f"result is {result.image.shape}, person photo {result.person.shape}")
        row.update(measure(result, result.image, result.garment_mask, case.paired, lengths))
    except Exception as exc:  # a metric that cannot handle this render must not stop the run
        traceback.print_exc(file=sys.stderr)
        row.update(status="error", error=f"measuring failed: {type(exc).__name__}: {exc}")
    row["time_metrics"] = time.perf_counter() - start
    return row, result


def evaluate(
    cases_csv: str | Path,
    out_dir: str | Path,
    renderer: str = DEFAULT_RENDERER,
    limit: int | None = None,
    ids: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
    root: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Run ``renderer`` over a cases file and write images, contact sheet, metrics.csv and report.md.

    Args:
        cases_csv: the cases file; lengths.csv is read from its folder.
        out_dir: created if needed; existing files of the same names are replaced.
        renderer: "warp" or "diffusion".
        limit: at most this many cases (after ``ids``).
        ids: only these case ids.
        progress: called with one line per case (e.g. ``print``).
        root: folder the cases' relative paths start from (default: the cases file's folder).

    Returns:
        The rows of metrics.csv as dicts: one ``kind="case"`` row per case, then one
        ``kind="floor"`` row per paired case that rendered.

    Raises:
        TryOnError: bad cases file or unknown ids.
    """
    cases_csv, out_dir = Path(cases_csv), Path(out_dir)
    cases = select_cases(read_cases(cases_csv, root), ids, limit)
    lengths = read_lengths(cases_csv.parent / LENGTHS_FILE)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, floors, sheet = [], [], []
    for case in cases:
        row, result = evaluate_case(case, renderer, lengths.get(case.id, []))
        rows.append(row)
        if result is not None:
            Image.fromarray(result.image).save(out_dir / f"{case.id}.png")
            if case.paired and row["status"] == "ok":
                floors.append(floor_row(case, result, lengths.get(case.id, [])))
        floor = next((f for f in floors if f["id"] == case.id), None)
        sheet.append(_sheet_row(case, row, result, floor))
        if progress is not None:
            progress(_progress_line(row))
    all_rows = rows + floors
    write_metrics(out_dir / METRICS_FILE, all_rows)
    if sheet:
        _stack_rows(sheet).save(out_dir / SHEET_FILE)
    (out_dir / REPORT_FILE).write_text(report(all_rows, cases_csv, renderer), encoding="utf-8")
    return all_rows


# =========================================================================================
# metrics.csv
# =========================================================================================


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    stages = sorted({k for row in rows for k in row if k.startswith("time_")} - set(FIXED_COLUMNS))
    return [*FIXED_COLUMNS, *stages]


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows to CSV; nan and missing values are empty cells, booleans yes/no."""
    columns = _columns(rows)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in columns})


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Read a metrics.csv (or the folder holding one) back: metrics and times as floats (nan when
    empty), length_points as int, paired and solid as bool."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise TryOnError(f"No {METRICS_FILE} at {path}: pass the output folder of an earlier eval run.")
    with open(path, newline="", encoding="utf-8") as fh:
        rows: list[dict[str, Any]] = list(csv.DictReader(fh))
    for row in rows:
        for key, value in row.items():
            if key in METRIC_BY_COLUMN or key.startswith("time_") or key == "check_ok":
                row[key] = float(value) if value else math.nan
            elif key == "length_points":
                row[key] = int(value or 0)
        row["paired"] = row.get("paired") == "yes"
        row["solid"] = row.get("solid") == "yes"
    return rows


# =========================================================================================
# report.md and --compare
# =========================================================================================


def _fmt(column: str, value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    metric = METRIC_BY_COLUMN.get(column)
    return metric.fmt.format(value) if metric else f"{value:.3f}"


def _values(rows: list[dict[str, Any]], column: str) -> list[tuple[str, float]]:
    out = []
    for row in rows:
        value = row.get(column, math.nan)
        if isinstance(value, (int, float)) and not math.isnan(value):
            out.append((row["id"], float(value)))
    return out


def _subset(rows: list[dict[str, Any]], subset: str) -> list[dict[str, Any]]:
    keep = {
        "all": lambda r: True,
        "paired": lambda r: r.get("paired"),
        "unpaired": lambda r: not r.get("paired"),
        "solid": lambda r: r.get("solid"),
    }[subset]
    return [r for r in rows if keep(r)]


def _rows_of(rows: list[dict[str, Any]], kind: str = KIND_CASE) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("kind") == kind]


def check_targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool | None, str]]:
    """Each target as ``(description, measured value, passed or None when unmeasured, failing ids)``."""
    cases = _rows_of(rows)
    floors = {r["id"]: r.get("region_ssim", math.nan) for r in _rows_of(rows, KIND_FLOOR)}
    failed = [r["id"] for r in cases if r.get("status") != "ok"]
    results = [("no failures", str(len(failed)), not failed, ", ".join(failed))]
    for target in TARGETS:
        values = _values(_subset(cases, target.subset), target.column)
        if not values:
            results.append((target.describe(), "-", None, ""))
            continue
        bad = [i for i, v in values if not target.passes(v)]
        if target.every:
            worst = (max if target.op == "<=" else min)(v for _, v in values)
            results.append((target.describe(), _fmt(target.column, worst), not bad, ", ".join(bad)))
        else:
            mean = float(np.mean([v for _, v in values]))
            results.append(
                (target.describe(), _fmt(target.column, mean), target.passes(mean), ", ".join(bad))
            )
    paired = _values(_subset(cases, "paired"), "region_ssim")
    if paired:
        below = [i for i, v in paired if not v > floors.get(i, math.inf)]
        margin = min(v - floors.get(i, math.nan) for i, v in paired)
        results.append(
            (
                "region SSIM above the floor on every paired case",
                f"{margin:+.3f}",
                not below and not math.isnan(margin),
                ", ".join(below),
            )
        )
    return results


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def report(rows: list[dict[str, Any]], cases_csv: Path, renderer: str) -> str:
    """The markdown report: targets, summary, every case, worst and slowest cases, failures."""
    cases = _rows_of(rows)
    floors = {r["id"]: r for r in _rows_of(rows, KIND_FLOOR)}
    mark = {True: "pass", False: "**FAIL**", None: "not measured"}
    parts = [
        f"# Evaluation: renderer `{renderer}`",
        f"{len(cases)} cases from `{cases_csv}`; {sum(r.get('status') == 'ok' for r in cases)} rendered. "
        "Metrics are defined in `tryon/metrics.py`; targets are reported, not asserted.",
        "## Targets",
        _table(
            ["target", "value", "result", "failing cases"],
            [[d, v, mark[p], bad] for d, v, p, bad in check_targets(rows)],
        ),
        "## Summary",
    ]
    summary = []
    for m in METRICS:
        values = [v for _, v in _values(cases, m.column)]
        if values:
            summary.append(
                [
                    m.label,
                    _fmt(m.column, float(np.mean(values))),
                    _fmt(m.column, min(values)),
                    _fmt(m.column, max(values)),
                    str(len(values)),
                ]
            )
    floor_ssim = [v for _, v in _values(list(floors.values()), "region_ssim")]
    if floor_ssim:
        summary.append(
            [
                "floor region SSIM (mean colour fill)",
                _fmt("region_ssim", float(np.mean(floor_ssim))),
                _fmt("region_ssim", min(floor_ssim)),
                _fmt("region_ssim", max(floor_ssim)),
                str(len(floor_ssim)),
            ]
        )
    parts.append(_table(["metric", "mean", "min", "max", "n"], summary))
    parts.append("## By category")
    parts.append(_by_category(cases))
    for category in sorted({str(r.get("category", "")) for r in cases if r.get("category")}):
        subset = [r for r in rows if r.get("category") == category]
        parts.append(f"Targets on `{category}`:")
        parts.append(_table(["target", "value", "result", "failing cases"],
                            [[d, v, mark[p], bad] for d, v, p, bad in check_targets(subset)]))
    shown = [m for m in METRICS if m.column != "whole_ssim"]
    parts.append("## Cases")
    body = []
    for r in cases:
        cells = [r["id"], str(r.get("category", "")), r.get("status", "")]
        cells += [_fmt(m.column, r.get(m.column, math.nan)) for m in shown]
        floor = floors.get(r["id"], {}).get("region_ssim", math.nan)
        cells.append(_fmt("region_ssim", floor))
        body.append(cells)
    parts.append(_table(["id", "category", "status", *(m.label for m in shown), "floor SSIM"], body))
    parts.append("## Worst cases")
    worst = []
    for m in METRICS:
        values = _values(cases, m.column)
        if values:
            case_id, value = (min if m.higher_is_better else max)(values, key=lambda iv: iv[1])
            worst.append([m.label, case_id, _fmt(m.column, value)])
    parts.append(_table(["metric", "worst case", "value"], worst))
    parts.append("## Slowest cases")
    slow = sorted(_values(cases, "time_total"), key=lambda iv: -iv[1])[:SLOWEST_SHOWN]
    by_id = {r["id"]: r for r in cases}
    slow_body = []
    for case_id, total in slow:
        stages = {
            k[5:]: v
            for k, v in by_id[case_id].items()
            if k.startswith("time_")
            and k not in ("time_total", "time_metrics")
            and isinstance(v, float)
            and not math.isnan(v)
        }
        top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))
        slow_body.append([case_id, f"{total:.2f}", top])
    parts.append(_table(["case", "total (s)", "stages (s)"], slow_body) if slow_body else "No case rendered.")
    failures = [r for r in cases if r.get("status") != "ok"]
    parts.append("## Failures")
    parts.append("\n".join(f"- {r['id']} ({r['status']}): {r.get('error', '')}" for r in failures) or "None.")
    return "\n\n".join(parts) + "\n"


def _by_category(cases: list[dict[str, Any]]) -> str:
    """Markdown table: each metric's mean per garment category (and the cases the self-check flagged)."""
    categories = sorted({str(r.get("category", "")) for r in cases if r.get("category")})
    body = []
    for m in METRICS:
        cells = [m.label]
        for category in categories:
            values = [v for _, v in _values([r for r in cases if r.get("category") == category], m.column)]
            cells.append(_fmt(m.column, float(np.mean(values))) if values else "-")
        body.append(cells)
    flagged = ["self-check flagged"]
    for category in categories:
        rows = [r for r in cases if r.get("category") == category and r.get("status") == "ok"]
        flagged.append(f"{sum(r.get('check_ok') == 0 for r in rows)} of {len(rows)}")
    body.append(flagged)
    return _table(["metric", *categories], body)


def label_agreement(rows: list[dict[str, Any]], labels_csv: Path) -> str:
    """Markdown: the self-check (a flag = "not ok") against hand labels of the results (``id,
    acceptable, reason``; acceptable ``yes``/``no``): counts, precision and recall of the flags for
    unacceptable results, and the cases where the two disagree."""
    with open(labels_csv, newline="", encoding="utf-8") as fh:
        labels = {r["id"]: r for r in csv.DictReader(fh)}
    pairs = [(r["id"], r.get("check_ok") == 0, labels[r["id"]]["acceptable"].strip().lower() == "no")
             for r in _rows_of(rows) if r.get("status") == "ok" and r["id"] in labels]
    tp = sum(f and b for _, f, b in pairs)
    fp = sum(f and not b for _, f, b in pairs)
    fn = sum(b and not f for _, f, b in pairs)
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    missed = ", ".join(i for i, f, b in pairs if b and not f) or "none"
    false_alarms = ", ".join(i for i, f, b in pairs if f and not b) or "none"
    return "\n".join([
        f"## Self-check against the labels in `{labels_csv}`",
        f"{len(pairs)} labelled results, {sum(b for *_, b in pairs)} labelled unacceptable, "
        f"{sum(f for _, f, _ in pairs)} flagged by the self-check.",
        f"Precision {precision:.2f}, recall {recall:.2f} (flags for unacceptable results).",
        f"Unacceptable but not flagged: {missed}. Flagged but acceptable: {false_alarms}.",
    ])


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]], before_name: str = "before") -> str:
    """Markdown: the mean of each metric before and after over the cases both runs measured,
    then the change per case."""
    old = {r["id"]: r for r in _rows_of(before)}
    new = {r["id"]: r for r in _rows_of(after)}
    common = [i for i in new if i in old]
    lines = [f"## Change against `{before_name}` ({len(common)} cases in both runs)"]
    body = []
    for m in METRICS:
        pairs = [(old[i].get(m.column, math.nan), new[i].get(m.column, math.nan)) for i in common]
        pairs = [(a, b) for a, b in pairs if not (math.isnan(a) or math.isnan(b))]
        if not pairs:
            continue
        a, b = float(np.mean([p[0] for p in pairs])), float(np.mean([p[1] for p in pairs]))
        better = (b > a) == m.higher_is_better if abs(b - a) >= m.noise else None
        verdict = {True: "better", False: "worse", None: "same"}[better]
        body.append(
            [m.label, _fmt(m.column, a), _fmt(m.column, b), f"{b - a:+.4f}", verdict, str(len(pairs))]
        )
    fail_old = sum(old[i].get("status") != "ok" for i in common)
    fail_new = sum(new[i].get("status") != "ok" for i in common)
    body.append(
        [
            "failures",
            str(fail_old),
            str(fail_new),
            f"{fail_new - fail_old:+d}",
            "same" if fail_new == fail_old else ("better" if fail_new < fail_old else "worse"),
            str(len(common)),
        ]
    )
    lines.append(_table(["metric", "before", "after", "change", "", "n"], body))
    per_case = []
    shown = [m for m in METRICS if m.column != "whole_ssim"]
    for i in common:
        cells = [i]
        for m in shown:
            a, b = old[i].get(m.column, math.nan), new[i].get(m.column, math.nan)
            cells.append("-" if math.isnan(a) or math.isnan(b) else f"{b - a:+.3f}")
        per_case.append(cells)
    lines.append("Change per case (after - before):")
    lines.append(_table(["id", *(m.label for m in shown)], per_case))
    return "\n\n".join(lines) + "\n"


# =========================================================================================
# Contact sheet
# =========================================================================================


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """A font with Chinese glyphs where the system has one (descriptions may be Chinese), else Pillow's."""
    for path in SHEET_CJK_FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, SHEET_FONT_SIZE)
    return ImageFont.load_default(size=SHEET_FONT_SIZE)


def _panel(image: np.ndarray | None, width_hint: int) -> Image.Image:
    if image is None:
        return Image.new("RGB", (width_hint, SHEET_HEIGHT), MISSING_PANEL)
    h, w = image.shape[:2]
    return Image.fromarray(image).resize(
        (max(1, round(w * SHEET_HEIGHT / h)), SHEET_HEIGHT), Image.Resampling.LANCZOS
    )


def _figures(row: dict[str, Any], floor: dict[str, Any] | None) -> list[str]:
    def f(column: str) -> str:
        return _fmt(column, row.get(column, math.nan))

    lines = [f"{row['id']}  {row.get('category', '')}  {'paired' if row.get('paired') else 'unpaired'}"]
    if row.get("description"):
        lines += textwrap.wrap(f"\"{row['description']}\"", SHEET_WRAP)[:2]
    if row.get("understood"):
        lines += textwrap.wrap(f"= {row['understood']}", SHEET_WRAP)[:2]
    if row.get("status") != "ok":
        lines.append(f"{row.get('status', '').upper()}:")
        lines += textwrap.wrap(str(row.get("error", "")), SHEET_WRAP)[:8]
        return lines
    if row.get("paired"):
        floor_ssim = _fmt("region_ssim", floor.get("region_ssim", math.nan)) if floor else "-"
        lines.append(f"region SSIM {f('region_ssim')} (floor {floor_ssim})")
    else:
        lines.append(f"ghosting {f('ghosting')}")
    lines += [
        f"detail {f('detail')}   length {f('length')}",
        f"coverage {f('coverage')}   leak {f('leakage')}",
        f"colour dE {f('colour_de')}{' (solid)' if row.get('solid') else ''}",
        f"preservation {f('preservation')}",
        f"time {f('time_total')} s",
    ]
    ok = row.get("check_ok", math.nan)
    if isinstance(ok, (int, float)) and not math.isnan(ok):
        lines.append("self-check: ok" if ok else "self-check: " + str(row.get("check_problems", "")))
    return lines


def _sheet_row(case: Case, row: dict[str, Any], result: Any, floor: dict[str, Any] | None) -> Image.Image:
    """person | garment | result | figures, all at :data:`SHEET_HEIGHT`."""
    if result is not None:
        person, garment, image = result.person, result.garment_image, result.image
    else:
        person, garment, image = _try_load(case.person), _try_load(case.garment), None
    person_panel = _panel(person, SHEET_HEIGHT * 3 // 4)
    panels = [person_panel, _panel(garment, SHEET_HEIGHT * 3 // 4), _panel(image, person_panel.width)]
    width = sum(p.width for p in panels) + SHEET_GAP * len(panels) + SHEET_TEXT_WIDTH
    canvas = Image.new("RGB", (width, SHEET_HEIGHT), SHEET_BACKGROUND)
    x = 0
    for p in panels:
        canvas.paste(p, (x, 0))
        x += p.width + SHEET_GAP
    draw = ImageDraw.Draw(canvas)
    font = _font()
    colour = SHEET_TEXT if row.get("status") == "ok" else SHEET_FAIL
    for n, line in enumerate(_figures(row, floor)):
        draw.text((x + 4, 6 + n * (SHEET_FONT_SIZE + 5)), line, fill=colour, font=font)
    return canvas


def _try_load(path: Path | None) -> np.ndarray | None:
    from ..stages.intake import load_image

    if path is None:
        return None
    try:
        return load_image(path)
    except TryOnError:
        return None


def _stack_rows(rows: list[Image.Image]) -> Image.Image:
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, len(rows) * (SHEET_HEIGHT + SHEET_GAP) - SHEET_GAP), SHEET_BACKGROUND)
    for n, r in enumerate(rows):
        sheet.paste(r, (0, n * (SHEET_HEIGHT + SHEET_GAP)))
    return sheet


def _progress_line(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['id']}: {row['status']}: {row.get('error', '')}"
    shown = (
        "region_ssim",
        "detail",
        "ghosting",
        "length",
        "coverage",
        "leakage",
        "colour_de",
        "preservation",
    )
    figures = ", ".join(f"{c} {_fmt(c, row[c])}" for c in shown if not math.isnan(row.get(c, math.nan)))
    return f"{row['id']}: {row.get('time_total', math.nan):.2f} s; {figures}"


# =========================================================================================
# CLI
# =========================================================================================


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``python -m tryon eval``."""
    parser.add_argument(
        "--cases",
        type=Path,
        default=None,
        help="cases file (default: ../shared/eval/cases.csv next to the repo)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="folder the cases file's relative paths start from (default: the file's folder)",
    )
    parser.add_argument("--renderer", default=DEFAULT_RENDERER, choices=("warp", "diffusion"))
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: out/eval-<renderer>)")
    parser.add_argument("--ids", default=None, help="comma-separated case ids, e.g. v01,v02")
    parser.add_argument("--limit", type=int, default=None, help="at most this many cases")
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="hand labels of the results (id, acceptable, reason): report the self-check's precision and "
        "recall (default: tests/data/eval_labels.csv with the default cases)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="OTHER_DIR",
        help="an earlier eval output folder: print the change per metric",
    )


def run(args: argparse.Namespace) -> int:
    """Run the evaluation from parsed flags; 0 all rendered, 1 some failed, 2 bad arguments."""
    out = args.out or Path("out") / f"eval-{args.renderer}"
    cases = args.cases or default_cases_path()
    try:
        before = read_metrics(args.compare) if args.compare else None
        rows = evaluate(
            cases,
            out,
            renderer=args.renderer,
            limit=args.limit,
            ids=args.ids.split(",") if args.ids else None,
            progress=print,
            root=args.root,
        )
    except TryOnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report_path = out / REPORT_FILE
    if before is not None:
        change = compare(before, rows, str(args.compare))
        print(change)
        with open(report_path, "a", encoding="utf-8") as fh:
            fh.write("\n" + change)
    labels = args.labels or (REPO / DEFAULT_LABELS if args.cases is None else None)
    if labels is not None and labels.is_file():
        agreement = label_agreement(rows, labels)
        print(agreement)
        with open(report_path, "a", encoding="utf-8") as fh:
            fh.write("\n" + agreement + "\n")
    for description, value, passed, bad in check_targets(rows):
        status = {True: "pass", False: "FAIL", None: "n/a"}[passed]
        print(f"{status:4}  {description}: {value}" + (f"  [{bad}]" if bad else ""))
    print(f"wrote {out / METRICS_FILE}, {out / SHEET_FILE}, {report_path}")
    return 0 if all(r.get("status") == "ok" for r in _rows_of(rows)) else 1
