"""Each event type's model: the contract's required fields, extras tolerated, 422 naming the path."""

from decimal import Decimal

import pytest

from o2o_bridge.errors import UnprocessableRequest
from o2o_bridge.events import models
from o2o_bridge.events.routes import ROUTES
from o2o_bridge.events.models import EVENT_MODELS, parse_event

from .conftest import EVENT_TYPES, fresh, request, sample_body, send, table_items

# pos-contract.md, "Store system → bridge (events)": type → required data fields.
REQUIRED = {
    "order.warehouse_requested": ["order_no", "receiver", "items", "pay_amount", "freight", "paid_at"],
    "order.cancelled": ["order_no", "reason"],
    "return.requested": ["return_no", "order_no", "type", "items"],
    "fulfilment.shipped": ["fulfilment_id", "external_id", "carrier_code", "tracking_no", "shipped_at"],
    "fulfilment.picked_up": ["fulfilment_id", "external_id", "picked_up_at"],
    "fulfilment.rejected": ["fulfilment_id", "external_id", "store_code", "reason"],
    "transfer.submitted": ["doc_no", "store_code", "items", "remark"],
    "warehouse_return.submitted": ["doc_no", "store_code", "items", "remark"],
    "stock.changed": ["store_code", "items"],
}
ITEM_FIELDS = {
    "order.warehouse_requested": ["line_no", "sku_id", "qty", "price", "amount"],
    "return.requested": ["line_no", "sku_id", "qty", "amount"],
    "transfer.submitted": ["sku_id", "qty"],
    "warehouse_return.submitted": ["sku_id", "qty"],
    "stock.changed": ["sku_id", "qty", "version"],
}
RECEIVER = ["name", "mobile", "province", "city", "district", "address"]


def problem(body) -> str:
    with pytest.raises(UnprocessableRequest) as caught:
        parse_event(body)
    return caught.value.message


def test_every_contract_type_has_a_model_and_a_flow_entry():
    assert set(EVENT_MODELS) == set(EVENT_TYPES) == set(REQUIRED) == set(ROUTES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_sample_parses_into_its_own_model(event_type):
    event = parse_event(sample_body(event_type))
    assert type(event) is EVENT_MODELS[event_type] and event.ent_id == "10010"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_required_field_is_named_when_missing(event_type):
    for name in ["event_id", "ent_id", "occurred_at", "data"]:
        body = sample_body(event_type)
        del body[name]
        assert f"{name}: Field required" in problem(body)
    for name in REQUIRED[event_type]:
        body = sample_body(event_type)
        del body["data"][name]
        assert f"data.{name}: Field required" in problem(body)
    for name in ITEM_FIELDS.get(event_type, []):
        body = sample_body(event_type)
        del body["data"]["items"][0][name]
        assert f"data.items[0].{name}: Field required" in problem(body)
    if event_type == "order.warehouse_requested":
        for name in RECEIVER:
            body = sample_body(event_type)
            del body["data"]["receiver"][name]
            assert f"data.receiver.{name}: Field required" in problem(body)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_unknown_extra_fields_are_tolerated(event_type):
    body = sample_body(event_type)
    body["schema_version"] = 2
    body["data"]["store_note"] = {"anything": [1, 2]}
    for item in body["data"].get("items", []):
        item["barcode"] = "6900000000000"
    assert type(parse_event(body)) is EVENT_MODELS[event_type]


@pytest.mark.parametrize(
    "event_type, change, path",
    [
        ("stock.changed", lambda d: d["items"][0].update(qty="many"), "data.items[0].qty"),
        ("stock.changed", lambda d: d["items"][0].update(version=-1), "data.items[0].version"),
        ("transfer.submitted", lambda d: d["items"].append({"sku_id": "X", "qty": 0}), "data.items[1].qty"),
        ("transfer.submitted", lambda d: d.update(items=[]), "data.items"),
        ("order.warehouse_requested", lambda d: d.update(pay_amount="-1"), "data.pay_amount"),
        ("order.warehouse_requested", lambda d: d.update(freight="NaN"), "data.freight"),
        ("order.warehouse_requested", lambda d: d["receiver"].update(mobile="  "), "data.receiver.mobile"),
        ("order.warehouse_requested", lambda d: d.update(paid_at="yesterday"), "data.paid_at"),
        ("fulfilment.rejected", lambda d: d.update(reason="tired"), "data.reason"),
        ("fulfilment.shipped", lambda d: d.update(tracking_no=None), "data.tracking_no"),
        ("order.cancelled", lambda d: d.update(order_no=["SO1"]), "data.order_no"),
    ],
)
def test_a_bad_value_is_named_by_its_path(event_type, change, path):
    body = sample_body(event_type)
    change(body["data"])
    assert problem(body).startswith(f"malformed event: {path}: ")


def test_envelope_problems():
    assert "type: unknown event type" in problem({**sample_body("stock.changed"), "type": "stock.exploded"})
    assert "type: field required" in problem({k: v for k, v in sample_body("stock.changed").items() if k != "type"})
    assert "data: must be an object" in problem({**sample_body("stock.changed"), "data": []})
    assert "occurred_at:" in problem({**sample_body("stock.changed"), "occurred_at": "t"})


def test_the_rejection_reasons_of_the_contract():
    for reason in ("out_of_stock", "damaged", "other"):
        body = sample_body("fulfilment.rejected")
        body["data"]["reason"] = reason
        assert parse_event(body).data.reason == reason


def test_a_rejection_may_name_the_skus_it_cannot_fulfil():
    body = sample_body("fulfilment.rejected")
    assert parse_event(body).data.items is None  # optional: absent, every SKU of the order is meant
    body["data"]["items"] = [{"sku_id": "SKU-RED-M", "qty": 2}, {"sku_id": "SKU-RED-L"}]
    items = parse_event(body).data.items
    assert [(i.sku_id, i.qty) for i in items] == [("SKU-RED-M", 2), ("SKU-RED-L", None)]
    for broken, path in [([], "data.items"), ([{"qty": 1}], "data.items[0].sku_id"),
                         ([{"sku_id": "X", "qty": 0}], "data.items[0].qty")]:
        body["data"]["items"] = broken
        assert problem(body).startswith(f"malformed event: {path}: ")


def test_numbers_for_ids_and_money_as_text_are_read_as_such():
    body = sample_body("order.warehouse_requested")
    body["data"]["items"][0]["line_no"] = 1
    event = parse_event(body)
    assert event.data.items[0].line_no == "1"
    assert event.data.pay_amount == Decimal("208.00")
    assert isinstance(event.data.receiver, models.Receiver)


def test_a_malformed_signed_event_is_422_naming_the_field_and_writes_nothing(tenants):
    body = fresh("stock.changed")
    body["data"]["items"][0]["qty"] = "lots"
    before = table_items(tenants)
    code, answer = send(request(body))
    assert (code, answer["code"]) == (422, 422) and "data.items[0].qty" in answer["msg"]
    assert table_items(tenants) == before


def test_times_must_carry_their_offset():
    body = sample_body("fulfilment.shipped")
    body["data"]["shipped_at"] = "2026-11-22T10:29:00"
    assert "data.shipped_at: Input should have timezone info" in problem(body)
    body["data"]["shipped_at"] = "2026-11-22T02:29:00Z"
    assert parse_event(body).data.shipped_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("value", [True, "3", 2.5])
def test_quantities_are_json_integers_not_booleans_or_text(value):
    body = sample_body("stock.changed")
    body["data"]["items"][0]["qty"] = value
    assert problem(body).startswith("malformed event: data.items[0].qty:")
