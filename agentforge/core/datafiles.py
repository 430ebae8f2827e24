"""Reading the files users hand us (data, specs, memory exports, PRM data) with errors that name
the file and the line: a missing path, a folder, bytes that are not UTF-8, invalid or absurdly
nested JSON all become ``DataFormatError``/``UserError``, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agentforge.core.errors import DataFormatError, UserError


def require_file(path: str | Path, what: str = "data file") -> Path:
    """``path`` as a ``Path`` if it is an existing, readable file.

    Raises:
        UserError: naming the path, when it does not exist, is a folder, or cannot be read.
    """
    p = Path(path)
    if not p.is_file():
        problem = "is a folder, not a file" if p.is_dir() else "does not exist"
        raise UserError(f"{what} {str(p)!r} {problem}")
    return p


def read_bytes(path: str | Path, what: str = "data file") -> bytes:
    """The file's bytes (``require_file`` first; an OS error becomes a ``UserError``)."""
    p = require_file(path, what)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {what} {str(p)!r}: {exc.strerror or exc}") from None


def decode(data: bytes, path: str | Path, line: int | None = None) -> str:
    """``data`` as UTF-8 text.

    Raises:
        DataFormatError: naming the file (and line) and the byte offset of the first bad byte.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(str(path), line, f"not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
                                               "save the file as UTF-8") from None


def read_text(path: str | Path, what: str = "data file") -> str:
    """The whole file as UTF-8 text (errors as in ``read_bytes`` and ``decode``)."""
    return decode(read_bytes(path, what), path)


def parse_json(text: str | bytes, path: str | Path, line: int | None = None) -> Any:
    """``json.loads`` with errors that name the file and line (nesting too deep included).

    Raises:
        DataFormatError: invalid JSON, or nesting deeper than Python's parser can follow.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise DataFormatError(str(path), where, f"invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise DataFormatError(str(path), line, "JSON nested too deeply to read") from None


def iter_lines(path: str | Path, what: str = "data file") -> Iterator[tuple[int, str]]:
    """``(1-based line number, text)`` for each non-blank line, each decoded as UTF-8 on its own
    (so a bad byte is reported on its line).

    Raises:
        UserError: the path is missing, a folder or unreadable.
        DataFormatError: a line that is not UTF-8.
    """
    for number, raw in enumerate(read_bytes(path, what).split(b"\n"), start=1):
        if raw.strip():
            yield number, decode(raw, path, number)
