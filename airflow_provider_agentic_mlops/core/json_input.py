"""JSON from outside (webhooks, Slack payloads), parsed without surprises: no exception other than
:class:`JsonInputError` escapes, whatever the bytes (deep nesting, 10,000-digit numbers, bad UTF-8)."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_agentic_mlops.core.errors import first_line

#: Nesting deeper than this is refused; real alert and Slack payloads stay under 10.
MAX_DEPTH = 32


class JsonInputError(ValueError):
    """The bytes are not JSON this provider accepts; the message says why in one line."""


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def parse_json(
    data: bytes | str, *, what: str = "the body", max_depth: int = MAX_DEPTH, unique_keys: bool = False
) -> Any:
    """``data`` parsed as JSON, refusing nesting deeper than ``max_depth``.

    :param data: the raw bytes (UTF-8) or text.
    :param what: names the input in the error message.
    :param max_depth: the deepest nesting of objects and arrays accepted.
    :param unique_keys: refuse an object that gives a key twice (``json`` keeps the last silently, where a
        proxy or a log may read the first).
    :raises JsonInputError: not UTF-8, not JSON, too deep, a key given twice (``unique_keys``), or a number
        too long to convert.
    """
    try:
        value = json.loads(data, object_pairs_hook=_unique_pairs) if unique_keys else json.loads(data)
    except _DuplicateKey as err:
        raise JsonInputError(
            f"{what} has the key {repr(err.key)[:100]} twice in one object: send each key once"
        ) from None
    except RecursionError:
        raise JsonInputError(f"{what} is nested too deeply (more than {max_depth} levels)") from None
    except UnicodeDecodeError as err:
        raise JsonInputError(f"{what} is not UTF-8: {err.reason} at byte {err.start}") from None
    except ValueError as err:  # JSONDecodeError, and ints beyond sys.get_int_max_str_digits()
        raise JsonInputError(f"{what} is not JSON: {first_line(err, 200)}") from None
    if depth_exceeds(value, max_depth):
        raise JsonInputError(f"{what} is nested too deeply (more than {max_depth} levels)")
    return value


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests objects/arrays deeper than ``max_depth`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth + 1 > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


__all__ = ["MAX_DEPTH", "JsonInputError", "depth_exceeds", "parse_json"]
