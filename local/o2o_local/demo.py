"""`make demo`: the local stack, one tenant, and every path that exists, end to end.

It drives the bridge the way an operator would: the `o2o` commands in a second
process, HTTP requests to the local API, and prints what each step showed. Later issues
add their scenarios here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_TENANT = ROOT / "local" / "tenants" / "demo.yaml"
O2O = [sys.executable, "-m", "o2o_bridge.cli"]
# Where `o2o local up` serves the 店+ sandbox (the demo tenant's pos.base_url).
POS_SANDBOX = "http://127.0.0.1:8802"


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


def main() -> int:
    api_port, aws_port = free_port(), free_port()
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PYTHONUNBUFFERED": "1",
        # Keep the printout about the business: handlers log warnings and errors only here.
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    })
    for name in ("O2O_STACK", "STATE_TABLE", "IDEMPOTENCY_TABLE", "RETRY_QUEUE_URL", "RETRY_DLQ_URL", "AWS_PROFILE"):
        env.pop(name, None)
    api = f"http://127.0.0.1:{api_port}"

    heading("1. Start the local stack (moto server, tables and queues of template.yaml, HTTP API, scheduler)")
    log = tempfile.NamedTemporaryFile("w+", prefix="o2o-local-up-", suffix=".log", delete=False)
    print(f"$ o2o local up --port {api_port} --aws-port {aws_port}   (log: {log.name})", flush=True)
    stack = subprocess.Popen([*O2O, "local", "up", "--port", str(api_port), "--aws-port", str(aws_port)],
                             env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"{api}/health", stack)
        log.flush()
        show(Path(log.name).read_text(encoding="utf-8"))
        run_demo(env, api)
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
    heading("Done: the local stack is stopped")
    return 0


def run_demo(env: dict[str, str], api: str) -> None:
    heading("2. Register the demo tenant; a broken tenant file is refused whole")
    broken = Path(tempfile.mkdtemp()) / "broken.yaml"
    broken.write_text(DEMO_TENANT.read_text(encoding="utf-8")
                      .replace("app_secret: demo-app-secret", "app_secrt: demo-app-secret")
                      .replace("formula: qty", "formula: qty + reserved")
                      .replace("offline_wms_co_id: 10001", "offline_wms_co_id: -1"), encoding="utf-8")
    o2o("tenant", "put", str(broken), env=env, expect=2)
    print(f"    StateTable items after the refused file: {count_state_items(env)}")
    o2o("tenant", "put", str(DEMO_TENANT), env=env)
    o2o("tenant", "get", "10010", env=env)

    heading("2b. The tenant against the JST sandbox: doctor and one signed call")
    o2o("tenant", "doctor", "10010", env=env)
    o2o("jst", "call", "/open/shops/query", '{"page_index": 1, "page_size": 10}', "--tenant", "10010", env=env)

    heading("3. The HTTP API: /health, and a JST push with a malformed body")
    status, body = http("GET", f"{api}/health")
    show(f"GET /health -> {status} {body}")
    before = count_state_items(env)
    status, body = http("POST", f"{api}/jushuitan/delivery_callback?entId=10010&storageCode=133242", "{so_id: oops")
    show(f"POST /jushuitan/delivery_callback (malformed) -> {status} {body}")
    show(f"StateTable items before/after: {before}/{count_state_items(env)} (nothing written)")
    status, body = http("POST", f"{api}/jushuitan/delivery_callback?entId=99999&storageCode=133242", '{"so_id": "X"}')
    show(f"POST /jushuitan/delivery_callback (unknown tenant) -> {status} {body}")

    heading("4. Paths whose flow comes in a later issue say so, and acknowledge nothing")
    push = json.dumps({"so_id": "WM20261122001", "l_id": "SF1400012345678", "lc_id": "SF",
                       "items": [{"sku_id": "TS-RED-M", "qty": 1, "outer_oi_id": "1"}]}, ensure_ascii=False)
    status, body = http("POST", f"{api}/jushuitan/delivery_callback?entId=10010&storageCode=133242", push)
    show(f"POST /jushuitan/delivery_callback (no callback token) -> {status} {body}")
    status, body = http("POST", f"{api}/jushuitan/delivery_callback?entId=10010&storageCode=133242"
                        "&token=demo-callback-token", push)
    show(f"POST /jushuitan/delivery_callback (valid, authenticated) -> {status} {body}")
    o2o("invoke", "poll_jst_outbound", env=env, expect=2)
    shipped = {"fulfilment_id": "F1001", "external_id": "700001", "carrier_code": "SF",
               "tracking_no": "SF1400099999999", "shipped_at": "2026-11-22T10:29:00+08:00"}
    for label, extra in (("signed", {}), ("forged signature", {"secret": "not-the-webhook-secret"})):
        status, body = http("POST", f"{POS_SANDBOX}/__admin__/emit", json.dumps(
            {"type": "fulfilment.shipped", "data": shipped, "ent_id": "10010", **extra}))
        answer = json.loads(body).get("data", {}) if status == 200 else {"status": f"(sandbox {status})", "body": body}
        show(f"店+ sandbox emits fulfilment.shipped ({label}) -> bridge answered "
             f"{answer.get('status')} {json.dumps(answer.get('body'), ensure_ascii=False)}")

    heading("5. Retries: a command that fails for good lands in the DLQ with its reason, and is replayed")
    send_retry(env)
    o2o("local", "drain", "--now", env=env)
    listed = o2o("dlq", "list", env=env)
    retry_id = listed.stdout.split()[0]
    o2o("dlq", "replay", "--id", retry_id, env=env)
    o2o("local", "drain", "--now", env=env)
    o2o("dlq", "list", env=env)

    heading("6. The document's timeline")
    o2o("trace", "700001", env=env)


def send_retry(env: dict[str, str]) -> None:
    """Queue what a flow queues after a transient failure (the S1 dispatch of outbound 700001)."""
    import boto3

    from o2o_bridge.adapters.sqs_queue import SqsCommandQueue
    from o2o_bridge.errors import TransientError
    from o2o_bridge.retry import enqueue_retry

    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    queue_url = sqs.get_queue_url(QueueName="o2o-local-RetryQueue")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="o2o-local-RetryDLQ")["QueueUrl"]
    envelope = enqueue_retry(SqsCommandQueue(sqs, queue_url, dlq_url), command="pos.create_fulfilment_order",
                             ent_id="10010", payload={"io_id": 700001, "store_code": "S001"},
                             error=TransientError("店+ answered 503"), trace_key="700001", base_delay_seconds=0)
    show(f"queued retry {envelope.id}: {envelope.command} for outbound 700001 (first attempt failed: {envelope.last_error})")


if __name__ == "__main__":
    sys.exit(main())
