"""The CLI: `python -m tryon render` writes a PNG; bad input exits 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EVAL_DIR, REPO, bad_photo
from PIL import Image

PERSON = EVAL_DIR / "person/vitonhd_00034_00.jpg"
GARMENT = EVAL_DIR / "garment/vitonhd_09176_00.jpg"


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tryon", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_render_writes_the_result_at_the_processed_size(tmp_path: Path) -> None:
    out = tmp_path / "result.png"
    proc = _cli("render", "--person", PERSON, "--garment", GARMENT, "-o", out)
    assert proc.returncode == 0, proc.stderr
    result = np.asarray(Image.open(out))
    assert result.shape == np.asarray(Image.open(PERSON)).shape
    assert "wrote" in proc.stdout


@pytest.mark.parametrize("kind", ["not an image", "truncated", "tiny", "huge", "two people", "missing"])
def test_bad_person_photo_exits_2_with_one_line(kind: str, tmp_path: Path) -> None:
    person = bad_photo(tmp_path, kind, PERSON)
    proc = _cli("render", "--person", person, "--garment", GARMENT, "-o", tmp_path / "o.png")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_no_garment_and_no_description_exits_2(tmp_path: Path) -> None:
    proc = _cli("render", "--person", PERSON, "-o", tmp_path / "o.png")
    assert proc.returncode == 2
    assert "garment" in proc.stderr
