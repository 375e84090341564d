# localvoice — two commands on a fresh machine:
#   make run    set everything up, then answer a spoken question with the embedded models
#   make test   set everything up, then run ruff, mypy and the whole test suite
# Set-up is idempotent: a second run only re-checks.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# gcin-voice: Mandarin syllables recorded by two people (GPL-3 / CC-BY-3), spliced into the human-speech
# Mandarin test set (tests/fixtures/mandarin_human, localvoice bench mandarin_cer).
APT_PACKAGES := libportaudio2 espeak-ng sox pulseaudio pulseaudio-utils libasound2-plugins alsa-utils gcin-voice chromium fonts-wqy-microhei firefox-esr
# chromium: the real browser the page's tests drive through Playwright (executable_path, no download);
# fonts-wqy-microhei: Chinese glyphs in its screenshots; firefox-esr: the page is loaded in Firefox too.
# llama.cpp builds from source: portable (no -march=native) so the build runs on any x86-64 machine.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup run test lint typecheck unit apt voices models native-llm clean

setup: apt $(STAMP) voices models

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3
	$(BIN)/pip install -q -e '.[embedded,llm-small,bench,finetune,voicecheck,serve,dev]'
	@touch $@

voices: $(STAMP)
	$(BIN)/localvoice models setup-voices

models: $(STAMP)
	$(BIN)/localvoice models verify

run: setup
	@mkdir -p out
	$(BIN)/localvoice turn tests/fixtures/speech/question_zh.wav --out out/answer.wav

# Opt-in: llama.cpp rebuilt for this machine's CPU (AVX-512 / VNNI where it has them). On the 2-core AMD
# EPYC of BENCHMARKS.md it reads prompts 1.6x faster; writing speed is the same. The venv then only runs
# on CPUs with the same features, so the default build stays portable.
native-llm: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=ON" $(BIN)/pip install -q --no-cache-dir --force-reinstall --no-deps \
	  "$$(grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# -ra lists every skip; LOCALVOICE_STRICT_SKIPS=1 makes a skip a failure (see tests/conftest.py).
unit: $(STAMP)
	LOCALVOICE_STRICT_SKIPS=1 $(BIN)/pytest -q -ra

test: setup lint typecheck unit

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache
