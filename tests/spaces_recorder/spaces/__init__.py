"""A stand-in for Hugging Face's ``spaces`` package that records what ZeroGPU would see (tests only).

The real package, on a ZeroGPU Space, wraps each ``@spaces.GPU`` function and, when ``gr.Blocks.launch`` runs,
reports the functions decorated so far to the GPU scheduler (none: "No @spaces.GPU function detected during
startup"). Off ZeroGPU it returns the function unchanged and records nothing, so tests put this recorder first
on ``PYTHONPATH`` instead: the same API (``GPU(fn)``, ``GPU(duration=...)``, ``gradio_auto_wrap``), the same
launch hook, and a record of both.
"""

import inspect

REGISTERED: list[dict] = []  # one entry per decorated function: name, duration, generator or not
AT_LAUNCH: list[int] = []  # how many were registered each time launch() ran


def GPU(task=None, *, duration=None, size=None, **kwargs):  # noqa: N802 (the real package's name)
    def register(fn):
        REGISTERED.append({"name": f"{fn.__module__}.{fn.__qualname__}", "duration": duration,
                           "generator": inspect.isgeneratorfunction(fn), "function": fn})
        return fn

    return register(task) if callable(task) else register


def gradio_auto_wrap(task):
    return task


import gradio as gr  # noqa: E402 (like the real package: after the API exists, Gradio imports `spaces` back)

_original_launch = gr.Blocks.launch


def _launch(self, *args, **kwargs):
    AT_LAUNCH.append(len(REGISTERED))
    return _original_launch(self, *args, **kwargs)


gr.Blocks.launch = _launch
