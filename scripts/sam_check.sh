#!/usr/bin/env bash
# Check the SAM application the way `sam deploy` will see it, with no python3.12 and no Docker:
#   sam validate --lint   the SAM transform and cfn-lint, by the SAM CLI itself
#   scripts/build_layer.sh the layer for CPython 3.12 on arm64 (pip --platform), checked
# The SAM CLI lives in its own venv (.venv-sam, any python3 >= 3.11), installed from
# requirements/sam.lock with hashes: its pins clash with the dev venv.
# `sam build` is not used: its python builder insists on a local python3.12 for every
# function. The functions are plain folders that `sam deploy` zips as they are.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
SAM_VENV="${SAM_VENV:-.venv-sam}"
export SAM_CLI_TELEMETRY=0
# sam validate translates the template for a region; any region works for the check.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"

die() { echo "sam_check: $*" >&2; exit 1; }

if [ ! -x "$SAM_VENV/bin/sam" ] || [ requirements/sam.lock -nt "$SAM_VENV/bin/sam" ]; then
  echo "sam_check: installing the SAM CLI into $SAM_VENV from requirements/sam.lock"
  rm -rf "$SAM_VENV"
  "$PYTHON" -m venv "$SAM_VENV"
  # --no-deps: the lock is the complete set (pip would otherwise trip over extras it names).
  "$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r requirements/sam.lock 2> >(grep -v "^WARNING: Location" >&2) || die "installing the SAM CLI failed"
fi
SAM="$SAM_VENV/bin/sam"
echo "sam_check: $("$SAM" --version)"

echo "sam_check: sam validate --lint"
"$SAM" validate --lint --template-file template.yaml || die "sam validate --lint failed"

echo "sam_check: the layer for the Lambda runtime"
PYTHON="$PYTHON" scripts/build_layer.sh || die "the layer build failed"
echo "sam_check: OK"
