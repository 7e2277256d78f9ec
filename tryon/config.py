"""Settings: one frozen dataclass, overridable from ``TRYON_*`` environment variables.

``Settings.from_env()`` reads the environment once; pass a ``Settings`` around
(or use :func:`get_settings`) instead of reading ``os.environ`` in the stages.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

ENV_PREFIX = "TRYON_"


@dataclasses.dataclass(frozen=True)
class Settings:
    """All knobs of the app. Each field ``name`` is read from ``TRYON_<NAME>``."""

    renderer: str = "warp"  # "warp" (CPU) or "diffusion" (GPU, falls back to warp)
    max_side: int = 1024  # long side of the processing size, px
    min_side: int = 128  # refuse images whose short side is smaller, px
    max_pixels: int = 40_000_000  # refuse larger images (decompression bombs)
    person_cache_size: int = 32  # person analyses kept in the LRU
    data_dir: Path = Path("data")  # flags database, stored images, Gradio temp files
    catalog: str = ""  # extra folder of garment photos to index next to assets/
    examples: str = "commercial"  # shipped example photos shown: "commercial" (safe for a company) or "all"
    review_token: str = ""  # annotators enter this to see the review tab
    review_org: str = ""  # or belong to this Hugging Face organisation
    cache_ttl_s: int = 600  # Gradio deletes uploads/outputs older than this
    concurrency: int = 2  # try-ons running at once in the app queue
    side_thread: bool = True  # a helper thread: the garment analysed beside the person, the person prepared
    # beside the warp (False: one after the other, on one core)
    queue_size: int = 32  # requests waiting in the app queue
    result_cache_mb: int = 256  # try-on results held for flagging and the lazy panels: MB on disk in all
    result_ttl_s: int = 600  # results, and browser/API sessions idle this long, are forgotten
    max_sessions: int = 1000  # Gradio sessions kept at once (least recently used dropped first)
    review_session_s: int = 3600  # an unlocked review expires after this
    review_max_failures: int = 5  # wrong review tokens from one address before it is locked out
    review_lockout_s: int = 900  # how long that lockout lasts (and the window failures count in)
    diffusion_recipe: str = "kandinsky21"  # kandinsky21 (BERT-family text encoder) or sd15 (CLIP text + IP-Adapter)
    diffusion_model: str = ""  # inpainting pipeline: local folder or hub id ("": the recipe's published weights)
    diffusion_prior: str = ""  # kandinsky21's prior: local folder or hub id ("": kandinsky-2-1-prior)
    diffusion_ip_adapter: str = ""  # sd15's IP-Adapter file: local path or owner/repo/subfolder/file
    diffusion_controlnet: str = ""  # sd15's optional pose ControlNet: local folder or hub id
    diffusion_side: int = 0  # long side the diffusion model works at, px (0: the checkpoint's native size)
    diffusion_steps: int = 25  # denoising steps (fewer run when strength < 1)
    diffusion_guidance: float = 0.0  # classifier-free guidance (0: the recipe's own; <= 1 turns it off)
    diffusion_strength: float = 0.7  # how far from the warp result the refinement may go (1: from noise)
    diffusion_seed: int = 0  # initial noise (same inputs + seed -> same image)
    diffusion_prior_steps: int = 25  # kandinsky21's prior: denoising steps from words to an image embedding
    device: str = "auto"  # torch device for the diffusion renderer: auto, cpu, cuda
    eval_dir: Path = Path("../shared/eval")  # default cases for eval and bench

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``TRYON_*`` variables; unknown variables are ignored.

        Raises:
            ValueError: a variable cannot be parsed as the field's type.
        """
        env = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is None:
                continue
            kind = type(field.default)
            try:
                values[field.name] = kind(raw) if kind is not bool else raw.lower() in ("1", "true", "yes")
            except ValueError as exc:
                raise ValueError(
                    f"{ENV_PREFIX}{field.name.upper()}={raw!r} is not a valid {kind.__name__}"
                ) from exc
        return cls(**values)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()
