"""The whole local stack in one object: moto endpoint, tables and queues, environment,
HTTP API, schedules and sandbox slots. Used by ``o2o local up``, tests and the demo.

The functions the CLI calls (``run_up``, ``run_bootstrap``, ``run_drain``,
``invoke_function``) live in ``o2o_local.commands`` and are re-exported here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import lambda_runtime
from .api import ApiEmulator
from .bootstrap import bootstrap
from .bridge_runtime import reset_bridge_runtime
from .drain import DrainReport, drain
from .environment import local_environment
from .errors import LocalStackError
from .moto_server import MotoServer
from .names import DEFAULT_API_PORT, DEFAULT_AWS_PORT
from .sandboxes import Sandbox, start_sandboxes
from .scheduler import Scheduler
from .template import Template, load_template

__all__ = [
    "DEFAULT_API_PORT", "DEFAULT_AWS_PORT", "LocalStack", "LocalStackError",
    "invoke_function", "run_bootstrap", "run_drain", "run_invoke", "run_up",
]

Log = Callable[[str], None]


def _stdout(line: str) -> None:
    print(line, flush=True)


class LocalStack:
    """``with LocalStack(template, api_port=0, aws_port=0) as stack: stack.addresses()``.

    Port 0 picks a free port. Starting puts the local environment (table names, queue
    URLs, AWS_ENDPOINT_URL, dummy credentials) into ``os.environ``; stopping restores it.
    """

    def __init__(self, template: Template | str | Path | None = None, host: str = "127.0.0.1",
                 api_port: int = DEFAULT_API_PORT, aws_port: int = DEFAULT_AWS_PORT,
                 sandboxes: bool = True, scheduler: bool = True, *, log: Log | None = _stdout):
        self.template = template if isinstance(template, Template) else load_template(template)
        self.host = host
        self.api_port = api_port
        self.aws_port = aws_port
        self.with_sandboxes = sandboxes
        self.with_scheduler = scheduler
        self.log = log or (lambda line: None)
        self.moto: MotoServer | None = None
        self.api: ApiEmulator | None = None
        self.scheduler: Scheduler | None = None
        self.sandboxes: dict[str, Sandbox] = {}
        self.sandbox_addresses: dict[str, str | None] = {}
        self.resources: dict[str, str] = {}  # logical id -> table name / queue URL
        self.environment: dict[str, str] = {}
        self._saved_environ: dict[str, str | None] = {}

    @property
    def endpoint_url(self) -> str:
        if self.moto is None or self.moto.url is None:
            raise LocalStackError("the local stack is not started")
        return self.moto.url

    def start(self, bootstrap_log: Log | None = None) -> LocalStack:
        try:
            self.moto = MotoServer(self.host, self.aws_port)
            endpoint = self.moto.start()
            self.resources = bootstrap(self.template, endpoint, log=bootstrap_log)
            self.environment = local_environment(self.template, endpoint)
            if not os.environ.get("O2O_LEDGER_DIR"):
                # A new stack starts with empty tables, so with an empty ledger too.
                shutil.rmtree(self.environment["O2O_LEDGER_DIR"], ignore_errors=True)
            if self.with_sandboxes:
                started = start_sandboxes(self.host)
                self.sandboxes = {key: sandbox for key, (sandbox, _) in started.items()}
                self.sandbox_addresses = {key: address for key, (_, address) in started.items()}
                for sandbox in self.sandboxes.values():
                    self.environment.update(sandbox.environment())
            self._apply_environment()
            lambda_runtime.unload_all()  # handlers start "cold" in this environment
            reset_bridge_runtime()
            self.api = ApiEmulator(self.template, self.host, self.api_port, log=self.log)
            try:
                self.api.start()
            except OSError as error:
                raise LocalStackError(f"cannot serve the HTTP API on {self.host}:{self.api_port}: {error}") from error
            for sandbox in self.sandboxes.values():
                connect = getattr(sandbox, "connect_bridge", None)
                if connect is not None:
                    connect(self.api.url)
            if self.with_scheduler:
                self.scheduler = Scheduler(self.template, log=self.log)
                self.scheduler.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _apply_environment(self) -> None:
        for name, value in self.environment.items():
            if name not in self._saved_environ:
                self._saved_environ[name] = os.environ.get(name)
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.api is not None:
            self.api.stop()
            self.api = None
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        self.sandboxes, self.sandbox_addresses = {}, {}
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self._restore_environment()
        reset_bridge_runtime()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests and the demo use ----------------------------------------------------------------
    def addresses(self) -> dict[str, str]:
        """``aws`` and ``api`` URLs, and one entry per sandbox (its address or its status line)."""
        addresses = {"aws": self.endpoint_url}
        if self.api is not None:
            addresses["api"] = self.api.url
        for key, sandbox in self.sandboxes.items():
            addresses[key] = self.sandbox_addresses.get(key) or sandbox.status()
        return addresses

    def drain(self, *, now: bool = False, max_seconds: float = 60.0, log: Log | None = None) -> DrainReport:
        return drain(self.template, now=now, max_seconds=max_seconds, endpoint_url=self.endpoint_url, log=log)

    def invoke(self, name: str, event: dict[str, Any] | None = None) -> Any:
        from .commands import invoke_function

        return invoke_function(name, event, template=self.template)

    def fire(self, short_name: str) -> Any:
        return (self.scheduler or Scheduler(self.template, log=None)).fire(short_name)


from .commands import invoke_function, run_bootstrap, run_drain, run_invoke, run_up  # noqa: E402
