"""Fixtures of the local stack tests: the fixture template (tests/local/fixtures), a moto
server on a free 127.0.0.1 port, and the fixture's tables and queues bootstrapped there."""

from __future__ import annotations

import os

import pytest

from o2o_local import lambda_runtime
from o2o_local.template import Template, load_template

from local_stack_paths import FIXTURE_TEMPLATE, FIXTURES, REPO_TEMPLATE  # noqa: F401 - the fixtures' templates


@pytest.fixture(scope="session")
def fixture_template() -> Template:
    return load_template(FIXTURE_TEMPLATE)


@pytest.fixture(scope="session")
def moto_endpoint():
    from o2o_local.moto_server import MotoServer

    with MotoServer(port=0) as server:
        yield server.url


@pytest.fixture
def local_env(fixture_template, moto_endpoint, monkeypatch):
    """A fresh moto state with the fixture's tables and queues, and this process's
    environment set as the local stack sets it; handlers reloaded cold."""
    import urllib.request

    from o2o_local.bootstrap import bootstrap, local_environment

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=5)
    resources = bootstrap(fixture_template, moto_endpoint)
    for name, value in local_environment(fixture_template, moto_endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("O2O_RETRY_NO_DELAY", raising=False)
    lambda_runtime.unload_all()
    yield resources
    lambda_runtime.unload_all()


@pytest.fixture(autouse=True)
def _no_template_override(monkeypatch):
    if os.environ.get("O2O_TEMPLATE"):
        monkeypatch.delenv("O2O_TEMPLATE")
