"""Lambda's init phase: the handler module's import, then its AWS clients, with the cyclic
garbage collector off; then the collector on again, for the requests.

Why: importing the bridge and building botocore clients allocate hundreds of thousands of
objects that live as long as the container, and the collector walks all of them again and
again while they are made (a function's second client costs ~35-40 ms CPU with it on, ~9 ms
with it off). None of it is garbage. ``o2o_bridge/__init__`` turns the collector off in
Lambda before any other import; ``runtime.ready()``, the last statement of every handler
module, makes the function's clients (each AWS service its policies grant it:
tests/template/test_init_clients.py checks the two agree), then ``end()`` moves everything made
so far out of the collector's sight (``gc.freeze()``: it is never garbage) and turns the
collector back on. Requests run with the collector as Python sets it.

Outside Lambda (tests, the local stack, the CLI) the collector is never touched and
``runtime.ready()`` builds nothing: clients are made on first use, with the settings of the moment.
"""

from __future__ import annotations

import gc

_pending = False  # the collector is off because o2o_bridge/__init__ turned it off


def begin() -> None:
    """Called by o2o_bridge/__init__ when it runs in a Lambda container."""
    global _pending
    if gc.isenabled():
        gc.disable()
        _pending = True


def pending() -> bool:
    """Lambda's init phase, not ended yet."""
    return _pending


def end() -> None:
    """The collector back on (once); what exists now is never collected. Also called by
    ``runtime.invocation``, so a handler that forgot ``runtime.ready()`` serves no request with it off."""
    global _pending
    if _pending:
        _pending = False
        gc.freeze()
        gc.enable()
