"""JSON Lines read strictly, for every manifest seqrec reads (:mod:`seqrec.data.manifest`,
:mod:`seqrec.kws.streams_manifest`). Torch-free.

Python's ``json`` accepts what JSON does not: ``NaN``, ``Infinity`` and ``-Infinity``,
and ``1e999``, which it reads as infinity. A manifest number that is not finite
becomes a clip of garbage or a crash far from the line, so here it is an error at the
parse, as are bytes that are not UTF-8 and nesting too deep for the decoder. Lines are
split at ``\\n`` only, as JSON Lines defines them.
"""

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JsonLineError(ValueError):
    """A line that is not one JSON value of finite numbers in UTF-8. The message says
    what is wrong, without the file and line: the caller knows them and prefixes them."""


class NonFiniteNumberError(JsonLineError):
    """A line that is valid JSON to Python but holds ``NaN``, ``Infinity`` or ``-Infinity``."""


def numbered_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """The lines of ``path`` as bytes, numbered from 1, blank lines left out.

    Bytes, so that one line that is not UTF-8 is that line's error (in
    :func:`parse_json_line`) and the lines after it are still read.
    """
    with Path(path).open("rb") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line


def parse_json_line(line: bytes | str) -> Any:
    """One line's JSON value; :class:`JsonLineError` when it is not UTF-8, not JSON, or
    holds a number that is not finite (:class:`NonFiniteNumberError`, anywhere, however
    deep).

    >>> parse_json_line(b'{"duration": 1.5, "keywords": [{"start": 0}]}')
    {'duration': 1.5, 'keywords': [{'start': 0}]}
    >>> parse_json_line(b'{"keywords": [{"start": NaN}]}')
    Traceback (most recent call last):
    ...
    seqrec.core.json_lines.NonFiniteNumberError: keywords[0].start is NaN; every number must be finite
    >>> parse_json_line(b'{"id": "caf\\xe9"}')
    Traceback (most recent call last):
    ...
    seqrec.core.json_lines.JsonLineError: not UTF-8 text (byte 0xe9 at column 12)
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonLineError(
                f"not UTF-8 text (byte 0x{line[e.start]:02x} at column {e.start + 1})"
            ) from None
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        raise JsonLineError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise JsonLineError("not valid JSON (nested too deeply to read)") from None
    except ValueError as e:  # an integer of more digits than Python converts
        raise JsonLineError(f"not valid JSON ({e})") from None
    found = _non_finite(value)
    if found is not None:
        where, number = found
        where = where or "the value"
        raise NonFiniteNumberError(
            f"{where} is {_json_spelling(number)}; every number must be finite"
        )
    return value


def _non_finite(value: Any) -> tuple[str, float] | None:
    """Where the first non-finite number in ``value`` sits, as ``keywords[0].start``,
    and the number; None when every number is finite. A loop, not recursion: the
    decoder's nesting limit is near Python's own."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where, item
        if isinstance(item, dict):
            prefix = f"{where}." if where else ""
            stack.extend((f"{prefix}{key}", v) for key, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def _json_spelling(number: float) -> str:
    """``NaN``, ``Infinity`` or ``-Infinity``, as the line spells it (or as ``1e999`` reads)."""
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"
