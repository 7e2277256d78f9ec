"""Scheduling a lookbook on Ray: CPU tasks for the warp renderer, GPU actors for the diffusion renderer.

    driver (this process)                         Ray workers
    ─────────────────────                         ───────────
    photo bytes ─► analyse task (1 CPU) ─────────► PhotoOutcome (to the driver) + Analysed (object store)
    PairJobs of one person + refs ──────► warp: render task (1 CPU) / diffusion: actor.render (1 GPU)
                                          ◄──────── PairOutcomes: encoded result, thumbnail, verdict, timings
    results are written by the driver as they arrive (ray.wait), so the folder fills while the job runs.

- Each photo is analysed once for the whole cluster; its :class:`~tryon.lookbook.work.Analysed` (~10 MB)
  stays in the object store until its last pair is done, and each worker keeps the few it uses in a small
  LRU (pairs are handed out in plan order, person-major, so a worker sees the same person many times in a row).
- A warp task renders a batch: the next pairs of one person in plan order, as many as the pairs waiting
  shared out over the tasks in flight (guided self-scheduling: large batches while much is left, single
  pairs at the end, so the workers finish together). The person's composite preparation (~35 % of a pair
  on a grid) is then done once per batch, not once per worker that happens to get one of its pairs.
- At most ``IN_FLIGHT_PER_WORKER`` tasks per worker are submitted at once, ready pairs first and photo
  analyses in the slots left (for diffusion, analyses beside the GPU actors' pairs): the first results
  come after a few analyses, not after all of them, and the driver's memory, the object store and a
  Ctrl-C stay bounded for any grid size.
- A worker process that dies (killed, out of memory, a lost node) is retried by Ray ``RETRIES`` times
  (``max_retries`` for tasks; ``max_restarts`` + ``max_task_retries`` for actors, which reload the pipeline).
- Ray is started here (on this machine's cores) unless an address is given or ``RAY_ADDRESS`` is set, and
  stopped when the run ends; a cluster that was already running is left running. On a cluster the
  workers need the project's requirements installed; this process ships its ``tryon`` package and its
  ``TRYON_*`` settings to them (``runtime_env``), so the workers run the same code with the same settings.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config import get_settings
from ..errors import TryOnError
from .plan import FAILED
from .work import (
    Analysed,
    PairJob,
    PairOutcome,
    PairQueue,
    PhotoJob,
    PhotoOutcome,
    analyse_photo,
    render_pair,
    worker_id,
)

# A crashed worker's task is run again this many times before the pair is recorded as failed.
RETRIES = 3
IN_FLIGHT_PER_WORKER = 2
# Analyses a worker keeps between pairs (~10 MB each): a person and the garments around it.
WORKER_PHOTO_CACHE = 16
# A warp batch holds at most this many pairs (a Ctrl-C or a crash loses at most one batch's work).
MAX_BATCH = 16
# Ray names each task by its pairs so they show in `ray list tasks`, the dashboard and the process title.
TASK_PREFIX = "lookbook-pair:"
TASK_NAME_SEPARATOR = " | "
# Environment that follows the driver to the workers on a cluster (settings and offline switches).
FORWARDED_ENV_PREFIXES = ("TRYON_",)
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME")
# A GPU each; no CPU held for the actor's lifetime, so the photo analyses (CPU tasks) always find one.
ACTOR_RESOURCES = {"num_gpus": 1, "num_cpus": 0}
ACTOR_INFO_TIMEOUT_S = 30
PACKAGE_DIR = Path(__file__).resolve().parents[1]

# --- worker side ----------------------------------------------------------------------------------
_WORKER_PHOTOS: OrderedDict[str, Analysed] = OrderedDict()
_WORKER_STATE = {"threads_set": False}


def _limit_threads() -> None:
    """Once per worker process: OpenCV's thread pool as wide as the task's CPUs. Ray sets OMP_NUM_THREADS for
    numpy and TFLite, which OpenCV ignores; N single-CPU workers on N cores would otherwise fight for them."""
    if not _WORKER_STATE["threads_set"]:
        import cv2

        cv2.setNumThreads(max(1, int(os.environ.get("OMP_NUM_THREADS") or 1)))
        _WORKER_STATE["threads_set"] = True


def _fetch(key: str, ref: Any) -> Analysed:
    """The analysis behind ``ref``: from this worker's LRU, else from the object store (a writable copy:
    the store's arrays are read-only views, and the pipeline caches what it is given)."""
    import ray

    if key in _WORKER_PHOTOS:
        _WORKER_PHOTOS.move_to_end(key)
        return _WORKER_PHOTOS[key]
    analysed = copy.deepcopy(ray.get(ref))
    _WORKER_PHOTOS[key] = analysed
    while len(_WORKER_PHOTOS) > WORKER_PHOTO_CACHE:
        _WORKER_PHOTOS.popitem(last=False)
    return analysed


