"""Run a function's handler in this process, as the Lambda Python runtime would.

Each function's module is loaded once from its own folder under a unique module name
(``o2o_fn_<short_name>``) so the twelve ``app.py`` files do not collide; the folder is on
``sys.path`` only while the module is imported, and sibling modules it imports (say a
``util.py``) are taken out of ``sys.modules`` again so another function's ``util`` is its own.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .names import LOCAL_ACCOUNT_ID, local_name, local_region
from .template import FunctionSpec

__all__ = ["HandlerLoadError", "LambdaContext", "invoke", "load_handler", "make_context", "unload_all"]

Handler = Callable[[Any, Any], Any]

_import_lock = threading.RLock()
_handlers: dict[Path, Handler] = {}
_module_names: dict[Path, str] = {}


class HandlerLoadError(ImportError):
    pass


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda context object handlers use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def make_context(spec: FunctionSpec, request_id: str | None = None) -> LambdaContext:
    name = local_name(spec.logical_id)
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=spec.memory,
        invoked_function_arn=f"arn:aws:lambda:{local_region()}:{LOCAL_ACCOUNT_ID}:function:{name}",
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        timeout_seconds=spec.timeout,
    )


def load_handler(spec: FunctionSpec) -> Handler:
    """The handler callable of ``spec`` (``app.lambda_handler`` in ``code_dir``), cached."""
    code_dir = spec.code_dir.resolve()
    with _import_lock:
        if code_dir in _handlers:
            return _handlers[code_dir]
        module_path, _, attribute = spec.handler.rpartition(".")
        if not module_path or not attribute:
            raise HandlerLoadError(f"{spec.name}: handler {spec.handler!r} is not <module>.<function>")
        source = code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
        if not source.is_file():
            raise HandlerLoadError(f"{spec.name}: {source} not found (handler {spec.handler})")
        module = _import_isolated(_module_name_for(spec, code_dir), source, code_dir)
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise HandlerLoadError(f"{spec.name}: {source.name} has no callable {attribute!r}")
        _handlers[code_dir] = handler
        return handler


def _module_name_for(spec: FunctionSpec, code_dir: Path) -> str:
    if code_dir in _module_names:
        return _module_names[code_dir]
    base = "o2o_fn_" + "".join(ch if ch.isalnum() else "_" for ch in spec.name)
    name, counter = base, 1
    while name in _module_names.values() or name in sys.modules:
        counter += 1
        name = f"{base}_{counter}"
    _module_names[code_dir] = name
    return name


def _import_isolated(module_name: str, source: Path, code_dir: Path) -> Any:
    before = set(sys.modules)
    sys.path.insert(0, str(code_dir))
    try:
        module_spec = importlib.util.spec_from_file_location(module_name, source)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module
    finally:
        sys.path.remove(str(code_dir))
        for name in set(sys.modules) - before:  # the function's own sibling modules
            file = getattr(sys.modules[name], "__file__", None) or ""
            if name != module_name and file and Path(file).resolve().is_relative_to(code_dir):
                del sys.modules[name]


def unload_all() -> None:
    """Forget every loaded handler (tests)."""
    with _import_lock:
        for name in _module_names.values():
            sys.modules.pop(name, None)
        _handlers.clear()
        _module_names.clear()


def invoke(spec: FunctionSpec, event: Any, *, request_id: str | None = None) -> Any:
    """Call the handler with a JSON copy of ``event`` and a fresh context; return its
    result as Lambda would serialize it. Exceptions of the handler propagate."""
    handler = load_handler(spec)
    payload = json.loads(json.dumps(event))
    context = make_context(spec, request_id)
    result = handler(payload, context)
    if context.get_remaining_time_in_millis() == 0:
        print(f"[lambda] {spec.name}: ran past its {spec.timeout}s timeout (Lambda would have stopped it)",
              file=sys.stderr, flush=True)
    try:
        return json.loads(json.dumps(result))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{spec.name}: the result is not JSON serializable as Lambda needs it: {error}") from error
