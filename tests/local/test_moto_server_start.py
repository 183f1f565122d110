"""How long the local stack waits for its AWS endpoint: generous by default, set by
O2O_LOCAL_START_TIMEOUT, and a failure that says what it waited for."""

from __future__ import annotations

import socket

import pytest

from o2o_local import moto_server
from o2o_local.moto_server import MotoServerError, start_timeout, wait_until_answers


def test_the_default_is_generous_and_the_variable_sets_it(monkeypatch):
    monkeypatch.delenv("O2O_LOCAL_START_TIMEOUT", raising=False)
    assert start_timeout() == moto_server.START_TIMEOUT_SECONDS >= 60
    monkeypatch.setenv("O2O_LOCAL_START_TIMEOUT", "300")
    assert start_timeout() == 300
    for bad in ("soon", "0", "-5", "nan"):
        monkeypatch.setenv("O2O_LOCAL_START_TIMEOUT", bad)
        with pytest.raises(MotoServerError, match="O2O_LOCAL_START_TIMEOUT=.*positive number of seconds"):
            start_timeout()


def test_an_endpoint_that_never_answers_fails_naming_what_was_awaited(monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on once this is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("O2O_LOCAL_START_TIMEOUT", "0.3")
    with pytest.raises(MotoServerError) as failure:
        wait_until_answers(f"http://127.0.0.1:{port}")
    message = str(failure.value)
    assert f"moto server) at http://127.0.0.1:{port} did not answer GET /moto-api/data.json within 0.3s" in message
    assert "last error:" in message and "set O2O_LOCAL_START_TIMEOUT" in message


def test_a_started_endpoint_answers_at_the_first_try(monkeypatch):
    """The bound is only a bound: a server that answers ends the wait at once (counted in tries)."""
    tries = []
    real = moto_server.urllib.request.urlopen

    def counting(*args, **kwargs):
        tries.append(args[0])
        return real(*args, **kwargs)

    with moto_server.MotoServer(port=0) as server:
        monkeypatch.setattr(moto_server.urllib.request, "urlopen", counting)
        wait_until_answers(server.url)
    assert tries == [f"{server.url}/moto-api/data.json"]
