# The two commands of README.md: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test setup lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

run: setup
	PORT=$(PORT) OUTBOUND_ALLOW_PRIVATE=$${OUTBOUND_ALLOW_PRIVATE:-true} ./scripts/run.sh

# A selection: make test ARGS="tests/jobs -k intake" (pytest arguments, as ./scripts/test.sh takes them).
test: setup
	./scripts/test.sh $(ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	./scripts/bench_setup.sh || echo "bench: wrk is missing (see above): the Python load generator is used" >&2
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var
