"""Judges: score the steps of a solution (probability each step is correct).

- ``Judge``: the contract, ``await judge.ascore(question, steps, example=...) -> JudgeResult``
  (scores, usage, feedback); ``ascore_batch``, sync ``score``/``score_batch``, ``score_solution``.
- ``SyncBatchJudge``: base of judges whose work is blocking (a PRM forward pass).
- ``PRMJudge``: a process reward model from a local Hugging Face folder (Qwen2.5-Math-PRM,
  Math-Shepherd, RLHFlow formats), batched on GPU (bf16) or CPU (fp32).
- ``HTTPJudge``: a judge behind HTTP (``agentforge prm serve`` or vLLM's pooling API).
- ``VerifierJudge``: outcome-only, from a programmatic check (``for_task``: the gold check, an oracle).
- ``ExecutionJudge``: scores by tests passed or agreement with an executed program (no gold).
- ``LLMJudge``: a chat model grading each step (verdict per step).
- ``split_steps`` / ``aggregate``: the one way text becomes steps and step scores one score.
- ``serve`` / ``BackgroundServer``: serve any judge with cross-request micro-batching.

Torch/transformers/FastAPI are imported only when the names that need them are used.
"""

from __future__ import annotations

from typing import Any

from agentforge.judges.aggregate import AGGREGATIONS, Aggregation, aggregate
from agentforge.judges.base import Judge, JudgeResult, SyncBatchJudge
from agentforge.judges.steps import SPLIT_MODES, split_steps
from agentforge.judges.verifier import VerifierJudge

_LAZY = {
    "PRMJudge": "agentforge.judges.prm",
    "HTTPJudge": "agentforge.judges.http",
    "LLMJudge": "agentforge.judges.llm_judge",
    "serve": "agentforge.judges.server",
    "create_app": "agentforge.judges.server",
    "BackgroundServer": "agentforge.judges.server",
    "FORMATS": "agentforge.judges.prm_formats",
    "ExecutionJudge": "agentforge.judges.execution",
    "make_judge": "agentforge.judges.factory",
    "write_marker": "agentforge.judges.prm_formats",
}

__all__ = ["AGGREGATIONS", "Aggregation", "Judge", "JudgeResult", "SPLIT_MODES", "SyncBatchJudge", "VerifierJudge",
           "aggregate", "split_steps", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentforge.judges' has no attribute {name!r}")
