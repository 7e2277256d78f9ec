"""The running server's housekeeping: its start-up (:func:`use_data_dir`) and the sweep that makes
sessions and held results expire.

Gradio keeps every session's state (``gr.State`` values and a copy of the page's component
config) until ``state_session_capacity`` sessions exist, however long ago they were used; API
clients never close theirs. While the server runs, :func:`serving_lifespan` sweeps every
:func:`sweep_interval` seconds: sessions idle longer than ``Settings.result_ttl_s`` are
dropped, held results past their time are deleted with their files, and so are private files
nobody downloaded; then free heap memory goes back to the system (:func:`release_free_memory`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from ..config import Settings
from ..store.annotations import gradio_cache_dir, prepare_data_dir
from .guard import process_guard

log = logging.getLogger(__name__)

SWEEP_MAX_INTERVAL_S = 30.0
SWEEP_MIN_INTERVAL_S = 0.5
SWEEPS_PER_TTL = 4  # a session outlives its time to live by at most a quarter of it


def use_data_dir(settings: Settings) -> Path:
    """Start-up: create the data folders and point Gradio's file cache inside them.

    Gradio reads ``GRADIO_TEMP_DIR`` when components and the server are created, so this
    runs before the Blocks is built. Uploads and outputs then live in
    ``<data_dir>/gradio-tmp`` and are deleted on the Blocks' ``delete_cache`` schedule.
    """
    data_dir = prepare_data_dir(settings)
    os.environ["GRADIO_TEMP_DIR"] = str(gradio_cache_dir(settings))
    return data_dir


def sweep_interval(ttl_s: float) -> float:
    """Seconds between sweeps for a time to live of ``ttl_s``."""
    return min(SWEEP_MAX_INTERVAL_S, max(SWEEP_MIN_INTERVAL_S, ttl_s / SWEEPS_PER_TTL))


def expire_sessions(blocks: Any, ttl_s: float, now: dt.datetime | None = None) -> int:
    """Drop the Gradio sessions of ``blocks`` idle for more than ``ttl_s``; returns how many.

    Their ``gr.State`` values go through the states' delete callbacks first, as Gradio's own
    expiry does. Reads Gradio's ``state_holder`` (``session_data``, ``time_last_used``, ``lock``)
    and its queue's ``pending_event_ids_session`` (sessions with events in flight are kept).
    """
    holder = getattr(blocks, "state_holder", None)
    last_used = getattr(holder, "time_last_used", None)
    sessions = getattr(holder, "session_data", None)
    if last_used is None or sessions is None:
        return 0
    now = now or dt.datetime.now()
    # A session whose event is still queued or running is not idle, however long the event takes.
    running = getattr(getattr(blocks, "_queue", None), "pending_event_ids_session", None) or {}
    idle = [sid for sid, when in list(last_used.items())
            if (now - when).total_seconds() > ttl_s and not running.get(sid)]
    for session_id in idle:
        holder.delete_state(session_id)
        with holder.lock:
            sessions.pop(session_id, None)
            last_used.pop(session_id, None)
    if idle:
        log.info("dropped %d idle sessions (%d left)", len(idle), len(sessions))
    return len(idle)


def sweep_once(blocks: Any) -> None:
    """One sweep: idle sessions, expired held results, undownloaded private files, then free memory
    handed back to the system."""
    shop = getattr(blocks, "tryon_shop", None)
    if shop is not None:
        shop.results.expire()
        expire_sessions(blocks, shop.settings.result_ttl_s)
    process_guard().expire()
    release_free_memory()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    Each render allocates and frees a few hundred MB of arrays from several threads; glibc keeps
    freed pages inside its arenas, so without this the server's RSS drifts up with its
    fragmentation. A trim every sweep costs a few milliseconds; forcing arrays into ``mmap``
    instead (``MALLOC_MMAP_THRESHOLD_``) would cost page faults on every render.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


def serving_lifespan(interval_s: float, inner: Lifespan | None = None) -> Lifespan:
    """A FastAPI lifespan (``launch(app_kwargs={"lifespan": ...})``) that sweeps while the server runs,
    around ``inner`` (a lifespan the caller gave) when there is one."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    sweep_once(app.get_blocks())
                except Exception:  # a failed sweep must not stop the next one
                    log.exception("session sweep failed")

        task = asyncio.create_task(sweep())
        try:
            if inner is None:
                yield
            else:
                async with inner(app) as state:
                    yield state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan
