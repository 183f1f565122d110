#!/usr/bin/env bash
# Build the Lambda layer for the Lambda runtime (python3.12, arm64) on any machine with a
# python3 >= 3.11 and network access to PyPI: no python3.12, no Docker, no `sam build`.
#
#   build/layer/python/            what Lambda mounts at /opt/python
#     o2o_bridge/                  the package (copied from layers/shared/o2o_bridge), with the
#                                  trimmed botocore models its clients read (make models)
#     pydantic_core/... tzdata/... the libraries of layers/shared/requirements.lock, as the
#                                  manylinux2014 aarch64 / CPython 3.12 wheels pip selects
#                                  with --platform (binary wheels only, hashes checked)
#     **/__pycache__/*.cpython-312.pyc  bytecode for the runtime, when a python3.12 is here
#
# boto3/botocore are not bundled (the runtime provides them); the lock leaves them out.
# template.yaml's SharedLayer points at build/layer/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
OUT="${LAYER_DIR:-build/layer}"
LOCK=layers/shared/requirements.lock
PLATFORM="${LAYER_PLATFORM:-manylinux2014_aarch64}"
RUNTIME_VERSION="${LAYER_PYTHON_VERSION:-3.12}"

rm -rf "$OUT"
mkdir -p "$OUT/python"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  --platform "$PLATFORM" --python-version "$RUNTIME_VERSION" --implementation cp --only-binary=:all: \
  --no-deps --require-hashes -r "$LOCK" --target "$OUT/python" \
  2> >(grep -v "^WARNING: Location" >&2)
cp -R layers/shared/o2o_bridge "$OUT/python/o2o_bridge"
find "$OUT/python" -name __pycache__ -type d -prune -exec rm -rf {} +
rm -rf "$OUT/python/bin"

# Bytecode for the runtime's Python: /opt is read-only, so a layer without it compiles every
# module of the bridge, pydantic and Powertools from source on every cold start (they are most
# of its import time). unchecked-hash: used as it is, whatever mtimes the zip and the upload
# leave on the sources. Only that Python can write its bytecode; without it the layer still
# works, and this says what it costs.
COMPILER="$(command -v "python$RUNTIME_VERSION" || true)"
if [ -n "$COMPILER" ] && "$COMPILER" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$RUNTIME_VERSION'.split('.'))))" 2>/dev/null; then
  "$COMPILER" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$OUT/python" >/dev/null
else
  echo "build_layer: WARNING no python$RUNTIME_VERSION here: the layer ships without bytecode, so each cold start" \
       "compiles the bridge, pydantic and Powertools from source (bench/cold_start.py assumes bytecode)" >&2
fi

# What Lambda will import must be there, built for its CPU and Python.
test -f "$OUT/python/o2o_bridge/__init__.py" || { echo "build_layer: no o2o_bridge in the layer" >&2; exit 1; }
ls "$OUT"/python/pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so >/dev/null \
  || { echo "build_layer: pydantic_core is not the cpython-312 aarch64 build" >&2; exit 1; }
ls "$OUT"/python/msgspec/_core.cpython-312-aarch64-linux-gnu.so >/dev/null \
  || { echo "build_layer: msgspec is not the cpython-312 aarch64 build" >&2; exit 1; }
test -f "$OUT/python/o2o_bridge/connectors/aws/botocore_models/dynamodb/2012-08-10/service-2.json" \
  || { echo "build_layer: no trimmed botocore models in the layer (make models)" >&2; exit 1; }
test -f "$OUT/python/tzdata/zoneinfo/Asia/Shanghai" \
  || { echo "build_layer: tzdata has no Asia/Shanghai" >&2; exit 1; }
for bundled_by_runtime in boto3 botocore; do
  if [ -e "$OUT/python/$bundled_by_runtime" ]; then
    echo "build_layer: $bundled_by_runtime must come from the Lambda runtime, not the layer" >&2; exit 1
  fi
done
echo "build_layer: $OUT ($(du -sh "$OUT" | cut -f1)) for CPython $RUNTIME_VERSION on $PLATFORM"
