"""`make check-space`: would this repository start as a Hugging Face Space, on ZeroGPU and on CPU?

- the README front matter's keys and values follow the Spaces configuration reference;
- `preload_from_hub` lists exactly the files the default recipe reads, and those files alone load it offline;
- the Space's requirements resolve for CPython 3.12 manylinux wheels (asks PyPI, bounded in time);
- importing `app` registers exactly one GPU function before `launch()` (a recorder stands in for `spaces`);
- on ZeroGPU the pipeline loads at start-up on the main thread; nothing at import writes outside the data dir;
- a Space whose storage bucket is not mounted stops with a clear message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from tryon.config import Settings
from tryon.models import diffusion as loader

# The Spaces configuration reference (huggingface.co/docs/hub/spaces-config-reference) lists these keys.
FRONT_MATTER_KEYS = {
    "title", "emoji", "colorFrom", "colorTo", "sdk", "python_version", "sdk_version", "suggested_hardware",
    "suggested_storage", "app_file", "app_port", "base_path", "app_build_command", "fullWidth", "header",
    "short_description", "models", "datasets", "tags", "thumbnail", "pinned", "hf_oauth", "hf_oauth_scopes",
    "hf_oauth_expiration_minutes", "hf_oauth_authorized_org", "hf_oauth_redirect_path", "disable_embedding",
    "startup_duration_timeout", "custom_headers", "preload_from_hub", "license",
}
COLOURS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
SDKS = {"gradio", "docker", "static"}
SHORT_DESCRIPTION_MAX = 60
# ZeroGPU's Python versions; of them only 3.12 installs diffusers 0.42 / transformers 5.23.
ZERO_GPU_PYTHON = "3.12"
ZERO_GPU_TORCH = ((2, 8), (2, 11))  # the torch minor versions ZeroGPU runs
# Installed by the Space itself (matching sdk_version), never by its requirements.txt.
PLATFORM_PACKAGES = {"gradio", "gradio-client", "spaces", "huggingface-hub"}
TEST_ONLY_PACKAGES = {"pytest", "pytest-timeout", "playwright", "ruff", "import-linter"}
BATCH_ONLY_PACKAGES = {"ray", "tqdm"}  # lookbooks on a machine or a cluster, never on the Space
# The resolver asks PyPI; bounded so that an unreachable registry fails clearly instead of hanging.
PIP_TIMEOUT_S = 240
PIP_SOCKET_TIMEOUT_S = 15
MANYLINUX_GLIBC_MINORS = range(5, 37)  # manylinux_2_5 ... manylinux_2_36 (Debian bookworm's glibc)
SUBPROCESS_TIMEOUT_S = 300
RECORDER = Path(__file__).parent / "spaces_recorder"


def _front_matter() -> dict:
    text = (REPO / "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README must start with Hugging Face Spaces front matter"
    return yaml.safe_load(match.group(1))


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _run_python(script: str, env: dict[str, str], timeout: float = SUBPROCESS_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter in the repository root (as a Space runs app.py)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: its own HOME and TMPDIR, the data dir under tmp_path, offline."""
    for name in ("home", "tmp"):
        (tmp_path / name).mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "TRYON_DATA_DIR": str(tmp_path / "data"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        **extra,
    }


# --------------------------------------------------------------------------------------------------
# Front matter and requirements (static)
# --------------------------------------------------------------------------------------------------


def test_front_matter_keys_and_values_follow_the_spaces_schema() -> None:
    meta = _front_matter()
    assert set(meta) <= FRONT_MATTER_KEYS, set(meta) - FRONT_MATTER_KEYS
    for key in ("title", "emoji", "sdk", "sdk_version", "python_version", "app_file", "short_description"):
        assert isinstance(meta[key], str) and meta[key], key  # quoted where YAML would read a number
    assert meta["colorFrom"] in COLOURS and meta["colorTo"] in COLOURS
    assert meta["sdk"] in SDKS and (REPO / meta["app_file"]).is_file()
    assert len(meta["short_description"]) <= SHORT_DESCRIPTION_MAX
    assert re.fullmatch(r"3\.\d+(\.\d+)?", meta["python_version"])
    for key in ("pinned", "hf_oauth"):
        assert isinstance(meta.get(key, False), bool), key
    for key in ("tags", "hf_oauth_scopes", "models", "datasets", "preload_from_hub"):
        assert all(isinstance(item, str) for item in meta.get(key, [])), key
    if "startup_duration_timeout" in meta:
        assert re.fullmatch(r"\d+[mh]", str(meta["startup_duration_timeout"]))


