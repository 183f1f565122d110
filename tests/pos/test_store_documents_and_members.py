"""P12 (ERP stock-in → pending receipt at the store), P13 (ERP stock-out booked out of the
store), P14 (merged member), P1's optional fields, and the sandbox's new events: client ↔
sandbox over HTTP, every request and answer checked against the OpenAPI by the recorder."""

from __future__ import annotations

import httpx
import pytest

from o2o_bridge.connectors.store import PosIdempotencyConflict, PosNotFound, PosPermanentError
from o2o_bridge.connectors.store import models as m

from .builders import T0, fulfilment
from .conftest import assert_valid

ENT = "10010"


def merchant(sandbox):
    return sandbox.state.merchant(ENT)


def document(doc_no: str = "DBRK20261122001", qty: int = 6, doc_type: str = "调拨入库") -> m.StoreDocument:
    return m.StoreDocument(doc_no=doc_no, doc_type=doc_type, items=[m.SkuQty(sku_id="SKU-RED-M", qty=qty)],
                           remark="总仓调入")


def profile(**changes) -> m.MemberProfile:
    fields = {"mobile": "13800000000", "name": "张三",
              "channels": [m.MemberChannel(channel="store", external_id="M000123"),
                           m.MemberChannel(channel="taobao", external_id="tb_zhangsan")],
              "merged_from": ["M000456"], **changes}
    return m.MemberProfile(**fields)


def stock_of(sandbox, store: str, sku: str = "SKU-RED-M") -> tuple[int, int]:
    cell = merchant(sandbox).store_stock[(store, sku)]
    return cell.qty, cell.version


# --- P12 --------------------------------------------------------------------------------------


def test_p12_an_erp_stock_in_becomes_a_pending_receipt_at_the_store(api, pos, recorder):
    done = api.create_inbound_receipt("S001", document())
    assert (done.doc_no, done.store_code, done.status) == ("DBRK20261122001", "S001", "pending")
    assert recorder.requests[-1].headers["Idempotency-Key"] == "inbound-receipt:S001:DBRK20261122001"
    receipt = merchant(pos).inbound_receipts["S001/DBRK20261122001"]
    assert receipt["inbound_receipt_no"] == done.inbound_receipt_no and receipt["doc_type"] == "调拨入库"
    assert stock_of(pos, "S001") == (5, 1)  # pending: nothing on the shelf until the store receives it

    received = pos.state.receive_inbound_receipt(ENT, "S001", "DBRK20261122001")
    assert received["status"] == "received" and stock_of(pos, "S001") == (11, 2)
    pos.state.receive_inbound_receipt(ENT, "S001", "DBRK20261122001")
    assert stock_of(pos, "S001") == (11, 2)  # received once


def test_p12_repeated_key_is_one_receipt_and_another_key_for_the_same_document_too(api, pos):
    first = api.create_inbound_receipt("S001", document())
    assert api.create_inbound_receipt("S001", document()) == first
    assert api.create_inbound_receipt("S001", document(), business_key="replayed-by-hand") == first
    assert len(merchant(pos).inbound_receipts) == 1
    assert [r["idempotency_key"] for r in pos.state.requests] == [
        "inbound-receipt:S001:DBRK20261122001", "inbound-receipt:S001:DBRK20261122001", "inbound-receipt:replayed-by-hand"]
    other_store = api.create_inbound_receipt("S002", document())
    assert other_store.inbound_receipt_no != first.inbound_receipt_no


def test_p12_the_same_key_with_other_items_is_refused_and_changes_nothing(api, pos):
    api.create_inbound_receipt("S001", document(qty=6))
    with pytest.raises(PosIdempotencyConflict):
        api.create_inbound_receipt("S001", document(qty=7))
    assert merchant(pos).inbound_receipts["S001/DBRK20261122001"]["items"] == [{"sku_id": "SKU-RED-M", "qty": 6}]


def test_p12_p13_to_an_unknown_store_are_not_found(api, pos):
    with pytest.raises(PosNotFound, match="store S999 not found"):
        api.create_inbound_receipt("S999", document())
    with pytest.raises(PosNotFound, match="store S999 not found"):
        api.book_outbound_note("S999", document("QTCK1", 1, "其他出库"))
    assert not merchant(pos).inbound_receipts and not merchant(pos).outbound_notes


