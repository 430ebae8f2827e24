"""``LLMJudge``: a verbal step grader through the model layer (LLM-as-a-judge for steps).

The model sees the question and the numbered steps and answers one line per step,
``Step k: correct|incorrect`` (template ``@step_grader``). A verdict becomes probability 1.0 or
0.0 (verbal verdicts; log-probabilities are not used yet). Steps the model gave no parsable
verdict for get ``default`` (0.5),
and a malformed reply is logged, never raised. As in "LLM-as-a-judge" (Zheng et al. 2023)
applied per step, as in process supervision (Lightman et al. 2023).
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from agentforge.core.templates import render
from agentforge.judges.base import Judge, JudgeResult, check_item
from agentforge.llm import LLM

log = logging.getLogger(__name__)
_VERDICT = re.compile(r"step\s*(\d+)\s*[:\-]\s*\**\s*(correct|incorrect|wrong|right)", re.IGNORECASE)


def parse_verdicts(text: str, n_steps: int, default: float = 0.5) -> list[float]:
    """Scores from ``Step k: correct|incorrect`` lines; missing steps get ``default``."""
    scores = [default] * n_steps
    for k, verdict in _VERDICT.findall(text):
        i = int(k) - 1
        if 0 <= i < n_steps:
            scores[i] = 1.0 if verdict.lower() in ("correct", "right") else 0.0
    return scores


class LLMJudge(Judge):
    """Grade steps with a chat model.

    Args:
        llm: the grading model (temperature is forced to 0).
        prompt: template with variables ``question`` and ``steps`` (default ``@step_grader``).
        default: score of a step without a parsable verdict (default 0.5).
        max_steps: solutions with more steps are graded on their last ``max_steps`` steps
            (earlier ones get NaN); default 12.

    ``ascore`` makes one model call per solution (none for a solution without steps); its
    ``JudgeResult`` carries the call's usage, the model's verdict text as ``feedback`` and the
    messages sent.
    """

    def __init__(self, llm: LLM, prompt: str = "@step_grader", default: float = 0.5, max_steps: int = 12):
        self.llm = llm.with_options(temperature=0.0, max_tokens=max(64, 12 * max_steps))
        self.prompt, self.default, self.max_steps = prompt, default, max_steps
        self.name = f"llm-judge({self.llm.model})"

    async def ascore(self, question: str, steps: list[str], *, example: Any = None) -> JudgeResult:
        """Grade one solution (see the class docstring)."""
        question, steps = check_item(question, steps)
        if not steps:
            return JudgeResult(scores=[])
        shown = steps[-self.max_steps:]
        messages = [{"role": "user", "content": render(self.prompt, {"question": question, "steps": shown})}]
        comp = await self.llm.acomplete(messages, tag="judge")
        scores = parse_verdicts(comp.text, len(shown), self.default)
        if all(s == self.default for s in scores):
            log.info("LLMJudge: no verdicts parsed from %r", comp.text[:200])
        return JudgeResult(scores=[math.nan] * (len(steps) - len(shown)) + scores, usage=comp.usage,
                           feedback=comp.text, messages=messages)

    def __repr__(self) -> str:
        return f"LLMJudge({self.llm.model})"
