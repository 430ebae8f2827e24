"""Build a judge from a CLI-style string: ``llm``, ``verifier``, ``prm:DIR``, ``http(s)://...``."""

from __future__ import annotations

from typing import Any

from agentforge.core.errors import UnknownNameError
from agentforge.core.extras import require
from agentforge.core.settings import settings
from agentforge.judges.base import Judge
from agentforge.judges.execution import ExecutionJudge
from agentforge.judges.http import HTTPJudge
from agentforge.judges.llm_judge import LLMJudge
from agentforge.judges.verifier import VerifierJudge

JUDGE_KINDS = ("llm", "execution", "verifier", "prm:DIR", "http://HOST:PORT[/path]")


def make_judge(spec: str, llm: Any, task: Any) -> Judge:
    """The judge named by ``spec``.

    Args:
        spec: ``llm`` (the task model grades each step), ``execution`` (programs run in the
            sandbox: visible tests for code tasks, agreement with a model-written checking
            program for answer tasks; no gold needed), ``verifier`` (the task's exact answer
            check against the example's gold: an oracle, for measuring upper bounds),
            ``prm:DIR`` (a local PRM folder; set ``AGENTFORGE_TRUST_REMOTE_CODE=1`` for folders
            that ship model code, such as Qwen2.5-Math-PRM), or an ``http(s)://`` URL of ``agentforge prm
            serve`` (``vllm+http://...`` for vLLM's pooling API); the bearer token, if the server
            wants one, comes from ``$AGENTFORGE_JUDGE_TOKEN``.
        llm: the LLM for ``llm``.
        task: the task for ``verifier``.

    Returns:
        A Judge (the verifier reads each example's gold from the ``example`` it is scored with).

    Raises:
        UnknownNameError: an unknown spec (lists the valid forms).
    """
    if spec == "llm":
        return LLMJudge(llm)
    if spec == "execution":
        return ExecutionJudge(task, llm)
    if spec == "verifier":
        return VerifierJudge.for_task(task)
    if spec.startswith("prm:"):
        require("torch", "prm", "the PRM judge")
        require("transformers", "prm", "the PRM judge")
        from agentforge.judges.prm import PRMJudge

        return PRMJudge(spec[4:], trust_remote_code=settings().trust_remote_code)
    if spec.startswith(("http://", "https://", "vllm+http://", "vllm+https://")):
        secret = settings().judge_token
        token = secret.get_secret_value() if secret is not None else None
        if spec.startswith("vllm+"):
            return HTTPJudge(spec[5:], token=token, protocol="vllm")
        return HTTPJudge(spec, token=token)
    raise UnknownNameError("judge", spec, JUDGE_KINDS)
