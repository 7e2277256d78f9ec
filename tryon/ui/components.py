"""Gradio components tryon needs beyond the stock ones (UI only).

Gradio writes a typing stub (``ui_components.pyi``) next to any module that defines a
component class; the stub is committed so nothing is written at import time.
"""

from __future__ import annotations

import io
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image


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


class StrokeEditor(gr.ImageEditor):
    """``gr.ImageEditor`` that decodes only the painted layers.

    The page sends the background, the layers and their composite; correcting the edit area needs
    only the strokes, so the two full images are not decoded. The value is
    ``{"background": None, "layers": [RGBA uint8 (H, W, 4), ...], "composite": None}`` (layers as
    numpy arrays whatever ``type`` says).
    """

    is_template = True  # render with the frontend's image editor

    def preprocess(self, payload: Any) -> Any:
        if payload is None:
            return None
        layers = payload.layers
        if payload.id is not None:  # sent as blobs beforehand
            cached = self.blob_storage.pop(payload.id, None)
            layers = cached.layers if cached is not None else []
        decoded = []
        for layer in layers or []:
            if layer is None:
                continue
            source = layer.path if hasattr(layer, "path") else io.BytesIO(layer)
            with Image.open(source) as image:
                decoded.append(np.asarray(image.convert("RGBA")))
        return {"background": None, "layers": decoded, "composite": None}
