"""`make demo`: the local stack, one tenant, and every scenario, end to end.

It drives the bridge the way an operator would: the `o2o` commands in a second
process, HTTP requests to the local API, the sandboxes' admin endpoints standing in for
people at the store and the warehouse, and prints what each step showed. Each scenario
is a module of ``o2o_local.demo_steps`` with ``run(demo)``; SCENARIOS lists them in order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from .demo_steps import (cloud_warehouse, jst_guide, order_centre, products, s1_store_fulfilment, s2_warehouse_orders,
                         stock_sync, store_transfers, wangdiantong)
from .demo_support import (DEMO_TENANT, O2O, POS_SANDBOX, ROOT, Demo, count_state_items, free_port, heading,
                           http, o2o, paste_jst_urls, pasted_query, show, wait_for)

# Each scenario's steps (a module of demo_steps with ``run(demo)``) and title, in order.
SCENARIOS = (
    (s1_store_fulfilment, "S1: online orders shipped or picked up at stores"),
    (s2_warehouse_orders, "S2: store and micro-mall orders shipped by the warehouse"),
    (stock_sync, "S3/S4: stock both ways and the 02:10 nightly run"),
    (store_transfers, "S5/S6: replenishment and returns to the warehouse"),
    (products, "S7: the product master"),
    (jst_guide, "The implementation guide's rules: 自有商城 guard, 门店自提, 销退仓, JST-owned store stock"),
    (wangdiantong, "W1-W6: a second tenant on 旺店通 ERP 企业版"),
    (cloud_warehouse, "Q1-Q6: a cloud warehouse (3PL WMS) over 奇门"),
    (order_centre, "The order centre: 货到付款, reservations, healing, members, reports over the ledger"),
)

def main() -> int:
    # The demo tenants' sandboxes listen on fixed ports (8801-8805): demos on one machine
    # take turns instead of failing to bind.
    import fcntl

    lock = open(Path(tempfile.gettempdir()) / "o2o-demo.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    taken = sandbox_ports_in_use()
    if taken:
        print(f"make demo: port {taken} is in use (the demo's sandboxes listen there): is `o2o local up` "
              "running? Stop it (Ctrl-C in its shell) and run make demo again.", file=sys.stderr)
        return 1
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
        # The demo makes its own documents; the sample events' documents would only add noise.
        "O2O_SAMPLE_DOCUMENTS": "0",
        # It changes the tenant file mid-run (jst_guide's variants): the stack reads it at once.
        "O2O_TENANT_CACHE_SECONDS": "0",
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
        try:
            wait_for(f"{api}/health", stack)
        except SystemExit as failed:
            log.flush()
            last = [line for line in Path(log.name).read_text(encoding="utf-8").splitlines() if line.strip()][-1:]
            raise SystemExit(f"{failed.code}: {last[0] if last else '(no output)'}") from None
        log.flush()
        show(Path(log.name).read_text(encoding="utf-8"))
        run_demo(env, api)
    finally:
        stop_stack(stack)
    heading("Done: the local stack is stopped")
    return 0


def sandbox_ports_in_use() -> str | None:
    """'8801 (JST sandbox)' when a sandbox port the demo tenant points at is taken, else None."""
    import socket

    for port, name in ((int(os.environ.get("O2O_JST_SANDBOX_PORT", "8801")), "JST sandbox"),
                       (int(os.environ.get("O2O_JST_CLOUD_SANDBOX_PORT", "8803")), "JST sandbox 10020"),
                       (int(os.environ.get("O2O_POS_SANDBOX_PORT", "8802")), "店+ sandbox")):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return f"{port} ({name})"
    return None


def stop_stack(stack: subprocess.Popen) -> None:
    if stack.poll() is not None:  # it already exited (and said why in its log)
        return
    try:
        os.killpg(stack.pid, signal.SIGINT)
        stack.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(stack.pid, signal.SIGKILL)


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

    heading("2c. JST's 消息推送 URLs, each with its own token, pasted into the JST sandbox")
    urls = paste_jst_urls(env, api)
    show(f"{len(urls)} URLs pasted: JST's token pushes carry them; a URL's token works on no other route, "
         "warehouse or tenant")

    heading("3. The HTTP API: /health, and a JST push with a malformed body")
    status, body = http("GET", f"{api}/health")
    show(f"GET /health -> {status} {body}")
    before = count_state_items(env)
    delivery = urlencode(pasted_query(urls, "delivery_callback", 133242))
    status, body = http("POST", f"{api}/jushuitan/delivery_callback?{delivery}", "{so_id: oops")
    show(f"POST /jushuitan/delivery_callback (its URL's own token, malformed body) -> {status} {body}")
    show(f"StateTable items before/after: {before}/{count_state_items(env)} (nothing written)")
    status, body = http("POST", f"{api}/jushuitan/delivery_callback?entId=99999&storageCode=133242", '{"so_id": "X"}')
    show(f"POST /jushuitan/delivery_callback (unknown tenant: the same 401 as a wrong credential) -> {status} {body}")
    status, body = http("POST", f"{api}/jushuitan/cancel_callback?{delivery}", '{"so_id": "X"}')
    show(f"POST /jushuitan/cancel_callback with the delivery URL's token (a URL seen once works nowhere else) -> "
         f"{status} {body}")

    heading("4. Callers that cannot prove who they are get a 401 in their own format, nothing written")
    push = json.dumps({"so_id": "WM20261122001", "l_id": "SF1400012345678", "lc_id": "SF",
                       "items": [{"sku_id": "TS-RED-M", "qty": 1, "outer_oi_id": "1"}]}, ensure_ascii=False)
    before = count_state_items(env)
    status, body = http("POST", f"{api}/jushuitan/delivery_callback?entId=10010&storageCode=133242", push)
    show(f"POST /jushuitan/delivery_callback (no sign, no token) -> {status} {body}")
    shipped = {"fulfilment_id": "F1001", "external_id": "700001", "carrier_code": "SF",
               "tracking_no": "SF1400099999999", "shipped_at": "2026-11-22T10:29:00+08:00"}
    status, body = http("POST", f"{POS_SANDBOX}/__admin__/emit", json.dumps(
        {"type": "fulfilment.shipped", "data": shipped, "ent_id": "10010", "secret": "not-the-webhook-secret"}))
    answer = json.loads(body).get("data", {}) if status == 200 else {"status": f"(sandbox {status})", "body": body}
    show(f"店+ sandbox emits fulfilment.shipped with a forged signature -> bridge answered "
         f"{answer.get('status')} {json.dumps(answer.get('body'), ensure_ascii=False)}")
    show(f"StateTable items before/after: {before}/{count_state_items(env)} (nothing written)")

    heading("5. Retries: a message no flow can run lands in the DLQ with its reason, and is replayed")
    send_retry(env)
    o2o("local", "drain", "--now", env=env)
    listed = o2o("dlq", "list", env=env)
    retry_id = listed.stdout.split()[0]
    o2o("dlq", "replay", "--id", retry_id, env=env)
    o2o("local", "drain", "--now", env=env)
    o2o("dlq", "list", env=env)

    demo = Demo(env=env, api=api)
    for number, (steps, title) in enumerate(SCENARIOS, start=6):
        heading(f"{number}. {title}")
        steps.run(demo)


def send_retry(env: dict[str, str]) -> None:
    """Queue what a flow queues after a transient failure, for a command this release lacks."""
    import boto3

    from o2o_bridge.connectors.aws.sqs_queue import SqsCommandQueue
    from o2o_bridge.errors import TransientError
    from o2o_bridge.retry import enqueue_retry

    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    queue_url = sqs.get_queue_url(QueueName="o2o-local-RetryQueue")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="o2o-local-RetryDLQ")["QueueUrl"]
    # A command name no flow registers, as a message left by an older release would carry.
    envelope = enqueue_retry(SqsCommandQueue(sqs, queue_url, dlq_url), command="legacy.create_store_order",
                             ent_id="10010", payload={"io_id": 699999, "store_code": "S001"},
                             error=TransientError("店+ answered 503"), trace_key="699999", base_delay_seconds=0)
    show(f"queued retry {envelope.id}: {envelope.command} for outbound 699999 (first attempt failed: {envelope.last_error})")


if __name__ == "__main__":
    sys.exit(main())
