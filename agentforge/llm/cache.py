"""On-disk completion cache (diskcache, SQLite-backed, safe across threads and processes).

The key is a SHA-256 over the model id, the messages, the sampling parameters and a
**sample index**: k samples of the same prompt get k distinct entries, yet a rerun of the same
run is free and identical. API keys are never part of a key or a value.

Location: ``$AGENTFORGE_HOME/cache/completions`` (default ``~/.cache/agentforge``); disable
with ``LLM(cache=False)`` or ``AGENTFORGE_CACHE=0``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import diskcache

from agentforge.core.settings import settings
from agentforge.llm.types import Completion

_CACHES: dict[Path, diskcache.Cache] = {}
_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    """``$AGENTFORGE_HOME/cache/completions`` (``~/.cache/agentforge`` when unset)."""
    return settings().home_dir / "cache" / "completions"


def cache_enabled() -> bool:
    """False when ``AGENTFORGE_CACHE`` is ``0``/``false``/``no``."""
    return settings().cache


def cache_key(model: str, messages: list[dict], params: dict[str, Any], sample_index: int) -> str:
    """Deterministic hex key for one call; ``params`` must hold only sampling parameters."""
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params, "sample": sample_index},
        sort_keys=True, ensure_ascii=False, default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class CompletionCache:
    """A persistent map from ``cache_key`` to ``Completion`` at ``path``.

    Args:
        path: folder of the cache; created if missing. Defaults to ``default_cache_dir()``.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path or default_cache_dir()).expanduser().resolve()
        with _LOCK:
            if self.path not in _CACHES:
                self.path.mkdir(parents=True, exist_ok=True)
                _CACHES[self.path] = diskcache.Cache(str(self.path))
            self._cache = _CACHES[self.path]

    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key`` (marked ``cached=True``), or None.

        A corrupt entry is treated as a miss (and dropped) rather than an error.
        """
        raw = self._cache.get(key)
        if raw is None:
            return None
        try:
            comp = Completion.model_validate_json(raw)
        except Exception:
            self._cache.delete(key)
            return None
        comp.cached = True
        comp.usage.cached_calls = 1
        comp.usage.cost_usd = 0.0
        return comp

    def set(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key``."""
        self._cache.set(key, completion.model_dump_json())

    def clear(self) -> None:
        """Remove every entry."""
        self._cache.clear()
