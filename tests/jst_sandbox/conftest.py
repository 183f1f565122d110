"""Fixtures for the JST sandbox tests. The signing helper is written here on purpose (from the
reference, §3), not imported from the bridge or the sandbox, so each side checks the other."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from o2o_local.jst_sandbox import JstSandbox

APP_KEY, APP_SECRET, TOKEN = "demo-app-key", "demo-app-secret", "demo-access-token"
CST = timezone(timedelta(hours=8))


def md5_sign(params: dict, secret: str) -> str:
    text = secret + "".join(k + str(params[k]) for k in sorted(params) if k != "sign")
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def jst_time(dt: datetime) -> str:
    return dt.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def window(days: float = 1.0, *, ahead: float = 0.01) -> dict:
    now = datetime.now(CST)
    return {"modified_begin": jst_time(now - timedelta(days=days)), "modified_end": jst_time(now + timedelta(days=ahead))}


class Client:
    def __init__(self, url: str, app_key: str = APP_KEY, secret: str = APP_SECRET, token: str = TOKEN) -> None:
        self.url, self.app_key, self.secret, self.token = url, app_key, secret, token
        self.http = httpx.Client(base_url=url, timeout=5.0)

    def form(self, biz, **override) -> dict:
        params = {"app_key": self.app_key, "access_token": self.token, "timestamp": str(int(time.time())),
                  "version": "2", "charset": "utf-8",
                  "biz": biz if isinstance(biz, str) else json.dumps(biz, ensure_ascii=False, separators=(",", ":"))}
        params.update(override)
        params["sign"] = override.get("sign") or md5_sign(params, self.secret)
        return params

    def call(self, path: str, biz=None, **override) -> dict:
        resp = self.http.post(path, data=self.form({} if biz is None else biz, **override))
        assert resp.status_code == 200, resp.text
        return resp.json()

    def ok(self, path: str, biz=None) -> dict:
        body = self.call(path, biz)
        assert body["code"] == 0, body
        return body["data"]

    def token_call(self, path: str, **params) -> dict:
        form = {"app_key": self.app_key, "timestamp": str(int(time.time())), "charset": "utf-8", **params}
        form["sign"] = md5_sign(form, self.secret)
        return self.http.post(path, data=form).json()

    def admin(self, route: str, body: dict | None = None, method: str = "POST"):
        if method == "GET":
            resp = self.http.get(f"/__admin__/{route}")
        else:
            resp = self.http.post(f"/__admin__/{route}", json=body or {})
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def server():
    with JstSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def jst(server):
    """A started sandbox, reset and seeded with the demo tenant, rate limit off."""
    server.reset()
    server.seed_demo()
    server.rate_limit.configure(enabled=False)
    return server


@pytest.fixture
def client(jst):
    c = Client(jst.url)
    yield c
    c.http.close()
