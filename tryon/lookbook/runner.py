"""Running a lookbook: resume, schedule the photos then the pairs, stream results to the folder, report.

    Plan ─ journal ─► pairs still to do ─► executor: analyse each photo once ─► render each pair
      └─ every finished pair: result + thumbnail written (atomically), then one journal line (durably)
      └─ every few seconds: index.html; when a person's pairs are all finished: their grid image
      └─ at the end, or on Ctrl-C: the table (CSV, Parquet), every grid, index.html, run.json

An *executor* runs the work: :class:`InlineExecutor` here (this process, one pair at a time: the app's
Lookbook tab and quick tests), :class:`tryon.lookbook.ray_runner.RayExecutor` on a Ray cluster (the CLI).
Both run the same functions of :mod:`tryon.lookbook.work`.

The folder is consistent whenever the process stops, even killed: a result file is complete before its
journal line exists, a journal line is complete or dropped, and the rerun redraws the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import statistics
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from .. import __version__
from ..config import Settings
from . import report
from .plan import (
    FAILED,
    OK,
    PENDING,
    REFUSED,
    RUN_INFO,
    Journal,
    Pair,
    Photo,
    Plan,
    pending_pairs,
    table_rows,
    write_atomic,
    write_tables,
)
from .work import Analysed, PairJob, PairOutcome, PairQueue, PhotoJob, PhotoOutcome, analyse_photo, render_pair

# index.html is redrawn at most this often while a run goes (s); grids when a person is complete.
REPORT_INTERVAL_S = 5.0
Outcome = PhotoOutcome | PairOutcome


class Executor(Protocol):
    """Runs :func:`tryon.lookbook.work.analyse_photo` and :func:`~tryon.lookbook.work.render_pair` somewhere."""

    workers: int

    def submit_photos(self, jobs: Sequence[PhotoJob]) -> None: ...

    def submit_pairs(self, jobs: Sequence[PairJob]) -> None:
        """Render ``jobs`` (those that became ready together); both photos of each were analysed by this
        executor and came out "ok"."""

    def release(self, photo_key: str) -> None:
        """No more pairs will need this photo's analysis."""

    def busy(self) -> bool: ...

    def next_outcomes(self, timeout: float) -> list[Outcome]:
        """Outcomes finished since the last call; waits up to ``timeout`` s for at least one."""

    def describe(self) -> dict[str, Any]: ...


@dataclasses.dataclass
class Progress:
    """Where a run stands, after each analysed photo and each finished pair.

    ``record`` is the journal record of the pair just finished (None after a photo); ``photos_done`` of
    ``photos_total`` photos of this run are analysed.
    """

    total: int
    done: int
    counts: Counter
    rendered: int
    record: dict[str, Any] | None = None
    pair: Pair | None = None
    photos_done: int = 0
    photos_total: int = 0


class InlineExecutor:
    """Runs everything in this process, one job per :meth:`next_outcomes` call (photos first)."""

    workers = 1

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self._photos: list[PhotoJob] = []
        self._pairs = PairQueue()
        self._analysed: dict[str, Analysed] = {}

    def submit_photos(self, jobs: Sequence[PhotoJob]) -> None:
        self._photos.extend(jobs)

    def submit_pairs(self, jobs: Sequence[PairJob]) -> None:
        for job in jobs:
            self._pairs.push(job)

    def release(self, photo_key: str) -> None:
        self._analysed.pop(photo_key, None)

    def busy(self) -> bool:
        return bool(self._photos or self._pairs)

    def next_outcomes(self, timeout: float) -> list[Outcome]:
        if self._photos:
            outcome, analysed = analyse_photo(self._photos.pop(0))
            if analysed is not None:
                self._analysed[outcome.key] = analysed
            return [outcome]
        if self._pairs:
            job = self._pairs.pop()
            return [render_pair(job, self._analysed[job.person], self._analysed[job.garment], self.settings)]
        return []

    def describe(self) -> dict[str, Any]:
        return {"engine": "inline", "workers": 1}


