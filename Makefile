# Two commands: `make run` serves the engine, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean bench-tools browser-tools screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/recovery migrate
	$(BIN)/recovery serve

# Checks and tests write nothing into the working copy: no caches, no bytecode (the tests keep
# their own files in temporary folders).
lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/lint-imports --no-cache

test: lint
	PYTHONDONTWRITEBYTECODE=1 $(BIN)/pytest -n 2 --dist loadfile

# The webhook benchmark's load generator: wrk, Debian's package.
bench-tools:
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

# The dashboard's browser test (skipped without them): headless Chromium and its driver,
# Debian's packages.
browser-tools:
	command -v chromedriver >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

# The README's screenshots: the emails, then the dashboard on a sandbox run (a few minutes);
# headless Chromium and its driver, Debian's packages.
screenshots: $(STAMP) browser-tools
	$(BIN)/python docs/screenshots/render_emails.py
	$(BIN)/python docs/screenshots/render_dashboard.py

clean:
	rm -rf $(VENV) var
