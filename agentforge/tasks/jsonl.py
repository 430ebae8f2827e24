"""Reading data files with errors that name the file and the line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agentforge.core.datafiles import iter_lines, parse_json, read_text, require_file
from agentforge.core.errors import DataFormatError

__all__ = ["iter_jsonl", "read_json", "require_file"]


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
    lines = enumerate(_gzip_lines(p), 1) if p.suffix == ".gz" else iter_lines(p)
    for number, line in lines:
        if not line.strip():
            continue
        record = parse_json(line, p, number)
        if not isinstance(record, dict):
            raise DataFormatError(str(p), number, "expected a JSON object")
        for key in keys:
            if not isinstance(record.get(key), str):
                problem = "missing" if key not in record else "not a string"
                raise DataFormatError(str(p), number, f"key {key!r} is {problem}")
        yield number - 1, record


def read_json(path: str | Path) -> Any:
    """Parse a whole JSON file.

    Raises:
        UserError: if ``path`` is not an existing file.
        DataFormatError: naming the line of the syntax error, or bytes that are not UTF-8.
    """
    return parse_json(read_text(path), path)


def _gzip_lines(path: Path) -> list[str]:
    """The text lines of a gzip file (read whole: data files here are small).

    Raises:
        DataFormatError: naming the file, when it is not valid gzip or not UTF-8.
    """
    try:
        return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataFormatError(str(path), None, f"not a readable gzip file ({exc})") from None
