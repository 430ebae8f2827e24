"""Process-wide environment defaults that must be set before third-party imports.

litellm fetches a model price map from the internet at import time unless
``LITELLM_LOCAL_MODEL_COST_MAP`` is set, and Hugging Face libraries try the hub unless
``HF_HUB_OFFLINE`` is set. AgentForge works offline by default, so both are set with
``os.environ.setdefault`` (a user's explicit value wins). Chroma's anonymized telemetry is
turned off the same way.
"""

from __future__ import annotations

import os

_DEFAULTS = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply() -> None:
    """Set the offline defaults (idempotent; never overrides a value the user set)."""
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)


apply()