def photo_job(photo: Photo) -> PhotoJob:
    """The job for ``photo``: its bytes (read here, so workers need no access to this machine's disk)."""
    data: bytes | str | None = None
    if photo.path is not None:
        try:
            data = photo.path.read_bytes()
        except OSError:
            data = str(photo.path)  # the pipeline's own message says the file is missing
    return PhotoJob(photo.key, photo.role, photo.path.name if photo.path else photo.label, data, photo.category,
                    photo.description)


def pair_job(pair: Pair, order: int = 0) -> PairJob:
    """The job for ``pair``, the ``order``-th of the plan's pairs to render."""
    return PairJob(pair.key, pair.name, pair.person.key, pair.garment.key, text_only=pair.garment.path is None,
                   description=pair.garment.description, category=pair.garment.category, renderer=pair.renderer,
                   fmt=pair.fmt, order=order)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class LookbookRun:
    """One run of a lookbook into ``out_dir``; iterate :meth:`run` to drive it (a Progress per photo and pair).

    Args:
        plan: what to render (:func:`tryon.lookbook.plan.make_plan`).
        out_dir: the output folder; what a previous run finished there is kept.
        executor: makes the executor (a context manager), called only when there is work to do.
        retry_refused: render again the pairs refused last time (after a code change, say).
        force: render every pair again.
    """

    def __init__(self, plan: Plan, out_dir: Path, executor: Callable[[], AbstractContextManager[Executor]], *,
                 retry_refused: bool = False, force: bool = False) -> None:
        self.plan = plan
        self.out_dir = Path(out_dir)
        self.make_executor = executor
        self.retry_refused = retry_refused
        self.force = force
        self.journal = Journal(self.out_dir)
        self.records: dict[str, dict[str, Any]] = {}
        self.excluded: dict[str, str] = {}  # garment id -> its category, dropped by the category filter
        self.photo_problems: list[str] = []
        self.executor_info: dict[str, Any] = {}
        self.stats: dict[str, Any] = {"rendered": 0, "photos_analysed": 0, "photo_seconds": 0.0,
                                      "photo_cpu_seconds": 0.0, "pair_cpu_seconds": 0.0,
                                      "worker_peak_rss_mb": {}, "pair_seconds": [], "bodies_from_cache": 0,
                                      "timeline": {}}
        self._todo: list[Pair] | None = None
        self._last_report = 0.0
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()
        self._grids_drawn: set[str] = set()  # people whose grid this run drew once all their pairs were in
        self._order: dict[str, int] = {}  # pair key -> its place among the pairs to render (PairQueue)
        self._counts: Counter = Counter()
        self._photos_total = 0

    # --- what to do ---------------------------------------------------------------------------------

    def _known_category(self, garment: Photo) -> str | None:
        if garment.category != "auto":
            return garment.category
        record = self.journal.photos.get(garment.key)
        return record.get("category") or None if record and record.get("status") == OK else None

    def _exclude(self, garment: Photo, category: str) -> None:
        self.excluded[garment.id] = category
        self.plan = self.plan.without_garments([garment.id])
        self._by_person = report.pairs_by_person(self.plan)

    def todo(self) -> list[Pair]:
        """The pairs this run will render (after dropping garments the category filter excludes)."""
        if self._todo is None:
            if self.plan.categories:
                for garment in list(self.plan.garments):
                    category = self._known_category(garment)
                    if category is not None and category not in self.plan.categories:
                        self._exclude(garment, category)
            done = {} if self.force else self.journal.pairs
            self.records = {p.key: done[p.key] for p in self.plan.pairs if p.key in done}
            self._todo = pending_pairs(self.plan, self.journal, self.out_dir, retry_refused=self.retry_refused,
                                       force=self.force)
            for pair in self._todo:
                self.records.pop(pair.key, None)
            self._counts = Counter(r.get("status") for r in self.records.values())
            self._by_person = report.pairs_by_person(self.plan)
        return self._todo

    # --- running ------------------------------------------------------------------------------------

    def run(self) -> Iterator[Progress]:
        """Render what is left, yielding after each pair; the report is written however this ends."""
        started, start = _now(), time.perf_counter()
        self._start, self._cpu_start = start, time.process_time()
        todo = self.todo()
        interrupted = True
        try:
            if todo:
                with self.make_executor() as executor:
                    self._mark("executor_ready")
                    self.executor_info = executor.describe()
                    yield from self._drive(executor, todo)
                    self._mark("last_pair")
                    self.executor_info = executor.describe()
                self._mark("executor_closed")
            interrupted = False
        finally:
            self.finish(started=started, seconds=time.perf_counter() - start, interrupted=interrupted)

    def _drive(self, executor: Executor, todo: list[Pair]) -> Iterator[Progress]:
        # Photos in the order the plan first needs them (the first person, its garments, the next person...):
        # the first person's pairs become ready one garment after another, each later person's all at once,
        # so pairs reach the workers person-major (see PairQueue) and the first result comes early.
        photos: OrderedDict[str, Photo] = OrderedDict()
        for pair in todo:
            photos.setdefault(pair.person.key, pair.person)
            photos.setdefault(pair.garment.key, pair.garment)
        uses: Counter = Counter()
        for pair in todo:
            uses[pair.person.key] += 1
            uses[pair.garment.key] += 1
        outcomes: dict[str, PhotoOutcome] = {}
        by_key = {pair.key: pair for pair in todo}
        self._order = {pair.key: n for n, pair in enumerate(todo)}
        waiting = list(todo)
        self._photos_total = len(photos)
        executor.submit_photos([photo_job(photo) for photo in photos.values()])
        while executor.busy():
            for outcome in executor.next_outcomes(timeout=REPORT_INTERVAL_S):
                if isinstance(outcome, PhotoOutcome):
                    outcomes[outcome.key] = outcome
                    self._photo_done(photos[outcome.key], outcome)
                    waiting, finished = self._dispatch(executor, waiting, outcomes, uses)
                    yield self.progress()
                    for pair, record in finished:
                        yield self.progress(pair, record)
                else:
                    pair = by_key[outcome.key]
                    self._used(executor, uses, pair)
                    yield self.progress(pair, self._pair_done(pair, outcome))
            if time.monotonic() - self._last_report > REPORT_INTERVAL_S:
                self._write_index(running=True)

    def _dispatch(self, executor: Executor, waiting: list[Pair], outcomes: dict[str, PhotoOutcome],
                  uses: Counter) -> tuple[list[Pair], list[tuple[Pair, dict[str, Any]]]]:
        """Submit, refuse or drop the waiting pairs whose photos are both analysed, in plan order."""
        still, finished, ready = [], [], []
        for pair in waiting:
            person, garment = outcomes.get(pair.person.key), outcomes.get(pair.garment.key)
            if pair.garment.id in self.excluded:
                self._used(executor, uses, pair)
                continue
            if person is None or garment is None:
                still.append(pair)
                continue
            problem = next((o for o in (person, garment) if o.status != OK), None)
            if problem is None:
                ready.append(pair_job(pair, self._order[pair.key]))
                continue
            record = self._record(pair, status=problem.status, message=problem.message)
            self._store(pair, record)
            finished.append((pair, record))
            self._used(executor, uses, pair)
        if ready:  # together: the executor may batch a person's pairs
            executor.submit_pairs(ready)
        return still, finished

    @staticmethod
    def _used(executor: Executor, uses: Counter, pair: Pair) -> None:
        """One fewer pair needs these photos; the executor may drop an analysis no pair needs any more."""
        for key in (pair.person.key, pair.garment.key):
            uses[key] -= 1
            if uses[key] == 0:
                executor.release(key)

    def _mark(self, event: str) -> None:
        """When ``event`` first happened, seconds after the run started (run.json's timeline)."""
        self.stats["timeline"].setdefault(event, round(time.perf_counter() - self._start, 3))

    def _photo_done(self, photo: Photo, outcome: PhotoOutcome) -> None:
        self._mark("first_photo")
        self.stats["photos_analysed"] += 1
        self.stats["photo_seconds"] += outcome.seconds
        self.stats["photo_cpu_seconds"] += outcome.cpu_seconds
        thumb = outcome.thumb or report.photo_thumbnail_from_file(photo.path)
        if thumb:
            write_atomic(self.out_dir / report.photo_thumb_path(photo), thumb)
        if outcome.status != FAILED:
            self.journal.append({"kind": "photo", "key": photo.key, "role": photo.role, "id": photo.id,
                                 "status": outcome.status, "message": outcome.message, "category": outcome.category,
                                 "width": outcome.width, "height": outcome.height, "seconds": outcome.seconds,
                                 "worker": outcome.worker, "finished_at": _now()})
        if outcome.status != OK:
            self.photo_problems.append(f"{photo.role} {photo.id}: {outcome.status}: {outcome.message}")
        elif photo.role == "garment" and self.plan.categories and outcome.category not in self.plan.categories:
            self._exclude(photo, outcome.category)

    def _record(self, pair: Pair, **fields: Any) -> dict[str, Any]:
        return {"kind": "pair", "key": pair.key, "person": pair.person.id, "garment": pair.garment.id,
                "renderer_requested": pair.renderer, **fields, "finished_at": _now()}

    def _pair_done(self, pair: Pair, outcome: PairOutcome) -> dict[str, Any]:
        self._mark("first_pair")
        fields: dict[str, Any] = {"status": outcome.status, "message": outcome.message}
        if outcome.status == OK:
            write_atomic(self.out_dir / pair.output, outcome.image)
            write_atomic(self.out_dir / pair.thumb, outcome.thumb)
            fields.update(result=pair.output, result_bytes=len(outcome.image),
                          result_sha256=hashlib.sha256(outcome.image).hexdigest(), thumb=pair.thumb,
                          category=outcome.category, renderer=outcome.renderer, verdict=outcome.verdict,
                          verdict_reasons=outcome.verdict_reasons, timings=outcome.timings, notes=list(outcome.notes),
                          cached_body=outcome.cached_body)
            self.stats["rendered"] += 1
            self.stats["pair_seconds"].append(outcome.seconds)
            self.stats["pair_cpu_seconds"] += outcome.cpu_seconds
            self.stats["bodies_from_cache"] += int(outcome.cached_body)
        fields.update(seconds=round(outcome.seconds, 4), worker=outcome.worker, peak_rss_mb=round(outcome.peak_rss_mb),
                      batch=outcome.batch)
        if outcome.worker:
            peaks = self.stats["worker_peak_rss_mb"]
            peaks[outcome.worker] = max(peaks.get(outcome.worker, 0.0), round(outcome.peak_rss_mb))
        record = self._record(pair, **fields)
        self._store(pair, record)
        return record

    def _store(self, pair: Pair, record: dict[str, Any]) -> None:
        """Journal ``record`` (after its files exist); draw the person's grid once all their pairs are in."""
        self.journal.append(record)
        self.records[pair.key] = record
        self._counts[record["status"]] += 1
        person_pairs = self._by_person.get(pair.person.id, [])
        if all(p.key in self.records for p in person_pairs):
            report.write_grid(self.out_dir, pair.person, person_pairs, self.records)
            self._grids_drawn.add(pair.person.id)

    def progress(self, pair: Pair | None = None, record: dict[str, Any] | None = None) -> Progress:
        """Where the run stands now."""
        return Progress(total=len(self.plan.pairs), done=sum(self._counts.values()), counts=Counter(self._counts),
                        rendered=self.stats["rendered"], record=record, pair=pair,
                        photos_done=self.stats["photos_analysed"], photos_total=self._photos_total)

    # --- reporting ----------------------------------------------------------------------------------

    def _notes(self) -> list[str]:
        notes = []
        if self.excluded:
            listed = ", ".join(f"{g} ({c})" for g, c in sorted(self.excluded.items()))
            notes.append(f"Not in --categories {' '.join(self.plan.categories)}: {listed}.")
        notes += [f"Photo refused: {p}" for p in self.photo_problems]
        pending = sum(1 for p in self.plan.pairs if p.key not in self.records)
        if pending:
            notes.append(f"{pending} pairs are not rendered yet: run the same command again to finish them.")
        return notes

    def _write_index(self, running: bool) -> None:
        self._last_report = time.monotonic()
        report.write_index(self.out_dir, self.plan, self.records, running=running, version=__version__,
                           notes=self._notes())

    def finish(self, *, started: str, seconds: float, interrupted: bool) -> None:
        """Write the table, every grid, index.html and run.json from what is done."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._take_in_journal(started)
        write_tables(self.out_dir, table_rows(self.plan, self.records))
        for pairs in report.pairs_by_person(self.plan).values():
            for pair in pairs:
                if self.records.get(pair.key, {}).get("status") == OK:
                    report.ensure_thumb(self.out_dir, pair)
            grid = self.out_dir / report.grid_path(pairs[0].person)
            if pairs[0].person.id in self._grids_drawn:  # complete, and nothing changed since
                continue
            if not grid.is_file() or any(self.records.get(p.key, {}).get("finished_at", "") >= started for p in pairs):
                report.write_grid(self.out_dir, pairs[0].person, pairs, self.records)
        self._write_index(running=False)
        write_atomic(self.out_dir / RUN_INFO, json.dumps(self.summary(started, seconds, interrupted), indent=2,
                                                         ensure_ascii=False).encode("utf-8"))

    def _take_in_journal(self, started: str) -> None:
        """Take in the pairs this run finished that the journal holds and the run did not note: Ctrl-C can
        land after a pair's line reached the disk but before the run saw the append return (it lands during
        the fsync). The journal is what a rerun trusts, so the table and the page say the same."""
        in_plan = {pair.key for pair in self.plan.pairs}
        for key, record in Journal(self.out_dir).pairs.items():
            if key in in_plan and key not in self.records and record.get("finished_at", "") >= started:
                self.records[key] = record
                self._counts[record.get("status")] += 1

    def summary(self, started: str, seconds: float, interrupted: bool) -> dict[str, Any]:
        counts = Counter(self.records.get(p.key, {}).get("status", PENDING) for p in self.plan.pairs)
        per_pair = self.stats["pair_seconds"]
        return {
            "version": __version__,
            "started_at": started,
            "wall_seconds": round(seconds, 3),
            "interrupted": interrupted,
            "renderer": self.plan.renderer,
            "people": len(self.plan.people),
            "garments": len(self.plan.garments),
            "pairs": len(self.plan.pairs),
            "counts": {status: counts.get(status, 0) for status in (OK, REFUSED, FAILED, PENDING)},
            "rendered_this_run": self.stats["rendered"],
            "photos_analysed_this_run": self.stats["photos_analysed"],
            "bodies_from_cache": self.stats["bodies_from_cache"],
            "pair_seconds_mean": round(statistics.fmean(per_pair), 4) if per_pair else None,
            # Worker time per rendered pair, the photo analyses included: the cost a plain loop also pays.
            "work_seconds_per_pair": round((sum(per_pair) + self.stats["photo_seconds"]) / len(per_pair), 4)
            if per_pair else None,
            "work_cpu_seconds_per_pair": round((self.stats["pair_cpu_seconds"] + self.stats["photo_cpu_seconds"])
                                               / len(per_pair), 4) if per_pair else None,
            "timeline_seconds": self.stats["timeline"],
            # This process's own CPU (scheduling, writing results, grids, the page): on a machine with as many
            # workers as cores it is taken from the workers.
            "driver_cpu_seconds": round(time.process_time() - self._cpu_start, 3),
            "pair_seconds_p50": round(statistics.median(per_pair), 4) if per_pair else None,
            "worker_peak_rss_mb": self.stats["worker_peak_rss_mb"],
            "executor": self.executor_info,
            "excluded_garments": self.excluded,
        }


@contextlib.contextmanager
def inline_executor(settings: Settings | None = None) -> Iterator[InlineExecutor]:
    yield InlineExecutor(settings)
