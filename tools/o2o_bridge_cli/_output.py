"""Where a command's result goes, apart from everything else it prints.

A command's result (a table, a line, or with ``--json`` one JSON document) is the only thing
on stdout, so ``o2o dlq list --json | jq`` works. While a command runs, ``sys.stdout`` points
at stderr: the log lines and metrics of the handlers and flows it runs in process (Powertools
writes them to stdout, as Lambda expects) land there, beside the progress lines.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

_results: TextIO | None = None


def set_result_stream(stream: TextIO | None) -> None:
    global _results
    _results = stream


def result_stream() -> TextIO:
    return _results or sys.stdout


def echo(*values: Any, **options: Any) -> None:
    """``print`` to the result stream (or to ``file=`` when given, e.g. sys.stderr)."""
    options.setdefault("file", result_stream())
    print(*values, **options)


def echo_json(document: Any) -> None:
    """The whole ``--json`` answer: one JSON document (a list for a listing)."""
    stream = result_stream()
    json.dump(document, stream, ensure_ascii=False, indent=2, default=str)
    stream.write("\n")


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout and nothing else (logs go to stderr)")