def test_front_matter_asks_for_a_zerogpu_python_and_this_gradio() -> None:
    import gradio

    meta = _front_matter()
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert meta["python_version"] == ZERO_GPU_PYTHON


def test_preload_from_hub_lists_exactly_the_files_the_default_recipe_reads() -> None:
    entries = {}
    for entry in _front_matter()["preload_from_hub"]:
        repo, files, *revision = entry.split()
        assert len(revision) <= 1, entry
        entries[repo] = tuple(files.split(","))
    recipe = Settings().diffusion_recipe
    assert recipe == "kandinsky21"  # the Space's default: a BERT-family text encoder
    assert entries == loader.PUBLISHED_FILES[recipe]
    assert {repo for repo in entries} == set(loader.DEFAULT_WEIGHTS[recipe].values())
    assert not any(name.endswith(".bin") for files in entries.values() for name in files)  # no second copies


def test_space_requirements_pin_a_zerogpu_torch_and_leave_platform_and_test_packages_out() -> None:
    space = _pins(REPO / "requirements.txt")
    unwanted = set(space) & (PLATFORM_PACKAGES | TEST_ONLY_PACKAGES | BATCH_ONLY_PACKAGES)
    assert not unwanted, unwanted
    major, minor = (int(part) for part in space["torch"].split(".")[:2])
    assert ZERO_GPU_TORCH[0] <= (major, minor) <= ZERO_GPU_TORCH[1], space["torch"]
    assert sum("opencv" in name for name in space) == 1 and space["mediapipe"] == "0.10.21"


def test_local_requirements_are_the_space_pins_plus_gradio_tests_ray_and_a_local_torch() -> None:
    space, local = _pins(REPO / "requirements.txt"), _pins(REPO / "requirements-local.txt")
    shared = set(space) - {"torch"}
    assert {name: local.get(name) for name in shared} == {name: space[name] for name in shared}
    assert set(local) - set(space) <= PLATFORM_PACKAGES | TEST_ONLY_PACKAGES | BATCH_ONLY_PACKAGES
    assert local["torch"] != space["torch"]  # the CPU wheel this project's machines resolve
    assert "requirements-local.txt" in (REPO / "Makefile").read_text()


# --------------------------------------------------------------------------------------------------
# The Space's requirements resolve for CPython 3.12 (asks PyPI)
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_space_requirements_resolve_for_cpython_312_manylinux_wheels(tmp_path: Path) -> None:
    platforms = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64",
                 *(f"manylinux_2_{minor}_x86_64" for minor in MANYLINUX_GLIBC_MINORS)]
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--python-version", ZERO_GPU_PYTHON, "--implementation", "cp", "--only-binary=:all:",
        *(option for platform in platforms for option in ("--platform", platform)),
        "--timeout", str(PIP_SOCKET_TIMEOUT_S), "--retries", "1", "--disable-pip-version-check",
        "--report", str(tmp_path / "report.json"), "-r", str(REPO / "requirements.txt"),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"PyPI did not answer within {PIP_TIMEOUT_S} s: the Space's requirements could not be checked "
                    "(is the package registry reachable from here?)")
    unreachable = ("Failed to establish a new connection", "NewConnectionError", "Temporary failure in name",
                   "Network is unreachable", "Read timed out")
    if done.returncode != 0 and any(sign in done.stderr for sign in unreachable):
        pytest.fail("PyPI is unreachable from here, so the Space's requirements were not checked: "
                    + done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, f"requirements.txt does not resolve for CPython {ZERO_GPU_PYTHON}:\n{done.stderr}"
    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                 for item in json.loads((tmp_path / "report.json").read_text())["install"]}
    space = _pins(REPO / "requirements.txt")
    assert installed["torch"] == space["torch"] and installed["diffusers"] == space["diffusers"]


# --------------------------------------------------------------------------------------------------
# Importing app.py as a Space does
# --------------------------------------------------------------------------------------------------

LAUNCH_AND_REPORT = """
    import json, threading
    from tryon.models import diffusion as loader

    main_thread_loads = []
    build = loader._build_kandinsky

    def watched(key):  # the real build, noting the thread it runs on
        main_thread_loads.append(threading.current_thread() is threading.main_thread())
        return build(key)

    loader._build_kandinsky = watched
    import app
    import spaces

    app.demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    app.demo.close()
    entry = spaces.REGISTERED[0] if spaces.REGISTERED else {}
    print(json.dumps({
        "registered": [item["name"] for item in spaces.REGISTERED],
        "generator": entry.get("generator"),
        "duration_is_callable": callable(entry.get("duration")),
        "same_function": entry.get("function") is app.STARTUP.gpu_function,
        "at_launch": spaces.AT_LAUNCH,
        "main_thread_loads": main_thread_loads,
        "preloaded": app.STARTUP.preloaded,
        "unavailable": app.STARTUP.diffusion_unavailable,
    }))
"""


