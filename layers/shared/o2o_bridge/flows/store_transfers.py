"""S5 配货 (replenishment) and S6 退仓 (return to warehouse), over the Warehouse port
(ports/warehouse.py): a store document becomes a warehouse document, which the bridge follows
until the warehouse confirms it; then the store system is told once (P10 shipped / P11 received).

- ``transfer.submitted`` → ``warehouse.send_to_store``; ``warehouse_return.submitted`` →
  ``warehouse.take_back_from_store`` (with JST: an other out on the main warehouse, or a
  transfer document when the tenant chooses ``jushuitan.replenishment_document: transfer``;
  an other in on the return warehouse). The flow is the same either way: the warehouse's
  document id is opaque to it.
- A warehouse may take a limited number of lines per document (``info.max_document_lines``,
  JST 1000): a longer store document is submitted in parts ``DOC-1``, ``DOC-2``, ...; one part
  keeps the store's number unchanged.
- Each part is submitted exactly once (``kit.effect_once`` on its number; the warehouse
  answers a repeat with the document it holds).
- ``follow_other_inout`` (poll_jst_documents, every 15 min) reads the open parts by their
  warehouse ids.
  The store is told once **every part** is Confirmed, with the summed confirmed quantities:
  the store system books one outbound (and one pending receipt) per store document.
- A part voided in the warehouse is an exception on the store document:
  a ``transfer.exception`` record and an error on its timeline; the store is not told.
- A refusal (the warehouse refuses the document, the store refuses P10/P11) is an exception too, and the
  step is parked on the DLQ with the reason (kit.settle) for a replay once the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import BridgeError, PermanentError
from ..ports import MalformedRow
from ..ports.warehouse import SkuQty, StoreDocument
from ..redaction import redact_text
from ..shanghai_time import from_jst_text
from . import kit, ledger_facts

if TYPE_CHECKING:
    from .kit import FlowContext

# Record kinds and statuses keep their first names: stored records of open documents carry them.
OPEN = "other_inout.open"  # record kind: one per submitted part until its store document is finished
EXCEPTION = "transfer.exception"  # record kind: what an operator must look at (`o2o transfers exceptions`)
# record kind: a 配货 the warehouse shipped that a person must still receive in the warehouse
# system (a JST 调拨单: JST's open API has no call to receive it), until that warehouse shows
# none of its goods on the way (`o2o transfers awaiting-receipt`)
AWAITING_RECEIPT = "transfer.awaiting_receipt"
CONFIRMED = "Confirmed"
STORE_REFUSED = "StoreRefused"  # confirmed by the warehouse, refused by the store: waits for a DLQ replay


@dataclass(frozen=True)
class DocumentKind:
    """What differs between 配货 and 退仓."""

    name: str  # transfer | warehouse_return
    label: str  # 配货 | 退仓
    direction: str  # out (of the warehouse) | in
    store_step: str  # the timeline step once the store was told

    def submit(self, ctx: "FlowContext", document: StoreDocument):
        if self.direction == "out":
            return ctx.warehouse.send_to_store(document)
        return ctx.warehouse.take_back_from_store(document)


TRANSFER = DocumentKind("transfer", "配货", "out", "store.transfer_shipped")
WAREHOUSE_RETURN = DocumentKind("warehouse_return", "退仓", "in", "store.warehouse_return_received")
KINDS = {kind.name: kind for kind in (TRANSFER, WAREHOUSE_RETURN)}


# --- store events ------------------------------------------------------------------------------


def on_transfer_submitted(event, ctx: "FlowContext") -> None:
    """S5: the store submitted a 配货 document: the warehouse is to send the goods."""
    submit_document(ctx, TRANSFER, event.data)


def on_warehouse_return_submitted(event, ctx: "FlowContext") -> None:
    """S6: the store submitted a 退仓 document: the warehouse is to take the goods back."""
    submit_document(ctx, WAREHOUSE_RETURN, event.data)


def submit_document(ctx: "FlowContext", kind: DocumentKind, data: Any) -> list[str]:
    """Submit the document to the warehouse in parts it takes; returns the parts' numbers.
    Returns when every part is submitted or durably queued for retry."""
    doc_no, store_code = str(data.doc_no), str(data.store_code)
    lines = [{"sku_id": item.sku_id, "qty": int(item.qty)} for item in data.items]
    size = ctx.warehouse.info.max_document_lines or max(len(lines), 1)
    parts = [lines[start:start + size] for start in range(0, len(lines), size)]
    external_ids = [external_id_of(doc_no, n, len(parts)) for n in range(1, len(parts) + 1)]
    for n, (external_id, part_lines) in enumerate(zip(external_ids, parts), start=1):
        payload = {"kind": kind.name, "doc_no": doc_no, "store_code": store_code, "part": n, "parts": len(parts),
                   "external_id": external_id, "remark": str(data.remark or ""), "items": part_lines}
        # Nothing is read first: the part's claim refuses a repeat (the event keeps no record of its
        # own), and a part refused before is asked again, its parked marker read only if it fails.
        kit.settle(ctx, upload_part, payload, trace_key=doc_no, parked_first=False)
    return external_ids


def external_id_of(doc_no: str, part: int, parts: int) -> str:
    return doc_no if parts == 1 else f"{doc_no}-{part}"


# --- submitting one part ------------------------------------------------------------------------


@kit.flow_command("store_transfers.upload_part")
def upload_part(ctx: "FlowContext", payload: dict[str, Any]) -> str | None:
    """Submit one part to the warehouse (once), link it and start following it: the link, the open
    part and the timeline are the effect's bookkeeping, written with its "done" (one request), so a
    part done is a part followed, and a repeat (a late retry, after the store was told and the open
    parts were closed) opens nothing again."""
    kind, doc_no, external_id = KINDS[payload["kind"]], payload["doc_no"], payload["external_id"]
    system = ctx.warehouse.info.system
    try:
        # The effect key keeps its first name ("jst.otherinout...") for JST: stored effects carry it.
        outcome = kit.effect_once(ctx, f"{system}.otherinout.{kind.direction}:{external_id}",
                                  lambda: _submit(ctx, kind, payload),
                                  book=lambda result: _book_part(ctx, kind, payload, result))
    except PermanentError as exc:
        record_exception(ctx, kind, doc_no, f"the warehouse refused {kind.label} document {external_id}: {exc}",
                         {"external_id": external_id})
        raise
    if not outcome.repeated:
        ctx.metric(f"OtherInOut{kind.direction.capitalize()}Uploaded", 1)
    return str(outcome.result["io_id"])


def _book_part(ctx: "FlowContext", kind: DocumentKind, payload: dict[str, Any], result: dict[str, Any]) -> None:
    doc_no, external_id, system = payload["doc_no"], payload["external_id"], ctx.warehouse.info.system
    io_id = str(result["io_id"])
    # No link of the part to the warehouse's id: the open part holds both (what the follow-up and
    # the store's call read) and the id is an alias of the document's timeline (`o2o trace <io_id>`).
    opened = ctx.records.put(ctx.ent_id, OPEN, _part_key(kind, doc_no, payload["part"]), {
        "kind": kind.name, "doc_no": doc_no, "store_code": payload["store_code"], "part": payload["part"],
        "parts": payload["parts"], "external_id": external_id, "io_id": io_id, "status": "WaitConfirm",
        "items": payload["items"],
        **({"receive_at": result["receive_at"]} if result.get("receive_at") else {}),
    })
    if opened is not None:
        ctx.timeline.record(doc_no, ctx.ent_id, f"{system}.other_{kind.direction}.uploaded",
                            {"external_id": external_id, "io_id": io_id, "warehouse": result.get("warehouse"),
                             "lines": len(payload["items"]), "already_in_jst": result.get("already_in_jst", False),
                             **({"document": result["document"]} if result.get("document") else {})},
                            aliases=(io_id,))


def _submit(ctx: "FlowContext", kind: DocumentKind, payload: dict[str, Any]) -> dict[str, Any]:
    if payload["part"] == 1:  # by the first part's claim owner: a repeated event writes no timeline
        external_ids = [external_id_of(payload["doc_no"], n, payload["parts"]) for n in range(1, payload["parts"] + 1)]
        whole = ({"lines": len(payload["items"]), "qty": sum(int(i["qty"]) for i in payload["items"])}
                 if payload["parts"] == 1 else {"parts": payload["parts"]})
        ctx.timeline.record(payload["doc_no"], ctx.ent_id, f"{kind.name}.submitted",
                            {"store_code": payload["store_code"], **whole, "jst_documents": external_ids},
                            aliases=tuple(e for e in external_ids if e != payload["doc_no"]))
    store = next((s for s in ctx.tenant.stores if s.code == payload["store_code"]), None)
    part = f" ({payload['part']}/{payload['parts']})" if payload["parts"] > 1 else ""
    remark = f"店+{kind.label}单 {payload['doc_no']}{part} 门店 {payload['store_code']}"
    if payload.get("remark"):
        remark = f"{remark}: {payload['remark']}"[:500]
    accepted = kind.submit(ctx, StoreDocument(
        direction="to_store" if kind.direction == "out" else "from_store", doc_no=payload["external_id"],
        store_code=payload["store_code"], store_name=store.name if store else None, remark=remark,
        lines=tuple(SkuQty(i["sku_id"], int(i["qty"])) for i in payload["items"])))
    # "io_id", "already_in_jst": the names stored effects already carry (the warehouse's document id).
    return {"io_id": accepted.warehouse_doc_id, "warehouse": accepted.warehouse_code,
            "already_in_jst": accepted.already_there, **({"document": accepted.document} if accepted.document else {}),
            **({"receive_at": accepted.receive_at} if accepted.receive_at else {})}


# --- following the documents in the warehouse ------------------------------------------------------------


def open_exceptions(ctx: "FlowContext") -> list[dict[str, Any]]:
    """Every 配货 / 退仓 document with an exception (`o2o transfers exceptions`)."""
    return [record.data for record in ctx.records.list(ctx.ent_id, EXCEPTION)]


def follow_other_inout(ctx: "FlowContext", *, only: tuple[str, str] | None = None, known: Sequence[Any] = (),
                       book_with: list[Callable[[], Any]] | None = None) -> dict[str, Any]:
    """poll_jst_documents: read every open part from the warehouse; confirmed documents are
    reported to the store, voided ones recorded as exceptions. Returns counts. ``only`` (kind,
    doc_no): a cloud WMS said this document is finished: its parts alone are followed (a
    confirm's cost does not grow with the tenant's open documents). ``known``: states of its
    warehouse documents the caller holds (``DocumentState``, or a ``MalformedRow`` under the id),
    taken instead of reading them from the warehouse. ``book_with`` (with ``only``): the caller
    writes what this appends with its own "done", in one request (a cloud WMS's message, on the
    WMS document's record): when every part is confirmed and the store is told now, the parts'
    deletes are booked there (``_finish_with_caller``) instead of each part's state, the store's
    claim, its "done" and each part's delete being a write."""
    summary = {"open": 0, "confirmed": 0, "waiting": 0, "voided": 0, "missing": 0, "store_told": 0, "store_refused": 0}
    parts = ctx.records.list(ctx.ent_id, OPEN, prefix=_part_prefix(KINDS[only[0]], only[1]) if only else "")
    summary["open"] = len(parts)
    if only and book_with is not None and _finish_with_caller(ctx, KINDS[only[0]], only[1], parts, known, summary,
                                                              book_with):
        return summary
    written: dict[str, Any] = {}  # the parts this run writes, by key (None: refused)
    _read_in_warehouse(ctx, [p for p in parts if p.data.get("status") not in (CONFIRMED, STORE_REFUSED)
                             and not _voided(p.data)], summary, known=known, written=written)
    # One document's parts, each as this run left it: not listed again (unless a write of
    # one was refused: then another poll changed it, and the parts are read afresh).
    listed = [written.get(p.key, p) for p in parts] if only and None not in written.values() else None
    _tell_store_of_confirmed(ctx, summary, only, listed=listed)
    return summary


def _finish_with_caller(ctx: "FlowContext", kind: DocumentKind, doc_no: str, parts: list, known: Sequence[Any],
                        summary: dict[str, int], book_with: list[Callable[[], Any]]) -> bool:
    """One document whose every part is confirmed (the ``known`` states, or confirmed before):
    the store is told now (no claim before the call: its business key makes a second call change
    nothing) and the parts are not written confirmed first; their deletes are appended to
    ``book_with`` for the caller's "done" (``_tell_store_booked``). A store refusal or a retry
    queued writes the parts confirmed as the poll would, and handles it as the poll does. False
    (nothing done) when the document is not finished in full as listed: the usual way follows it."""
    if not parts or len(parts) != parts[0].data["parts"]:
        return False
    found = {state.key if isinstance(state, MalformedRow) else state.warehouse_doc_id: state for state in known}
    confirmed: list = []
    newly: list = []
    for part in parts:
        if part.data.get("status") == CONFIRMED:
            confirmed.append(part)
            continue
        state = found.get(str(part.data["io_id"]))
        if part.data.get("status") == STORE_REFUSED or _voided(part.data) or isinstance(state, MalformedRow) \
                or state is None or state.status != "confirmed":
            return False
        items = [{"sku_id": i.sku_id, "qty": i.qty} for i in state.lines] or part.data["items"]
        confirmed.append(replace(part, data={**part.data, "status": CONFIRMED, "confirmed_items": items,
                                             "io_date": state.confirmed_at}))
        newly.append(part)
    # No "<system>.other_<direction>.confirmed" step per part: the caller's message recorded the
    # confirm, and the store's step (told now) names the warehouse documents and the units.
    summary["confirmed"] += len(newly)
    payload = {"kind": kind.name, "doc_no": doc_no}
    try:
        told = kit.settle(ctx, _tell_store_over(confirmed, book_with=book_with), payload, trace_key=doc_no,
                          parked_first=False)
    except Exception as exc:  # noqa: BLE001 - as the poll: set it aside (its replay lists the parts)
        told = {"outcome": "set_aside", "set_aside": kit.set_aside(ctx, tell_store, payload, trace_key=doc_no,
                                                                   error=exc)}
    outcome = told.get("outcome")
    if outcome not in ("queued", "set_aside", "dead_lettered", "dead_lettered_before"):
        summary["store_told"] += 1
        return True
    # Not told now: the parts are written confirmed (refused: as refused), for the retry, the
    # replay or the next poll, as the poll leaves them.
    refused = outcome in ("dead_lettered", "dead_lettered_before")
    for part, now in zip(parts, confirmed):
        if now is not part or refused:
            _update_part(ctx, part, **{name: now.data[name] for name in ("confirmed_items", "io_date")
                                       if name in now.data}, status=STORE_REFUSED if refused else CONFIRMED)
    if refused:
        record_exception(ctx, kind, doc_no, f"the store system refused {kind.label} {doc_no}: {told['reason']}")
        summary["store_refused"] += 1
    elif outcome == "set_aside":
        summary[told["set_aside"]] = summary.get(told["set_aside"], 0) + 1
    return True


def _voided(part: dict[str, Any]) -> bool:
    # Parts recorded before the Warehouse port kept JST's status only (Cancelled / Delete).
    return bool(part.get("voided")) or part.get("status") in ("Cancelled", "Delete")


def _read_in_warehouse(ctx: "FlowContext", parts: list, summary: dict[str, int], *,
                       known: Sequence[Any] = (), written: dict[str, Any] | None = None) -> None:
    """Each part's state in the warehouse: confirmed (with the confirmed lines), voided, or still
    waiting. A part that fails to be handled is set aside (kit.each_record) and the others go on.
    ``known``: states the caller holds, not read again. ``written``: where each part's write is
    kept (``_update_part``)."""
    pending = {str(p.data["io_id"]): p for p in parts}
    # A document the warehouse lists that cannot be read is found as a MalformedRow under its id:
    # that part is set aside with the reason (its follow_part replay reads it again).
    found = {state.key if isinstance(state, MalformedRow) else state.warehouse_doc_id: state for state in known}
    unknown = sorted(io_id for io_id in pending if io_id not in found)
    found.update({state.key if isinstance(state, MalformedRow) else state.warehouse_doc_id: state
                  for state in (ctx.warehouse.store_documents(unknown) if unknown else ())})
    outcomes = kit.each_record(ctx, list(pending.items()), lambda item: _follow_part(ctx, item[1], found.get(item[0]),
                                                                                 written=written),
                               step=follow_part, payload_of=lambda item: _part_payload(item[1]),
                               trace_key_of=lambda item: item[1].data["doc_no"])
    for outcome, count in outcomes.items():
        summary[outcome] = summary.get(outcome, 0) + count


def _part_payload(part) -> dict[str, Any]:
    return {"kind": part.data["kind"], "doc_no": part.data["doc_no"], "part": part.data["part"]}


def _follow_part(ctx: "FlowContext", part, state, *, written: dict[str, Any] | None = None) -> str:
    system = ctx.warehouse.info.system
    io_id = str(part.data["io_id"])
    kind, doc_no = KINDS[part.data["kind"]], part.data["doc_no"]
    if state is None:
        return "missing"
    if isinstance(state, MalformedRow):
        raise PermanentError(f"the warehouse's {kind.label} document {io_id} cannot be read "
                             f"({state.source}: {state.problem})")
    if state.status == "confirmed":
        items = [{"sku_id": i.sku_id, "qty": i.qty} for i in state.lines] or part.data["items"]
        if _update_part(ctx, part, written=written, status=CONFIRMED, confirmed_items=items,
                        io_date=state.confirmed_at):
            ctx.timeline.record(doc_no, ctx.ent_id, f"{system}.other_{kind.direction}.confirmed",
                                {"io_id": io_id, "external_id": part.data["external_id"],
                                 "io_date": state.confirmed_at, "qty": sum(i["qty"] for i in items)})
        return "confirmed"
    if state.status == "voided":
        if _update_part(ctx, part, written=written, status=state.detail, voided=True):
            record_exception(ctx, kind, doc_no,
                             f"the warehouse's {kind.label} document {part.data['external_id']} (id {io_id}) was "
                             f"voided ({state.detail}) before the store was told",
                             {"io_id": io_id, "status": state.detail})
        return "voided"
    return "waiting"


@kit.flow_command("store_transfers.follow_part")
def follow_part(ctx: "FlowContext", payload: dict[str, Any]) -> str:
    """One part the poll set aside, read in the warehouse and handled again (`o2o dlq replay`
    after the fix); a confirmed document is then told to the store by the next poll."""
    kind = KINDS[payload["kind"]]
    part = ctx.records.get(ctx.ent_id, OPEN, _part_key(kind, payload["doc_no"], int(payload["part"])))
    if part is None:
        return "finished"  # the store was told meanwhile
    states = ctx.warehouse.store_documents([str(part.data["io_id"])])
    return _follow_part(ctx, part, next(iter(states), None))


def _tell_store_of_confirmed(ctx: "FlowContext", summary: dict[str, int],
                             only: tuple[str, str] | None = None, *, listed: list | None = None) -> None:
    """P10 / P11 for every document whose parts are all Confirmed (now, or in an earlier poll
    whose store call was queued for retry); ``only``: that document alone (``listed``: its parts,
    as the caller just read and wrote them)."""
    if listed is None:
        listed = ctx.records.list(ctx.ent_id, OPEN, prefix=_part_prefix(KINDS[only[0]], only[1]) if only else "")
    ready = dict.fromkeys((p.data["kind"], p.data["doc_no"]) for p in listed if p.data.get("status") == CONFIRMED)
    for kind_name, doc_no in ready:
        if ctx.time_left() < 5:
            break
        kind = KINDS[kind_name]
        # One document's parts were just listed whole; several documents' are listed afresh each.
        doc_parts = listed if only else ctx.records.list(ctx.ent_id, OPEN, prefix=_part_prefix(kind, doc_no))
        # The store's "done" and tell_store's parked marker (read by kit.settle), in one request.
        ctx.records.prefetch(ctx.ent_id, [(kit.EFFECT_KIND, _store_effect_key(kind, doc_no)),
                                          kit.parked_record(tell_store, {"kind": kind_name, "doc_no": doc_no})])
        if kit.effect_done(ctx, _store_effect_key(kind, doc_no)):
            # The store was told by a run that died while it stopped following the parts.
            for part in doc_parts:
                ctx.records.delete(ctx.ent_id, OPEN, part.key)
            continue
        if doc_parts and len(doc_parts) == doc_parts[0].data["parts"] and all(
                p.data.get("status") == CONFIRMED for p in doc_parts):
            payload = {"kind": kind_name, "doc_no": doc_no}
            try:
                # The parts just read go to tell_store with it (a retry of it lists them itself).
                told = kit.settle(ctx, _tell_store_over(doc_parts), payload, trace_key=doc_no)
            except Exception as exc:  # noqa: BLE001 - not a refusal: set it aside, tell the others
                outcome = kit.set_aside(ctx, tell_store, payload, trace_key=doc_no, error=exc)
                summary[outcome] = summary.get(outcome, 0) + 1
                continue
            if told.get("outcome") in ("dead_lettered", "dead_lettered_before"):
                # The store refused (e.g. it does not know the document): stop asking it every
                # poll; the exception and the dead letter (replayable) say what to do.
                for part in doc_parts:
                    _update_part(ctx, part, status=STORE_REFUSED)
                record_exception(ctx, kind, doc_no, f"the store system refused {kind.label} {doc_no}: {told['reason']}")
                summary["store_refused"] += 1
            elif told.get("outcome") != "queued":
                summary["store_told"] += 1


def _update_part(ctx: "FlowContext", part, *, written: dict[str, Any] | None = None, **changes: Any) -> bool:
    """Write the part's new state unless another poll already did (False then). ``written``
    (follow_other_inout's): the part as written is kept there by its key (None: refused), so one
    document's parts are not listed again to tell the store."""
    stored = ctx.records.put(ctx.ent_id, OPEN, part.key, {**part.data, **changes}, expected_version=part.version)
    if written is not None:
        written[part.key] = stored
    return stored is not None


@kit.flow_command("store_transfers.tell_store")
def tell_store(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """P10 (配货 shipped) or P11 (退仓 received), once per store document, then stop following it.
    Its parts are listed here (a retry, a replay); the poll hands over the parts it just read
    (``_tell_store_over``)."""
    return _tell_store_of(ctx, payload)


def _tell_store_over(parts: list, *, book_with: list[Callable[[], Any]] | None = None) -> kit.FlowStep:
    """``tell_store`` over the parts the caller just listed (not listed again), settled under
    tell_store's own command: its retry, replay and parked marker are tell_store's, which lists
    them afresh. ``book_with`` (``_finish_with_caller``): the parts' deletes are left there for the
    caller's "done" (``_tell_store_booked``)."""

    @kit.flow_command(tell_store.command_name)  # type: ignore[attr-defined]
    def step(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
        return _tell_store_of(ctx, payload, parts=parts, book_with=book_with)

    return step


def _tell_store_of(ctx: "FlowContext", payload: dict[str, Any], *, parts: list | None = None,
                   book_with: list[Callable[[], Any]] | None = None) -> dict[str, Any]:
    kind, doc_no = KINDS[payload["kind"]], payload["doc_no"]
    if parts is None:
        parts = ctx.records.list(ctx.ent_id, OPEN, prefix=_part_prefix(kind, doc_no))
        if not parts:
            # Not followed any more: its parts go only once the store was told (here, or with a
            # cloud WMS's message, which writes no "done" of its own: ``_tell_store_booked``).
            return {"outcome": "finished"}
    elif book_with is not None:
        return _tell_store_booked(ctx, kind, doc_no, parts, book_with)
    outcome = kit.effect_once(ctx, _store_effect_key(kind, doc_no), lambda: _tell_store(ctx, kind, doc_no, parts))
    for part in parts:
        ctx.records.delete(ctx.ent_id, OPEN, part.key)
    if not outcome.repeated:
        ctx.timeline.record(doc_no, ctx.ent_id, kind.store_step, outcome.result)
        ctx.metric(f"{kind.name.title().replace('_', '')}Done", 1)
    return outcome.result


def _tell_store_booked(ctx: "FlowContext", kind: DocumentKind, doc_no: str, parts: list,
                       book_with: list[Callable[[], Any]]) -> dict[str, Any]:
    """tell_store for ``_finish_with_caller``: the store is told with no claim first (its business key
    makes a second call change nothing: this caller's rerun after a crash, or a poll or retry doing
    the same at that moment), and the parts' deletes are left in ``book_with`` for the caller's
    "done". No "done" of the store's own is written: the parts go only once the store was told, in
    the caller's request with the news that finished the document (all or none), so no part left is
    the mark a later poll, retry or replay goes by (``tell_store``: nothing listed, nothing to tell);
    an effect record would be two more write units in that request."""
    result = _tell_store(ctx, kind, doc_no, parts)

    def book() -> None:
        for part in parts:
            ctx.records.delete(ctx.ent_id, OPEN, part.key)

    book_with.append(book)
    ctx.timeline.record(doc_no, ctx.ent_id, kind.store_step, result)
    ctx.metric(f"{kind.name.title().replace('_', '')}Done", 1)
    return result


def _tell_store(ctx: "FlowContext", kind: DocumentKind, doc_no: str, parts: list) -> dict[str, Any]:
    from ..connectors.store import models as pos

    if not parts or any(p.data.get("status") not in (CONFIRMED, STORE_REFUSED) for p in parts) \
            or len(parts) != parts[0].data["parts"]:
        raise PermanentError(f"{kind.label} document {doc_no} is not confirmed by the warehouse in full; "
                             "the store is not told")
    parts = sorted(parts, key=lambda p: p.data["part"])
    totals: dict[str, int] = {}
    for part in parts:
        for item in part.data["confirmed_items"]:
            totals[item["sku_id"]] = totals.get(item["sku_id"], 0) + int(item["qty"])
    items = [pos.SkuQty(sku_id=sku, qty=qty) for sku, qty in totals.items()]
    when = max((from_jst_text(p.data.get("io_date")) for p in parts), default=None) or ctx.now()
    # The first part's id names the warehouse document (a split document's other ids are on its timeline);
    # the store contract calls it jst_io_id.
    io_id = str(parts[0].data["io_id"])
    if kind is TRANSFER:
        done = ctx.store.transfer_warehouse_shipped(
            doc_no, pos.TransferShipped(jst_io_id=io_id, shipped_at=when, items=items), business_key=doc_no)
    else:
        done = ctx.store.warehouse_return_received(
            doc_no, pos.WarehouseReturnReceived(jst_io_id=io_id, received_at=when, items=items), business_key=doc_no)
    record = ledger_facts.transfer_shipped if kind is TRANSFER else ledger_facts.warehouse_return_received
    record(ctx, doc_no=doc_no, store_code=str(parts[0].data["store_code"]), items=items, at=when)
    receive_at = next((str(p.data["receive_at"]) for p in parts if p.data.get("receive_at")), "")
    if receive_at:
        _await_receipt(ctx, doc_no, str(parts[0].data["store_code"]), receive_at, totals, when,
                       [str(p.data["io_id"]) for p in parts])
    return {**done.model_dump(mode="json"), "jst_io_ids": [p.data["io_id"] for p in parts],
            "qty": sum(totals.values())}


# --- the receiving half a person does in the warehouse system ----------------------------------------


def _await_receipt(ctx: "FlowContext", doc_no: str, store_code: str, receive_at: str, totals: dict[str, int],
                   shipped_at: Any, warehouse_doc_ids: list[str]) -> None:
    ctx.records.put(ctx.ent_id, AWAITING_RECEIPT, doc_no, {
        "doc_no": doc_no, "store_code": store_code, "receive_at": receive_at, "items": totals,
        "shipped_at": shipped_at.isoformat(), "warehouse_doc_ids": warehouse_doc_ids})
    ctx.timeline.record(doc_no, ctx.ent_id, "transfer.awaiting_receipt",
                        {"receive_at": receive_at, "warehouse_doc_ids": warehouse_doc_ids,
                         "todo": f"receive it in warehouse {receive_at} in the warehouse system (the bridge cannot)"},
                        level="warning")


def follow_receipts(ctx: "FlowContext") -> dict[str, int]:
    """poll_jst_documents: 配货 documents still to be received by hand, and those now received."""
    received: list[str] = []
    waiting = awaiting_receipt(ctx, settle=received)
    return {"waiting": sum(1 for w in waiting if w["in_transit"] is not None), "received": len(received),
            "unread": sum(1 for w in waiting if w["in_transit"] is None)}


def awaiting_receipt(ctx: "FlowContext", *, settle: list[str] | None = None) -> list[dict[str, Any]]:
    """The 配货 documents shipped to a warehouse that must still receive them by hand, each with
    what that warehouse shows on the way now (``in_transit``, per SKU). With ``settle`` (a list,
    from poll_jst_documents) a document whose SKUs show nothing on the way any more is taken as
    received: its record goes, its timeline says so and its number is added to ``settle``. One
    read per receiving warehouse; one that fails is left as it was (``unread``) for the next poll."""
    waiting: dict[str, list] = {}
    for record in ctx.records.list(ctx.ent_id, AWAITING_RECEIPT):
        waiting.setdefault(str(record.data["receive_at"]), []).append(record)
    found: list[dict[str, Any]] = []
    for receive_at, records in waiting.items():
        skus = sorted({sku for r in records for sku in r.data["items"]})
        try:
            on_the_way = ctx.warehouse.awaiting_receipt(receive_at, skus)
        except BridgeError as exc:  # a read the warehouse refused or failed: the records stay for the next poll
            from ..observability import logger

            reason = redact_text(f"{type(exc).__name__}: {exc}")[:300]
            logger.warning(f"配货 awaiting receipt at {receive_at}: cannot read what is on the way ({reason})",
                           extra={"ent_id": ctx.ent_id, "receive_at": receive_at})
            found += [{**r.data, "in_transit": None, "unread": reason} for r in records]
            continue
        for record in records:
            in_transit = {sku: int(on_the_way.get(sku, 0)) for sku in record.data["items"]}
            if settle is not None and not any(in_transit.values()):
                ctx.records.delete(ctx.ent_id, AWAITING_RECEIPT, record.key)
                settle.append(record.data["doc_no"])
                ctx.timeline.record(record.data["doc_no"], ctx.ent_id, "transfer.received_in_warehouse",
                                    {"receive_at": receive_at, "in_transit": in_transit})
                continue
            found.append({**record.data, "in_transit": in_transit})
    return found


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
