"""S5 配货 (replenishment) and S6 退仓 (return to warehouse): a store document becomes a JST
other in/out document, which the bridge follows until the warehouse confirms it; then the
store system is told once (P10 shipped / P11 received).

- ``transfer.submitted`` → ``/open/jushuitan/otherinout/upload`` ``type=out`` on the main
  warehouse; ``warehouse_return.submitted`` → ``type=in`` on the tenant's return warehouse
  (``jushuitan.return_wms_co_id``, the main warehouse when unset).
- JST takes at most 1000 lines per document: a longer store document is uploaded in parts
  ``DOC-1``, ``DOC-2``, ... (``external_id``); one part keeps the store's number unchanged.
- Each part is uploaded exactly once (``kit.effect_once`` on its external_id); JST code 160
  "already exists" on a repeated upload is success, the io_id is read back by ``so_ids``.
- ``follow_other_inout`` (poll_jst_documents, every 15 min) queries the open parts by io_id.
  The store is told once **every part** is Confirmed, with the summed confirmed quantities:
  the store system books one outbound (and one pending receipt) per store document.
- A part voided in JST (``Cancelled`` / ``Delete``) is an exception on the store document:
  a ``transfer.exception`` record and an error on its timeline; the store is not told.
- A refusal (JST refuses the upload, the store refuses P10/P11) is an exception too, and the
  step is parked on the DLQ with the reason (kit.settle) for a replay once the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, TransientError
from ..ports import DocumentLink
from ..shanghai_time import from_jst_text
from . import kit, ledger_facts

if TYPE_CHECKING:
    from ..tenant import Tenant
    from .kit import FlowContext

MAX_LINES = 1000  # /open/jushuitan/otherinout/upload: items ≤ 1000
ALREADY_EXISTS = 160  # JST's answer to a repeated external_id (外部单号已存在)
OPEN = "other_inout.open"  # record kind: one per uploaded part until its store document is finished
EXCEPTION = "transfer.exception"  # record kind: what an operator must look at (`o2o transfers exceptions`)
CONFIRMED = "Confirmed"
VOIDED = ("Cancelled", "Delete")  # voided after / before taking effect
STORE_REFUSED = "StoreRefused"  # confirmed in JST, refused by the store: waits for a DLQ replay


@dataclass(frozen=True)
class DocumentKind:
    """What differs between 配货 and 退仓."""

    name: str  # transfer | warehouse_return
    label: str  # 配货 | 退仓
    jst_type: str  # out | in
    store_step: str  # the timeline step once the store was told

    def warehouse(self, tenant: "Tenant") -> int:
        section = tenant.jushuitan
        if self.jst_type == "in":
            return section.return_wms_co_id or section.main_wms_co_id
        return section.main_wms_co_id


TRANSFER = DocumentKind("transfer", "配货", "out", "store.transfer_shipped")
WAREHOUSE_RETURN = DocumentKind("warehouse_return", "退仓", "in", "store.warehouse_return_received")
KINDS = {kind.name: kind for kind in (TRANSFER, WAREHOUSE_RETURN)}


# --- store events ------------------------------------------------------------------------------


def on_transfer_submitted(event, tenant: "Tenant") -> None:
    """S5: the store submitted a 配货 document: the warehouse is to send the goods."""
    submit_document(kit.context_for(tenant), TRANSFER, event.data)


def on_warehouse_return_submitted(event, tenant: "Tenant") -> None:
    """S6: the store submitted a 退仓 document: the warehouse is to take the goods back."""
    submit_document(kit.context_for(tenant), WAREHOUSE_RETURN, event.data)


def submit_document(ctx: "FlowContext", kind: DocumentKind, data: Any) -> list[str]:
    """Upload the document to JST in parts of ≤ 1000 lines; returns the parts' external ids.
    Returns when every part is uploaded or durably queued for retry."""
    doc_no, store_code = str(data.doc_no), str(data.store_code)
    lines = [{"sku_id": item.sku_id, "qty": int(item.qty)} for item in data.items]
    parts = [lines[start:start + MAX_LINES] for start in range(0, len(lines), MAX_LINES)]
    external_ids = [external_id_of(doc_no, n, len(parts)) for n in range(1, len(parts) + 1)]
    ctx.timeline.record(doc_no, ctx.ent_id, f"{kind.name}.submitted",
                        {"store_code": store_code, "lines": len(lines), "qty": sum(i["qty"] for i in lines),
                         "jst_documents": external_ids}, aliases=tuple(e for e in external_ids if e != doc_no))
    for n, (external_id, part_lines) in enumerate(zip(external_ids, parts), start=1):
        payload = {"kind": kind.name, "doc_no": doc_no, "store_code": store_code, "part": n, "parts": len(parts),
                   "external_id": external_id, "remark": str(data.remark or ""), "items": part_lines}
        kit.settle(ctx, upload_part, payload, trace_key=doc_no)
    return external_ids


def external_id_of(doc_no: str, part: int, parts: int) -> str:
    return doc_no if parts == 1 else f"{doc_no}-{part}"


# --- uploading one part --------------------------------------------------------------------------


@kit.flow_command("store_transfers.upload_part")
def upload_part(ctx: "FlowContext", payload: dict[str, Any]) -> int | None:
    """Upload one part as a JST other in/out (once), link it and start following it."""
    kind, doc_no, external_id = KINDS[payload["kind"]], payload["doc_no"], payload["external_id"]
    if kit.effect_done(ctx, _store_effect_key(kind, doc_no)):
        return None  # a late retry of a document the store already heard about
    try:
        outcome = kit.effect_once(ctx, f"jst.otherinout.{kind.jst_type}:{external_id}",
                                  lambda: _upload(ctx, kind, payload))
    except PermanentError as exc:
        record_exception(ctx, kind, doc_no, f"JST refused {kind.label} document {external_id}: {exc}",
                         {"external_id": external_id})
        raise
    io_id = int(outcome.result["io_id"])
    ctx.links.link(DocumentLink(ctx.ent_id, "jst_other_inout_external", f"{kind.jst_type}:{external_id}",
                                "jst_io_id", str(io_id), {"doc_no": doc_no, "kind": kind.name}))
    opened = ctx.records.put(ctx.ent_id, OPEN, _part_key(kind, doc_no, payload["part"]), {
        "kind": kind.name, "doc_no": doc_no, "store_code": payload["store_code"], "part": payload["part"],
        "parts": payload["parts"], "external_id": external_id, "io_id": io_id, "status": "WaitConfirm",
        "items": payload["items"],
    })
    if opened is not None:
        ctx.timeline.record(doc_no, ctx.ent_id, f"jst.other_{kind.jst_type}.uploaded",
                            {"external_id": external_id, "io_id": io_id, "wms_co_id": kind.warehouse(ctx.tenant),
                             "lines": len(payload["items"]), "already_in_jst": outcome.result.get("already_in_jst", False)},
                            aliases=(str(io_id),))
        ctx.metric(f"OtherInOut{kind.jst_type.capitalize()}Uploaded", 1)
    return io_id


def _upload(ctx: "FlowContext", kind: DocumentKind, payload: dict[str, Any]) -> dict[str, Any]:
    from ..connectors.jushuitan import models as jst
    from ..connectors.jushuitan.errors import JstPermanentError

    external_id, wms_co_id = payload["external_id"], kind.warehouse(ctx.tenant)
    store = next((s for s in ctx.tenant.stores if s.code == payload["store_code"]), None)
    part = f" ({payload['part']}/{payload['parts']})" if payload["parts"] > 1 else ""
    remark = f"店+{kind.label}单 {payload['doc_no']}{part} 门店 {payload['store_code']}"
    if payload.get("remark"):
        remark = f"{remark}: {payload['remark']}"[:500]
    document = jst.OtherInOutUpload(
        type=kind.jst_type, external_id=external_id, wms_co_id=wms_co_id, remark=remark,
        receiver_name=store.name if store and kind.jst_type == "out" else None,
        items=[jst.OtherInOutItemUpload(sku_id=i["sku_id"], qty=i["qty"]) for i in payload["items"]])
    try:
        answer = ctx.jst.upload_other_inout(document)
    except JstPermanentError as exc:
        if exc.code != ALREADY_EXISTS:
            raise
        # A repeat of an upload JST already holds (our earlier attempt died before recording it).
        io_id = _find_io_id(ctx, kind, external_id, wms_co_id)
        if io_id is None:
            # 160 also means 内部保存失败 (internal save failure) in one error table: try again later.
            raise TransientError(f"JST answered code 160 for {external_id} but holds no such document yet") from None
        return {"io_id": io_id, "already_in_jst": True}
    io_id = _io_id_in(answer) or _find_io_id(ctx, kind, external_id, wms_co_id)
    if io_id is None:
        raise TransientError(f"JST accepted {external_id} without an io_id and cannot find it yet")
    return {"io_id": io_id, "already_in_jst": False}


def _io_id_in(answer: Any) -> int | None:
    # JST nests it: data.data.io_id (the client returns ``data``); accept one level less too.
    for candidate in (answer, (answer or {}).get("data") if isinstance(answer, dict) else None):
        if isinstance(candidate, dict) and candidate.get("io_id"):
            return int(candidate["io_id"])
    return None


def _find_io_id(ctx: "FlowContext", kind: DocumentKind, external_id: str, wms_co_id: int) -> int | None:
    for doc in ctx.jst.query_other_inout(so_ids=[external_id], wms_co_id=wms_co_id):
        if doc.so_id == external_id and _is_type(doc.type, kind):
            return doc.io_id
    return None


def _is_type(jst_type: str | None, kind: DocumentKind) -> bool:
    # The query names types in Chinese: 其它出库 (out), 其它退货 / 其它进仓 (in).
    if not jst_type or jst_type in ("in", "out"):
        return jst_type in (None, "", kind.jst_type)
    return ("出" in jst_type) == (kind.jst_type == "out")


# --- following the documents in JST ------------------------------------------------------------


def open_exceptions(ctx: "FlowContext") -> list[dict[str, Any]]:
    """Every 配货 / 退仓 document with an exception (`o2o transfers exceptions`)."""
    return [record.data for record in ctx.records.list(ctx.ent_id, EXCEPTION)]


def follow_other_inout(ctx: "FlowContext") -> dict[str, Any]:
    """poll_jst_documents: read every open part from JST by io_id; confirmed documents are
    reported to the store, voided ones recorded as exceptions. Returns counts."""
    summary = {"open": 0, "confirmed": 0, "waiting": 0, "voided": 0, "missing": 0, "store_told": 0, "store_refused": 0}
    parts = ctx.records.list(ctx.ent_id, OPEN)
    summary["open"] = len(parts)
    _read_in_jst(ctx, [p for p in parts if p.data.get("status") not in (CONFIRMED, STORE_REFUSED, *VOIDED)], summary)
    _tell_store_of_confirmed(ctx, summary)
    return summary


def _read_in_jst(ctx: "FlowContext", parts: list, summary: dict[str, int]) -> None:
    """Each part's state in JST: Confirmed (with the confirmed lines), voided, or still waiting."""
    pending = {int(p.data["io_id"]): p for p in parts}
    found = {doc.io_id: doc for doc in ctx.jst.query_other_inout(io_ids=sorted(pending))} if pending else {}
    for io_id, part in pending.items():
        doc = found.get(io_id)
        kind, doc_no = KINDS[part.data["kind"]], part.data["doc_no"]
        if doc is None:
            summary["missing"] += 1
        elif doc.status == CONFIRMED:
            items = [{"sku_id": i.sku_id, "qty": int(i.qty)} for i in doc.items if i.qty > 0] or part.data["items"]
            if _update_part(ctx, part, status=CONFIRMED, confirmed_items=items, io_date=doc.io_date):
                ctx.timeline.record(doc_no, ctx.ent_id, f"jst.other_{kind.jst_type}.confirmed",
                                    {"io_id": io_id, "external_id": part.data["external_id"], "io_date": doc.io_date,
                                     "qty": sum(i["qty"] for i in items)})
            summary["confirmed"] += 1
        elif doc.status in VOIDED:
            if _update_part(ctx, part, status=doc.status):
                record_exception(ctx, kind, doc_no,
                                 f"JST {kind.label} document {part.data['external_id']} (io_id {io_id}) was voided "
                                 f"({doc.status}) before the store was told", {"io_id": io_id, "status": doc.status})
            summary["voided"] += 1
        else:
            summary["waiting"] += 1


