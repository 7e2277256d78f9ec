"""tryon: virtual try-on from a photo, a garment photo and/or a description.

The one entry point is :func:`tryon.pipeline.try_on`; the UI (``app.py``), the
CLI (``python -m tryon``) and the HTTP API all call it.
"""

__version__ = "0.1.0"
