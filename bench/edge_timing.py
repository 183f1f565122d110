"""What a stranger learns from the time of a refusal at the public edges, side by side.

Runs the real handlers in process on moto (the template's tables, tenant secrets in moto's
Secrets Manager) for the refusals that must look alike: on the five JST URLs in turn an
unknown entId (the same one, and a new one each call), a wrong sign for a tenant whose partner
key is inline, for one whose key is a Secrets Manager reference and for one whose partner key
and token are two secrets, a wrong URL token (reference) and a foreign storageCode; on
/qimen/callback an unknown entId, a wrong sign (inline secret, secret reference) and a tenant
without 奇门. Every refusal is checked to be the same answer.

Two cache states: ``warm`` (the container's tenant and secret caches kept, as under steady
traffic) and ``cold`` (the tenant and secret caches emptied before every call, as once their
periods are over in a running container: a known tenant then pays its Secrets Manager reads, an
unknown entId its stand-in read under its own path, as a deployed stack does with
``O2O_STAND_IN_SECRET_READS``; the AWS clients are kept, a new container's start is not
measured here, bench/cold_start.py is). Each state runs with the refusal deadline off (0: the raw
work) and at the given deadlines (default the bridge's 250 ms, ``O2O_REFUSAL_DEADLINE_MS``).
Each call is timed from outside the handler, from just before the event (stamped with
``requestContext.timeEpoch`` as API Gateway stamps it) is handed to it until its answer is back.
Per kind it prints the median, p10, p90 and the spread p90 - p10 in milliseconds, and the AWS
calls made per request, counted at botocore's API-call entry. Kinds are interleaved in a
shuffled order so machine noise hits them alike.

moto answers in process, without a network: its reads take a few ms where AWS's take tens.
``--aws-latency-ms N`` models AWS instead, and the header says so: every DynamoDB call still
goes to moto plus N ms of network, and GetSecretValue is answered by the bench itself from the
secrets it created (ResourceNotFoundException for any other name, as Secrets Manager answers a
stand-in read) after N ms. No assertions, no goals: figures.

    .venv/bin/python bench/edge_timing.py [-n 20] [--deadlines 0,250] [--aws-latency-ms 0]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local", ROOT / "tests", ROOT / "tools"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                    "POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true",
                    "POWERTOOLS_METRICS_NAMESPACE": "O2OBridgeBench", "POWERTOOLS_SERVICE_NAME": "o2o-bridge"}.items():
    os.environ.setdefault(name, value)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ["O2O_STAND_IN_SECRET_READS"] = "true"  # as the template sets it: tenants' secrets are references

AWS_CALLS: collections.Counter[str] = collections.Counter()


# The secrets the bench creates, by name: the modelled Secrets Manager answers from these.
SECRETS: dict[str, str] = {}


def count_aws_calls(latency_seconds: float) -> None:
    """Count every AWS API call at botocore's entry, whoever makes it (the bridge, Powertools);
    with a modelled latency, add it to each call and answer GetSecretValue as modelled."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call

    def counted(self, operation_name, api_params):
        AWS_CALLS[operation_name] += 1
        if not latency_seconds:
            return original(self, operation_name, api_params)
        time.sleep(latency_seconds)
        if operation_name == "CreateSecret":
            SECRETS[api_params["Name"]] = api_params["SecretString"]
        if operation_name != "GetSecretValue":
            return original(self, operation_name, api_params)
        name = api_params["SecretId"]
        if name not in SECRETS:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException",
                                         "Message": "Secrets Manager can't find the specified secret."}}, operation_name)
        return {"Name": name, "ARN": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}",
                "SecretString": SECRETS[name], "VersionId": "v1", "VersionStages": ["AWSCURRENT"]}

    BaseClient._make_api_call = counted


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20, help="calls per kind, cache state and deadline")
    parser.add_argument("--deadlines", default="0,250", help="refusal deadlines to run, in ms (O2O_REFUSAL_DEADLINE_MS)")
    parser.add_argument("--aws-latency-ms", type=float, default=0.0,
                        help="a modelled network round trip added to every AWS call (0: moto in process as it is)")
    args = parser.parse_args()
    deadlines = [int(f) for f in args.deadlines.split(",")]

    import boto3
    import yaml
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    count_aws_calls(args.aws_latency_ms / 1000)
    with mock_aws():
        from aws_setup import create_template_resources
        from handlers import sample_event
        from o2o_bridge import runtime
        from o2o_bridge.connectors.jushuitan.push import url_token
        from o2o_bridge.connectors.jushuitan.signing import legacy_push_sign
        from o2o_bridge.tenant import parse_tenant
        from o2o_local.stack import invoke_function
        from qimen_wms import CLOUD, api_event, delivery_confirm, signed_query as qimen_query

        os.environ.update(create_template_resources())
        runtime.reset()
        demo = yaml.safe_load((ROOT / "local" / "tenants" / "demo.yaml").read_text(encoding="utf-8"))
        boto3.client("secretsmanager").create_secret(Name="o2o/tenants/10042/edge", SecretString=json.dumps(
            {"partner_key": "sm-partner-key", "callback_token": "sm-callback-token", "app_secret": "sm-qimen-secret"}))
        ref = "secretsmanager:o2o/tenants/10042/edge#{}"
        by_ref = {**demo, "ent_id": "10042", "jushuitan": {**demo["jushuitan"], "callback": {
            "partner_key_ref": ref.format("partner_key"), "token_ref": ref.format("callback_token"),
            "accept": ["sign", "token"], "tenant_wide_token": False}}}
        cloud = yaml.safe_load(CLOUD.read_text(encoding="utf-8"))
        cloud_by_ref = {**cloud, "ent_id": "10043", "qimen": {
            **{k: v for k, v in cloud["qimen"].items() if k != "app_secret"},
            "app_secret_ref": "secretsmanager:o2o/tenants/10043/edge#app_secret"}}
        boto3.client("secretsmanager").create_secret(Name="o2o/tenants/10043/edge",
                                                     SecretString=json.dumps({"app_secret": "sm-qimen-secret"}))
        for name, values in (("o2o/tenants/10044/partner", {"partner_key": "sm-partner-key-2"}),
                             ("o2o/tenants/10044/token", {"callback_token": "sm-callback-token-2"})):
            boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(values))
        two_secrets = {**demo, "ent_id": "10044", "jushuitan": {**demo["jushuitan"], "callback": {
            "partner_key_ref": "secretsmanager:o2o/tenants/10044/partner#partner_key",
            "token_ref": "secretsmanager:o2o/tenants/10044/token#callback_token", "accept": ["sign", "token"],
            "tenant_wide_token": False}}}
        for doc in (demo, by_ref, two_secrets, cloud, cloud_by_ref):
            runtime.state_store().put(parse_tenant(doc))

        # The five JST URLs (path, function, push method, the demo tenant's storageCode, extra
        # query): each JST kind takes them in turn, so its figures are over all five.
        routes = itertools.cycle([
            ("/jushuitan/delivery_callback", "delivery_callback", "logistics.upload", "delivery", "133242", {}),
            ("/jushuitan/cancel_callback", "cancel_callback", "order.cancel", "cancel", "133242", {}),
            ("/jushuitan/cancal_callback", "cancel_callback", "order.cancel", "cancel", "133242", {}),
            ("/jushuitan/return_goods_callback", "return_goods_callback", "refund.goods", "return_goods", "133242", {}),
            ("/jushuitan/stock_callback", "stock_callback", "inventory.upload", "stock", "10000", {"type": "2"}),
        ])

        def jst(ent_id: str, *, key: str | None = None, token_key: str | None = None,
                storage: str | None = None) -> tuple[str, dict]:
            """A push to the next JST URL: signed with ``key``, or carrying a URL token from ``token_key``."""
            path, function, method, route, own_storage, extra = next(routes)
            query = {"entId": ent_id, "storageCode": storage or own_storage, **extra}
            if token_key is not None:
                query["token"] = url_token(token_key, ent_id=ent_id, route=route, storage_code=query["storageCode"])
            else:
                query.update(method=method, partnerid="jst", ts=str(int(time.time())))
                covered = {k: v for k, v in query.items() if k not in ("method", "partnerid")}
                query["sign"] = legacy_push_sign(method, "jst", covered, key)
            event = sample_event(function, query=query, body="{}")
            event.update(rawPath=path, routeKey=f"POST {path}")
            return function, event

        confirm = delivery_confirm("SO-BENCH", "M1", [("SF1", {"TS001-WHT-M": 1})])
        kinds = {
            "JST unknown entId": lambda: jst("99999", key="demo-partner-key"),
            "JST unknown entId, new each call": lambda: jst(str(random.randrange(10**6, 10**7)), key="demo-partner-key"),
            "JST wrong sign, inline key": lambda: jst("10010", key="guess"),
            "JST wrong sign, key in SM": lambda: jst("10042", key="guess"),
            "JST wrong URL token, in SM": lambda: jst("10042", token_key="guess"),
            "JST wrong sign, 2 secrets in SM": lambda: jst("10044", key="guess"),
            "JST foreign storageCode": lambda: jst("10010", key="demo-partner-key", storage="555"),
            "奇门 unknown entId": lambda: ("qimen_callback", api_event(
                qimen_query("deliveryorder.confirm", confirm, ent_id="99999"), confirm)),
            "奇门 wrong sign, inline": lambda: ("qimen_callback", api_event(
                qimen_query("deliveryorder.confirm", confirm, secret="guess"), confirm)),
            "奇门 wrong sign, secret in SM": lambda: ("qimen_callback", api_event(
                qimen_query("deliveryorder.confirm", confirm, ent_id="10043", secret="guess"), confirm)),
            "奇门 tenant without 奇门": lambda: ("qimen_callback", api_event(
                qimen_query("deliveryorder.confirm", confirm, ent_id="10010"), confirm)),
        }

        from o2o_bridge import refusal_time

        def clear_caches() -> None:
            runtime.state_store()._tenant_cache.clear()  # the tenant cache period is over (clients kept)
            for provider in parameters.base.DEFAULT_PROVIDERS.values():
                provider.clear_cache()  # the secrets' cache period is over (the provider and its client kept)
            refusal_time._STAND_IN_READS.clear()  # strangers' stand-in reads

        for _ in range(3):  # warm-up: imports, clients, the template
            for build in kinds.values():
                invoke_function(*build())

        latency = (f"AWS modelled: {args.aws_latency_ms:g} ms per call, DynamoDB on moto, GetSecretValue answered "
                   "by the bench" if args.aws_latency_ms else "moto's own times, no modelled network")
        from o2o_bridge.observability import logger

        logger.setLevel("CRITICAL")  # the refusals' log lines would bury the figures
        print(f"refusals at the public edges, {args.n} calls per kind, in process on moto ({latency}); ms, and AWS "
              "calls per request")
        for state in ("warm", "cold"):
            for deadline in deadlines:
                os.environ["O2O_REFUSAL_DEADLINE_MS"] = str(deadline)
                timings: dict[str, list[float]] = {kind: [] for kind in kinds}
                calls: dict[str, collections.Counter[str]] = {kind: collections.Counter() for kind in kinds}
                answers: dict[str, set[tuple[int, str]]] = {"JST": set(), "奇门": set()}
                order = [kind for kind in kinds for _ in range(args.n)]
                random.Random(7).shuffle(order)
                for kind in order:
                    function, event = kinds[kind]()
                    if state == "cold":
                        clear_caches()
                    before = AWS_CALLS.copy()
                    event.setdefault("requestContext", {})["timeEpoch"] = int(time.time() * 1000)  # as API Gateway stamps it
                    started = time.perf_counter()
                    result = invoke_function(function, event)
                    timings[kind].append(time.perf_counter() - started)
                    calls[kind] += AWS_CALLS - before
                    answers[kind.split()[0]].add((result["statusCode"], result["body"]))
                print(f"\n{state} caches, refusal deadline {deadline} ms")
                print(f"  {'kind':32} {'median':>7} {'p10':>7} {'p90':>7} {'spread':>7}  AWS calls per request")
                for kind, values in timings.items():
                    values.sort()
                    per_call = ", ".join(f"{op} {n / args.n:g}" for op, n in sorted(calls[kind].items())) or "none"
                    print(f"  {kind:32} {statistics.median(values) * 1000:7.1f} {values[len(values) // 10] * 1000:7.1f} "
                          f"{values[int(len(values) * 0.9)] * 1000:7.1f} "
                          f"{(values[int(len(values) * 0.9)] - values[len(values) // 10]) * 1000:7.1f}  {per_call}")
                for edge, seen in answers.items():
                    print(f"  {edge} answers: {len(seen)} distinct" + (f" ({next(iter(seen))[0]})" if len(seen) == 1 else f": {seen}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
