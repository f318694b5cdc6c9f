# ceoline: `make run` sets up and runs a demo call; `make test` sets up and runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := tests/data/demo-call.wav
# llama-cpp-python compiles llama.cpp from source; use both cores.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# The test run gets its own network namespace with only loopback, when the kernel allows it,
# so no test can reach beyond this machine.
NETNS := $(shell unshare -n true 2>/dev/null && command -v ip >/dev/null && echo yes)

.PHONY: help install run test lint fmt bench doctor clean

help: ## Show the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with every dependency (builds llama-cpp-python, several minutes)

$(STAMP): pyproject.toml
	@if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then \
		echo "installing build tools (cmake, g++)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake build-essential; \
	fi
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "ceoline needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

run: install ## Check the setup, then run a demo call on a bundled sample and print the dialogue
	$(BIN)/ceoline doctor
	$(BIN)/ceoline call $(SAMPLE) --out data/demo-reply.wav
	@echo "The bot's side of the call is in data/demo-reply.wav"

test: install ## Run the test suite (real models; loopback-only network)
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
	$(BIN)/ceoline bench --calls 5

doctor: install ## Check config, models and data dir
	$(BIN)/ceoline doctor

clean: ## Remove the virtualenv and caches (keeps data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
