"""Every kind of callback the bridge answers, sent the way production sends it, and a count of the
AWS requests each one makes, taken from outside the bridge (a botocore hook on the default
session, which every client of the handlers is built from).

Shared by bench/cost.py (figures, prices) and tests/integration/test_callback_requests.py
(the ceilings). A kind is ``CallbackKind(name, prepare, send, again)``: ``prepare(i)`` sets the
scene for the i-th callback without being counted (the order the warehouse later cancels, the
return it receives), ``send(i)`` makes the callback arrive, ``again(i)`` sends the very same
push or event once more (a duplicate)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
READS = {"GetItem", "Query", "Scan"}
RATE_LIMITER_KEYS = ("RATE#",)  # the shared JST rate limiter's items (connectors/pacing.py)


@dataclass
class Tally:
    requests: Counter = field(default_factory=Counter)   # "dynamodb.PutItem" -> n
    rate_limiter: int = 0      # of the DynamoDB requests, those on the shared rate limiter's items
    wru: float = 0.0
    rru: float = 0.0
    log_bytes: int = 0
    seconds: float = 0.0       # wall time of the callbacks as their senders saw them
    aws_seconds: float = 0.0   # of which inside AWS requests (the local moto server's latency)
    cpu_seconds: float = 0.0   # CPU time of the handlers' threads (bench/cost.py measures it)
    invocations: int = 0       # handler invocations (the callbacks' and the queued work's)
    outside_calls: int = 0     # requests the JST and 店+ sandboxes received
    ledger_puts: int = 0       # ledger objects written (an S3 PUT each in AWS: the ledger writer's, per batch)

    def ddb_requests(self) -> int:
        return sum(n for op, n in self.requests.items() if op.startswith("dynamodb."))

    def service_requests(self, service: str) -> int:
        return sum(n for op, n in self.requests.items() if op.startswith(service + "."))


class AwsMeter:
    """Counts every AWS request made through boto3's default session and through the bridge's own sessions (``runtime.session_listeners``; building a meter resets the
    runtime so the bridge's clients are built again, counted).
    DynamoDB capacity is estimated from sizes as AWS defines it: a write unit per started KB of
    the item written (the request body stands in for the item), two for a transactional write; a
    read unit per started 4 KB read (half for an eventually consistent read), counted per item for
    BatchGetItem and TransactGetItems (each item rounded up on its own, a key found missing costs
    a unit all the same; two units for a transactional read), over the whole answer for Query
    and Scan (the answer's JSON stands in for the items)."""

    def __init__(self) -> None:
        import boto3

        from o2o_bridge import runtime

        boto3.setup_default_session()  # what a test or the stack builds with boto3.client
        self._listen(boto3.DEFAULT_SESSION)
        # The bridge's own session (runtime.aws_session), built again whenever the local stack
        # starts a new container: counted through each one.
        runtime.session_listeners.append(self._listen)
        runtime.reset()
        self.tally = Tally()
        self._started = threading.local()
        self.trace: list[str] | None = None  # when a list: one line per DynamoDB request, with its caller

    def _listen(self, session: Any) -> None:
        events = session.events
        events.register("before-send", self._before_send)
        events.register("after-call.dynamodb", self._after_dynamodb)
        events.register("after-call", self._after_call)

    def close(self) -> None:
        """Stop counting the sessions built from now on."""
        from o2o_bridge import runtime

        if self._listen in runtime.session_listeners:
            runtime.session_listeners.remove(self._listen)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.tally.requests[f"{service}.{operation}"] += 1
        self._started.at = time.perf_counter()
        if service != "dynamodb":
            return
        body = request.body or b""
        detail = json.loads(body or b"{}")
        key = detail.get("Key") or detail.get("Item") or {}
        pk = str(next(iter(key.get("pk", {}).values()), ""))
        # A transaction counts too when it carries the limiter's grant (records riding along with it).
        grants = [i for i in detail.get("TransactItems", []) for w in i.values()
                  if str(next(iter((w.get("Key") or w.get("Item") or {}).get("pk", {}).values()), "")).startswith(
                      RATE_LIMITER_KEYS)]
        if pk.startswith(RATE_LIMITER_KEYS) or grants:
            self.tally.rate_limiter += 1
        if self.trace is not None:
            where = "/".join(str(next(iter(key[k].values()))) for k in ("pk", "sk") if k in key)
            self.trace.append(f"    {operation:20} {where[:70]:70} {_caller()}")
        self._started.reading = _keys_read(operation, detail)
        size = len(body if isinstance(body, (bytes, bytearray)) else str(body).encode())
        if operation in WRITES:
            self.tally.wru += max(1, math.ceil(size / 1024))
        elif operation == "TransactWriteItems":
            items = detail.get("TransactItems", [])
            self.tally.wru += 2 * sum(max(1, math.ceil(len(json.dumps(i)) / 1024)) for i in items)
        elif operation == "BatchWriteItem":
            for rows in detail.get("RequestItems", {}).values():
                self.tally.wru += sum(max(1, math.ceil(len(json.dumps(r)) / 1024)) for r in rows)

    def _after_dynamodb(self, http_response: Any, model: Any, event_name: str = "", **_: Any) -> None:
        operation = model.name
        reading = getattr(self._started, "reading", None)
        if reading is None:
            return
        asked, consistent = reading
        content = http_response.content or b""
        if operation in ("BatchGetItem", "TransactGetItems"):
            answer = json.loads(content or b"{}")
            if operation == "BatchGetItem":
                found = [item for items in answer.get("Responses", {}).values() for item in items]
                unprocessed = sum(len(t.get("Keys", [])) for t in answer.get("UnprocessedKeys", {}).values())
                per = 1.0 if consistent else 0.5
            else:
                found = [r["Item"] for r in answer.get("Responses", []) if r.get("Item")]
                unprocessed, per = 0, 2.0
            units = sum(max(1, math.ceil(len(json.dumps(item)) / 4096)) for item in found)
            missing = max(0, asked - len(found) - unprocessed)
            self.tally.rru += per * (units + missing)
            return
        units = max(1, math.ceil(len(content) / 4096))
        self.tally.rru += units * (1.0 if consistent else 0.5)

    def _after_call(self, **_: Any) -> None:
        started = getattr(self._started, "at", None)
        if started is not None:
            self.tally.aws_seconds += time.perf_counter() - started
            self._started.at = None

    def take(self) -> Tally:
        taken, self.tally = self.tally, Tally()
        return taken


def _keys_read(operation: str, detail: dict[str, Any]) -> tuple[int, bool] | None:
    """For a read: how many keys it names (0 for Query and Scan) and whether it reads consistently."""
    if operation == "BatchGetItem":
        tables = detail.get("RequestItems", {}).values()
        return sum(len(t.get("Keys", [])) for t in tables), all(t.get("ConsistentRead") for t in tables)
    if operation == "TransactGetItems":
        return len(detail.get("TransactItems", [])), True
    if operation in READS:
        return (1 if operation == "GetItem" else 0), bool(detail.get("ConsistentRead"))
    return None


def _caller() -> str:
    """The innermost bridge frames that made the request (outside botocore and boto3)."""
    import traceback
    from pathlib import Path

    frames = [f for f in traceback.extract_stack() if "/o2o_bridge/" in f.filename]
    return " < ".join(f"{Path(f.filename).stem}.{f.name}:{f.lineno}" for f in reversed(frames[-4:]))


@dataclass(frozen=True)
class CallbackKind:
    name: str
    send: Callable[[int], Any]
    again: Callable[[int], Any]
    prepare: Callable[[int], Any] = lambda i: None
    # Work the callbacks leave to a scheduled run rather than the retry queue (an S1 store event's
    # confirmation waits for the poll's batch): run once after a batch of happy callbacks, inside
    # their count, as the drain of the retry queue is: moving work out of the handler is no saving.
    deferred: Callable[[], Any] | None = None


RECEIVER = {"name": "李四", "mobile": "13900000000", "province": "上海市", "city": "上海市", "district": "浦东新区",
            "address": "世纪大道 100 号"}
SHOP = 133242  # the demo tenant's 自有商城 shop: the storageCode of its order pushes


def store_order(order_no: str) -> dict[str, Any]:
    items = [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "price": "99.00", "amount": "99.00"}]
    return {"order_no": order_no, "receiver": RECEIVER, "items": items, "freight": "0.00", "pay_amount": "99.00",
            "paid_at": "2026-11-22T10:20:00+08:00"}


def accepted(result: Any) -> Any:
    """The callback's answer was a success (200, and for a JST push JST's code 0): else stop."""
    status = getattr(result, "status", None)
    if status is None and isinstance(result, dict):
        status = result.get("http_status")
    if status != 200:
        raise AssertionError(f"a callback was not accepted: {result}")
    return result


def callback_kinds(jst: Any, store: Any, warehouse_skus: list[str], *, settle: Callable[[], Any],
                   run: str = "") -> list[CallbackKind]:
    """The kinds, over the demo tenant (10010) of ``demo_world``. ``settle()`` runs the work queued
    so far (the local stack's drain): a scene's steps wait for each other, as the JST app's rate
    limit may queue one. ``run`` makes the document numbers of one run differ from another's in
    the same stack."""
    events: dict[str, dict[int, Any]] = defaultdict(dict)
    pushes: dict[str, dict[int, Any]] = defaultdict(dict)

    def emitted(kind: str, event_type: str, data: dict[str, Any], i: int) -> Any:
        result = accepted(store.emit(event_type, data, ent_id="10010"))
        events[kind][i] = result.event
        return result

    def emitted_again(kind: str) -> Callable[[int], Any]:
        def again(i: int) -> Any:
            event = events[kind][i]
            return store.emit(event["type"], event["data"], ent_id="10010", event_id=event["event_id"])

        return again

    def pushed_again(kind: str, storage_code: int) -> Callable[[int], Any]:
        return lambda i: jst.push(kind, pushes[kind][i], storage_code=storage_code)

    def order_requested(i: int) -> Any:
        return emitted("order", "order.warehouse_requested", store_order(f"CO{run}-{i}"), i)

    def delivery_prepared(i: int) -> None:
        accepted(store.emit("order.warehouse_requested", store_order(f"CD{run}-{i}"), ent_id="10010"))
        settle()

    def delivery(i: int) -> Any:
        shipped = jst.ship_order(so_id=f"CD{run}-{i}", lc_id="SF", l_id=f"SF{run}-{i}")
        pushes["delivery"][i] = shipped["payload"]
        return shipped["push"]

    def cancel_prepared(i: int) -> None:
        accepted(store.emit("order.warehouse_requested", store_order(f"CX{run}-{i}"), ent_id="10010"))
        settle()

    def cancel(i: int) -> Any:
        cancelled = jst.cancel_order(so_id=f"CX{run}-{i}", remark="缺货")
        pushes["cancel"][i] = cancelled["payload"]
        return cancelled["push"]

    def aftersale_prepared(i: int) -> None:
        accepted(store.emit("order.warehouse_requested", store_order(f"CR{run}-{i}"), ent_id="10010"))
        settle()
        accepted(jst.ship_order(so_id=f"CR{run}-{i}", lc_id="SF", l_id=f"SR{run}-{i}")["push"])
        settle()
        accepted(store.emit("return.requested", {
            "return_no": f"RT{run}-{i}", "order_no": f"CR{run}-{i}", "type": "return",
            "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]}, ent_id="10010"))
        settle()

    def aftersale(i: int) -> Any:
        received = jst.receive_aftersale(outer_as_id=f"RT{run}-{i}")
        pushes["return_goods"][i] = received["payload"]
        return received["push"]

    def stock_changed(i: int) -> Any:
        result = accepted(store.set_store_stock("10010", "S001", [{"sku_id": "TS001-WHT-M", "qty": 10 + i}]))
        events["stock"][i] = result.event
        return result

    def stock_push(width: int) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
        chosen, kind = warehouse_skus[:width], f"stock{width}"

        def send(i: int) -> Any:
            for sku in chosen:
                jst.set_stock(10000, sku, qty=100 + i)
            result = jst.push_stock(10000, chosen)
            pushes[kind][i] = result["payload"]
            return result

        return send, lambda i: jst.push("stock", pushes[kind][i], storage_code=10000)

    def suffix(event_type: str, i: int) -> str:
        """This kind's document numbers: apart from every other kind's (``oc`` for order.cancelled)."""
        return "".join(word[0] for word in event_type.replace("_", ".").split(".")) + f"{run}-{i}"

    def sample_event(event_type: str, prepare: Callable[[str], Any] | None = None) -> CallbackKind:
        """A store event as its sample (events/pos_events_<type>.json) sends it, its document
        numbers made this run's own and its SKU one of the demo catalogue's. ``prepare`` sets the
        scene for the document numbers ending in the suffix it is given."""
        kind = f"sample:{event_type}"

        def send(i: int) -> Any:
            return emitted(kind, event_type, sample_data(event_type, suffix(event_type, i)), i)

        return CallbackKind(f"pos_events {event_type}", send, emitted_again(kind),
                            prepare=(lambda i: prepare(suffix(event_type, i))) if prepare else (lambda i: None))

    def order_of(tail: str) -> None:
        accepted(store.emit("order.warehouse_requested", store_order(f"SO20261122001-{tail}"), ent_id="10010"))
        settle()

    def shipped_order_of(tail: str) -> None:
        order_of(tail)
        accepted(jst.ship_order(so_id=f"SO20261122001-{tail}", lc_id="SF", l_id=f"SQ-{tail}")["push"])
        settle()

    def transfer_of(tail: str) -> None:
        accepted(store.emit("store_transfer.submitted", sample_data("store_transfer.submitted", tail), ent_id="10010"))
        settle()

    def sale_of(tail: str) -> None:
        accepted(store.emit("sale.completed", sample_data("sale.completed", tail), ent_id="10010"))
        settle()

    one, one_again = stock_push(1)
    twenty, twenty_again = stock_push(20)
    return [
        CallbackKind("pos_events order.warehouse_requested", order_requested, emitted_again("order")),
        CallbackKind("delivery_callback", delivery, pushed_again("delivery", SHOP), prepare=delivery_prepared),
        CallbackKind("cancel_callback", cancel, pushed_again("cancel", SHOP), prepare=cancel_prepared),
        CallbackKind("return_goods_callback (aftersale)", aftersale, pushed_again("return_goods", SHOP),
                     prepare=aftersale_prepared),
        CallbackKind("pos_events stock.changed", stock_changed, emitted_again("stock")),
        CallbackKind("stock_callback, 1 SKU", one, one_again),
        CallbackKind("stock_callback, 20 SKUs", twenty, twenty_again),
        sample_event("order.cancelled", prepare=order_of),
        sample_event("return.requested", prepare=shipped_order_of),
        sample_event("transfer.submitted"),
        sample_event("warehouse_return.submitted"),
        sample_event("store_document.submitted"),
        sample_event("store_transfer.submitted"),
        sample_event("store_transfer.received", prepare=transfer_of),
        sample_event("stock.counted"),
        sample_event("sale.completed"),
        sample_event("sale.refunded", prepare=sale_of),
        sample_event("member.updated"),
        sample_event("product.changed"),
    ]


SAMPLE_SKU = "TS001-WHT-M"  # of the demo catalogue (the samples name SKU-RED-M)
NUMBERED = ("order_no", "return_no", "sale_no", "refund_no", "count_no", "doc_no", "member_id")


def sample_data(event_type: str, suffix: str) -> dict[str, Any]:
    """The data of ``events/pos_events_<type>.json`` with its document numbers ending in ``-suffix``."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "events" / f"pos_events_{event_type.replace('.', '_')}.json"
    text = json.loads(path.read_text(encoding="utf-8"))["body"].replace("SKU-RED-M", SAMPLE_SKU)
    data = json.loads(text)["data"]
    for field_name in NUMBERED:
        if field_name in data:
            data[field_name] = f"{data[field_name]}-{suffix}"
    return data


def warehouse_skus(jst: Any, width: int = 20) -> list[str]:
    """SKUs of the demo main warehouse (10000), ``width`` of them: some are added when the demo
    warehouse has fewer, as a merchant would have."""
    skus = sorted({s for (w, s) in jst.state.inventory if w == 10000})
    while len(skus) < width:
        sku = f"BENCH-{len(skus):03d}"
        jst.state.seed(skus=[{"sku_id": sku}])
        jst.set_stock(10000, sku, qty=1)
        skus.append(sku)
    return skus


# --- S1: online orders fulfilled by stores (the demo tenant, 10010) ------------------------------

S1_SHOP = 10086          # a platform shop: its outbounds to the 店加线下仓 (10001) are routed to stores
SHANGHAI = {"receiver_state": "上海市", "receiver_city": "上海市", "receiver_district": "静安区"}
NANJING = {"receiver_state": "江苏省", "receiver_city": "南京市", "receiver_district": "玄武区"}


def s1_kinds(jst: Any, store: Any, *, poll: Callable[[], Any], settle: Callable[[], Any],
             run: str = "") -> list[CallbackKind]:
    """The store's events about an online order the bridge routed to it (S1; docs/s1-store-fulfilment.md),
    over the demo tenant (10010). Each scene is a JST sales outbound of the 店加线下仓, polled
    (``poll()``: poll_jst_outbound for the tenant) and dispatched to a store, whose fulfilment
    order the event names. A shipped or picked-up order's confirmation waits for the poll's batch
    (``s1.confirm.pending``): that part of the poll, sending what the events queued, is the kinds'
    ``deferred`` work, counted with them."""
    import itertools

    io_ids = itertools.count(880001)
    orders: dict[tuple[str, int], tuple[int, str]] = {}   # (kind, i) -> (io_id, fulfilment_id)
    events: dict[str, dict[int, Any]] = defaultdict(dict)
    merchant = store.state.merchant("10010")
    jst.seed(logistics_companies=[{"lc_id": "MDZT", "lc_name": "门店自提"}])  # routing.pickup_lc_id
    home = {"SKU-RED-L": "S001", "SKU-BLUE-M": "S002"}  # S001 ships to 上海, S002 takes pickups in 南京

    def dispatched(kind: str, i: int, *, sku: str, where: dict[str, str], labels: str = "",
                   order: dict[str, Any] | None = None, pay_amount: str = "99.00") -> tuple[int, str]:
        # Stock enough at the store the demo routes the order to, however many are open at once and
        # whatever the kinds before did to the stores' stock (not announced to the bridge).
        store.set_store_stock("10010", home[sku], [{"sku_id": sku, "qty": 100000}], emit=False)
        io_id = next(io_ids)
        jst.add_outbound(io_id=io_id, so_id=f"S1B{run}-{io_id}", wms_co_id=10001, shop_id=S1_SHOP, labels=labels,
                         receiver_name="王小姐", receiver_mobile="13800000000", receiver_address="南京西路1号",
                         pay_amount=pay_amount, **where, **({"order": order} if order else {}),
                         items=[{"sku_id": sku, "qty": 1, "name": "T恤"}])
        poll()
        settle()
        with store.state.lock:
            found = [f for f in merchant.fulfilments.values()
                     if f["external_id"] == str(io_id) and f["status"] == "created"]
        if len(found) != 1 or found[0]["store_code"] != home[sku]:
            raise AssertionError(f"outbound {io_id} was not dispatched to store {home[sku]}: {found}")
        orders[(kind, i)] = (io_id, found[0]["fulfilment_id"])
        return orders[(kind, i)]

    def acted(kind: str, action: str, i: int, **extra: Any) -> Any:
        result = accepted(store.fulfilment_event(orders[(kind, i)][1], action, ent_id="10010", **extra))
        events[kind][i] = result.event
        return result

    def again(kind: str) -> Callable[[int], Any]:
        def send(i: int) -> Any:
            event = events[kind][i]
            return store.emit(event["type"], event["data"], ent_id="10010", event_id=event["event_id"])

        return send

    def cod_shipped(i: int) -> None:
        """A 货到付款 order shipped by the store, its money not reported with the shipment."""
        io_id, fulfilment_id = dispatched("paid", i, sku="SKU-RED-L", where=SHANGHAI, labels="货到付款",
                                          order={"is_cod": True, "paid_amount": 0}, pay_amount="99.00")
        accepted(store.emit("fulfilment.shipped", {
            "fulfilment_id": fulfilment_id, "external_id": str(io_id), "carrier_code": "SF",
            "tracking_no": f"SFC{run}{io_id}", "shipped_at": "2026-12-02T10:00:00+08:00"}, ent_id="10010"))
        settle()

    def collected(i: int) -> Any:
        io_id, _ = orders[("paid", i)]
        result = accepted(store.emit("payment.collected", {
            "external_id": str(io_id), "amount": "99.00", "method": "cash",
            "collected_at": "2026-12-02T18:00:00+08:00"}, ent_id="10010"))
        events["paid"][i] = result.event
        return result

    confirm = confirmations_of("10010")
    return [
        CallbackKind("pos_events fulfilment.shipped", lambda i: acted("shipped", "shipped", i,
                                                                       tracking_no=f"SFB{run}{orders[('shipped', i)][0]}"),
                     again("shipped"),
                     prepare=lambda i: dispatched("shipped", i, sku="SKU-RED-L", where=SHANGHAI),
                     deferred=confirm),
        CallbackKind("pos_events fulfilment.picked_up", lambda i: acted("picked_up", "picked_up", i),
                     again("picked_up"),
                     prepare=lambda i: dispatched("picked_up", i, sku="SKU-BLUE-M", where=NANJING, labels="门店自提"),
                     deferred=confirm),
        # A rejection for another reason than out_of_stock: routed again (to the fallback store)
        # each time; out_of_stock would mark the SKU unavailable at the store for the day, and the
        # next order of the batch would go to the fallback store first and be parked when it rejects.
        CallbackKind("pos_events fulfilment.rejected (routed again)",
                     lambda i: acted("rejected", "rejected", i, reason="damaged"), again("rejected"),
                     prepare=lambda i: dispatched("rejected", i, sku="SKU-RED-L", where=SHANGHAI)),
        CallbackKind("pos_events payment.collected (S1 货到付款)", collected, again("paid"), prepare=cod_shipped),
    ]


def confirmations_of(ent_id: str) -> Callable[[], Any]:
    """The part of poll_jst_outbound that serves the S1 store events: what they queued for the
    ERP confirmed in batches (flows/store_fulfilment/confirmations.py ``confirm_pending``), in one
    invocation as the poll runs it (its timeline written at its end). The tenant is read once, on
    the first call (the poll reads it once a run, for every event it serves)."""
    tenants: list[Any] = []

    def confirm() -> Any:
        from o2o_bridge import runtime, wiring
        from o2o_bridge.flows.store_fulfilment.confirmations import confirm_pending

        with runtime.invocation(None):
            if not tenants:
                tenants.append(runtime.state_store().get(ent_id))
            return confirm_pending(wiring.context_for(tenants[0]))

    return confirm


# --- 奇门: a cloud warehouse's confirmations and reports on /qimen/callback (tenant 10020) -------

def qimen_kinds(wms: Any, store: Any, *, settle: Callable[[], Any], run: str = "",
                ent_id: str = "10020") -> list[CallbackKind]:
    """The WMS's signed calls on /qimen/callback (docs/qimen-cloud-warehouse.md) for the demo's
    cloud-warehouse tenant (``stack_world.cloud_warehouse_tenant``): each confirm of a document the
    bridge created at the WMS (the scene: the store's order, return, 配货 or 退仓 sent to the WMS),
    confirmed whole in one message, and both stock reports. A duplicate is the gateway delivering
    the same message again (same outBizCode)."""
    sent: dict[tuple[str, int], int] = {}   # (kind, i) -> index of the WMS's callback
    skus = ("TS001-WHT-M", "JN002-BLU-30")

    def taken(kind: str, i: int, record: dict[str, Any]) -> dict[str, Any]:
        answer = record.get("answer") or {}
        if answer.get("flag") != "success":
            raise AssertionError(f"the WMS's {kind} was not taken: {record}")
        with wms.state.lock:
            sent[(kind, i)] = len(wms.state.callbacks) - 1
        return answer

    def again(kind: str) -> Callable[[int], Any]:
        def resend(i: int) -> dict[str, Any]:
            answer = wms.resend(sent[(kind, i)])["answer"] or {}
            if (answer.get("flag"), answer.get("message")) != ("success", "taken before"):
                raise AssertionError(f"the WMS's repeated {kind} was not taken as before: {answer}")
            return answer

        return resend

    def emitted(event_type: str, data: dict[str, Any]) -> None:
        accepted(store.emit(event_type, data, ent_id=ent_id))
        settle()

    def order(no: str) -> None:
        emitted("order.warehouse_requested", store_order(no))

    def shipped_order_returned(i: int) -> None:
        order(f"QO{run}-{i}")
        taken("ship", i, wms.ship(f"QO{run}-{i}"))
        settle()
        emitted("return.requested", {"return_no": f"QR{run}-{i}", "order_no": f"QO{run}-{i}", "type": "return",
                                     "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]})

    def transfer(i: int) -> None:
        emitted("transfer.submitted", {"doc_no": f"QP{run}-{i}", "store_code": "S001", "remark": "",
                                       "items": [{"sku_id": "JN002-BLU-30", "qty": 2}]})

    def warehouse_return(i: int) -> None:
        emitted("warehouse_return.submitted", {"doc_no": f"QT{run}-{i}", "store_code": "S001", "remark": "",
                                               "items": [{"sku_id": "TS001-WHT-L", "qty": 1}]})

    return [
        CallbackKind("qimen deliveryorder.confirm", lambda i: taken("delivery", i, wms.ship(f"QD{run}-{i}")),
                     again("delivery"), prepare=lambda i: order(f"QD{run}-{i}")),
        CallbackKind("qimen returnorder.confirm", lambda i: taken("return", i, wms.receive(f"QR{run}-{i}")),
                     again("return"), prepare=shipped_order_returned),
        CallbackKind("qimen stockout.confirm (配货)", lambda i: taken("stockout", i, wms.ship(f"QP{run}-{i}")),
                     again("stockout"), prepare=transfer),
        CallbackKind("qimen entryorder.confirm (退仓)", lambda i: taken("entry", i, wms.receive(f"QT{run}-{i}")),
                     again("entry"), prepare=warehouse_return),
        CallbackKind("qimen stockchange.report, 1 SKU",
                     lambda i: taken("change", i, wms.change_stock({skus[0]: 100 + i})), again("change")),
        CallbackKind("qimen inventory.report, 2 SKUs",
                     lambda i: taken("count", i, wms.count_stock({sku: 200 + i for sku in skus})), again("count")),
    ]
