"""The Lookbook tab: a product manager picks up to 4 people and 8 garments, runs, watches the grid fill in.

It runs in the server process with the same code as ``python -m tryon lookbook`` (the plan, the worker
functions, the report of :mod:`tryon.lookbook`), one pair at a time and bounded in size, so the Space needs
no Ray. Each run gets a folder in Gradio's cache (deleted after ``TRYON_CACHE_TTL_S``) and ends with a zip
of it: results, a grid image per person, ``index.html`` and the table (CSV and Parquet).

API: ``lookbook`` (people picked, people uploaded, garments picked, garments uploaded, renderer) ->
(status, grid, table, zip).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import Settings
from ..errors import TryOnError
from ..lookbook import report
from ..lookbook.plan import OK, PENDING, REFUSED, Plan, make_plan, photos_from_files
from ..lookbook.runner import LookbookRun, Progress, inline_executor

LOG = logging.getLogger(__name__)
MAX_PEOPLE = 4
MAX_GARMENTS = 8
# One lookbook at a time on the server (up to 32 pairs, ~15 s on 2 cores), beside the try-on queue.
LOOKBOOK_CONCURRENCY_ID = "lookbook"
RUNS_DIRNAME = "tryon-lookbooks"
PICK_COLUMNS = 4
PICK_HEIGHT = 260  # px
GRID_HEIGHT = 640  # px
UPLOAD_HEIGHT = 110  # px
TABLE_HEADERS = ("person", "garment", "status", "verdict", "seconds", "message")
WAITING = "rendering…"


def _runs_root() -> Path:
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / RUNS_DIRNAME


def _prune(root: Path, max_age_s: float) -> None:
    """Delete run folders older than ``max_age_s`` (their zip has been served or dropped by then)."""
    if not root.is_dir():
        return
    now = time.time()
    for path in root.iterdir():
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > max_age_s:
                shutil.rmtree(path, ignore_errors=True)


def _files(uploads: Sequence[Any] | None) -> list[str]:
    return [str(getattr(f, "name", f)) for f in uploads or [] if f]


def lookbook_plan(people_picked: Sequence[str] | None, people_uploaded: Sequence[Any] | None,
                  garments_picked: Sequence[str] | None, garments_uploaded: Sequence[Any] | None, renderer: str,
                  captions: dict[str, str]) -> Plan:
    """The plan for the tab's inputs (catalog picks first, then uploads).

    Raises:
        TryOnError: nobody or nothing picked, more than :data:`MAX_PEOPLE` people or :data:`MAX_GARMENTS`.
    """
    people = [*(people_picked or []), *_files(people_uploaded)]
    garments = [*(garments_picked or []), *_files(garments_uploaded)]
    if not people or not garments:
        raise TryOnError("Pick or upload at least one person and one garment, then press Run lookbook.")
    if len(people) > MAX_PEOPLE or len(garments) > MAX_GARMENTS:
        raise TryOnError(
            f"A lookbook here takes up to {MAX_PEOPLE} people and {MAX_GARMENTS} garments (you gave "
            f"{len(people)} and {len(garments)}): untick some, or run `python -m tryon lookbook` for a bigger one."
        )
    return make_plan(
        photos_from_files(people, "person"),
        photos_from_files(garments, "garment", [captions.get(g, "") for g in garments]),
        renderer=renderer,
    )


def _tile(run_dir: Path, out_dir: Path, pair: Any, record: dict[str, Any]) -> str:
    """The grid cell of a pair (as in the grid images), drawn once per pair and status."""
    status = record.get("status", PENDING)
    path = run_dir / "tiles" / f"{pair.key}-{status}.jpg"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        shown = record if status != PENDING else {"status": PENDING, "message": WAITING}
        report.cell_image(out_dir, pair, shown, caption=False).save(path, quality=report.THUMB_QUALITY)
    return str(path)


def _views(job: LookbookRun, run_dir: Path, out_dir: Path) -> tuple[Any, list[list[Any]]]:
    """The grid (a gallery, one row per person) and the table rows, from what is done so far."""
    tiles, rows = [], []
    for pair in job.plan.pairs:
        record = job.records.get(pair.key) or {}
        status = record.get("status", PENDING)
        verdict = record.get("verdict", "") if status == OK else ""
        caption = f"{pair.garment.label} on {pair.person.label}" + (f" · {verdict or status}" if record else "")
        tiles.append((_tile(run_dir, out_dir, pair, record), caption))
        seconds = record.get("seconds")
        rows.append([pair.person.label, pair.garment.label, status, verdict,
                     round(seconds, 2) if isinstance(seconds, float) else None, record.get("message", "")])
    columns = max(1, min(len(job.plan.garments), MAX_GARMENTS))
    return gr.Gallery(value=tiles, columns=columns), rows


def _status(progress: Progress | None, total: int, seconds: float) -> str:
    if progress is None:
        return f"Rendering {total} pairs…"
    counts = progress.counts
    return (f"**{progress.done} of {progress.total} pairs** in {seconds:.0f} s · {counts.get(OK, 0)} rendered · "
            f"{counts.get(REFUSED, 0)} refused · {counts.get('failed', 0)} failed")


def build_lookbook_tab(settings: Settings, people: Sequence[tuple[str, str]],
                       garments: Sequence[tuple[str, str]]) -> None:
    """The Lookbook tab; call it inside ``gr.Tab("Lookbook")``.

    Args:
        settings: the app's settings (renderer default, cache lifetime).
        people: ``(path, label)`` of the example people offered for picking.
        garments: ``(path, caption)`` of the catalog garments offered for picking.
    """
    captions = {str(path): caption for path, caption in garments}

    def run(people_picked, people_uploaded, garments_picked, garments_uploaded, renderer,
            progress=gr.Progress()) -> Iterator[tuple[Any, ...]]:  # noqa: B008 (Gradio gives one per call)
        try:
            plan = lookbook_plan(people_picked, people_uploaded, garments_picked, garments_uploaded, renderer,
                                 captions)
        except TryOnError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        root = _runs_root()
        _prune(root, settings.cache_ttl_s)
        root.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="lookbook-", dir=root))
        out_dir = run_dir / "lookbook"
        job = LookbookRun(plan, out_dir, lambda: inline_executor(settings))
        start = time.perf_counter()
        grid, rows = _views(job, run_dir, out_dir)
        yield _status(None, len(plan.pairs), 0), grid, rows, None
        for step in job.run():
            analysing = step.photos_done < step.photos_total
            progress((step.photos_done, step.photos_total) if analysing else (step.done, step.total),
                     desc="Analysing the photos" if analysing else "Rendering", unit="photos" if analysing else "pairs")
            grid, rows = _views(job, run_dir, out_dir)
            yield _status(step, len(plan.pairs), time.perf_counter() - start), grid, rows, None
        archive = report.zip_folder(out_dir, run_dir / "lookbook.zip")
        grid, rows = _views(job, run_dir, out_dir)
        final = _status(job.progress(), len(plan.pairs), time.perf_counter() - start)
        yield final + " · the zip holds every result, a grid per person, index.html and the table.", grid, rows, \
            str(archive)

    def toggle(picked: list[str] | None, choices: Sequence[tuple[str, str]], evt: gr.SelectData) -> list[str]:
        """A click on a thumbnail ticks (or unticks) it."""
        picked = list(picked or [])
        if evt.index is None or evt.index >= len(choices):
            return picked
        path = str(choices[evt.index][0])
        return [p for p in picked if p != path] if path in picked else [*picked, path]

    gr.Markdown(
        f"Pick up to **{MAX_PEOPLE} people** and **{MAX_GARMENTS} garments** (click the thumbnails, or upload "
        "your own photos), then **Run lookbook**: every garment is tried on every person. The grid fills in as "
        "pairs finish; download everything as a zip: results, a grid image per person, a contact sheet "
        "(index.html) and a table with timings and refusals. For more, run `python -m tryon lookbook`."
    )
    with gr.Row():
        with gr.Column():
            people_gallery = gr.Gallery(value=[(p, label) for p, label in people], label="People", columns=PICK_COLUMNS,
                                        height=PICK_HEIGHT, allow_preview=False, object_fit="contain",
                                        elem_id="lookbook-people-gallery")
            people_picked = gr.CheckboxGroup(choices=[(label, str(p)) for p, label in people], label="People picked",
                                             elem_id="lookbook-people")
            people_uploaded = gr.File(file_count="multiple", file_types=["image"], label="Or upload people photos",
                                      height=UPLOAD_HEIGHT)
        with gr.Column():
            garments_gallery = gr.Gallery(value=[(p, caption) for p, caption in garments], label="Garments",
                                          columns=PICK_COLUMNS, height=PICK_HEIGHT, allow_preview=False,
                                          object_fit="contain", elem_id="lookbook-garments-gallery")
            garments_picked = gr.CheckboxGroup(choices=[(caption, str(p)) for p, caption in garments],
                                               label="Garments picked", elem_id="lookbook-garments")
            garments_uploaded = gr.File(file_count="multiple", file_types=["image"],
                                        label="Or upload garment photos", height=UPLOAD_HEIGHT)
    with gr.Row():
        renderer = gr.Radio(["warp", "diffusion"], value=settings.renderer, label="Renderer", scale=2)
        run_button = gr.Button("Run lookbook", variant="primary", scale=1)
        stop_button = gr.Button("Stop", scale=1)
    status = gr.Markdown(elem_id="lookbook-status")
    grid = gr.Gallery(label="Lookbook", columns=MAX_GARMENTS, height=GRID_HEIGHT, object_fit="contain",
                      elem_id="lookbook-grid")
    download = gr.File(label="Download the lookbook (zip)", elem_id="lookbook-zip", height=UPLOAD_HEIGHT)
    table = gr.Dataframe(headers=list(TABLE_HEADERS), interactive=False, wrap=True, label="Pairs")

    def pick_person(picked: list[str] | None, evt: gr.SelectData) -> list[str]:
        return toggle(picked, people, evt)

    def pick_garment(picked: list[str] | None, evt: gr.SelectData) -> list[str]:
        return toggle(picked, garments, evt)

    people_gallery.select(pick_person, people_picked, people_picked, api_visibility="private")
    garments_gallery.select(pick_garment, garments_picked, garments_picked, api_visibility="private")
    event = run_button.click(
        run, [people_picked, people_uploaded, garments_picked, garments_uploaded, renderer],
        [status, grid, table, download], api_name="lookbook", concurrency_limit=1,
        concurrency_id=LOOKBOOK_CONCURRENCY_ID, show_progress_on=[status],
    )
    stop_button.click(None, None, None, cancels=[event], api_visibility="private")
