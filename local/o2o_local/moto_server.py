"""The local AWS endpoint: moto's ThreadedMotoServer on 127.0.0.1.

State lives in this process's memory (moto backends): it is gone when the process ends.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request

from moto.server import ThreadedMotoServer

__all__ = ["MotoServer", "MotoServerError", "start_timeout", "wait_until_answers"]

# How long the endpoint may take to answer after its thread started. The wait returns at the
# first answer (a few ms on a quiet machine), so a generous bound costs a start nothing; 10 s
# proved tight when several test runs share two cores (load 15-20). O2O_LOCAL_START_TIMEOUT
# (seconds) sets it.
START_TIMEOUT_SECONDS = 120.0
START_TIMEOUT_VARIABLE = "O2O_LOCAL_START_TIMEOUT"


def start_timeout() -> float:
    """O2O_LOCAL_START_TIMEOUT when set (a positive number of seconds), else START_TIMEOUT_SECONDS."""
    value = os.environ.get(START_TIMEOUT_VARIABLE, "").strip()
    if not value:
        return START_TIMEOUT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise MotoServerError(f"{START_TIMEOUT_VARIABLE}={value!r}: give a positive number of seconds")
    return seconds


class MotoServerError(RuntimeError):
    pass


class _ReportingMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose start() returns (instead of hanging) when binding fails."""

    bind_error: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except BaseException as error:  # noqa: BLE001 - handed to the starting thread
            if self._server_ready_event.is_set():
                raise
            self.bind_error = error
            self._server_ready_event.set()


class MotoServer:
    """``with MotoServer(port=0) as server: server.url`` -> ``http://127.0.0.1:<port>``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self._server: ThreadedMotoServer | None = None
        self.url: str | None = None

    def start(self, timeout: float | None = None) -> str:
        """Start the endpoint and wait until it answers: at most ``timeout`` seconds (default
        ``start_timeout()``)."""
        if self._server is not None:
            assert self.url is not None
            return self.url
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per AWS call
        server = _ReportingMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        if server.bind_error is not None:
            reason = ("the port is in use (choose another port)" if isinstance(server.bind_error, SystemExit)
                      else str(server.bind_error))
            raise MotoServerError(f"cannot start the local AWS endpoint on {self.host}:{self.port}: {reason}")
        self._server = server
        host, port = server.get_host_and_port()
        self.port = port
        self.url = f"http://{host}:{port}"
        wait_until_answers(self.url, start_timeout() if timeout is None else timeout)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_until_answers(url: str, timeout: float | None = None) -> None:
    """Block until ``url`` answers any HTTP request (moto's own status page), at most ``timeout``
    seconds (default ``start_timeout()``); returns at the first answer."""
    timeout = start_timeout() if timeout is None else timeout
    started = time.monotonic()
    deadline = started + timeout
    last_error: Exception | None = None
    tries = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        tries += 1
        try:
            # A slow first answer on a loaded machine is still an answer: wait for it up to what is left.
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=max(0.1, min(10.0, left))):
                return
        except urllib.error.HTTPError:
            return  # an HTTP answer, even an error, means the server is up
        except (urllib.error.URLError, OSError) as error:
            last_error = error
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    raise MotoServerError(
        f"the local AWS endpoint (moto server) at {url} did not answer GET /moto-api/data.json within "
        f"{timeout:g}s ({tries} tries, {time.monotonic() - started:.1f}s; last error: {last_error}); "
        f"on a loaded machine set {START_TIMEOUT_VARIABLE} to more seconds")
