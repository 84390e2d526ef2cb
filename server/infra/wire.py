"""What a client sends, before any schema sees it: JSON of bounded nesting, names a person can
see, ids in ASCII digits. Every adapter (HTTP bodies and queries, Socket.IO packets) uses these,
so hostile input is refused as ``invalid`` instead of reaching a recursion limit or a model."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

# No request or event of ours nests deeper than a handful of levels; a client that does is
# refused long before Python's recursion limit (a RecursionError would be a 500).
MAX_JSON_DEPTH = 16


class TooDeep(ValueError):
    """The JSON text nests deeper than ``MAX_JSON_DEPTH``."""


def nesting_depth(text: str | bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings not counted).
    Fast when brackets are few: most bodies never need the scan."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8", errors="replace")
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return text.count("[") + text.count("{")
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads(text: str | bytes, *args: Any, **kwargs: Any) -> Any:
    """``json.loads`` that refuses deep nesting with ``TooDeep`` (a ``ValueError``)."""
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(text, *args, **kwargs)


class SocketJson:
    """The ``json`` module python-socketio decodes packets with, bounded like HTTP bodies."""

    loads = staticmethod(loads)
    dumps = staticmethod(json.dumps)
    JSONDecodeError = json.JSONDecodeError


# Characters nobody sees: format characters (zero-width spaces and joiners, bidi controls,
# the byte-order mark), controls, separators, unassigned and private-use code points,
# combining marks with nothing to combine with, and the letters that render as blanks.
_UNSEEN_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")


def has_visible_character(text: str) -> bool:
    """Whether a name shows anything once invisible and blank characters are taken away."""
    return any(
        not char.isspace()
        and char not in _BLANK_LETTERS
        and unicodedata.category(char) not in _UNSEEN_CATEGORIES
        for char in text
    )


# Embeddings, overrides and isolates reorder what is shown: "\u202eecilA" displays as "Alice".
_BIDI_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def name_problem(text: str) -> str | None:
    """Why a name cannot be used, or None: nobody could see it, or its shown order differs
    from its letters (one person passing for another)."""
    if not has_visible_character(text):
        return "a name needs at least one visible character"
    if any(char in _BIDI_REORDERING for char in text):
        return "a name cannot hold direction overrides or isolates"
    return None


def visible_name(value: str) -> str:
    """A pydantic validator for every name field (see ``name_problem``)."""
    if (problem := name_problem(value)) is not None:
        raise ValueError(problem)
    return value


def is_ascii_id(raw: str, max_digits: int = 16) -> bool:
    """An id as a client may write it: 1 to ``max_digits`` ASCII digits, not full-width or other."""
    return 0 < len(raw) <= max_digits and raw.isascii() and raw.isdigit()


# Ids are 32-bit integer columns on PostgreSQL: past this no row can exist, and a larger
# number would overflow the column's type before it could be "not found" (a 500). Path ids,
# query ids and ids in bodies and Socket.IO payloads stop here.
MAX_ID = 2**31 - 1
