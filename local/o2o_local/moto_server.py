"""The local AWS endpoint: moto's ThreadedMotoServer on 127.0.0.1.

State lives in this process's memory (moto backends): it is gone when the process ends.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request

from moto.server import ThreadedMotoServer

__all__ = ["MotoServer", "MotoServerError", "wait_until_answers"]


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

    def start(self, timeout: float = 10.0) -> str:
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
        wait_until_answers(self.url, timeout)
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


def wait_until_answers(url: str, timeout: float = 10.0) -> None:
    """Block until ``url`` answers any HTTP request (moto's own status page)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # an HTTP answer, even an error, means the server is up
        except (urllib.error.URLError, OSError) as error:
            last_error = error
            time.sleep(0.05)
    raise MotoServerError(f"the local AWS endpoint {url} did not answer within {timeout:.0f}s: {last_error}")
