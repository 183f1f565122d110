"""The ports flows depend on, in the bridge's own terms (docs/architecture.md):

- state.py         links, cursors, versioned records, the timeline, the command queue, secrets
                   (the tenants' repository is tenant.py's TenantRepository)
- store_system.py  the store system (店+)
- warehouse.py     the warehouse: store orders, 配货 / 退仓, warehouse stock (JST, a 奇门 WMS)
- erp.py           what only the ERP does: store stock counts, stock of the store warehouses
- ledger.py        the document ledger: every business fact, once (the order-centre reports)
- retail.py        an ERP that keeps the stores' books (旺店通): store sales, store and ERP
                   stock documents, products and stock of the store warehouses (W1-W5)

Connectors implement them (connectors/<system>/); tests implement them in memory. Nothing
here imports a connector: the types are small dataclasses and Protocols.
"""

from .erp import (Erp, ErpInfo, ErpProduct, ErpRefused, OnlineOutbound, OutboundConfirmation, OutboundLine,
                  OutboundPage)
from .ledger import Ledger
from .state import (ClaimedRecord, CommandQueue, Cursor, CursorRepository, DocumentLink, GrantRiders, LinkRepository,
                    MalformedRow, QueuedCommand,
                    Record, RecordRepository, SecretResolver, SetAside, Timeline, TimelineEntry, TogetherWrite)
from .store_system import StoreSystem
from .warehouse import (Carrier, CloudWarehouse, Confirmation, DocumentAccepted, DocumentState, OpenDocument,
                        OpenDocuments, OrderAccepted, OrderCancelled, OrderLine, Receiver, ReturnAccepted,
                        ReturnReceived, ReturnRequest, Shipment, ShippedLine, SkuQty, StockLevel, StockLocation,
                        StockPage, StockSource, StoreDocument, StoreOrder, UnknownWarehouseDocument,
                        UnreadableWarehouseAnswer, Warehouse, WarehouseInfo, WarehouseNews, WarehouseRefused,
                        WmsMessage)

__all__ = [
    "Carrier", "ClaimedRecord", "CloudWarehouse", "CommandQueue", "Confirmation", "Cursor", "CursorRepository", "DocumentAccepted", "DocumentLink", "DocumentState",
    "Erp", "ErpInfo", "ErpProduct", "ErpRefused", "GrantRiders", "OnlineOutbound", "OutboundConfirmation", "OutboundLine", "OutboundPage", "Ledger", "LinkRepository", "MalformedRow", "OpenDocument", "OpenDocuments", "OrderAccepted", "OrderCancelled", "OrderLine", "Receiver", "Record",
    "QueuedCommand", "RecordRepository", "ReturnAccepted", "ReturnReceived", "ReturnRequest", "SecretResolver", "SetAside", "Shipment",
    "ShippedLine", "SkuQty", "StockLevel", "StockLocation", "StockPage", "StockSource", "StoreDocument", "StoreOrder",
    "StoreSystem", "Timeline", "TimelineEntry", "TogetherWrite", "UnknownWarehouseDocument", "UnreadableWarehouseAnswer", "Warehouse", "WarehouseInfo",
    "WarehouseNews", "WarehouseRefused", "WmsMessage",
]
