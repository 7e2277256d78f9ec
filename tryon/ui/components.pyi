"""Gradio components tryon needs beyond the stock ones (UI only).

Gradio writes a typing stub (``ui_components.pyi``) next to any module that defines a
component class; the stub is committed so nothing is written at import time.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from gradio.events import Dependency

class PhotoInput(gr.Image):
    """``gr.Image`` that hands the uploaded file's path to tryon's intake untouched.

    Gradio's own preprocessing decodes the file and fails with a generic message on a
    damaged or non-image upload; :func:`tryon.stages.intake.load_image` says what to do instead.
    """

    is_template = True  # render with the frontend's image component

    def preprocess(self, payload: Any) -> Any:
        if payload is not None and getattr(payload, "path", None) and not str(payload.url or "").startswith("data:"):
            return str(payload.path)
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component