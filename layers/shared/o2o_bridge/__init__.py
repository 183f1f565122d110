"""o2o-bridge: the shared layer of the O2O integration between Jushuitan (JST) and 店+.

Imports point one way: ``functions/*`` -> ``o2o_bridge.flows`` -> ``o2o_bridge.ports``,
implemented by ``o2o_bridge.adapters``. Importing this package is free: every heavy
import (boto3, pydantic models, HTTP clients) happens in the module that needs it.

In a Lambda container this is the handler's first import, and it turns the cyclic garbage
collector off for the init phase (``init_phase``: the handler's ``init_phase.ready()`` turns it
back on).

There, too, pydantic looks for no plugins: the bridge uses none, and looking means reading the
entry points of every installed distribution when the first model is built (5-10 ms of CPU).
"""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    from . import init_phase as _init_phase

    _init_phase.begin()
    # pydantic's own switch (pydantic.plugin._loader); an operator may still set it otherwise.
    _os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
