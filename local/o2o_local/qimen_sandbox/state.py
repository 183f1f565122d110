"""What the 奇门 WMS sandbox holds: the documents it was sent, its stock, the items it knows,
and a log of the calls it received and the callbacks it made."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

# A document's kind by the method that created it.
CREATE_METHODS = {
    "taobao.qimen.deliveryorder.create": "delivery",
    "taobao.qimen.returnorder.create": "return",
    "taobao.qimen.stockout.create": "stockout",
    "taobao.qimen.entryorder.create": "entry",
}
# The head element and code field of each kind, in requests and in confirms.
HEADS = {"delivery": ("deliveryOrder", "deliveryOrderCode"), "stockout": ("deliveryOrder", "deliveryOrderCode"),
         "return": ("returnOrder", "returnOrderCode"), "entry": ("entryOrder", "entryOrderCode")}
CONFIRM_METHODS = {"delivery": "taobao.qimen.deliveryorder.confirm", "stockout": "taobao.qimen.stockout.confirm",
                   "return": "taobao.qimen.returnorder.confirm", "entry": "taobao.qimen.entryorder.confirm"}


@dataclass
class Document:
    kind: str
    code: str
    wms_id: str
    order_type: str
    plan: dict[str, int]
    head: dict[str, Any]
    status: str = "ACCEPT"
    done: dict[str, int] = field(default_factory=dict)   # shipped / received so far
    messages: int = 0                                    # confirms sent
    refuse_cancel: str | None = None                     # a reason to refuse order.cancel
    packages: list[dict[str, Any]] = field(default_factory=list)  # every parcel shipped (deliveryorder.query)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WmsState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.documents: dict[str, Document] = {}
            self.stock: dict[str, int] = {}
            self.items: dict[str, dict[str, Any]] = {}
            self.calls: list[dict[str, Any]] = []
            self.callbacks: list[dict[str, Any]] = []
            self._ids = 0

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self._ids += 1
            return f"{prefix}{self._ids:06d}"

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"documents": {c: d.to_dict() for c, d in self.documents.items()}, "stock": dict(self.stock),
                    "items": dict(self.items), "calls": list(self.calls), "callbacks": list(self.callbacks)}
