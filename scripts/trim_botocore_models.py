"""Write the botocore service models the bridge's AWS clients load: the installed botocore's
models for DynamoDB, SQS, KMS, Secrets Manager and S3, cut down to the operations the code
calls, into ``layers/shared/o2o_bridge/connectors/aws/botocore_models/`` (shipped in the layer).

Why: building a client parses its whole service model (S3's is 185 KB gzipped, DynamoDB's
most of the baseline's client); the bridge calls a handful of operations of each. The runtime
puts this folder first on botocore's loader search path (``runtime.aws_session``), so those
models are read instead of the full ones; everything else (endpoint rule sets, paginators,
waiters, the sdk-extras botocore merges in, other services) still comes from botocore itself.

Which operations: every attribute name in the bridge's code (the layer, the functions, the CLI)
that is the snake_case name of an operation of one of these services, every ``get_paginator``
argument, the ones libraries call for us (LIBRARY_OPERATIONS) and the ones botocore itself may
call (BOTOCORE_OPERATIONS). A name that merely looks like an operation keeps that operation:
the cut errs on the side of keeping. Every exception shape is kept (``client.exceptions``).
Documentation strings are emptied (only docstrings show them).

    python scripts/trim_botocore_models.py          # rewrite the models
    python scripts/trim_botocore_models.py --check  # exit 1 if they differ from what this writes

``make models`` runs it; ``make lock`` runs it after re-locking (a new botocore, new models);
tests/unit/test_botocore_models.py fails when the committed models are not what it writes
(a new call in the code, or another botocore).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "layers/shared/o2o_bridge/connectors/aws/botocore_models"
SCANNED = [ROOT / "layers/shared/o2o_bridge", ROOT / "functions", ROOT / "tools"]
SERVICES = ("dynamodb", "sqs", "kms", "secretsmanager", "s3")

# Operations libraries call on the clients the bridge hands them.
LIBRARY_OPERATIONS = {
    # Powertools idempotency (DynamoDBPersistenceLayer) and Parameters (SecretsProvider).
    "dynamodb": {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    "secretsmanager": {"GetSecretValue"},
}
# Operations botocore itself may call: DynamoDB's endpoint discovery, S3's region redirect
# (HeadBucket) and S3 Express sessions (CreateSession).
BOTOCORE_OPERATIONS = {
    "dynamodb": {"DescribeEndpoints"},
    "s3": {"HeadBucket", "CreateSession"},
}


def names_in_code() -> set[str]:
    """Every attribute name and every get_paginator argument in the scanned code."""
    names: set[str] = set()
    for folder in SCANNED:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Attribute):
                    names.add(node.attr)
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                      and node.func.attr in ("get_paginator", "can_paginate")):
                    names.update(arg.value for arg in node.args
                                 if isinstance(arg, ast.Constant) and isinstance(arg.value, str))
    return names


def _shapes_of(model: dict, roots: set[str]) -> set[str]:
    shapes, pending = set(), list(roots)
    while pending:
        name = pending.pop()
        if name in shapes:
            continue
        shapes.add(name)
        shape = model["shapes"][name]
        refs = [member for member in (shape.get("members") or {}).values()]
        refs += [shape[key] for key in ("member", "key", "value") if key in shape]
        pending.extend(ref["shape"] for ref in refs)
    return shapes


def _undocumented(value):
    # Emptied, not removed: botocore reads some of them with ``[...]`` (clientContextParams).
    if isinstance(value, dict):
        return {k: "" if k == "documentation" else _undocumented(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_undocumented(v) for v in value]
    return value


def trimmed_models() -> dict[str, str]:
    """{relative path: file text} for every trimmed model, from the installed botocore."""
    import botocore
    from botocore import xform_name
    from botocore.loaders import Loader

    loader = Loader(include_default_search_paths=False, extra_search_paths=[str(Path(botocore.__file__).parent / "data")])
    names = names_in_code()
    files: dict[str, str] = {}
    for service in SERVICES:
        version = loader.determine_latest_version(service, "service-2")
        # The file as shipped, without the sdk-extras: botocore merges those in at load time.
        model = loader.load_data(f"{service}/{version}/service-2")
        kept = {op for op in model["operations"] if xform_name(op) in names}
        kept |= LIBRARY_OPERATIONS.get(service, set()) | BOTOCORE_OPERATIONS.get(service, set())
        missing = kept - set(model["operations"])
        if missing:
            raise SystemExit(f"{service} {version} has no operation {sorted(missing)}")
        operations = {op: model["operations"][op] for op in sorted(kept)}
        roots = {shape for shape, body in model["shapes"].items() if body.get("exception")}
        for op in operations.values():
            roots.update(ref["shape"] for ref in [op.get("input"), op.get("output"), *op.get("errors", [])] if ref)
        shapes = _shapes_of(model, roots)
        trimmed = {key: value for key, value in model.items() if key not in ("operations", "shapes")}
        trimmed["operations"] = operations
        trimmed["shapes"] = {name: model["shapes"][name] for name in sorted(shapes)}
        trimmed["metadata"] = dict(trimmed["metadata"], o2oTrimmedFrom=f"botocore {botocore.__version__}")
        files[f"{service}/{version}/service-2.json"] = json.dumps(_undocumented(trimmed), separators=(",", ":"),
                                                                  sort_keys=True) + "\n"
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the models are stale")
    args = parser.parse_args()
    wanted = trimmed_models()
    present = {str(p.relative_to(OUT)): p.read_text(encoding="utf-8") for p in OUT.rglob("*.json")} if OUT.exists() else {}
    if args.check:
        stale = sorted(set(wanted) ^ set(present) | {p for p in wanted if present.get(p) != wanted[p]})
        if stale:
            print(f"stale botocore models: {stale}; run `make models`", file=sys.stderr)
            return 1
        return 0
    for path in set(present) - set(wanted):
        (OUT / path).unlink()
    for path, text in wanted.items():
        (OUT / path).parent.mkdir(parents=True, exist_ok=True)
        (OUT / path).write_text(text, encoding="utf-8")
    for path, text in sorted(wanted.items()):
        model = json.loads(text)
        print(f"{path}: {len(model['operations'])} operations, {len(model['shapes'])} shapes, {len(text) // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
