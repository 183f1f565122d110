"""Connectors: the only code that knows an outside system's HTTP, signing, formats and keys."""
