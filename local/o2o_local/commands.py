"""What the ``o2o local ...`` and ``o2o invoke`` commands do. Each ``run_*`` prints its
output and returns the process exit code; errors an operator can fix are printed as one
``error: ...`` line (exit 2) instead of a traceback.

Run from a separate shell (not inside ``o2o local up``), these compute the local
environment from ``AWS_ENDPOINT_URL`` so handlers see the local table names and queue URLs;
variables already set in the shell win.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from . import lambda_runtime
from .bootstrap import bootstrap
from .bridge_runtime import reset_bridge_runtime
from .drain import drain, run_queued_tenant_runs
from .environment import local_environment
from .errors import LocalStackError
from .moto_server import MotoServerError
from .names import DEFAULT_API_PORT, DEFAULT_AWS_PORT
from .template import Template, TemplateError, load_template

__all__ = [
    "apply_local_environment", "endpoint_from_environment", "invoke_function", "run_bootstrap", "run_drain",
    "run_invoke", "run_up",
]

TemplateArg = Template | str | Path | None


def _template(template: TemplateArg) -> Template:
    if isinstance(template, Template):
        return template
    try:
        return load_template(template)
    except TemplateError as error:
        raise LocalStackError(str(error)) from error


def _fail(command: str, error: BaseException | str, code: int = 2) -> int:
    print(f"o2o {command}: {error}", file=sys.stderr, flush=True)
    return code


def _unreachable(command: str, error: EndpointConnectionError) -> int:
    """A stopped local stack: one line, exit 1 (it failed; the command itself was right)."""
    return _fail(command, f"the local stack does not answer at {error.kwargs.get('endpoint_url')}: "
                          "is `o2o local up` running (and AWS_ENDPOINT_URL the address it printed)?", 1)


def endpoint_from_environment(command: str) -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise LocalStackError(
            f"AWS_ENDPOINT_URL is not set; {command} works on a local endpoint. Start one with "
            "`o2o local up` and paste the export line it prints into this shell.")
    return endpoint.rstrip("/")


def apply_local_environment(template: Template) -> dict[str, str]:
    """When AWS_ENDPOINT_URL is set, add the local environment of the template to
    os.environ (without overriding what is set); return what was added."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return {}
    added = {}
    for name, value in local_environment(template, endpoint).items():
        if name not in os.environ:
            os.environ[name] = value
            added[name] = value
    if added:
        reset_bridge_runtime()
    return added


# -- o2o local up ----------------------------------------------------------------------------------

