"""AgentForge: verbal reinforcement for LLM agents.

Importing the package first applies offline environment defaults (see ``agentforge._env``)
so that litellm and Hugging Face libraries never reach the network on import.
"""

from agentforge import _env  # noqa: F401  (must run before litellm / transformers imports)

__version__ = "0.1.0"
