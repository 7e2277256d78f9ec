"""Settings come from one frozen dataclass, overridable by TRYON_* variables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tryon.config import Settings


def test_defaults_use_the_warp_renderer_and_local_data_dir() -> None:
    settings = Settings.from_env({})
    assert settings.renderer == "warp"
    assert settings.data_dir == Path("data")


def test_environment_overrides_each_type() -> None:
    settings = Settings.from_env(
        {"TRYON_RENDERER": "diffusion", "TRYON_MAX_SIDE": "512", "TRYON_DATA_DIR": "/tmp/x",
         "TRYON_DIFFUSION_GUIDANCE": "3.5", "OTHER": "ignored"}
    )
    assert (settings.renderer, settings.max_side, settings.data_dir) == ("diffusion", 512, Path("/tmp/x"))
    assert settings.diffusion_guidance == 3.5


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="TRYON_MAX_SIDE"):
        Settings.from_env({"TRYON_MAX_SIDE": "big"})


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().renderer = "diffusion"  # type: ignore[misc]