# --- P13 --------------------------------------------------------------------------------------


def test_p13_an_erp_stock_out_is_booked_out_of_the_store_once(api, pos, recorder):
    note = document("QTCK20261122001", 2, "其他出库")
    booked = api.book_outbound_note("S001", note)
    assert (booked.doc_no, booked.store_code, booked.status) == ("QTCK20261122001", "S001", "booked")
    assert recorder.requests[-1].headers["Idempotency-Key"] == "outbound-note:S001:QTCK20261122001"
    assert stock_of(pos, "S001") == (3, 2)
    assert api.book_outbound_note("S001", note) == booked  # a repeat: the first answer, no second effect
    assert api.book_outbound_note("S001", note, business_key="another-key") == booked  # same document
    assert stock_of(pos, "S001") == (3, 2)
    assert api.store_stock("S001", ["SKU-RED-M"]).items[0].qty == 3
    assert recorder.checked_answers == 4


# --- P14 --------------------------------------------------------------------------------------


def test_p14_a_merged_profile_is_created_then_unchanged_then_updated(api, pos, recorder):
    saved = api.put_member("M000123", profile())
    assert (saved.member_id, saved.status, saved.merged_from) == ("M000123", "created", ["M000456"])
    first_key = recorder.requests[-1].headers["Idempotency-Key"]
    assert first_key.startswith("member:M000123:")
    members = merchant(pos).members
    assert members["M000123"]["channels"] == [{"channel": "store", "external_id": "M000123"},
                                              {"channel": "taobao", "external_id": "tb_zhangsan"}]
    assert members["M000456"]["merged_into"] == "M000123"

    assert api.put_member("M000123", profile()) == saved  # the same profile: the same key, the first answer
    assert recorder.requests[-1].headers["Idempotency-Key"] == first_key
    assert api.put_member("M000123", profile(), business_key="merge-run-2").status == "unchanged"

    renamed = api.put_member("M000123", profile(name="张三丰"))
    assert renamed.status == "updated" and recorder.requests[-1].headers["Idempotency-Key"] != first_key
    assert members["M000123"]["name"] == "张三丰"


def test_p14_no_channels_or_merges_is_sent_as_empty_lists(api, pos, recorder):
    import json

    api.put_member("M9", profile(channels=[], merged_from=[]))
    assert json.loads(recorder.requests[-1].content) == {"mobile": "13800000000", "name": "张三", "channels": [],
                                                          "merged_from": []}


def test_p14_a_member_merged_into_itself_is_refused(api, pos):
    with pytest.raises(PosPermanentError) as caught:
        api.put_member("M1", profile(merged_from=["M1"]))
    assert caught.value.status == 422 and "merged_from" in caught.value.pos_msg
    assert "M1" not in merchant(pos).members


# --- P1 optional fields -----------------------------------------------------------------------


def test_p1_sends_cod_pickup_store_and_times_when_known(api, pos, recorder):
    import json

    order = fulfilment().model_copy(update={
        "delivery": "pickup", "pickup_store_code": "S001", "cod": m.CashOnDelivery(amount="99.00"),
        "placed_at": T0, "paid_at": T0,
        "receiver": fulfilment().receiver.model_copy(update={"zip": "200040"})})
    created = api.create_fulfilment_order(order)
    sent = json.loads(recorder.requests[-1].content)
    assert sent["cod"] == {"amount": "99.00"} and sent["pickup_store_code"] == "S001"
    assert sent["placed_at"] == sent["paid_at"] == "2026-11-22T15:00:00+08:00" and sent["receiver"]["zip"] == "200040"
    stored = merchant(pos).fulfilments[created.fulfilment_id]
    assert stored["cod"] == {"amount": "99.00"} and stored["pickup_store_code"] == "S001"


def test_p1_leaves_unknown_optional_fields_out():
    body = fulfilment().body()
    assert not {"cod", "pickup_store_code", "placed_at", "paid_at"} & set(body)


def test_p1_refuses_a_negative_cod_amount_or_a_naive_time():
    with pytest.raises(ValueError, match="cod.amount"):
        fulfilment().model_validate({**fulfilment().body(), "cod": {"amount": "-1"}})
    with pytest.raises(ValueError, match="paid_at"):
        fulfilment().model_validate({**fulfilment().body(), "paid_at": "2026-11-22T15:00:00"})
