"""The options of spec nodes and edges: routing ``Condition``s, ``SearchSpec`` (test-time search)
and ``ExecuteSpec`` (sandboxed program runs). Data only; see ``agentforge.agents.spec``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Condition(BaseModel):
    """One routing test evaluated on the run state.

    kinds:
        ``contains`` / ``not_contains``: ``value`` (str) occurs / does not occur in ``node``'s
        latest first output. ``visits_at_least``: ``node`` ran at least ``value`` (int) times.
        ``answers_agree``: all latest outputs of ``node`` extract to the same answer.
        ``answers_match``: ``node``'s first latest answer equals that of the node named by
        ``value`` (str), and is not None (CRITIC: an executed check agrees with the draft).
        ``tests_pass`` / ``tests_fail``: the first program ``node`` (an ``execute`` node) ran
        passed / did not pass (ran to completion and every test passed).
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["contains", "not_contains", "visits_at_least", "answers_agree", "answers_match",
                  "tests_pass", "tests_fail"]
    node: str
    value: str | int | None = None

    @model_validator(mode="after")
    def _value_fits_kind(self) -> "Condition":
        if self.kind in ("contains", "not_contains", "answers_match") and not (isinstance(self.value, str)
                                                                                and self.value):
            raise ValueError(f"condition {self.kind} on {self.node!r} needs a non-empty string value")
        if self.kind == "visits_at_least" and (not isinstance(self.value, int) or self.value < 1):
            raise ValueError(f"condition visits_at_least on {self.node!r} needs an integer value >= 1")
        return self


class SearchSpec(BaseModel):
    """Options of a ``search`` node: judge-guided test-time search (HF search-and-learn).

    methods:
        ``best-of-n``: ``n`` full solutions, the judge's best-scored one wins.
        ``weighted-vote``: ``n`` full solutions, PRM-weighted majority vote (sum of scores per answer).
        ``beam``: step-level beam search: each of ``beam_width`` beams is expanded with
            ``expansions`` sampled next steps, the top ``beam_width`` partial solutions by judge
            score are kept, until ``beam_width`` solutions are finished or ``max_steps``.
        ``lookahead``: beam search scoring each candidate step by the judge's score of a greedy
            rollout ``lookahead_steps`` steps further.
    Budgets ``max_samples`` (generation calls) and ``max_tokens`` (completion tokens) stop the
    search early; the best solution found so far is returned.
    """

    model_config = ConfigDict(extra="forbid")
    method: Literal["best-of-n", "weighted-vote", "beam", "lookahead"] = "best-of-n"
    n: int = Field(4, ge=1, le=256)
    beam_width: int = Field(2, ge=1, le=64)
    expansions: int = Field(2, ge=1, le=64)
    lookahead_steps: int = Field(1, ge=0, le=16)
    max_steps: int = Field(8, ge=1, le=64)
    aggregate: Literal["min", "last", "prod", "mean"] = "last"
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    step_max_tokens: int = Field(160, ge=8)
    max_samples: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    step_prompt: str = "@next_step"


class ExecuteSpec(BaseModel):
    """Options of an ``execute`` node.

    Attributes:
        answer_from: ``"stdout"``: the answer is the program's last printed line, normalized by
            the task (PAL); ``"none"``: the node only reports (Self-Debug, CRITIC checks).
        tests: ``"visible"``: run the task's visible tests (HumanEval's docstring examples; never
            the hidden ones); ``"none"``: no tests.
        tests_from: a node whose latest first output holds ``assert`` lines to run as tests
            (tests the model wrote itself, as in Reflexion's programming agent).
        timeout_s: wall-clock limit per program in seconds (default 5).
        memory_mb: memory limit per program (default 512).
        max_feedback_chars: the execution report shown to later nodes is cut to this length.
    """

    model_config = ConfigDict(extra="forbid")
    answer_from: Literal["none", "stdout"] = "none"
    tests: Literal["none", "visible"] = "none"
    tests_from: str | None = None
    timeout_s: float = Field(5.0, gt=0.0, le=60.0)
    memory_mb: int = Field(512, ge=64, le=4096)
    max_feedback_chars: int = Field(1500, ge=100, le=20_000)
