"""奇门 XML both ways: our ``<request>`` documents out, the gateway's and the WMS's XML in.

Writing uses the standard library (it escapes text; nothing is parsed). Reading XML that
comes from outside goes through defusedxml with DTDs forbidden outright: no entity
expansion (billion laughs), no external entities or DTDs (XXE), and a size, depth and
element-count bound checked before and while the document becomes plain data.

The documents become dicts: a leaf is its text, repeated tags become lists, and the 奇门
list wrappers (``<orderLines><orderLine>…``, ``<packages><package>…``, ``<items><item>…``)
always become lists, so one line and many lines read the same.
"""

from __future__ import annotations

from typing import Any, Mapping
from xml.etree import ElementTree as StdElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _safe_fromstring

from ...errors import BridgeError

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
CONTENT_TYPE = "text/xml;charset=utf-8"
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024  # a confirm of several thousand lines; larger is refused unread
MAX_DEPTH = 16                         # 奇门 documents nest about 6 deep
MAX_ELEMENTS = 200_000

# wrapper tag -> the tag of each element in it
LIST_ITEM_TAGS: dict[str, str] = {
    "orderLines": "orderLine",
    "packages": "package",
    "items": "item",
    "criteriaList": "criteria",
    "batchs": "batch",
    "relatedOrders": "relatedOrder",
    "invoices": "invoice",
    "packageMaterialList": "packageMaterial",
    "deliveryOrders": "deliveryOrder",
}


class XmlRefused(BridgeError):
    """XML the bridge will not read: malformed, hostile (DTD, entities), too large or too deep."""


# --- writing --------------------------------------------------------------------------------


def dump_document(root_tag: str, content: Mapping[str, Any]) -> bytes:
    """``<?xml …?><root_tag>…</root_tag>`` as UTF-8 bytes, no whitespace between elements.

    Keys keep their order, None is left out, lists go into their wrapper's item tag, bools
    are written ``true``/``false``. The bytes are what gets signed and sent."""
    root = StdElementTree.Element(root_tag)
    _fill(root, content)
    text = StdElementTree.tostring(root, encoding="unicode", short_empty_elements=False)
    return (XML_DECLARATION + text).encode("utf-8")


def _fill(parent: StdElementTree.Element, content: Mapping[str, Any]) -> None:
    for key, value in content.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            if key not in LIST_ITEM_TAGS:
                raise ValueError(f"{key}: no 奇门 item tag is known for a list under this element")
            wrapper = StdElementTree.SubElement(parent, key)
            for entry in value:
                _put(wrapper, LIST_ITEM_TAGS[key], entry)
        else:
            _put(parent, key, value)


def _put(parent: StdElementTree.Element, tag: str, value: Any) -> None:
    element = StdElementTree.SubElement(parent, tag)
    if isinstance(value, Mapping):
        _fill(element, value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


# --- reading -------------------------------------------------------------------------------


def parse_document(data: bytes | str, *, expected_root: str | None = None,
                   max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """The document's root element as a dict (see the module docstring); XmlRefused otherwise."""
    root, content = read_document(data, max_bytes=max_bytes)
    if expected_root is not None and root != expected_root:
        raise XmlRefused(f"root element must be <{expected_root}>, got <{root[:40]}>")
    return content


def read_document(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> tuple[str, dict[str, Any]]:
    """(root tag, root element as a dict); XmlRefused for anything the bridge will not read."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise XmlRefused(f"body larger than {max_bytes} bytes")
    if not data.strip():
        raise XmlRefused("body is empty: an XML document is expected")
    try:
        root = _safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlRefused(f"XML with a DTD or entity declarations is refused ({type(exc).__name__})") from None
    except StdElementTree.ParseError as exc:
        raise XmlRefused(f"malformed XML: {exc}") from None
    except ValueError as exc:  # e.g. an unknown encoding named in the declaration
        raise XmlRefused(f"unreadable XML: {exc}") from None
    counter = [0]
    value = _to_data(root, 1, counter)
    return str(root.tag), value if isinstance(value, dict) else {}


def _to_data(element: Any, depth: int, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_ELEMENTS:
        raise XmlRefused(f"more than {MAX_ELEMENTS} elements")
    if depth > MAX_DEPTH:
        raise XmlRefused(f"elements nested deeper than {MAX_DEPTH}")
    children = list(element)
    if not children:
        return (element.text or "").strip()
    if element.tag in LIST_ITEM_TAGS:
        return [_to_data(child, depth + 1, counter) for child in children]
    result: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in children:
        value = _to_data(child, depth + 1, counter)
        if child.tag not in result:
            result[child.tag] = value
        elif child.tag in repeated:
            result[child.tag].append(value)
        else:
            result[child.tag] = [result[child.tag], value]
            repeated.add(child.tag)
    return result
