"""What a lookbook worker does: analyse a photo once, render one pair with :func:`tryon.pipeline.try_on`.

Plain functions of plain, picklable values: the Ray tasks and actors (:mod:`tryon.lookbook.ray_runner`) and
the in-process runner of the app's Lookbook tab call the same ones.

    PhotoJob ─ analyse_photo ─► PhotoOutcome (small: status, category, thumbnail) + Analysed (large, shared)
    PairJob + person Analysed + garment Analysed ─ render_pair ─► PairOutcome (encoded result, verdict, timings)

Images inside an :class:`Analysed` are RGB ``uint8`` ``(H, W, 3)`` at processing size.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import os
import resource
import socket
import time
import traceback
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import TryOnError
from . import check, report
from .plan import FAILED, OK, REFUSED

# Lines of a traceback kept in a failure's message (the table should stay readable).
TRACEBACK_LINES = 3
KIB_PER_MIB = 1024  # ru_maxrss is in KiB on Linux


@dataclasses.dataclass(frozen=True)
class PhotoJob:
    """Analyse one photo. ``data`` is the file's bytes, or its path when it could not be read (the pipeline
    then says what is wrong), or None for a garment made from words alone."""

    key: str
    role: str  # "person" or "garment"
    name: str
    data: bytes | str | None
    category: str = "auto"
    description: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class Analysed:
    """A photo and the pipeline's analysis of it (large: ~10 MB at 768x1024; shared between pairs).

    ``category`` is the category the garment analysis is keyed by in the pipeline's cache.
    """

    rgb: np.ndarray
    analysis: Any
    category: str = "auto"


@dataclasses.dataclass(frozen=True)
class PhotoOutcome:
    """How the analysis of one photo went. ``category``: the garment's category (guessed when "auto")."""

    key: str
    role: str
    status: str
    message: str = ""
    category: str = ""
    width: int = 0
    height: int = 0
    thumb: bytes = b""
    seconds: float = 0.0
    worker: str = ""
    cpu_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class PairJob:
    """Render one pair: the person photo's key, the garment's key, what try_on is asked, and the pair's
    place in the plan (see :class:`PairQueue`)."""

    key: str
    name: str
    person: str
    garment: str
    text_only: bool = False
    description: str = ""
    category: str = "auto"
    renderer: str = "warp"
    fmt: str = "png"
    order: int = 0


class PairQueue:
    """Pairs waiting for a worker, handed out in plan order (person-major), whatever order they became
    ready in. Pairs become ready as their photos' analyses arrive, a garment's pairs together (garment-
    major); taken in plan order, a worker renders one person's pairs one after another and reuses that
    person's composite preparation (the pipeline keeps only a few), instead of preparing a person anew for
    each pair (~35 % of a pair's time on an 8 x 8 grid)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, PairJob]] = []
        self._count = itertools.count()  # ties keep their arrival order

    def push(self, job: PairJob) -> None:
        heapq.heappush(self._heap, (job.order, next(self._count), job))

    def pop(self) -> PairJob:
        return heapq.heappop(self._heap)[2]

    def peek(self) -> PairJob:
        return self._heap[0][2]

    def pop_batch(self, size: int) -> list[PairJob]:
        """The next pair and up to ``size - 1`` more of the same person that follow it in plan order."""
        batch = [self.pop()]
        while self._heap and len(batch) < size and self.peek().person == batch[0].person:
            batch.append(self.pop())
        return batch

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)


@dataclasses.dataclass(frozen=True)
class PairOutcome:
    """How one pair went: the encoded result and thumbnail when ``status`` is "ok", else the message.

    ``seconds`` is the whole pair in the worker (try_on, the self-check and encoding) and ``cpu_seconds`` the
    CPU time it took (all threads; unlike the wall time, about the same on a busy machine); ``timings`` are
    try_on's stages (s). ``worker`` is ``host:pid``; ``peak_rss_mb`` the worker process's peak so far.
    """

    key: str
    status: str
    message: str = ""
    image: bytes = b""
    thumb: bytes = b""
    category: str = ""
    renderer: str = ""
    verdict: str = ""
    verdict_reasons: str = ""
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    cached_body: bool = False
    seconds: float = 0.0
    worker: str = ""
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    batch: int = 1  # pairs rendered one after another in the same task (one preparation of the person)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def failure_message(exc: BaseException) -> str:
    """``Type: message`` and where it happened (last frames): a bug to report, not the user's to fix."""
    frames = traceback.extract_tb(exc.__traceback__)[-TRACEBACK_LINES:]
    where = " < ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(exc).__name__}: {exc}" + (f" (at {where})" if where else "")