def _tell_store_of_confirmed(ctx: "FlowContext", summary: dict[str, int]) -> None:
    """P10 / P11 for every document whose parts are all Confirmed (now, or in an earlier poll
    whose store call was queued for retry)."""
    ready = dict.fromkeys((p.data["kind"], p.data["doc_no"]) for p in ctx.records.list(ctx.ent_id, OPEN)
                          if p.data.get("status") == CONFIRMED)
    for kind_name, doc_no in ready:
        if ctx.time_left() < 5:
            break
        kind = KINDS[kind_name]
        doc_parts = ctx.records.list(ctx.ent_id, OPEN, prefix=_part_prefix(kind, doc_no))
        if doc_parts and len(doc_parts) == doc_parts[0].data["parts"] and all(
                p.data.get("status") == CONFIRMED for p in doc_parts):
            told = kit.settle(ctx, tell_store, {"kind": kind_name, "doc_no": doc_no}, trace_key=doc_no)
            if told.get("outcome") in ("dead_lettered", "dead_lettered_before"):
                # The store refused (e.g. it does not know the document): stop asking it every
                # poll; the exception and the dead letter (replayable) say what to do.
                for part in doc_parts:
                    _update_part(ctx, part, status=STORE_REFUSED)
                record_exception(ctx, kind, doc_no, f"the store system refused {kind.label} {doc_no}: {told['reason']}")
                summary["store_refused"] += 1
            elif told.get("outcome") != "queued":
                summary["store_told"] += 1


