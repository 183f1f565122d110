# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed into .venv from requirements/dev.lock (exact versions, hashes checked); only
# Python 3.11+ and make are assumed: no python3.12, no Docker, no AWS account.
#
# Adding or changing a dependency: edit pyproject.toml (and layers/shared/requirements.txt if
# Lambda needs it too), then `make lock` and commit the changed lock files.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --strip-extras

.PHONY: prereqs setup demo test test-fast lint layer sam-check lock models bench clean

prereqs:
	@PYTHON=$(PYTHON) bash scripts/prereqs.sh

setup: prereqs $(STAMP)

$(STAMP): requirements/dev.lock pyproject.toml
	@PYTHON=$(PYTHON) bash scripts/prereqs.sh --network
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

demo: setup
	$(BIN)/python -m o2o_local.demo

lint: setup
	$(BIN)/cfn-lint template.yaml

# The network check comes first: the layer build at the end needs the package index, and
# finding that out after the whole suite would waste its minutes.
test: setup lint
	@PYTHON=$(PYTHON) bash scripts/prereqs.sh --network
	$(BIN)/python -m pytest
	$(MAKE) sam-check

test-fast: setup
	$(BIN)/python -m pytest -m "not integration"

# build/layer: what template.yaml's SharedLayer ships (CPython 3.12, arm64), from any machine.
layer:
	PYTHON=$(PYTHON) bash scripts/build_layer.sh

sam-check:
	PYTHON=$(PYTHON) bash scripts/sam_check.sh

# Re-pin everything after a dependency change (pip-tools, installed in the venv):
#   requirements/dev.lock          the dev venv: the project and its [dev] extras
#   layers/shared/requirements.lock the Lambda layer, without what the runtime provides
#   requirements/sam.lock          the SAM CLI's own venv
# then writes the trimmed botocore models from the new botocore (`models` installs the new dev lock first).
# `make lock UPGRADE=1` also moves every pin to the newest allowed version.
lock: setup
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --allow-unsafe --extra dev -o requirements/dev.lock pyproject.toml requirements/build.in
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) -o layers/shared/requirements.lock layers/shared/requirements.txt \
	  --unsafe-package boto3 --unsafe-package botocore --unsafe-package s3transfer \
	  --unsafe-package urllib3 --unsafe-package python-dateutil --unsafe-package six
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --allow-unsafe -o requirements/sam.lock requirements/sam.in
	$(MAKE) models

# The botocore models the layer ships, cut to the operations the code calls, from the venv's
# botocore (scripts/trim_botocore_models.py). After a new call to an AWS operation, or a new
# botocore (`make lock` runs it): tests/unit/test_botocore_models.py fails until it is run.
models: setup
	$(BIN)/python scripts/trim_botocore_models.py

bench: setup
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/jst_client.py
	$(BIN)/python bench/s1_fulfilment.py
	$(BIN)/python bench/nightly_stock.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/shared_rate_limit.py
	$(BIN)/python bench/wdt.py

clean:
	rm -rf $(VENV) .venv-sam .aws-sam build .pytest_cache
