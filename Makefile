# The two commands a user needs: `make demo` and `make test`. Both set up .venv themselves:
# `make demo` installs only what the stack needs to run (faster), `make test` adds the test
# and lint tools.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@ $(RUN_STAMP)

install: $(TEST_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/sv2 demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src

test: lint
	$(BIN)/pytest -q -n 2 $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