def _update_part(ctx: "FlowContext", part, **changes: Any) -> bool:
    """Write the part's new state unless another poll already did (False then)."""
    return ctx.records.put(ctx.ent_id, OPEN, part.key, {**part.data, **changes}, expected_version=part.version) is not None


@kit.flow_command("store_transfers.tell_store")
def tell_store(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """P10 (配货 shipped) or P11 (退仓 received), once per store document, then stop following it."""
    kind, doc_no = KINDS[payload["kind"]], payload["doc_no"]
    parts = ctx.records.list(ctx.ent_id, OPEN, prefix=_part_prefix(kind, doc_no))
    outcome = kit.effect_once(ctx, _store_effect_key(kind, doc_no), lambda: _tell_store(ctx, kind, doc_no, parts))
    for part in parts:
        ctx.records.delete(ctx.ent_id, OPEN, part.key)
    if not outcome.repeated:
        ctx.timeline.record(doc_no, ctx.ent_id, kind.store_step, outcome.result)
        ctx.metric(f"{kind.name.title().replace('_', '')}Done", 1)
    return outcome.result


def _tell_store(ctx: "FlowContext", kind: DocumentKind, doc_no: str, parts: list) -> dict[str, Any]:
    from ..connectors.store import models as pos

    if not parts or any(p.data.get("status") not in (CONFIRMED, STORE_REFUSED) for p in parts) \
            or len(parts) != parts[0].data["parts"]:
        raise PermanentError(f"{kind.label} document {doc_no} is not confirmed in JST in full; the store is not told")
    parts = sorted(parts, key=lambda p: p.data["part"])
    totals: dict[str, int] = {}
    for part in parts:
        for item in part.data["confirmed_items"]:
            totals[item["sku_id"]] = totals.get(item["sku_id"], 0) + int(item["qty"])
    items = [pos.SkuQty(sku_id=sku, qty=qty) for sku, qty in totals.items()]
    when = max((from_jst_text(p.data.get("io_date")) for p in parts), default=None) or ctx.now()
    # The first part's io_id names the JST document (a split document's other io_ids are on its timeline).
    io_id = str(parts[0].data["io_id"])
    if kind is TRANSFER:
        done = ctx.store.transfer_warehouse_shipped(
            doc_no, pos.TransferShipped(jst_io_id=io_id, shipped_at=when, items=items), business_key=doc_no)
    else:
        done = ctx.store.warehouse_return_received(
            doc_no, pos.WarehouseReturnReceived(jst_io_id=io_id, received_at=when, items=items), business_key=doc_no)
    record = ledger_facts.transfer_shipped if kind is TRANSFER else ledger_facts.warehouse_return_received
    record(ctx, doc_no=doc_no, store_code=str(parts[0].data["store_code"]), items=items, at=when)
    return {**done.model_dump(mode="json"), "jst_io_ids": [p.data["io_id"] for p in parts],
            "qty": sum(totals.values())}


# --- exceptions, keys ------------------------------------------------------------------------------


def record_exception(ctx: "FlowContext", kind: DocumentKind, doc_no: str, message: str,
                     detail: dict[str, Any] | None = None) -> None:
    """What an operator must resolve: kept as a record and on the document's timeline."""
    key = f"{kind.name}:{doc_no}"
    data = {"kind": kind.name, "doc_no": doc_no, "message": message, **(detail or {}), "at": ctx.now().isoformat()}
    existing = ctx.records.get(ctx.ent_id, EXCEPTION, key)
    if existing is None:
        ctx.records.put(ctx.ent_id, EXCEPTION, key, {**data, "problems": [message]})
    else:
        problems = existing.data.get("problems", [])
        problems = (problems if problems[-1:] == [message] else [*problems, message])[-20:]
        ctx.records.put(ctx.ent_id, EXCEPTION, key, {**existing.data, **data, "problems": problems},
                        expected_version=existing.version)
    ctx.timeline.record(doc_no, ctx.ent_id, f"{kind.name}.exception", {"message": message, **(detail or {})},
                        level="error")
    ctx.metric("DocumentException", 1)


def _part_prefix(kind: DocumentKind, doc_no: str) -> str:
    return f"{kind.name}:{doc_no}:"


def _part_key(kind: DocumentKind, doc_no: str, part: int) -> str:
    return f"{_part_prefix(kind, doc_no)}{part:04d}"


def _store_effect_key(kind: DocumentKind, doc_no: str) -> str:
    return f"pos.{kind.name}.done:{doc_no}"
