# paywatch — developer entry points. Every target creates .venv and installs on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= paywatch.toml

.PHONY: run test lint fuzz fuzz-atheris demo devnet screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make run: first run writes paywatch.toml (testnet, SQLite), then runs watcher + API together.
run: $(STAMP)
	@test -f $(CONFIG) || $(BIN)/paywatch init --config $(CONFIG)
	$(BIN)/paywatch run --config $(CONFIG)

## make test: lint, type-check and the whole test suite (SQLite, and PostgreSQL when reachable).
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

## make fuzz: the long local fuzzing run (API over OpenAPI on both backends, Horizon input); docs/security.md
FUZZ_EXAMPLES ?= 500
fuzz: $(STAMP)
	PAYWATCH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PAYWATCH_FUZZ_RANDOM=1 \
	PAYWATCH_HORIZON_FUZZ_EXAMPLES=$$(( $(FUZZ_EXAMPLES) * 10 )) \
	$(BIN)/pytest tests/test_fuzz_api.py tests/test_fuzz_horizon.py -p no:cacheprovider $(PYTEST_ARGS)

## make fuzz-atheris: coverage-guided fuzzing (libFuzzer) of Horizon bytes → SSE → JSON → records; atheris is installed on first use
ATHERIS_SECONDS ?= 600
fuzz-atheris: $(STAMP)
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/python -m pip install --quiet 'atheris>=2.3'
	$(BIN)/python -m tests.fuzz_atheris -max_total_time=$(ATHERIS_SECONDS) -print_final_stats=1 $(ATHERIS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make demo: offline end-to-end story on a local devnet.
demo: $(STAMP)
	$(BIN)/paywatch demo

devnet: $(STAMP)
	$(BIN)/paywatch devnet

## make screenshots: the checkout page and console PNGs in docs/, taken by the browser tests (SQLite).
screenshots: $(STAMP)
	PAYWATCH_SCREENSHOTS=docs $(BIN)/pytest -q tests/test_browser_checkout.py tests/test_browser_console.py -k sqlite

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
