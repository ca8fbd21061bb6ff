# Two entry points (see README): `make run` and `make test`. Each creates .venv and
# installs what is missing; the install re-runs when pyproject.toml or the module set changes
# (the strict editable install is a link tree that mypy can follow).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SOURCES := $(shell find core streams codecs schemas -type f \( -name '*.py' -o -name '*.avsc' -o -name '*.json' -o -name '*.jsonl' \) 2>/dev/null | sort)
STAMP := $(VENV)/.installed-$(shell echo $(SOURCES) | cksum | cut -d' ' -f1)

.PHONY: install run test bench bench-image bench-video bench-audio clean

install: $(STAMP)

$(STAMP): pyproject.toml | system-packages
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' --config-settings editable_mode=strict
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian packages: libchromaprint1 (audio fingerprints, synthguard.review.audio_fp),
# pocketsphinx-testdata (the recorded speech its tests match), chromium with its
# chromedriver (the complaints portal's browser test; Selenium Manager would download a
# browser otherwise), and docker-compose (checks docker-compose.yml; needs no engine).
# Checked on every run (a few ms); installed when missing and we are root, else the command
# that installs them is printed.
SYSTEM_PACKAGES := libchromaprint1 pocketsphinx-testdata chromium chromium-driver \
  docker-compose
.PHONY: system-packages
system-packages:
	@PATH="$$PATH:/sbin:/usr/sbin" ldconfig -p | grep -q 'libchromaprint\.so\.1 ' \
	  && test -d /usr/share/pocketsphinx/test/data/librivox \
	  && test -x /usr/bin/chromedriver \
	  && test -x /usr/bin/docker-compose || { \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "missing Debian packages: run 'sudo apt-get update && sudo apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES)'" >&2; \
	    exit 1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }

run: $(STAMP)
	$(BIN)/synthguard run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p synthguard
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/text_pipeline.py

# The peer for the watermark comparison, without the PyTorch its other method wants.
bench-image: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps invisible-watermark==0.2.0
	$(BIN)/python -m pip install -q opencv-python-headless==5.0.0.93 PyWavelets==1.9.0
	$(BIN)/python bench/image_watermark.py

bench-video: $(STAMP)
	$(BIN)/python bench/video_label.py
	$(BIN)/python bench/video_watermark.py

bench-audio: $(STAMP)
	$(BIN)/python bench/audio_watermark.py

clean:
	rm -rf $(VENV) build *.egg-info
