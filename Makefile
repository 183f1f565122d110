# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed into .venv from pyproject.toml; only Python 3.11+ and make are assumed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint sam-check bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml layers/shared/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: setup
	$(BIN)/python -m o2o_local.demo

lint: setup
	$(BIN)/cfn-lint template.yaml

test: setup lint
	$(BIN)/python -m pytest
	$(MAKE) sam-check

test-fast: setup
	$(BIN)/python -m pytest -m "not integration"

sam-check:
	bash scripts/sam_check.sh

bench: setup
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/jst_client.py
	$(BIN)/python bench/s1_fulfilment.py
	$(BIN)/python bench/nightly_stock.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/shared_rate_limit.py
	$(BIN)/python bench/wdt.py

clean:
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache
