"""Shared fixtures: the evaluation photos in ../shared/eval (never copied into the repo)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = (REPO.parent / "shared" / "eval").resolve()


def read_cases() -> list[dict[str, str]]:
    with open(EVAL_DIR / "cases.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not (EVAL_DIR / "cases.csv").is_file():
        pytest.fail(f"evaluation photos not found at {EVAL_DIR}: clone next to ../shared")
    return EVAL_DIR


@pytest.fixture(scope="session")
def cases(eval_dir: Path) -> list[dict[str, str]]:
    return read_cases()


def load_eval_image(relpath: str) -> np.ndarray:
    from tryon.intake import load_image

    return load_image(EVAL_DIR / relpath)
