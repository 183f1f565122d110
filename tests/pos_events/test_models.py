"""Each event type's model: the contract's required fields, extras tolerated, 422 naming the path."""

from decimal import Decimal

import pytest

from o2o_bridge.errors import UnprocessableRequest
from o2o_bridge.events import models
from o2o_bridge.events.routes import ROUTES
from o2o_bridge.events.models import EVENT_MODELS, parse_event

from .conftest import EVENT_TYPES, fresh, request, sample_body, send, table_items

# the store contract (docs/openapi/pos-api.yaml), "Store system → bridge (events)": type → required data fields.
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
    "sale.completed": ["sale_no", "store_code", "sold_at", "payment", "items", "total_amount"],
    "sale.refunded": ["refund_no", "sale_no", "store_code", "refunded_at", "items", "defective"],
    "stock.counted": ["count_no", "store_code", "approved_at", "items"],
    "store_document.submitted": ["doc_no", "store_code", "kind", "items"],
    "store_transfer.submitted": ["doc_no", "from_store", "to_store", "items"],
    "store_transfer.received": ["doc_no", "to_store", "received_at", "items"],
    "payment.collected": ["amount", "method", "collected_at"],  # and external_id or order_no: see below
    "product.changed": ["items"],
    "member.updated": ["member_id", "mobile", "name", "store_code", "updated_at"],
}
ITEM_FIELDS = {
    "order.warehouse_requested": ["line_no", "sku_id", "qty", "price", "amount"],
    "return.requested": ["line_no", "sku_id", "qty", "amount"],
    "transfer.submitted": ["sku_id", "qty"],
    "warehouse_return.submitted": ["sku_id", "qty"],
    "stock.changed": ["sku_id", "qty", "version"],
    "sale.completed": ["line_no", "sku_id", "qty", "price", "amount"],
    "sale.refunded": ["line_no", "sku_id", "qty", "amount"],
    "stock.counted": ["sku_id", "counted_qty"],
    "store_document.submitted": ["sku_id", "qty"],
    "store_transfer.submitted": ["sku_id", "qty"],
    "store_transfer.received": ["sku_id", "qty"],
    "product.changed": ["spu_code", "sku_code", "barcode", "name", "color", "size", "brand", "category", "cost_price",
                        "tag_price", "retail_price", "attributes"],
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
        ("sale.completed", lambda d: d.update(payment="bitcoin"), "data.payment"),
        ("sale.completed", lambda d: d["items"][0].update(qty=0), "data.items[0].qty"),
        ("sale.completed", lambda d: d["items"][0].update(qty="2"), "data.items[0].qty"),
        ("sale.completed", lambda d: d.update(total_amount="-0.01"), "data.total_amount"),
        ("sale.completed", lambda d: d.update(sold_at="2026-11-22T14:04:30"), "data.sold_at"),
        ("sale.completed", lambda d: d.update(member_id="  "), "data.member_id"),
        ("sale.refunded", lambda d: d.update(defective="no"), "data.defective"),
        ("sale.refunded", lambda d: d.update(defective=0), "data.defective"),
        ("sale.refunded", lambda d: d["items"][0].update(amount="Infinity"), "data.items[0].amount"),
        ("stock.counted", lambda d: d["items"][0].update(counted_qty=-1), "data.items[0].counted_qty"),
        ("stock.counted", lambda d: d["items"][0].update(counted_qty=1.5), "data.items[0].counted_qty"),
        ("stock.counted", lambda d: d.update(items=[]), "data.items"),
        ("store_document.submitted", lambda d: d.update(kind="gift_out"), "data.kind"),
        ("store_document.submitted", lambda d: d["items"][0].update(qty=-3), "data.items[0].qty"),
        ("store_transfer.submitted", lambda d: d.update(to_store=""), "data.to_store"),
        ("store_transfer.submitted", lambda d: d["items"][0].update(qty=True), "data.items[0].qty"),
        ("payment.collected", lambda d: d.update(method="cheque"), "data.method"),
        ("payment.collected", lambda d: d.update(amount="-5"), "data.amount"),
        ("payment.collected", lambda d: d.update(collected_at="today"), "data.collected_at"),
        ("product.changed", lambda d: d["items"][0].update(tag_price="-1"), "data.items[0].tag_price"),
        ("product.changed", lambda d: d["items"][0].update(name=" "), "data.items[0].name"),
        ("product.changed", lambda d: d.update(items=[]), "data.items"),
        ("member.updated", lambda d: d.update(mobile=None), "data.mobile"),
        ("member.updated", lambda d: d.update(updated_at="2026-11-22"), "data.updated_at"),
        ("fulfilment.shipped", lambda d: d.update(cod_collected={"amount": "99.00", "method": "iou"}),
         "data.cod_collected.method"),
        ("fulfilment.picked_up", lambda d: d.update(cod_collected={"method": "cash"}), "data.cod_collected.amount"),
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


def test_the_new_events_read_as_the_bridge_needs_them():
    sale = parse_event(sample_body("sale.completed")).data
    assert (sale.payment, sale.total_amount, sale.member_id) == ("wechat", Decimal("198.00"), "M000123")
    assert sale.sold_at.utcoffset().total_seconds() == 8 * 3600
    assert [(i.sku_id, i.qty, i.amount) for i in sale.items] == [("SKU-RED-M", 2, Decimal("198.00"))]
    assert parse_event(sample_body("sale.refunded")).data.defective is False
    counted = parse_event(sample_body("stock.counted")).data
    assert [(i.sku_id, i.counted_qty) for i in counted.items] == [("SKU-RED-M", 4), ("SKU-RED-L", 0)]
    for kind in ("exchange_out", "manual_out", "reversal", "purchase_in", "import_in"):
        body = sample_body("store_document.submitted")
        body["data"]["kind"] = kind
        assert parse_event(body).data.kind == kind
    transfer = parse_event(sample_body("store_transfer.submitted")).data
    assert (transfer.from_store, transfer.to_store) == ("S001", "S002")
    product = parse_event(sample_body("product.changed")).data.items[0]
    assert (product.sku_code, product.retail_price, product.attributes["season"]) == ("SKU-RED-M", Decimal("89.00"), "秋")
    member = parse_event(sample_body("member.updated")).data
    assert (member.member_id, member.mobile, member.store_code) == ("M000123", "13800000000", "S001")


def test_optional_fields_of_the_new_events_may_be_absent_or_null():
    body = sample_body("sale.completed")
    del body["data"]["member_id"], body["data"]["member_mobile"]
    assert parse_event(body).data.member_id is None
    body = sample_body("product.changed")
    body["data"]["items"][0].update(barcode=None, retail_price=None, attributes={"season": None})
    assert parse_event(body).data.items[0].retail_price is None


def test_a_payment_names_its_fulfilment_or_its_store_order():
    body = sample_body("payment.collected")
    assert parse_event(body).data.external_id == "700001"  # the sample online order (events/README.md)
    del body["data"]["external_id"]
    assert problem(body) == "malformed event: data: external_id or order_no is required"
    body["data"]["order_no"] = "SO20261122001"
    paid = parse_event(body).data
    assert (paid.order_no, paid.external_id, paid.amount, paid.method) == ("SO20261122001", None, Decimal("99.00"),
                                                                            "wechat")


@pytest.mark.parametrize("event_type", ["fulfilment.shipped", "fulfilment.picked_up"])
def test_shipped_and_picked_up_may_say_what_cash_on_delivery_was_collected(event_type):
    body = sample_body(event_type)
    assert parse_event(body).data.cod_collected is None
    body["data"]["cod_collected"] = {"amount": 99, "method": "cash"}
    collected = parse_event(body).data.cod_collected
    assert (collected.amount, collected.method) == (Decimal("99"), "cash")
