#!/usr/bin/env bash
# Validate and build the SAM application the way `sam deploy` will see it, without Docker:
#   sam validate --lint   (SAM transform + cfn-lint)
#   sam build             (arm64 layer: SAM's python builder downloads aarch64 wheels)
# The SAM CLI lives in its own venv (.venv-sam): its pins clash with the dev venv.
# The python builder needs a python3.12 on PATH matching the Lambda runtime; we take the
# first that works from PATH, then from pyenv (`pyenv root`/versions/3.12.*/bin).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SAM_VENV="${SAM_VENV:-.venv-sam}"
export SAM_CLI_TELEMETRY=0
# sam validate translates the template for a region; any region works for the check.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"

die() { echo "sam_check: $*" >&2; exit 1; }

is_py312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; }

# A pyenv shim named python3.12 may exist yet fail ("command not found" for the selected
# version), so each candidate is run, not merely looked up.
find_py312_dir() {
  if is_py312 python3.12; then
    dirname "$(command -v python3.12)"
    return 0
  fi
  local root=""
  if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root)"
  elif [ -n "${PYENV_ROOT:-}" ]; then
    root="$PYENV_ROOT"
  elif [ -d "$HOME/.pyenv" ]; then
    root="$HOME/.pyenv"
  fi
  if [ -n "$root" ] && [ -d "$root/versions" ]; then
    local dir
    # newest 3.12.x first
    for dir in $(ls -d "$root"/versions/3.12.* 2>/dev/null | sort -V -r); do
      if is_py312 "$dir/bin/python3.12"; then
        echo "$dir/bin"
        return 0
      fi
    done
  fi
  return 1
}

PY312_DIR="$(find_py312_dir)" || die "no working python3.12 found (the Lambda runtime is python3.12 and
sam build needs the same interpreter on PATH). Install one, e.g.
  pyenv install 3.12      # then rerun; this script finds \$(pyenv root)/versions/3.12.*
  apt-get install python3.12 python3.12-venv   # or your distro's package"
export PATH="$PY312_DIR:$PATH"
echo "sam_check: python3.12 = $(command -v python3.12) ($(python3.12 -V 2>&1))"

if [ ! -x "$SAM_VENV/bin/sam" ]; then
  echo "sam_check: creating $SAM_VENV with aws-sam-cli (once)"
  rm -rf "$SAM_VENV"
  python3.12 -m venv "$SAM_VENV"
  "$SAM_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$SAM_VENV/bin/python" -m pip install --quiet aws-sam-cli \
    || die "pip install aws-sam-cli failed"
fi
SAM="$SAM_VENV/bin/sam"
echo "sam_check: $("$SAM" --version)"

echo "sam_check: sam validate --lint"
"$SAM" validate --lint --template-file template.yaml \
  || die "sam validate --lint failed"

echo "sam_check: sam build (arm64, no container)"
"$SAM" build --template-file template.yaml --build-dir .aws-sam/build \
  || die "sam build failed"

# The layer must come out with the package under python/ where Lambda looks (/opt/python).
layer_dir=".aws-sam/build/SharedLayer/python"
[ -f "$layer_dir/o2o_bridge/__init__.py" ] \
  || die "built layer has no $layer_dir/o2o_bridge: check SharedLayer's ContentUri/BuildMethod"
echo "sam_check: OK ($(du -sh .aws-sam/build/SharedLayer | cut -f1) layer)"
