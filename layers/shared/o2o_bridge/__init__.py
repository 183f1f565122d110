"""o2o-bridge: the shared layer of the O2O integration between Jushuitan (JST) and 店+.

Imports point one way: ``functions/*`` -> ``o2o_bridge.flows`` -> ``o2o_bridge.ports``,
implemented by ``o2o_bridge.adapters``. Importing this package is free: every heavy
import (boto3, pydantic models, HTTP clients) happens in the module that needs it.
"""

__version__ = "0.1.0"
