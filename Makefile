# orderhex: `make dashboard` and `make test` work on a fresh clone with nothing but Python 3.11+.
# PYTHON: the newest python3.N (N >= 11) on PATH that runs (a pyenv shim of a version that is not
# installed does not), else python3 if it is 3.11+; `make PYTHON=/path/to/python3.x` chooses.
PYTHON ?= $(shell for p in $$(IFS=:; for d in $$PATH; do ls "$$d" 2>/dev/null; done \
                               | grep -xE 'python3\.[0-9]+' | sort -t. -k2,2nr -u) python3; do \
                    $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; \
                  done)
VENV   := .venv
BIN    := $(VENV)/bin
# The app alone (make dashboard), with the dev extras (make test, lint), and with dev and bench (make bench).
STAMP     := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install dashboard test lint bench clean

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "orderhex needs Python 3.11+ and found none on PATH; run make PYTHON=/path/to/python3.x"; exit 1; }
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "orderhex needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(DEV_STAMP)

$(BENCH_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP) $(DEV_STAMP) $(BENCH_STAMP)

install: $(STAMP)

dashboard: $(STAMP)
	$(BIN)/orderhex dashboard

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Four workers, a test file each at a time (its module fixtures stay in one worker): the suite mostly
# waits on the processes and servers it starts, so 2 cores keep up with 4 workers.
test: lint
	$(BIN)/python -m pytest -p no:cacheprovider -n 4 --dist loadfile

bench: $(BENCH_STAMP)
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
