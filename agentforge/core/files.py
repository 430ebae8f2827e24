"""Files a kill never leaves half-written, JSON-lines logs that survive one, one writer per folder.

* ``atomic_open`` / ``atomic_write_bytes`` / ``atomic_write_text`` / ``atomic_write_json``: write
  a temporary file next to the target, named uniquely per process and call
  (``.NAME.<pid>.<random hex>.tmp``, so two processes never share one), flush and fsync it, then
  ``os.replace`` it over the target: a reader, or a kill at any instant, sees the old file or
  the new one, never a mix.
* ``read_jsonl``: read a JSON-lines log as bytes and decode each line on its own, so a torn last
  line (a kill mid-write, even inside a multi-byte UTF-8 character) is dropped, not fatal.
* ``JsonlAppender``: append one JSON object per line (flushed, optionally fsync'd); a torn tail
  left by a killed writer is cut off first, so new lines never glue onto it.
* ``FolderLock``: one writer per folder (an OS file lock, freed by the OS when its holder dies,
  so a killed run never blocks its resume), with an owner file naming the holder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple

import filelock

from agentforge.core.errors import DataFormatError, UserError


_TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")  # atomic_open's temporary names


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: str | Path, *, fsync: bool = True) -> Iterator[IO[bytes]]:
    """Open a binary file whose content replaces ``path`` atomically when the block exits cleanly.

    Args:
        path: the target file (its folder must exist).
        fsync: fsync the file (and the folder after the rename) so the new content survives a
            power loss too (default True; a kill is survived either way).

    Yields:
        The temporary file, opened ``"xb"``. If the block raises, the temporary file is removed
        and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (see ``atomic_open``)."""
    with atomic_open(path, fsync=fsync) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8", fsync: bool = True) -> None:
    """Replace ``path`` with ``text`` (UTF-8 by default) atomically (see ``atomic_open``)."""
    atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2, fsync: bool = True) -> None:
    """Replace ``path`` with ``obj`` as JSON (non-ASCII kept as is) atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False), fsync=fsync)


def atomic_write_jsonl(path: str | Path, rows: list[dict[str, Any]], *, fsync: bool = True) -> None:
    """Replace ``path`` with one JSON line per row atomically (streamed; no full copy in memory)."""
    with atomic_open(path, fsync=fsync) as f:
        for r in rows:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))


class JsonlFile(NamedTuple):
    """What ``read_jsonl`` found.

    Attributes:
        rows: the parsed lines (JSON objects), in file order.
        torn: whether a torn last line was dropped.
    """

    rows: list[dict[str, Any]]
    torn: bool


def read_jsonl(path: str | Path, *, what: str = "line") -> JsonlFile:
    """Read a JSON-lines file of objects; a torn (undecodable or unparsable) last line is dropped.

    Each line is decoded from UTF-8 on its own, so a kill that cut the last line inside a
    multi-byte character drops that line only. Blank lines are skipped. A missing file reads as
    empty.

    Args:
        path: the file.
        what: what a line holds, for the error message (e.g. ``"result line"``).

    Raises:
        DataFormatError: a line that is not a JSON object and is not the last line (the file
            was edited or damaged; a kill only ever tears the last line). It names the file
            and the 1-based line and says the way out; nothing is rewritten.
    """
    path = Path(path)
    if not path.exists():
        return JsonlFile([], False)
    lines = path.read_bytes().split(b"\n")
    rows: list[dict[str, Any]] = []
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = None
        if isinstance(obj, dict):
            rows.append(obj)
            continue
        if not any(rest.strip() for rest in lines[i:]):  # the last line: torn by a kill mid-write
            return JsonlFile(rows, True)
        raise DataFormatError(str(path), i, f"corrupt {what} (not the last line, so not a torn write); "
                                            "fix the file, or move it away or use another --out")
    return JsonlFile(rows, False)


class JsonlAppender:
    """Appends JSON objects to a file, one per line, each flushed at once (thread-safe).

    Args:
        path: the file (created).
        fsync: also fsync after each line (survives a power loss; default False: a flushed
            line already survives a kill of the process).

    A torn last line left by a killed writer is cut off when the file is opened, so the first
    new line starts on a line of its own. Use as a context manager or call ``close``.
    """

    def __init__(self, path: str | Path, *, fsync: bool = False):
        self.path, self.fsync = Path(path), fsync
        self._lock = threading.Lock()
        self._f = open(self.path, "ab")
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        size = self._f.seek(0, os.SEEK_END)
        if size == 0:
            return
        with open(self.path, "rb") as r:
            pos = size
            while pos > 0:
                step = min(65536, pos)
                r.seek(pos - step)
                chunk = r.read(step)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    keep = pos - step + nl + 1
                    break
                pos -= step
            else:
                keep = 0
        if keep != size:
            self._f.truncate(keep)

    def append(self, obj: dict[str, Any]) -> None:
        """Write ``obj`` as one line and flush it (and fsync it when asked)."""
        data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self._f.write(data)
            self._f.flush()
            if self.fsync:
                os.fsync(self._f.fileno())

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FolderLock:
    """Holds a folder for one writer: ``FOLDER/run.lock`` (an OS lock) and ``FOLDER/run.owner.json``.

    The lock is ``filelock.FileLock`` (``flock`` on POSIX): the OS frees it when the holding
    process exits or is killed, so a stale lock never blocks a resume. While held, the owner
    file names the holder (``pid``, ``host``, ``started``: local ISO time, ``argv``); it is
    removed on release. Taking the folder removes the temporary files of ``atomic_open`` that
    a killed writer left in it (the only writer is the holder, so they are all stale).

    Args:
        folder: the folder (created).
        hint: the way out named in the error (default: wait, or use another --out).

    Raises (from ``acquire`` / ``__enter__``):
        UserError: another process (or another object in this one) holds the folder; the
            message names the folder, the holder's PID, host and start time, and ``hint``.
    """

    LOCK, OWNER = "run.lock", "run.owner.json"

    def __init__(self, folder: str | Path, hint: str = "wait for it to finish, or use another --out"):
        self.folder, self.hint = Path(folder), hint
        self._lock = filelock.FileLock(str(self.folder / self.LOCK), timeout=0)

    def owner(self) -> dict[str, Any] | None:
        """The owner file's record, or None when absent or unreadable (e.g. being written)."""
        try:
            rec = json.loads((self.folder / self.OWNER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) else None

    def acquire(self) -> None:
        """Take the folder at once or raise ``UserError`` (never waits)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            rec = self.owner()
            who = (f"process {rec.get('pid')} on {rec.get('host')}, started {rec.get('started')}"
                   if rec else "another process (it has not written its owner file yet)")
            raise UserError(f"{self.folder} is in use by {who} (lock: {self.folder / self.LOCK}); "
                            f"{self.hint}") from None
        for stale in self.folder.iterdir():
            if _TEMP.match(stale.name):
                stale.unlink(missing_ok=True)
        atomic_write_json(self.folder / self.OWNER, {
            "pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "argv": list(sys.argv)}, fsync=False)

    def release(self) -> None:
        """Remove the owner file and free the lock (the lock file stays, as ``filelock`` keeps it)."""
        if self._lock.is_locked:
            (self.folder / self.OWNER).unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