def _import_app_with_recorder(tmp_path: Path, **env: str) -> dict:
    done = _run_python(LAUNCH_AND_REPORT, _clean_env(tmp_path, PYTHONPATH=f"{RECORDER}:{REPO}", **env))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_importing_app_registers_exactly_one_gpu_function_before_launch(tmp_path: Path) -> None:
    report = _import_app_with_recorder(tmp_path)
    assert report["registered"] == ["tryon.stages.diffusion.generate"]
    assert report["at_launch"] == [1]  # registered when launch() ran, as ZeroGPU's scheduler requires
    assert report["generator"] and report["duration_is_callable"] and report["same_function"]
    assert report["main_thread_loads"] == [] and not report["preloaded"]  # CPU Space, warp: nothing loaded


@pytest.mark.slow
def test_on_zerogpu_the_pipeline_loads_at_start_up_on_the_main_thread(tmp_path: Path) -> None:
    from tiny_diffusion import build_tiny_kandinsky

    weights = build_tiny_kandinsky(tmp_path / "weights")
    report = _import_app_with_recorder(tmp_path, SPACES_ZERO_GPU="true", TRYON_DEVICE="cpu",
                                       TRYON_DIFFUSION_MODEL=weights["model"], TRYON_DIFFUSION_PRIOR=weights["prior"])
    assert report["main_thread_loads"] == [True] and report["preloaded"] and report["unavailable"] is None
    assert report["at_launch"] == [1]


@pytest.mark.slow
def test_on_zerogpu_without_weights_the_app_starts_and_says_why(tmp_path: Path) -> None:
    report = _import_app_with_recorder(tmp_path, SPACES_ZERO_GPU="true", TRYON_DEVICE="cpu")
    assert not report["preloaded"] and "kandinsky-community/kandinsky-2-1-inpaint" in report["unavailable"]
    assert report["at_launch"] == [1]


@pytest.mark.slow
def test_the_preloaded_files_alone_load_the_default_recipe_offline(tmp_path: Path) -> None:
    from tiny_diffusion import build_tiny_kandinsky, publish_to_hub_cache

    weights = build_tiny_kandinsky(tmp_path / "weights")
    publish_to_hub_cache(weights, tmp_path / "hub", loader.PUBLISHED_FILES["kandinsky21"])
    script = """
        from tryon.config import Settings
        from tryon.models import diffusion as loader
        settings = Settings(device="cpu")  # the recipe's published ids, nothing else set
        assert loader.unavailable_reason(settings) is None, loader.unavailable_reason(settings)
        pipe = loader.load_pipeline(loader.PipelineKey.from_settings(settings))
        print(type(pipe).__name__, type(pipe.text_encoder).__name__, type(pipe.prior_pipe.tokenizer).__name__)
    """
    env = _clean_env(tmp_path, HF_HUB_CACHE=str(tmp_path / "hub"), PYTHONPATH=str(REPO))
    done = _run_python(script, env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["KandinskyInpaintCombinedPipeline", "MultilingualCLIP", "CLIPTokenizer"]
    unet = next((tmp_path / "hub").glob("models--*inpaint/snapshots/*/unet/diffusion_pytorch_model.safetensors"))
    unet.unlink()  # one file fewer than the list: the load must fail (the cache is what was read)
    done = _run_python(script, env)
    assert done.returncode != 0 and "TRYON_DIFFUSION_MODEL" in done.stderr


@pytest.mark.slow
def test_nothing_at_import_writes_outside_the_data_dir(tmp_path: Path) -> None:
    def repository_state() -> str:
        return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout

    before = repository_state()
    done = _run_python("import app", _clean_env(tmp_path, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert repository_state() == before
    written = [p for name in ("home", "tmp") for p in (tmp_path / name).rglob("*")]
    assert written == [], written
    assert (tmp_path / "data" / "annotations.sqlite3").is_file()  # the data dir is where things go


def test_a_missing_storage_mount_stops_a_space_with_a_clear_message(tmp_path: Path) -> None:
    env = _clean_env(tmp_path, PYTHONPATH=str(REPO), SYSTEM="spaces", TRYON_DATA_DIR=str(tmp_path / "bucket"))
    done = _run_python("import app", env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("tryon cannot start:") and "is not mounted" in message and "storage" in message
