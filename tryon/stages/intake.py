"""Image intake: decode anything a user may upload into an RGB ``uint8`` array.

Input: a path, bytes, a file object, a ``PIL.Image`` or a numpy array.
Output: ``np.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8``, RGB, with EXIF
orientation applied and the long side at most ``Settings.max_side`` px.
Every failure is a :class:`~tryon.errors.TryOnError` that says what to do.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..config import get_settings
from ..errors import TryOnError

ImageSource = str | os.PathLike | bytes | BinaryIO | Image.Image | np.ndarray

# Transparent pixels are shown on white, as product photos are.
BACKGROUND_RGB = (255, 255, 255)
# Float arrays whose maximum exceeds this are on the 0-255 scale, not [0, 1].
FLOAT_ONE_TOLERANCE = 1.5


def load_image(
    source: ImageSource,
    *,
    what: str = "image",
    max_side: int | None = None,
    min_side: int | None = None,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Decode ``source`` into RGB uint8 ``(H, W, 3)`` at processing size.

    Args:
        source: path, bytes, binary file, PIL image or array (``(H, W)``,
            ``(H, W, 3)`` or ``(H, W, 4)``, uint8/uint16/float in [0, 1] (or 0-255)).
        what: how to name the image in error messages ("person photo", ...).
        max_side: downscale so the long side is at most this (default: settings).
        min_side: refuse images whose short side is smaller (default: settings).
        max_pixels: refuse images with more pixels (default: settings).

    Raises:
        TryOnError: not an image, truncated, too large, too small.
    """
    settings = get_settings()
    max_side = settings.max_side if max_side is None else max_side
    min_side = settings.min_side if min_side is None else min_side
    max_pixels = settings.max_pixels if max_pixels is None else max_pixels

    if source is None:
        raise TryOnError(f"No {what} was given: upload one (JPEG or PNG).")
    if isinstance(source, np.ndarray):
        image = _from_array(source, what)
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source, what, max_pixels)

    width, height = image.size
    if width * height > max_pixels:
        raise TryOnError(_too_large(what, width, height, max_pixels))
    try:
        image = ImageOps.exif_transpose(image) or image
        rgb = _to_rgb(image)
    except (OSError, SyntaxError, ValueError) as exc:  # a lazily decoded PIL image can fail here
        raise TryOnError(_damaged(what)) from exc
    if min(rgb.size) < min_side:
        raise TryOnError(
            f"The {what} is only {rgb.size[0]}x{rgb.size[1]} pixels: use a photo at least "
            f"{min_side} px on its short side (ideally 768x1024)."
        )
    scale = max_side / max(rgb.size)
    if scale < 1:
        new_size = (max(1, round(rgb.size[0] * scale)), max(1, round(rgb.size[1] * scale)))
        rgb = rgb.resize(new_size, Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).copy()


def _open(source: ImageSource, what: str, max_pixels: int) -> Image.Image:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise TryOnError(f"The {what} file {str(path)!r} does not exist: check the path.")
        fp: BinaryIO = io.BytesIO(path.read_bytes())
    elif isinstance(source, (bytes, bytearray)):
        fp = io.BytesIO(source)
    else:
        fp = source  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit and raises at twice it; we decide ourselves.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(fp)
            width, height = image.size
            if width * height > max_pixels:
                raise TryOnError(_too_large(what, width, height, max_pixels))
            image.load()
    except TryOnError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TryOnError(
            f"The {what} is too large to decode safely: resize it to at most about 2000 px "
            "on the long side and try again."
        ) from exc
    except UnidentifiedImageError as exc:
        raise TryOnError(
            f"The {what} is not an image this app can read: upload a JPEG, PNG or WebP photo."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise TryOnError(_damaged(what)) from exc
    return image


def _too_large(what: str, width: int, height: int, max_pixels: int) -> str:
    return (
        f"The {what} is {width}x{height} pixels, more than the {max_pixels / 1_000_000:g} MP this app "
        "accepts: resize it to at most about 2000 px on the long side and try again."
    )


def _damaged(what: str) -> str:
    return (
        f"The {what} could not be decoded (the file looks truncated or damaged): "
        "save it again or upload another copy."
    )


def _from_array(array: np.ndarray, what: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise TryOnError(
            f"The {what} has shape {array.shape}: pass a height x width x 3 colour image "
            "(or height x width for grey)."
        )
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        array = np.nan_to_num(array.astype(np.float64))
        # Floats are read as [0, 1]; values above 1 mean the caller kept the 0-255 scale.
        peak = 255.0 if array.max(initial=0.0) > FLOAT_ONE_TOLERANCE else 1.0
        array = (np.clip(array / peak, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparency composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max(initial=0) > 255 else 255.0
        image = Image.fromarray((array / peak * 255 + 0.5).clip(0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray((array.clip(0, 1) * 255 + 0.5).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND_RGB, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