def _analyse_task(job: PhotoJob) -> tuple[PhotoOutcome, Analysed | None]:
    _limit_threads()
    return analyse_photo(job)


def _render_task(jobs: list[PairJob], refs: list[Any]) -> list[PairOutcome]:
    """Warp pairs of one person, one after another. ``refs`` (the person's analysis, then each pair's
    garment's) is a list so Ray passes the references, not the values."""
    _limit_threads()
    # One CPU a task: try_on's helper thread would only share it (and the analyses come from the store).
    settings = dataclasses.replace(get_settings(), side_thread=False)
    person = _fetch(jobs[0].person, refs[0])
    return [dataclasses.replace(render_pair(job, person, _fetch(job.garment, ref), settings), batch=len(jobs))
            for job, ref in zip(jobs, refs[1:], strict=True)]


def batch_size(waiting: int, slots: int) -> int:
    """How many pairs the next warp task takes when ``waiting`` pairs wait and ``slots`` tasks may be in
    flight: an equal share of what waits (factoring, a kind of guided self-scheduling: slots are twice the
    workers, so the last batches are small and the workers finish together), at least 1, at most
    :data:`MAX_BATCH`; the batch also ends where the person's pairs do."""
    return max(1, min(MAX_BATCH, -(-waiting // max(1, slots))))


def task_name(jobs: Sequence[PairJob]) -> str:
    return TASK_PREFIX + TASK_NAME_SEPARATOR.join(job.name for job in jobs)


class DiffusionWorker:
    """A GPU actor: loads the diffusion pipeline once (through the project's loader), then renders pairs."""

    def __init__(self) -> None:
        from ..pipeline import prepare_renderer

        start = time.perf_counter()
        reason = prepare_renderer("diffusion")
        if reason is not None:
            raise TryOnError(f"The diffusion renderer cannot run on this worker: {reason}.")
        self.load_seconds = time.perf_counter() - start
        self.pairs = 0

    def ready(self) -> str:
        return worker_id()

    def info(self) -> dict[str, Any]:
        """Who this actor is, how long its pipeline took to load, how many pairs it rendered."""
        return {"worker": worker_id(), "load_seconds": round(self.load_seconds, 3), "pairs": self.pairs}

    def render(self, job: PairJob, refs: list[Any]) -> PairOutcome:
        self.pairs += 1
        return render_pair(job, _fetch(job.person, refs[0]), _fetch(job.garment, refs[1]))


# --- driver side ----------------------------------------------------------------------------------


def _runtime_env() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES) or k in FORWARDED_ENV}
    return {"env_vars": env, "py_modules": [str(PACKAGE_DIR)]}


@contextmanager
def ray_session(address: str | None = None, *, workers: int | None = None, num_gpus: int | None = None
                ) -> Iterator[dict[str, Any]]:
    """Connect to Ray for the duration of a run; yields what was connected to.

    Args:
        address: a running cluster ("auto", "host:6379", "ray://host:10001"); None: ``RAY_ADDRESS`` if
            set, else start Ray on this machine and stop it afterwards.
        workers: CPUs of the Ray started here (default: all cores); ignored for a running cluster.
        num_gpus: GPUs the Ray started here offers (default: those it detects).
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing is reported home from this machine
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    if ray.is_initialized():
        owned = False
    elif address:
        ray.init(address=address, runtime_env=_runtime_env(), **quiet)
        owned = True
    else:
        ray.init(num_cpus=workers or os.cpu_count(), num_gpus=num_gpus, include_dashboard=False, **quiet)
        owned = True
    try:
        resources = ray.cluster_resources()
        yield {"address": address or "local", "started_here": owned and not address,
               "cpus": int(resources.get("CPU", 0)), "gpus": int(resources.get("GPU", 0)), "ray": ray.__version__}
    finally:
        if owned:
            ray.shutdown()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _crash_message(exc: BaseException) -> str:
    return (f"The worker process died {RETRIES + 1} times on this job ({type(exc).__name__}: {_first_line(exc)}); "
            "out of memory? The rerun tries it again.")


class RayExecutor:
    """Runs a lookbook's photos and pairs on the connected Ray cluster (see the module docstring)."""

    def __init__(self, cluster: dict[str, Any], renderer: str = "warp", workers: int | None = None) -> None:
        import ray

        self.cluster = cluster
        self.renderer = renderer
        self._analysed: dict[str, Any] = {}  # photo key -> ObjectRef of its Analysed
        self._in_flight: dict[Any, tuple[str, Any]] = {}  # ref -> ("photo"|"pair", job)
        self._queue = PairQueue()
        self._photos: deque[PhotoJob] = deque()  # waiting for a slot, in the order the plan needs them
        self._actors: list[Any] = []
        self._actor_load: dict[int, int] = {}
        self._analyse = ray.remote(_analyse_task).options(num_returns=2, num_cpus=1, max_retries=RETRIES)
        if renderer == "diffusion":
            self.workers = self._start_actors(workers)
        else:
            self.workers = max(1, min(workers or cluster["cpus"], cluster["cpus"] or 1))
            self._render = ray.remote(num_cpus=1, max_retries=RETRIES)(_render_task)

    def _start_actors(self, wanted: int | None) -> int:
        import ray

        gpus = self.cluster["gpus"]
        if gpus < 1:
            raise TryOnError(
                "The diffusion renderer runs in GPU actors and this Ray cluster has no GPU: give --address of a "
                "cluster with GPUs (or --num-gpus for the Ray started here), or use --renderer warp."
            )
        count = max(1, min(wanted or gpus, gpus))
        actor_class = ray.remote(DiffusionWorker).options(max_restarts=RETRIES, max_task_retries=RETRIES,
                                                          **ACTOR_RESOURCES)
        self._actors = [actor_class.remote() for _ in range(count)]
        try:
            ray.get([actor.ready.remote() for actor in self._actors])
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise TryOnError(f"The diffusion workers did not start: {_actor_error(exc)}") from exc
        self._actor_load = {n: 0 for n in range(count)}
        return count

    def describe(self) -> dict[str, Any]:
        """The cluster, the workers used and, for diffusion, each actor's load time and pairs rendered."""
        import ray

        info: dict[str, Any] = {"engine": "ray", **self.cluster, "workers": self.workers}
        if self._actors:
            try:
                info["actors"] = ray.get([actor.info.remote() for actor in self._actors], timeout=ACTOR_INFO_TIMEOUT_S)
            except (ray.exceptions.RayError, TimeoutError):
                info["actors"] = len(self._actors)
        return info

    def in_flight(self) -> dict[str, int]:
        """Tasks submitted to Ray and not yet collected, by kind ("photo", "pair")."""
        kinds = [kind for kind, _ in self._in_flight.values()]
        return {"photo": kinds.count("photo"), "pair": kinds.count("pair")}

    def submit_photos(self, jobs: Sequence[PhotoJob]) -> None:
        self._photos.extend(jobs)
        self._fill()

    def submit_pairs(self, jobs: Sequence[PairJob]) -> None:
        for job in jobs:
            self._queue.push(job)
        self._fill()

    def release(self, photo_key: str) -> None:
        self._analysed.pop(photo_key, None)  # dropping the last reference frees it in the object store

    def _fill(self) -> None:
        limit = self.workers * IN_FLIGHT_PER_WORKER
        while self._queue and self.in_flight()["pair"] < limit:
            if self._actors:
                job = self._queue.pop()
                refs = [self._analysed[job.person], self._analysed[job.garment]]
                index = min(self._actor_load, key=self._actor_load.__getitem__)
                self._actor_load[index] += 1
                ref = self._actors[index].render.remote(job, refs)
                self._in_flight[ref] = ("pair", ([job], index))
            else:
                jobs = self._queue.pop_batch(batch_size(len(self._queue), limit))
                refs = [self._analysed[jobs[0].person], *(self._analysed[job.garment] for job in jobs)]
                ref = self._render.options(name=task_name(jobs)).remote(jobs, refs)
                self._in_flight[ref] = ("pair", (jobs, None))
        # Then analyses in the slots the pairs leave. A leased worker goes on with queued tasks of the same
        # function (Ray reuses the lease), so analyses queued beyond the free slots would hold the CPUs
        # until every photo is analysed and the ready pairs wait: with one worker and the 64 evaluation
        # cases, the first pair came after all 98 analyses. GPU actors render beside the CPU tasks.
        photo_limit = limit if self._actors else limit - self.in_flight()["pair"]
        while self._photos and self.in_flight()["photo"] < photo_limit:
            job = self._photos.popleft()
            outcome_ref, analysed_ref = self._analyse.remote(job)
            self._analysed[job.key] = analysed_ref
            self._in_flight[outcome_ref] = ("photo", job)

    def busy(self) -> bool:
        return bool(self._in_flight or self._queue or self._photos)

    def next_outcomes(self, timeout: float) -> list[PhotoOutcome | PairOutcome]:
        import ray

        if not self._in_flight:
            return []
        ready, rest = ray.wait(list(self._in_flight), num_returns=1, timeout=timeout)
        if ready and rest:  # and whatever else has finished meanwhile
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        outcomes = [outcome for ref in ready for outcome in self._collect(ref)]
        self._fill()
        return outcomes

    def _collect(self, ref: Any) -> list[PhotoOutcome | PairOutcome]:
        import ray

        kind, job = self._in_flight.pop(ref)
        actor = None
        if kind == "pair":
            job, actor = job
            if actor is not None:
                self._actor_load[actor] -= 1
        errors = ray.exceptions
        try:
            done = ray.get(ref)
            return list(done) if kind == "pair" and actor is None else [done]  # a warp task returns its batch
        except errors.RayActorError as exc:
            message = _actor_error(exc)
        except (errors.WorkerCrashedError, errors.OutOfMemoryError, errors.NodeDiedError) as exc:
            message = _crash_message(exc)
        except errors.RayTaskError as exc:  # raised in our task code outside the pipeline (e.g. a lost object)
            message = f"{type(exc.cause).__name__}: {exc.cause}"
        except errors.RayError as exc:
            message = f"{type(exc).__name__}: {_first_line(exc)}"
        if kind == "photo":
            return [PhotoOutcome(job.key, job.role, FAILED, message)]
        return [PairOutcome(pair.key, FAILED, message) for pair in job]

    def close(self) -> None:
        """Let go of what is still running (a Ctrl-C) and of the actors.

        Tasks in flight are not ``ray.cancel``-ed: in Ray 2.60 a task that finishes while it is being cancelled
        trips a check in the driver's task manager, which then exits with status 1 and no Python error. They
        stop anyway: when this driver disconnects, each raylet kills the workers leased to its job.
        """
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._in_flight.clear()
        self._queue.clear()
        self._photos.clear()
        self._analysed.clear()


def _actor_error(exc: BaseException) -> str:
    text = str(exc)
    for line in text.splitlines():
        if "TryOnError" in line or "cannot run" in line:
            return line.split("TryOnError:", 1)[-1].strip()
    return text.strip().splitlines()[-1] if text.strip() else type(exc).__name__


@contextmanager
def ray_executor(address: str | None = None, *, renderer: str = "warp", workers: int | None = None,
                 num_gpus: int | None = None) -> Iterator[RayExecutor]:
    """A :class:`RayExecutor` on the cluster of :func:`ray_session`; lets leftovers go and disconnects."""
    cpus = workers if renderer == "warp" else None  # for diffusion, workers counts GPU actors
    with ray_session(address, workers=cpus, num_gpus=num_gpus) as cluster:
        executor = RayExecutor(cluster, renderer, workers)
        try:
            yield executor
        finally:
            executor.close()
