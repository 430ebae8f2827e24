"""Settings, read in one place: environment variables ``AGENTFORGE_*`` (pydantic-settings).

=========================  ==============================================  =========================
variable                   meaning                                         default
=========================  ==============================================  =========================
``AGENTFORGE_HOME``        models, completion cache, data, default memory  ``~/.cache/agentforge``
``AGENTFORGE_MODEL``       the default model id                            ``local/qwen2.5-coder-1.5b-instruct``
``AGENTFORGE_THREADS``     llama.cpp threads                               all cores
``AGENTFORGE_N_CTX``       llama.cpp context window (tokens)               4096
``AGENTFORGE_CACHE``       use the on-disk completion cache                ``1``
``AGENTFORGE_OFFLINE``     never let Hugging Face / litellm reach a hub    ``1``
``AGENTFORGE_TRUST_REMOTE_CODE``  run model code shipped in a PRM folder   ``0``
``AGENTFORGE_JUDGE_TOKEN`` bearer token of a judge server                  none
=========================  ==============================================  =========================

Offline switches are applied where a library that would reach the network is loaded
(``offline_env("hf")`` before transformers / sentence-transformers load a model,
``offline_env("litellm")`` before litellm is imported), never on ``import agentforge``; a value
the user set in the environment always wins.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentforge.core.errors import UserError

DEFAULT_MODEL = "local/qwen2.5-coder-1.5b-instruct"

_OFFLINE = {
    "litellm": {"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    "hf": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"},
    "chroma": {"ANONYMIZED_TELEMETRY": "False"},
}


class Settings(BaseSettings):
    """AgentForge's settings (see the module docstring for each variable).

    Raises:
        UserError (from ``settings()``): a variable with a value of the wrong type, named.
    """

    model_config = SettingsConfigDict(env_prefix="AGENTFORGE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path("~/.cache/agentforge"))
    model: str = DEFAULT_MODEL
    threads: int | None = Field(None, ge=1)
    n_ctx: int = Field(4096, ge=256)
    cache: bool = True
    offline: bool = True
    trust_remote_code: bool = False
    judge_token: SecretStr | None = None

    @property
    def home_dir(self) -> Path:
        """``home`` with ``~`` expanded."""
        return self.home.expanduser()


def settings() -> Settings:
    """The current settings (read from the environment on each call; cheap).

    Raises:
        UserError: an ``AGENTFORGE_*`` variable that does not parse (names it and the problem).
    """
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "AGENTFORGE_" + str(err.get("loc", ("?",))[0]).upper()
        raise UserError(f"environment variable {name}: {err.get('msg')}") from None


def offline_env(kind: str) -> None:
    """Set the offline switches of ``kind`` (``"litellm"``, ``"hf"``, ``"chroma"``) unless
    ``AGENTFORGE_OFFLINE=0``; values already in the environment are kept."""
    if os.environ.get("AGENTFORGE_OFFLINE", "1").lower() in {"0", "false", "no"}:
        return
    for key, value in _OFFLINE[kind].items():
        os.environ.setdefault(key, value)
