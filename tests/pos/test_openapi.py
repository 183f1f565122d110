"""docs/openapi/pos-api.yaml is valid OpenAPI 3.1 and says what the store contract (docs/openapi/pos-api.yaml) says."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from o2o_local.pos_sandbox import openapi

from .conftest import assert_valid

DOC = openapi.document()
SCHEMAS = DOC["components"]["schemas"]
EVENTS = ["order.warehouse_requested", "order.cancelled", "return.requested", "fulfilment.shipped",
          "fulfilment.picked_up", "fulfilment.rejected", "transfer.submitted", "warehouse_return.submitted",
          "stock.changed", "sale.completed", "sale.refunded", "stock.counted", "store_document.submitted",
          "store_transfer.submitted", "store_transfer.received", "payment.collected", "product.changed",
          "member.updated"]
# the store contract (docs/openapi/pos-api.yaml), "Store system → bridge (events)": the required data fields of each type.
EVENT_DATA = {
    "order.warehouse_requested": {"order_no", "receiver", "items", "pay_amount", "freight", "paid_at"},
    "order.cancelled": {"order_no", "reason"},
    "return.requested": {"return_no", "order_no", "type", "items"},
    "fulfilment.shipped": {"fulfilment_id", "external_id", "carrier_code", "tracking_no", "shipped_at"},
    "fulfilment.picked_up": {"fulfilment_id", "external_id", "picked_up_at"},
    "fulfilment.rejected": {"fulfilment_id", "external_id", "store_code", "reason"},
    "transfer.submitted": {"doc_no", "store_code", "items", "remark"},
    "warehouse_return.submitted": {"doc_no", "store_code", "items", "remark"},
    "stock.changed": {"store_code", "items"},
    "sale.completed": {"sale_no", "store_code", "sold_at", "payment", "items", "total_amount"},
    "sale.refunded": {"refund_no", "sale_no", "store_code", "refunded_at", "items", "defective"},
    "stock.counted": {"count_no", "store_code", "approved_at", "items"},
    "store_document.submitted": {"doc_no", "store_code", "kind", "items"},
    "store_transfer.submitted": {"doc_no", "from_store", "to_store", "items"},
    "store_transfer.received": {"doc_no", "to_store", "received_at", "items"},
    "payment.collected": {"amount", "method", "collected_at"},  # and external_id or order_no (anyOf)
    "product.changed": {"items"},
    "member.updated": {"member_id", "mobile", "name", "store_code", "updated_at"},
}
# the store contract (docs/openapi/pos-api.yaml), "Bridge → store system": method, path and required body fields.
ENDPOINTS = {
    ("post", "/fulfilment-orders"): {"external_id", "jst_o_id", "platform_order_id", "store_code", "delivery",
                                     "receiver", "items"},
    ("post", "/fulfilment-orders/{fulfilment_id}/cancel"): {"reason"},
    ("post", "/orders/{order_no}/shipments"): {"carrier_code", "carrier_name", "tracking_no", "shipped_at", "items"},
    ("post", "/orders/{order_no}/cancel"): {"reason"},
    ("post", "/returns/{return_no}/receipt"): {"action", "received_at", "items"},
    ("put", "/warehouses/{warehouse_code}/stock"): {"items"},
    ("get", "/stores/{store_code}/stock"): None,
    ("get", "/stock"): None,
    ("post", "/products/batch"): {"items", "options"},
    ("post", "/transfers/{doc_no}/warehouse-shipped"): {"jst_io_id", "shipped_at", "items"},
    ("post", "/warehouse-returns/{doc_no}/received"): {"jst_io_id", "received_at", "items"},
    ("post", "/stores/{store_code}/inbound-receipts"): {"doc_no", "doc_type", "items", "remark"},
    ("post", "/stores/{store_code}/outbound-notes"): {"doc_no", "doc_type", "items", "remark"},
    ("put", "/members/{member_id}"): {"mobile", "name", "channels", "merged_from"},
}


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_the_file_is_valid_openapi_3_1():
    assert DOC["openapi"].startswith("3.1")
    validate(DOC)


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
def test_every_contract_endpoint_with_its_headers_and_required_fields(method, path):
    operation = DOC["paths"][path][method]
    headers = {resolve(p)["name"]: resolve(p) for p in operation["parameters"] if resolve(p)["in"] == "header"}
    assert headers["X-Ent-Id"]["required"] is True
    assert "Idempotency-Key" in headers
    assert headers["Idempotency-Key"]["required"] is (method != "get")
    assert DOC["security"] == [{"bearerKey": []}] and "security" not in operation
    required = ENDPOINTS[(method, path)]
    if required is not None:
        schema = resolve(operation["requestBody"]["content"]["application/json"]["schema"])
        assert required <= set(schema["required"])
    for status in ("200", "401", "429", "500"):
        assert status in operation["responses"]
    assert "Retry-After" in resolve(operation["responses"]["429"])["headers"]


def test_the_event_union_has_one_schema_per_type_with_its_required_fields():
    union = SCHEMAS["PosEvent"]
    assert union["discriminator"]["propertyName"] == "type"
    assert sorted(union["discriminator"]["mapping"]) == sorted(EVENTS)
    for event_type in EVENTS:
        name = "PosEvent_" + event_type.replace(".", "_")
        assert union["discriminator"]["mapping"][event_type] == f"#/components/schemas/{name}"
        own = SCHEMAS[name]["allOf"][1]["properties"]
        assert own["type"] == {"const": event_type}
        data = resolve(own["data"])
        assert set(data["required"]) == EVENT_DATA[event_type]


def test_the_events_route_and_its_answers():
    operation = DOC["paths"]["/pos/events"]["post"]
    names = {resolve(p)["name"] for p in operation["parameters"]}
    assert names == {"X-O2O-Event-Id", "X-O2O-Signature"}
    assert {"200", "401", "404", "422"} <= set(operation["responses"])
    assert operation["security"] == []
    assert DOC["webhooks"]["posEvent"]["post"]["requestBody"] == operation["requestBody"]


@pytest.mark.parametrize("event_type", EVENTS)
def test_each_event_example_is_valid(event_type):
    example = DOC["components"]["examples"][event_type]["value"]
    assert example["type"] == event_type
    assert_valid("PosEvent", example)
    assert_valid("PosEvent_" + event_type.replace(".", "_"), example)


def test_the_sample_events_of_the_repository_are_valid():
    samples = sorted((Path(__file__).resolve().parents[2] / "events").glob("pos_events*.json"))
    assert samples
    for sample in samples:
        body = json.loads(json.loads(sample.read_text(encoding="utf-8"))["body"])
        assert_valid("PosEvent", body)


@pytest.mark.parametrize("broken, field", [
    (lambda e: e["data"]["items"][0].update(qty=0), "data.items[0].qty"),
    (lambda e: e["data"].pop("order_no"), "data"),
    (lambda e: e.update(type="order.unknown"), None),
    (lambda e: e["data"]["receiver"].update(name="   "), "data.receiver.name"),
    (lambda e: e.update(occurred_at="yesterday"), "occurred_at"),
    (lambda e: e["data"]["items"][0].update(price="-1"), "data.items[0].price"),
])
def test_malformed_events_are_refused_naming_the_field(broken, field):
    import copy

    event = copy.deepcopy(DOC["components"]["examples"]["order.warehouse_requested"]["value"])
    broken(event)
    found = openapi.problems("PosEvent", event)
    assert found
    if field:
        assert any(problem.startswith(field) for problem in found), found


def test_every_operation_example_is_valid():
    checked = 0
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put"):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for example in [body.get("example"), *[resolve(e).get("value") for e in body.get("examples", {}).values()]]:
                if example is not None:
                    assert_valid(body["schema"]["$ref"].rsplit("/", 1)[1], example)
                    checked += 1
            for status, answer in operation["responses"].items():
                answer = resolve(answer)
                content = answer.get("content", {}).get("application/json")
                if content and "example" in content:
                    assert_valid(resolve(content["schema"]) and content["schema"]["$ref"].rsplit("/", 1)[1],
                                 content["example"])
                    checked += 1
    assert checked > 25


def test_p1_optional_fields_of_the_contract():
    order = SCHEMAS["FulfilmentOrderCreate"]
    assert {"cod", "pickup_store_code", "placed_at", "paid_at"} <= set(order["properties"])
    assert not {"cod", "pickup_store_code", "placed_at", "paid_at"} & set(order["required"])
    assert order["properties"]["cod"]["required"] == ["amount"]
    assert "zip" in SCHEMAS["Receiver"]["properties"] and "zip" not in SCHEMAS["Receiver"]["required"]


@pytest.mark.parametrize("event_type", ["fulfilment.shipped", "fulfilment.picked_up"])
def test_cod_collected_is_optional_on_shipped_and_picked_up(event_type):
    example = copy.deepcopy(DOC["components"]["examples"][event_type]["value"])
    example["data"]["cod_collected"] = {"amount": "99.00", "method": "cash"}
    assert_valid("PosEvent", example)
    example["data"]["cod_collected"] = {"amount": "99.00", "method": "cheque"}
    assert any(p.startswith("data.cod_collected.method") for p in openapi.problems("PosEvent", example))


def test_a_payment_names_its_order_one_way_or_the_other():
    example = copy.deepcopy(DOC["components"]["examples"]["payment.collected"]["value"])
    assert_valid("PosEvent", example)
    assert_valid("PosEvent", {**example, "data": {**example["data"], "order_no": "SO1"}})
    del example["data"]["external_id"]
    assert openapi.problems("PosEvent", example)
    example["data"]["order_no"] = "SO20261122001"
    assert_valid("PosEvent", example)
