"""Build a judge from a CLI-style string: ``llm``, ``verifier``, ``prm:DIR``, ``http(s)://...``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentforge.core.errors import UnknownNameError
from agentforge.judges.base import Judge

JUDGE_KINDS = ("llm", "verifier", "prm:DIR", "http://HOST:PORT[/path]")


def make_judge(spec: str, llm: Any, task: Any) -> Judge | Callable[[Any], Judge]:
    """The judge named by ``spec``.

    Args:
        spec: ``llm`` (the task model grades each step), ``verifier`` (the task's exact answer
            check against the example's gold: an oracle, for measuring upper bounds),
            ``prm:DIR`` (a local PRM folder; set ``AGENTFORGE_TRUST_REMOTE_CODE=1`` for folders
            that ship model code, such as Qwen2.5-Math-PRM), or an ``http(s)://`` URL of ``agentforge prm
            serve`` (``vllm+http://...`` for vLLM's pooling API); the bearer token, if the server
            wants one, comes from ``$AGENTFORGE_JUDGE_TOKEN``.
        llm: the LLM for ``llm``.
        task: the task for ``verifier``.

    Returns:
        A Judge, or for ``verifier`` a function ``example -> Judge``.

    Raises:
        UnknownNameError: an unknown spec (lists the valid forms).
    """
    if spec == "llm":
        from agentforge.judges.llm_judge import LLMJudge

        return LLMJudge(llm)
    if spec == "verifier":
        from agentforge.judges.verifier import VerifierJudge

        def for_example(example: Any) -> Judge:
            return VerifierJudge(lambda q, text: bool(task.score(task.extract(text, example), example)),
                                 prefix_score=float("nan"), name=f"{task.name}-verifier")

        return for_example
    if spec.startswith("prm:"):
        import os

        from agentforge.judges.prm import PRMJudge

        trust = os.environ.get("AGENTFORGE_TRUST_REMOTE_CODE", "0").lower() in {"1", "true", "yes"}
        return PRMJudge(spec[4:], trust_remote_code=trust)
    if spec.startswith(("http://", "https://", "vllm+http://", "vllm+https://")):
        import os

        from agentforge.judges.http import HTTPJudge

        token = os.environ.get("AGENTFORGE_JUDGE_TOKEN") or None
        if spec.startswith("vllm+"):
            return HTTPJudge(spec[5:], token=token, protocol="vllm")
        return HTTPJudge(spec, token=token)
    raise UnknownNameError("judge", spec, JUDGE_KINDS)