def run_up(port: int = DEFAULT_API_PORT, aws_port: int = DEFAULT_AWS_PORT, no_sandboxes: bool = False, *,
           host: str = "127.0.0.1", template: TemplateArg = None, stop_event: threading.Event | None = None) -> int:
    """Run the local stack in the foreground until Ctrl-C / SIGTERM (or ``stop_event``)."""
    from .stack import LocalStack

    try:
        stack = LocalStack(_template(template), host=host, api_port=port, aws_port=aws_port,
                           sandboxes=not no_sandboxes, scheduler=True)
        print(f"o2o local stack ({stack.template.path})", flush=True)
        stack.start(bootstrap_log=lambda line: print(f"    {line}", flush=True))
    except (LocalStackError, MotoServerError) as error:
        return _fail("local up", error)
    stop = stop_event or threading.Event()
    previous = _on_sigterm(stop)
    try:
        for line in _up_banner(stack):
            print(line, flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the local stack…", flush=True)
        stack.stop()
        _restore_sigterm(previous)
    return 0


def _up_banner(stack: Any) -> list[str]:
    addresses = stack.addresses()
    lines = [f"  AWS endpoint (moto)  {addresses['aws']}", f"  HTTP API             {addresses['api']}"]
    for route, function in stack.api.routes.routes:
        lines.append(f"    {route.route_key:<45} -> {function.name}")
    if stack.scheduler is not None and stack.scheduler.jobs:
        lines.append("  schedules")
        lines.extend(f"    {line}" for line in stack.scheduler.describe())
    for key, sandbox in stack.sandboxes.items():
        address = stack.sandbox_addresses.get(key)
        lines.append(f"  {sandbox.name:<20} {address}" if address else f"  {sandbox.status()}")
    if not stack.sandboxes:
        lines.append("  sandboxes: off (--no-sandboxes)")
    exports = {name: stack.environment[name] for name in
               ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    for sandbox in stack.sandboxes.values():
        exports.update(sandbox.environment())
    lines += [
        "",
        "In another shell:",
        "  export " + " ".join(f"{name}={value}" for name, value in exports.items()),
        "  o2o local drain --now      # queued messages wait for this: nothing consumes them in the background",
        "Ctrl-C stops the stack (its data lives in memory and goes with it).",
    ]
    return lines


def _on_sigterm(stop: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())


def _restore_sigterm(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


# -- o2o local bootstrap ------------------------------------------------------------------------

def run_bootstrap(*, template: TemplateArg = None, endpoint_url: str | None = None) -> int:
    try:
        endpoint = endpoint_url or endpoint_from_environment("o2o local bootstrap")
        tpl = _template(template)
        print(f"bootstrapping {tpl.path.name} at {endpoint}", flush=True)
        resources = bootstrap(tpl, endpoint, log=lambda line: print(f"  {line}", flush=True))
    except LocalStackError as error:
        return _fail("local bootstrap", error)
    except EndpointConnectionError as error:
        return _unreachable("local bootstrap", error)
    except (BotoCoreError, ClientError) as error:
        return _fail("local bootstrap", f"{endpoint} did not accept the calls: {error}")
    print(f"{len(resources)} resources ready", flush=True)
    return 0


# -- o2o local drain ------------------------------------------------------------------------------

def run_drain(now: bool = False, max_seconds: float = 60.0, *, template: TemplateArg = None) -> int:
    """Exit 0 when the consumed queues are empty, 1 when the time bound left messages."""
    try:
        endpoint = endpoint_from_environment("o2o local drain")
        tpl = _template(template)
        apply_local_environment(tpl)
        report = drain(tpl, now=now, max_seconds=max_seconds, endpoint_url=endpoint,
                       log=lambda line: print(line, flush=True))
    except LocalStackError as error:
        return _fail("local drain", error)
    except EndpointConnectionError as error:
        return _unreachable("local drain", error)
    except (BotoCoreError, ClientError) as error:
        return _fail("local drain", f"the endpoint did not accept the calls: {error}")
    print(report, flush=True)
    return 0 if report.complete else 1


# -- o2o invoke -------------------------------------------------------------------------------------

def invoke_function(name: str, event: dict[str, Any] | None = None, *, template: TemplateArg = None) -> Any:
    """Run one function's handler once, in process, and return its result.

    ``name`` is the short name (``health``) or the logical id (``HealthFunction``). A
    schedule function needs no event (its schedule's Input, else ``{}``); an HTTP or SQS
    function does. Raises LocalStackError with an explanation otherwise.
    """
    tpl = _template(template)
    try:
        spec = tpl.function(name)
    except KeyError as error:
        raise LocalStackError(error.args[0]) from None
    if event is None:
        if spec.schedules:
            event = spec.schedules[0].event()
        elif spec.routes:
            routes = ", ".join(route.route_key for route in spec.routes)
            raise LocalStackError(f"{spec.name} is an HTTP function ({routes}): give it an API Gateway v2 "
                                  f"event, e.g. --event events/{spec.name}.json")
        elif spec.sqs_sources:
            raise LocalStackError(f"{spec.name} consumes SQS: give it an SQS event (--event FILE), "
                                  "or queue a message and run `o2o local drain`")
        else:
            event = {}
    apply_local_environment(tpl)
    result = lambda_runtime.invoke(spec, event)
    return run_queued_tenant_runs(tpl, spec, result)


def run_invoke(name: str, event_file: str | Path | None = None, *, template: TemplateArg = None,
               out: Callable[[str], None] | None = None) -> int:
    """``o2o invoke FUNCTION [--event FILE]``: print the result as JSON; exit 1 if the
    handler raised (traceback on stderr), 2 for a usage error."""
    try:
        event = None
        if event_file is not None:
            try:
                event = json.loads(Path(event_file).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                raise LocalStackError(f"cannot read the event {event_file}: {error}") from None
        result = invoke_function(name, event, template=template)
    except LocalStackError as error:
        return _fail("invoke", error)
    except Exception:  # noqa: BLE001 - the handler's own failure: show it like Lambda would
        import traceback

        traceback.print_exc()
        return 1
    (out or (lambda text: print(text, flush=True)))(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


