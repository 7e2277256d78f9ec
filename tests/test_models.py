"""The one cached loader: each model is built once per process, even when threads race for it."""

from __future__ import annotations

import threading

import pytest

from tryon import models
from tryon.errors import TryOnError


def test_two_threads_asking_for_a_cold_model_get_one_instance() -> None:
    # The warm-up thread and a first request both ask for the pose graph (issue 9): one build, one object.
    models.forget_models()
    start = threading.Barrier(2)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(models.load_model("pose"))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 2 and got[0] is got[1]
    assert models.load_model("pose") is got[0]


def test_unknown_model_names_the_available_ones() -> None:
    with pytest.raises(TryOnError, match="pose"):
        models.load_model("nope")
