"""Template checks: the helpers next to this file are imported as plain modules
(template_facts), whatever pytest import mode the project uses."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
