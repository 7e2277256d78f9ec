"""The Gradio face of tryon: the only package that imports gradio.

``build_demo()`` builds the Blocks app (:mod:`tryon.ui.app`); ``launch(demo)`` serves it.
Both are imported on first use, so ``tryon.ui.load`` (the load test) starts without gradio.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_demo", "launch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
