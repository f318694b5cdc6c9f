# ceoline: `make run` sets up and answers SIP calls; `make test` sets up and runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train
SAMPLE := tests/data/demo-call.wav
# The persona adapter folded into the reply model, what calls load ([models] merged).
MERGED := models/persona-merged.gguf
# llama-cpp-python compiles llama.cpp from source; use both cores.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# A portable llama.cpp build: GGML_NATIVE=OFF and the instruction sets this CPU reports, never
# AMX (its backend segfaults on virtualised Sapphire/Granite Rapids). The stamp's name hashes
# the version and the flags, so a box with other flags, or LLAMA_EXTRA="-DGGML_CUDA=on" on a GPU
# box, rebuilds instead of reusing a build made for another CPU.
LLAMA_VERSION := $(shell sed -n 's/^ *"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
LLAMA_EXTRA ?=
# The shared inference service ([inference] mode = "shared"): llama.cpp's llama-server from
# the same pinned source and flags, built into .venv/bin (about 6 minutes on 2 cores).
LLAMA_SDIST_SHA256 := 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
# `make bench-sip WORKERS=2` ramps callers through Kamailio to two workers.
WORKERS ?= 1
CPUINFO ?= /proc/cpuinfo
LLAMA_CMAKE_ARGS := $(strip $(shell $(PYTHON) src/ceoline/native_build.py --cpuinfo $(CPUINFO)) $(LLAMA_EXTRA))
LLAMA_STAMP := $(VENV)/.llama-$(shell echo '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
SERVER_STAMP := $(VENV)/.llama-server-$(shell echo '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
# The test run gets its own network namespace with only loopback, when the kernel allows it,
# so no test can reach beyond this machine.
NETNS := $(shell unshare -n true 2>/dev/null && command -v ip >/dev/null && echo yes)

.PHONY: help install sysdeps train-deps run call demo test lint fmt bench bench-sip bench-llama eval persona turn-reader bench-persona doctor clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install: sysdeps $(STAMP) $(MERGED) $(SERVER_STAMP) ## Create .venv with every dependency (builds llama-cpp-python, several minutes)

# System packages: compilers for llama-cpp-python's build, SIPp for the SIP interop tests,
# chromium for the dashboard's browser test, espeak-ng for a caller voice the bot never uses,
# systemd-analyze to verify the service unit, Kamailio for the SIP edge of a cluster.
sysdeps:
	@missing=""; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	command -v g++ >/dev/null || missing="$$missing build-essential"; \
	command -v sipp >/dev/null || missing="$$missing sip-tester"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v kamailio >/dev/null || missing="$$missing kamailio"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "ceoline needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel

# --no-cache-dir: pip's wheel cache is keyed by the source, not by CMAKE_ARGS, so a cached wheel
# could carry another CPU's flags.
$(LLAMA_STAMP): | $(BIN)/python
	@test -n "$(LLAMA_VERSION)" || { echo "pyproject.toml must pin llama-cpp-python==X.Y.Z"; exit 1; }
	@case "$(LLAMA_CMAKE_ARGS)" in *GGML_NATIVE=OFF*) ;; \
		*) echo "cannot read this CPU's flags: run $(PYTHON) src/ceoline/native_build.py"; exit 1;; esac
	@echo "building llama-cpp-python $(LLAMA_VERSION): $(LLAMA_CMAKE_ARGS)"
	rm -f $(VENV)/.llama-*
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir --force-reinstall \
		--no-binary llama-cpp-python "llama-cpp-python==$(LLAMA_VERSION)"
	@echo "$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)" > $(VENV)/llama-cpp-build.txt
	@touch $@

$(SERVER_STAMP): | $(BIN)/python
	@echo "building llama-server $(LLAMA_VERSION): $(LLAMA_CMAKE_ARGS)"
	rm -f $(VENV)/.llama-server-*
	scripts/build_llama_server.sh "$(LLAMA_VERSION)" "$(LLAMA_SDIST_SHA256)" \
		"$(LLAMA_CMAKE_ARGS)" $(BIN)/llama-server
	@echo "$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)" > $(VENV)/llama-server-build.txt
	@touch $@

# Smart Turn v3.2 (the turn model) and its numpy feature code ship inside pipecat-ai. Its
# declared dependencies (LLM clients, numba, aiohttp, an older protobuf) serve pipecat's own
# pipelines, which ceoline does not run, so the wheel goes in alone, pinned.
PIPECAT_VERSION := 1.14.0

$(STAMP): pyproject.toml $(LLAMA_STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps "pipecat-ai==$(PIPECAT_VERSION)"
	$(BIN)/ceoline models join
	@touch $(STAMP)

# Deterministic (the same bytes on every CPU, pinned in models/manifest.toml); the command
# leaves a file already made from the same base, adapter and scale as it is.
$(MERGED): models/persona-lora.gguf $(STAMP)
	$(BIN)/ceoline persona merge

# The persona trainer's extra (CPU torch, transformers, peft): the tests train a small
# adapter, `make persona` the real one; serving never needs it.
train-deps: install $(TRAIN_STAMP)

$(TRAIN_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,train]'
	@touch $(TRAIN_STAMP)

run: install ## Check the setup, then answer SIP calls on 127.0.0.1:5060 (Ctrl-C stops)
	$(BIN)/ceoline doctor
	$(BIN)/ceoline serve

call: install ## Place a test call to a running `make run` and print the response time
	$(BIN)/ceoline dial sip:hotline@127.0.0.1:5060 --play tests/data/question-mission.wav \
		--record data/heard.wav
	@echo "What the caller heard is in data/heard.wav"

demo: install ## A simulated call on a bundled sample, no SIP: print the dialogue
	$(BIN)/ceoline call $(SAMPLE) --out data/demo-reply.wav
	@echo "The bot's side of the call is in data/demo-reply.wav"

test: train-deps ## Run the test suite (real models; loopback-only network)
ifeq ($(NETNS),yes)
	unshare -n sh -c 'ip link set lo up && exec $(BIN)/pytest -q'
else
	$(BIN)/pytest -q
endif

lint: install ## ruff check and format check
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

fmt: install ## Format the code with ruff
	$(BIN)/ruff format src tests scripts
	$(BIN)/ruff check --fix src tests scripts

bench: install ## Benchmark the streaming loop against the naive baseline
	$(BIN)/ceoline bench --calls 10

bench-sip: install ## Response times over real SIP calls (WORKERS=2: through Kamailio, ramped)
	$(BIN)/python scripts/sip_bench.py --workers $(WORKERS)

bench-llama: install ## Prefill and decode tokens/s of this llama.cpp build: base, adapter, merged
	$(BIN)/python scripts/llama_bench.py --merged $(MERGED)

# Every evaluation runs and reports, even after one misses its target; make eval fails at the
# end if any did. The Swedish line's are reported and held to no target yet.
eval: install ## Guardrails, company answers (US, UK and Swedish lines), turn-taking, over-talk and echo (two voices, µ-law), barge-in, call insights; real models
	@missed=""; \
	run() { echo "== $$*"; "$$@" || missed="$$missed\n  $$*"; }; \
	run $(BIN)/ceoline guardrails eval; \
	run $(BIN)/ceoline eval answers; \
	run $(BIN)/ceoline eval answers -c configs/markets.toml --line uk --set tests/data/company_questions_uk.jsonl; \
	$(BIN)/ceoline guardrails eval -c configs/markets.toml --line se --set tests/data/guardrails-sv.jsonl; \
	$(BIN)/ceoline eval answers -c configs/markets.toml --line se --set tests/data/company_questions_se.jsonl --voices text,espeak --calls 3; \
	run $(BIN)/ceoline turn train --check; \
	run $(BIN)/ceoline eval turns; \
	run $(BIN)/ceoline eval overtalk; \
	run $(BIN)/ceoline eval insights; \
	run $(BIN)/python scripts/bargein_eval.py; \
	if [ -n "$$missed" ]; then printf "missed a target:$$missed\n"; exit 1; fi

persona: train-deps ## Retrain the shipped persona adapter (about 11 min), pin it, merge it, evaluate both, retrain the turn reader
	$(BIN)/ceoline persona train
	$(BIN)/ceoline persona merge
	$(BIN)/ceoline persona eval --merged $(MERGED)
	$(BIN)/ceoline turn train

turn-reader: install ## Retrain the turn reader on the caller turns as the merged model reads them (about 8 min), pin it
	$(BIN)/ceoline turn train

bench-persona: install ## What the persona adapter costs per turn (first token, reply), vs base
	$(BIN)/python scripts/persona_bench.py

doctor: install ## Check config, models and data dir
	$(BIN)/ceoline doctor

clean: ## Remove the virtualenv and caches (keeps data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