def analyse_photo(job: PhotoJob) -> tuple[PhotoOutcome, Analysed | None]:
    """Intake and analysis of one photo as :func:`tryon.pipeline.try_on` does them.

    Returns:
        ``(outcome, analysed)``; ``analysed`` is None unless ``outcome.status`` is "ok". A photo the
        pipeline refuses (no person, no garment, unreadable) is "refused" with the pipeline's message.
    """
    from ..pipeline import analyze_garment_photo, analyze_person_photo

    start, cpu = time.perf_counter(), time.process_time()
    done = {"key": job.key, "role": job.role, "worker": worker_id()}
    try:
        # Not kept in this process's caches: render_pair puts them there, in whichever process renders.
        if job.role == "person":
            rgb, analysis = analyze_person_photo(job.data, keep=False)
            analysed = Analysed(rgb, analysis)
        else:
            rgb, key_category, analysis = analyze_garment_photo(job.data, job.description or None, job.category,
                                                                keep=False)
            analysed = Analysed(rgb, analysis, key_category)
    except TryOnError as exc:
        return PhotoOutcome(status=REFUSED, message=str(exc), **done, **_spent(start, cpu)), None
    except Exception as exc:
        return PhotoOutcome(status=FAILED, message=failure_message(exc), **done, **_spent(start, cpu)), None
    category = getattr(analysis, "category", "") if job.role == "garment" else ""
    height, width = rgb.shape[:2]
    thumb = report.thumbnail_jpeg(rgb)
    return PhotoOutcome(status=OK, category=category, width=width, height=height, thumb=thumb, **done,
                        **_spent(start, cpu)), analysed


def render_pair(job: PairJob, person: Analysed, garment: Analysed, settings: Settings | None = None) -> PairOutcome:
    """Render one pair through :func:`tryon.pipeline.try_on`, reusing the photos' analyses.

    The analyses go into this process's pipeline caches first, so try_on finds them instead of analysing
    the photos again. A request the pipeline refuses is "refused" with its message; anything else that
    goes wrong is "failed" with the error, never raised (one bad pair does not stop the lookbook).
    """
    from ..pipeline import remember_analyses, try_on

    start, cpu = time.perf_counter(), time.process_time()
    remember_analyses(person.rgb, person.analysis, garment.rgb, garment.category, garment.analysis)
    try:
        result = try_on(person.rgb, None if job.text_only else garment.rgb, job.description or None,
                        category=job.category, renderer=job.renderer, settings=settings)
        verdict, reasons = check.self_check(result)
        image = report.encode_result(result.image, job.fmt)
        thumb = report.thumbnail_jpeg(result.image)
    except TryOnError as exc:
        return PairOutcome(job.key, REFUSED, str(exc), worker=worker_id(), peak_rss_mb=peak_rss_mb(),
                           **_spent(start, cpu))
    except Exception as exc:
        return PairOutcome(job.key, FAILED, failure_message(exc), worker=worker_id(), peak_rss_mb=peak_rss_mb(),
                           **_spent(start, cpu))
    return PairOutcome(
        job.key, OK, image=image, thumb=thumb, category=result.category, renderer=result.renderer, verdict=verdict,
        verdict_reasons=reasons, timings=dict(result.timings), notes=tuple(result.notes),
        cached_body=result.cached_body, worker=worker_id(), peak_rss_mb=peak_rss_mb(), **_spent(start, cpu),
    )


def _spent(start: float, cpu: float) -> dict[str, float]:
    """Wall and CPU seconds since ``start`` / ``cpu`` (perf_counter / process_time)."""
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
