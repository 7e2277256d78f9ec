"""The pipeline's stages, one module each, in the order :func:`tryon.pipeline.try_on` runs them.

    intake -> body (MediaPipe) -> text -> garment -> warp -> composite   (CPU renderer)
                                                   \\-> diffusion            (GPU renderer)

Stages take and return numpy arrays (RGB ``uint8 (H, W, 3)`` images, ``bool (H, W)`` masks) and
frozen dataclasses; they never import the UI, the store or the measurement tools, and load models
only through :func:`tryon.models.load_model`.
"""
