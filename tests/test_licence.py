"""The repository's licence (Apache-2.0 for the code) and the example images' own licences."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import REPO


def test_code_is_apache_2_in_the_licence_file_pyproject_and_space_front_matter() -> None:
    licence = (REPO / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    front = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", (REPO / "README.md").read_text(), re.S).group(1))
    assert front["license"] == "apache-2.0"


def test_every_shipped_image_has_a_licence_row_and_attribution() -> None:
    import csv

    attribution = (REPO / "assets" / "ATTRIBUTION.md").read_text()
    for folder, sidecar in (("garments", "catalog.csv"), ("people", "people.csv")):
        with open(REPO / "assets" / folder / sidecar, newline="", encoding="utf-8") as fh:
            listed = {row["file"]: row for row in csv.DictReader(fh)}
        shipped = {p.name for p in (REPO / "assets" / folder).glob("*.jpg")}
        assert shipped == set(listed), folder
        for row in listed.values():
            assert row["licence"] in ("MIT", "Apache-2.0", "CC-BY-NC-4.0"), row
            assert row["commercial"] == ("no" if row["licence"] == "CC-BY-NC-4.0" else "yes"), row
            assert row["source"] in attribution, row
