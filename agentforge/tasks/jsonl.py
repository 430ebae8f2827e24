"""Reading data files with errors that name the file and the line."""

from __future__ import annotations

import contextlib
import gzip
import json
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agentforge.core.errors import DataFormatError, UserError


def require_file(path: str | Path, what: str = "data file") -> Path:
    """Return ``path`` as a :class:`Path` if it is an existing file.

    Raises:
        UserError: naming the path, when it does not exist or is not a file.
    """
    p = Path(path)
    if not p.is_file():
        problem = "is a folder, not a file" if p.is_dir() else "does not exist"
        raise UserError(f"{what} {str(p)!r} {problem}")
    return p


def iter_jsonl(path: str | Path, keys: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_index, record)`` for each non-blank line of a JSONL file.

    ``line_index`` is 0-based and counts blank lines too, so it is stable for a given file.
    Each record must be a JSON object holding every key in ``keys`` with a string value. A
    file whose name ends in ``.gz`` is read through gzip.

    Raises:
        UserError: if ``path`` is not an existing file.
        DataFormatError: naming the 1-based line, for invalid JSON, a value that is not an
            object, or a missing / non-string key; naming the file for a corrupt gzip file.
    """
    p = require_file(path)
    with contextlib.ExitStack() as stack:
        fh = _gzip_lines(p) if p.suffix == ".gz" else stack.enter_context(p.open(encoding="utf-8"))
        for index, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(str(p), index + 1, f"invalid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise DataFormatError(str(p), index + 1, "expected a JSON object")
            for key in keys:
                if not isinstance(record.get(key), str):
                    problem = "missing" if key not in record else "not a string"
                    raise DataFormatError(str(p), index + 1, f"key {key!r} is {problem}")
            yield index, record


def read_json(path: str | Path) -> Any:
    """Parse a whole JSON file.

    Raises:
        UserError: if ``path`` is not an existing file.
        DataFormatError: naming the line of the syntax error.
    """
    p = require_file(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(str(p), exc.lineno, f"invalid JSON ({exc.msg})") from None


def _gzip_lines(path: Path) -> list[str]:
    """The text lines of a gzip file (read whole: data files here are small).

    Raises:
        DataFormatError: naming the file, when it is not valid gzip or not UTF-8.
    """
    try:
        return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataFormatError(str(path), None, f"not a readable gzip file ({exc})") from None
