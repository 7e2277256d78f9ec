"""The repository's setup files: README front matter for Spaces, Spacefile, pins, CI entry point."""

from __future__ import annotations

import re

import yaml
from conftest import REPO


def _front_matter() -> dict:
    text = (REPO / "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README must start with Hugging Face Spaces front matter"
    return yaml.safe_load(match.group(1))


def test_readme_front_matter_describes_a_gradio_space() -> None:
    meta = _front_matter()
    import gradio

    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert str(meta["sdk_version"]) == gradio.__version__
    assert str(meta["python_version"]) == "3.11"


def test_readme_starts_with_the_two_commands() -> None:
    body = (REPO / "README.md").read_text().split("---\n", 2)[2]
    first_block = re.search(r"```(?:bash)?\n(.*?)```", body, re.S).group(1)
    assert "make run" in first_block and "make test" in first_block


def test_readme_documents_every_setting() -> None:
    import dataclasses

    from tryon.config import Settings

    readme = (REPO / "README.md").read_text()
    for field in dataclasses.fields(Settings):
        assert f"TRYON_{field.name.upper()}" in readme, field.name


def test_spacefile_is_a_valid_v0_manifest_for_one_python_micro() -> None:
    manifest = yaml.safe_load((REPO / "Spacefile").read_text())
    assert manifest["v"] == 0
    (micro,) = manifest["micros"]
    assert micro["engine"].startswith("python") and "app.py" in micro["run"]
    assert set(micro) <= {"name", "src", "engine", "primary", "run", "dev", "public_routes", "presets",
                          "include", "commands", "path", "public"}


def test_requirements_are_exact_pins_with_one_opencv() -> None:
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    pins = [line for line in lines if line]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][A-Za-z0-9.+]*", pin) for pin in pins), pins
    assert sum("opencv" in pin for pin in pins) == 1
    assert "mediapipe==0.10.21" in pins


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (REPO / ".ci" / "run").read_text()
