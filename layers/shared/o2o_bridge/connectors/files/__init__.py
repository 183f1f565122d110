"""Connectors over plain files: the local stack's document ledger."""
