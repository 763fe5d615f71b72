"""Reading JSON from files a user did not write, and writing only standard JSON.

Python's ``json`` accepts ``NaN`` and ``Infinity`` (no JSON parser elsewhere does), nests as
deep as the interpreter's stack (a ``RecursionError`` past about a thousand levels) and
reads whatever a zip member inflates to. Model configs and cards come from strangers, so
these limits apply wherever probscope parses them; and whatever probscope prints or saves
is standard JSON, with non-finite numbers written as ``null``.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Iterator
from typing import Any

# Keras configs nest about 15 levels (a model inside a model about 30); cards fewer.
MAX_JSON_DEPTH = 100


class JSONLimitError(ValueError):
    """JSON that is well-formed or not, but that probscope refuses to read (one line)."""


def _refuse_constant(name: str) -> float:
    raise JSONLimitError(f"{name} is not a JSON number")


def json_depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` nests (0 for a plain value); no recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads_checked(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse standard JSON no deeper than ``max_depth``.

    Parameters
    ----------
    text : str or bytes
        The document; bytes must be UTF-8.
    max_depth : int, default=MAX_JSON_DEPTH
        Most arrays and objects inside each other.

    Returns
    -------
    object
        The parsed value.

    Raises
    ------
    json.JSONDecodeError
        Not JSON.
    UnicodeDecodeError
        Bytes that are not UTF-8.
    JSONLimitError
        ``NaN``/``Infinity``, or nesting deeper than ``max_depth``.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise JSONLimitError(f"nests deeper than {max_depth} levels") from None
    if json_depth(value) > max_depth:
        raise JSONLimitError(f"nests deeper than {max_depth} levels")
    return value


def read_zip_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """Inflate one member of a zip archive, refusing to produce more than ``limit`` bytes.

    The size a zip entry declares can lie; counting what is actually inflated cannot, so a
    small "zip bomb" costs at most ``limit`` bytes and the time to inflate them.

    Raises
    ------
    KeyError
        No such member.
    JSONLimitError
        The member inflates to more than ``limit`` bytes.
    """
    chunks: list[bytes] = []
    total = 0
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            total += len(chunk)
            if total > limit:
                raise JSONLimitError(f"inflates to more than {limit // 2**20} MB")
            chunks.append(chunk)
    return b"".join(chunks)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps_standard(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that writes standard JSON only: NaN and ±Infinity become ``null``.

    Used for what probscope prints (``--json``): a metric that is undefined for a data set
    is ``null``, never the ``NaN`` token other parsers reject.
    """
    return json.dumps(_finite(value), allow_nan=False, **kwargs)


def json_text(value: Any) -> str:
    """``value`` as the card's JSON spells it (``null``, ``true``, ``"area"``), for messages
    about a file the user edits; Python's spelling if it is not JSON."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


def objects_with(node: Any, key: str) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON tree that has ``key`` (a model config's serialized objects), outer first."""
    if isinstance(node, dict):
        if key in node:
            yield node
        for value in node.values():
            yield from objects_with(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from objects_with(value, key)
