# The two set-up commands: `make demo` (the main job on embedded defaults) and `make test`.
# Each installs what it needs on a fresh Debian machine: Debian packages, then .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEB_RUN := libzbar0
DEB_TEST := $(DEB_RUN) postgresql dovecot-imapd chromium

.PHONY: demo test test-fast bench lint typecheck-report fixtures deps-run deps-test clean

demo: deps-run $(STAMP)
	$(BIN)/confere demo
	@echo "next: . $(VENV)/bin/activate && confere invoices --config .confere-demo/confere.toml"

# One pytest worker a core (pytest-xdist), a test file's tests on one worker: each worker starts
# its own servers once (Dovecot, PostgreSQL, SMTP) and a file's module fixtures are built once.
XDIST := -n auto --dist loadfile

test: deps-test $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: deps-test $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

bench: deps-test $(STAMP)
	$(BIN)/python -m benchmarks

# ruff; the layering contracts (pyproject [tool.importlinter]); mypy on parsers/ and storage/.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy parsers storage

# pipeline/ and scheduler/ are moving toward mypy-clean: a count, not a gate.
typecheck-report: $(STAMP)
	-$(BIN)/mypy pipeline scheduler | tail -1

fixtures: $(STAMP)
	$(BIN)/python -m fixtures.generate

deps-run:
	@sh .ci/debian-deps.sh $(DEB_RUN)

deps-test:
	@sh .ci/debian-deps.sh $(DEB_TEST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .confere-demo build *.egg-info
