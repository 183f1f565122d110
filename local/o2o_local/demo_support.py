"""What the demo's scenario steps share: running `o2o` like an operator, HTTP calls, the
sandboxes' admin endpoints, and printing what happened."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO_TENANT = ROOT / "local" / "tenants" / "demo.yaml"
O2O = [sys.executable, "-m", "o2o_bridge.cli"]
# Where `o2o local up` serves the sandboxes (the demo tenant's base URLs).
JST_SANDBOX = "http://127.0.0.1:8801"
POS_SANDBOX = "http://127.0.0.1:8802"
WDT_SANDBOX = "http://127.0.0.1:8804"
ENT_ID = "10010"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def show(text: str) -> None:
    print(textwrap.indent(text.rstrip(), "    "), flush=True)


def o2o(*args: str, env: dict[str, str], expect: int | None = 0) -> subprocess.CompletedProcess:
    print(f"$ o2o {' '.join(args)}", flush=True)
    result = subprocess.run([*O2O, *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    show(result.stdout + result.stderr)
    if expect is not None and result.returncode != expect:
        raise SystemExit(f"demo failed: `o2o {' '.join(args)}` exited {result.returncode}, expected {expect}")
    return result


def paste_jst_urls(env: dict[str, str], api: str) -> list[str]:
    """What an implementation engineer does: `o2o tenant urls` (each URL its own token) pasted
    into JST's 消息推送 fields, here the JST sandbox's; its token pushes then carry them."""
    shown = o2o("tenant", "urls", ENT_ID, "--base-url", api, "--reveal-token", "--json", env=env)
    urls = [u["url"] for u in json.loads(shown.stdout)["urls"] if u["system"] == "聚水潭"]
    _admin(f"{JST_SANDBOX}/__admin__/settings", "POST", {"callback_urls": urls})
    return urls


def pasted_query(urls: list[str], route: str, storage_code: int | str) -> dict[str, str]:
    """The query of the URL pasted for ``route`` and ``storage_code`` (its own token inside)."""
    import urllib.parse

    for url in urls:
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if parts.path.endswith(f"/jushuitan/{route}") and query.get("storageCode") == str(storage_code):
            return query
    raise SystemExit(f"demo failed: `o2o tenant urls` printed no {route} URL for storageCode {storage_code}")


def http(method: str, url: str, body: str | None = None, content_type: str = "application/json") -> tuple[int, str]:
    data = body.encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def wait_for(url: str, stack: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise SystemExit(f"demo failed: `o2o local up` exited with {stack.returncode}")
        try:
            if http("GET", url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"demo failed: the local stack did not answer {url} within {seconds} s")


def count_state_items(env: dict[str, str]) -> int:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    return client.scan(TableName="o2o-local-StateTable", Select="COUNT")["Count"]




@dataclass
class Demo:
    """One running demo: the environment of the `o2o` commands and the local API's address."""

    env: dict[str, str]
    api: str

    def o2o(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        return o2o(*args, env=self.env, expect=expect)

    def http(self, method: str, path_or_url: str, body: str | None = None,
             content_type: str = "application/json") -> tuple[int, str]:
        url = path_or_url if path_or_url.startswith("http") else f"{self.api}{path_or_url}"
        return http(method, url, body, content_type)

    def jst_admin(self, method: str, path: str, payload: Any = None) -> Any:
        """The JST sandbox's admin endpoints (seed data, read what the bridge did)."""
        return _admin(f"{JST_SANDBOX}{path}", method, payload)

    def pos_admin(self, method: str, path: str, payload: Any = None) -> Any:
        """The 店+ sandbox's admin endpoints (emit store events, read what the bridge did)."""
        return _admin(f"{POS_SANDBOX}{path}", method, payload)

    def wdt_admin(self, method: str, path: str, payload: Any = None) -> Any:
        """The 旺店通 sandbox's admin endpoints (an ERP user's documents, read what the bridge did)."""
        return _admin(f"{WDT_SANDBOX}{path}", method, payload)

    def drain(self) -> None:
        """Deliver every queued retry now (what the event source mapping does in AWS)."""
        self.o2o("local", "drain", "--now")

    def state_items(self) -> int:
        return count_state_items(self.env)


def _admin(url: str, method: str, payload: Any) -> Any:
    status, body = http(method, url, None if payload is None else json.dumps(payload, ensure_ascii=False))
    if status >= 300:
        raise SystemExit(f"demo failed: {method} {url} -> {status} {body}")
    return json.loads(body) if body else None
