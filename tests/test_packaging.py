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
    assert str(meta["python_version"]) == "3.12"  # ZeroGPU's; local machines run 3.11 or 3.12


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


def test_spacefile_is_a_valid_v0_manifest_for_one_micro_set_up_like_the_project() -> None:
    manifest = yaml.safe_load((REPO / "Spacefile").read_text())
    assert manifest["v"] == 0
    (micro,) = manifest["micros"]
    assert set(micro) <= {"name", "src", "engine", "primary", "run", "dev", "public_routes", "presets",
                          "include", "commands", "path", "public"}
    # A custom engine running the project's own setup: no interpreter older than the package needs.
    assert micro["engine"] == "custom" and micro["commands"] == ["make setup"] and micro["run"] == "make run"
    assert "python3.9" not in (REPO / "Spacefile").read_text()
    assert all((REPO / path).exists() or path == ".venv" for path in micro["include"])
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^setup:", makefile, re.M) and re.search(r"^run:", makefile, re.M)


def test_requirements_are_exact_pins_with_one_opencv() -> None:
    for name in ("requirements.txt", "requirements-local.txt"):  # the Space's and the local machines'
        lines = [line.split("#")[0].strip() for line in (REPO / name).read_text().splitlines()]
        pins = [line for line in lines if line]
        assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][A-Za-z0-9.+]*", pin) for pin in pins), pins
        assert sum("opencv" in pin for pin in pins) == 1
        assert "mediapipe==0.10.21" in pins


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (REPO / ".ci" / "run").read_text()
