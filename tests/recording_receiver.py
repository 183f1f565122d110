"""A tiny HTTP server on 127.0.0.1 standing in for the far side of a webhook in tests."""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class ReceivedRequest:
    path: str
    query: dict[str, str]
    headers: Any
    raw: bytes


class RecordingReceiver:
    """Records every POST and answers ``respond(request) -> (status, json_body)``."""

    def __init__(self, respond: Callable[[ReceivedRequest], tuple[int, Any]]) -> None:
        self.requests: list[ReceivedRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                request = ReceivedRequest(url.path, dict(urllib.parse.parse_qsl(url.query)), self.headers,
                                          self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                receiver.requests.append(request)
                status, body = respond(request)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
