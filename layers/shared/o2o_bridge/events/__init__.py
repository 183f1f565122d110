"""Store-system (店+) events: their models and the table that sends each type to its flow.

``models`` is the "Store system → bridge (events)" table of the store contract (docs/openapi/pos-api.yaml) as pydantic v2
models; ``dispatch`` runs one authenticated event once per ``(ent_id, event_id)``. The
HTTP edge (signature, answers) is ``o2o_bridge.connectors.store.inbound``.
"""
