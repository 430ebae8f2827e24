"""Prebuilt agents, each a function returning an ``AgentSpec`` (pure data).

* ``cot``: one chain-of-thought call (Wei et al. 2022).
* ``self-consistency``: k sampled chains, majority vote over extracted answers (Wang et al. 2022).
* ``self-refine``: generate, feedback, refine until the feedback says STOP or ``max_iters``
  refinements were made (Madaan et al. 2023). At most ``1 + 2 * max_iters`` calls.
* ``debate``: ``agents`` answer independently, then for ``rounds`` rounds each reads the others'
  latest answers and updates; majority vote at the end, one judge call breaks ties (Du et al.
  2023). Calls within a round run concurrently; ``agents * (rounds + 1)`` calls (+1 on a tie).
* ``reflexion``: attempt, evaluate, self-reflect, retry up to ``trials`` (Shinn et al. 2023); the
  evaluator is the gold check (an oracle), the model itself, or tests run in the sandbox.
* ``pal``: the model writes a program, the sandbox runs it, its output is the answer (PAL, Gao
  et al. 2022; Program-of-Thoughts, Chen et al. 2022); with ``samples`` > 1 a majority vote over
  the executed outputs (failed programs do not vote).
* ``self-debug``: write code, run it against the task's visible tests, and on failure revise
  from the execution report (traceback, failing test, output) until the tests pass or
  ``max_iters`` revisions (Self-Debug, Chen et al. 2023). For code tasks.
* ``critic``: a chain-of-thought answer is checked by a program the model writes; when the
  program's result disagrees, a revision sees both (CRITIC, Gou et al. 2023).
* ``best-of-n``, ``beam-search``, ``lookahead``: judge-guided test-time search (HF
  search-and-learn; Snell et al. 2024), see ``agentforge.agents.testtime``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from agentforge.agents.spec import END, AgentSpec, Condition, EdgeSpec, ExecuteSpec, NodeSpec, SearchSpec
from agentforge.core.errors import UnknownNameError, UserError


def cot() -> AgentSpec:
    """Chain of thought: a single solver call."""
    return AgentSpec(
        name="cot", description="one chain-of-thought call",
        nodes=[NodeSpec(id="solve", prompt="@solve", answer=True)],
        edges=[EdgeSpec(source="solve", target=END)], entry="solve",
    )


def self_consistency(samples: int = 5, temperature: float = 0.7) -> AgentSpec:
    """Self-consistency: ``samples`` chains at ``temperature``, majority vote (first-seen wins ties)."""
    return AgentSpec(
        name="self-consistency", description=f"{samples} sampled chains, majority vote",
        nodes=[
            NodeSpec(id="sample", prompt="@solve", samples=samples, temperature=temperature, answer=True),
            NodeSpec(id="vote", kind="vote", source="sample", system=None, tiebreak="first"),
        ],
        edges=[EdgeSpec(source="sample", target="vote"), EdgeSpec(source="vote", target=END)],
        entry="sample", metadata={"samples": samples, "temperature": temperature},
    )


def self_refine(max_iters: int = 3) -> AgentSpec:
    """Self-Refine: generate -> feedback -> (STOP | refine -> feedback ...), at most ``max_iters`` refines."""
    if max_iters < 1:
        raise UserError(f"self-refine: max_iters must be >= 1, got {max_iters}")
    return AgentSpec(
        name="self-refine", description=f"generate, feedback, refine (max {max_iters})",
        nodes=[
            NodeSpec(id="generate", prompt="@solve", answer=True),
            NodeSpec(id="feedback", role="critic", prompt="@feedback"),
            NodeSpec(id="refine", prompt="@refine", answer=True),
        ],
        edges=[
            EdgeSpec(source="generate", target="feedback"),
            EdgeSpec(source="feedback", target=END, when=[Condition(kind="contains", node="feedback", value="STOP")]),
            EdgeSpec(source="feedback", target="refine"),
            EdgeSpec(source="refine", target=END,
                     when=[Condition(kind="visits_at_least", node="refine", value=max_iters)]),
            EdgeSpec(source="refine", target="feedback"),
        ],
        entry="generate", max_steps=2 * max_iters + 4, metadata={"max_iters": max_iters},
    )


def debate(agents: int = 3, rounds: int = 2, temperature: float = 0.7) -> AgentSpec:
    """Multi-agent debate: ``agents`` debaters, ``rounds`` update rounds, majority vote + judge tie-break."""
    if agents < 2 or rounds < 0:
        raise UserError(f"debate: need agents >= 2 and rounds >= 0, got agents={agents}, rounds={rounds}")
    nodes = [NodeSpec(id="round0", role="debater", prompt="@solve", samples=agents, temperature=temperature, answer=True)]
    for r in range(1, rounds + 1):
        nodes.append(NodeSpec(id=f"round{r}", role="debater", prompt="@debate", samples=agents,
                              temperature=temperature, answer=True, peers_from=f"round{r - 1}"))
    nodes.append(NodeSpec(id="vote", kind="vote", role="judge", source=f"round{rounds}", prompt="@tiebreak",
                          tiebreak="judge", temperature=0.0))
    edges = [EdgeSpec(source=f"round{r}", target=f"round{r + 1}") for r in range(rounds)]
    edges += [EdgeSpec(source=f"round{rounds}", target="vote"), EdgeSpec(source="vote", target=END)]
    return AgentSpec(name="debate", description=f"{agents} agents, {rounds} rounds, majority vote",
                     nodes=nodes, edges=edges, entry="round0",
                     metadata={"agents": agents, "rounds": rounds, "temperature": temperature})


def reflexion(trials: int = 3, evaluator: str = "verifier") -> AgentSpec:
    """Reflexion: attempt, evaluate, reflect, retry up to ``trials`` times (Shinn et al. 2023).

    ``evaluator``: ``verifier`` (the gold check: an oracle upper bound), ``llm`` (self-judged),
    ``visible-tests`` or ``self-tests`` (programs run in the sandbox; for code tasks).
    """
    if trials < 1:
        raise UserError(f"reflexion: trials must be >= 1, got {trials}")
    return AgentSpec(
        name="reflexion", description=f"attempt, evaluate ({evaluator}), reflect, retry (up to {trials} trials)",
        nodes=[NodeSpec(id="attempt", prompt="@reflexion_solve", answer=True)],
        edges=[EdgeSpec(source="attempt", target=END)], entry="attempt", trials=trials, evaluator=evaluator,
        memory=["reflection"], metadata={"trials": trials, "evaluator": evaluator},
    )


def pal(samples: int = 1, temperature: float = 0.7, timeout_s: float = 5.0) -> AgentSpec:
    """Program-aided: write a program, run it in the sandbox, its output is the answer (PAL);
    ``samples`` > 1: vote over the executed outputs."""
    if samples < 1:
        raise UserError(f"pal: samples must be >= 1, got {samples}")
    run = ExecuteSpec(answer_from="stdout", timeout_s=timeout_s)
    write = NodeSpec(id="program", role="programmer", system="@coder", prompt="@pal", samples=samples,
                     temperature=temperature if samples > 1 else None)
    if samples == 1:
        return AgentSpec(name="pal", description="write a program, run it, take its output",
                         nodes=[write, NodeSpec(id="run", kind="execute", source="program", answer=True, execute=run)],
                         edges=[EdgeSpec(source="program", target="run"), EdgeSpec(source="run", target=END)],
                         entry="program", metadata={"samples": 1})
    return AgentSpec(
        name="pal", description=f"{samples} sampled programs, run, majority vote over their outputs",
        nodes=[write, NodeSpec(id="run", kind="execute", source="program", execute=run),
               NodeSpec(id="vote", kind="vote", source="run", system=None)],
        edges=[EdgeSpec(source="program", target="run"), EdgeSpec(source="run", target="vote"),
               EdgeSpec(source="vote", target=END)],
        entry="program", metadata={"samples": samples, "temperature": temperature})


def self_debug(max_iters: int = 3, timeout_s: float = 5.0, repair_temperature: float | None = 0.7) -> AgentSpec:
    """Self-Debug: code, run the visible tests, revise from the execution report (code tasks).

    Repairs are sampled at ``repair_temperature`` (None: the model's own, greedy by default): with
    greedy repairs the 0.5B rewrote the identical program in 66 of 105 repair steps on HumanEval.
    """
    if max_iters < 1:
        raise UserError(f"self-debug: max_iters must be >= 1, got {max_iters}")
    tests = ExecuteSpec(tests="visible", timeout_s=timeout_s)
    return AgentSpec(
        name="self-debug", description=f"code, run visible tests, debug from the report (max {max_iters})",
        nodes=[NodeSpec(id="generate", prompt="@solve", answer=True),
               NodeSpec(id="test", kind="execute", source="generate", execute=tests),
               NodeSpec(id="debug", role="debugger", prompt="@self_debug", answer=True,
                        temperature=repair_temperature),
               NodeSpec(id="retest", kind="execute", source="debug", execute=tests)],
        edges=[EdgeSpec(source="generate", target="test"),
               EdgeSpec(source="test", target=END, when=[Condition(kind="tests_pass", node="test")]),
               EdgeSpec(source="test", target="debug"), EdgeSpec(source="debug", target="retest"),
               EdgeSpec(source="retest", target=END, when=[Condition(kind="tests_pass", node="retest"),
                                                           Condition(kind="visits_at_least", node="debug",
                                                                     value=max_iters)]),
               EdgeSpec(source="retest", target="debug")],
        entry="generate", max_steps=2 * max_iters + 4,
        metadata={"max_iters": max_iters, **({"repair_temperature": repair_temperature}
                                            if repair_temperature is not None else {})})


def critic(max_iters: int = 1, timeout_s: float = 5.0) -> AgentSpec:
    """CRITIC for math: a chain-of-thought answer checked by an executed program; a revision on
    disagreement sees both results (at most ``max_iters`` revisions)."""
    if max_iters < 1:
        raise UserError(f"critic: max_iters must be >= 1, got {max_iters}")
    run = ExecuteSpec(answer_from="stdout", timeout_s=timeout_s)
    agree = Condition(kind="answers_match", node="run", value="solve")
    return AgentSpec(
        name="critic", description=f"chain of thought checked by a program, revise on disagreement (max {max_iters})",
        nodes=[NodeSpec(id="solve", prompt="@solve", answer=True),
               NodeSpec(id="check", role="verifier", system="@coder", prompt="@critic_program"),
               NodeSpec(id="run", kind="execute", source="check", execute=run),
               NodeSpec(id="revise", role="reviser", prompt="@critic_revise", answer=True)],
        edges=[EdgeSpec(source="solve", target="check"), EdgeSpec(source="check", target="run"),
               EdgeSpec(source="run", target=END, when=[agree, Condition(kind="visits_at_least", node="revise",
                                                                         value=max_iters)]),
               EdgeSpec(source="run", target="revise"),
               EdgeSpec(source="revise", target="check")],
        entry="solve", max_steps=3 * max_iters + 6, metadata={"max_iters": max_iters})


def _search_agent(name: str, description: str, **opts) -> AgentSpec:
    search = SearchSpec(**{k: v for k, v in opts.items() if v is not None})
    return AgentSpec(name=name, description=description,
                     nodes=[NodeSpec(id="search", kind="search", prompt="@solve", answer=True, search=search)],
                     edges=[EdgeSpec(source="search", target=END)], entry="search",
                     max_steps=4, metadata={k: v for k, v in opts.items() if v is not None})


def best_of_n(n: int = 4, weighted: bool = False, max_samples: int | None = None,
              max_tokens_budget: int | None = None) -> AgentSpec:
    """Best-of-N: N sampled solutions, the judge picks (``weighted``: PRM-weighted majority vote)."""
    return _search_agent("best-of-n", f"best of {n} by judge score" + (" (weighted vote)" if weighted else ""),
                         method="weighted-vote" if weighted else "best-of-n", n=n, max_samples=max_samples,
                         max_tokens=max_tokens_budget)


def beam_search(beam_width: int = 2, expansions: int = 2, max_steps: int = 8, max_samples: int | None = None,
                max_tokens_budget: int | None = None) -> AgentSpec:
    """Step-level beam search: expand each beam with M sampled next steps, keep the top k by judge score."""
    return _search_agent("beam-search", f"beam search, width {beam_width}, {expansions} expansions",
                         method="beam", beam_width=beam_width, expansions=expansions, max_steps=max_steps,
                         max_samples=max_samples, max_tokens=max_tokens_budget)


def lookahead(beam_width: int = 2, expansions: int = 2, lookahead_steps: int = 1, max_steps: int = 8,
              max_samples: int | None = None, max_tokens_budget: int | None = None) -> AgentSpec:
    """Lookahead search: beam search scoring each candidate step by a greedy rollout ahead."""
    return _search_agent("lookahead", f"lookahead beam search, {lookahead_steps} step rollouts",
                         method="lookahead", beam_width=beam_width, expansions=expansions,
                         lookahead_steps=lookahead_steps, max_steps=max_steps, max_samples=max_samples,
                         max_tokens=max_tokens_budget)


AGENTS: dict[str, Callable[..., AgentSpec]] = {
    "cot": cot,
    "self-consistency": self_consistency,
    "self-refine": self_refine,
    "debate": debate,
    "reflexion": reflexion,
    "pal": pal,
    "self-debug": self_debug,
    "critic": critic,
    "best-of-n": best_of_n,
    "beam-search": beam_search,
    "lookahead": lookahead,
}


def register_agent(name: str, builder: Callable[..., AgentSpec]) -> None:
    """Add a prebuilt agent (a function of keyword options returning an AgentSpec)."""
    AGENTS[name] = builder


def agent_options(name: str) -> dict[str, Any]:
    """The options prebuilt agent ``name`` takes, with their defaults.

    Raises:
        UnknownNameError: ``name`` is not a prebuilt agent (the message lists them).
    """
    if name not in AGENTS:
        raise UnknownNameError("agent", name, AGENTS)
    return {k: p.default for k, p in inspect.signature(AGENTS[name]).parameters.items()}


def build_agent_spec(name: str, **options: Any) -> AgentSpec:
    """The spec of prebuilt agent ``name`` built with ``options`` (None values are skipped).

    Raises:
        UnknownNameError: ``name`` is not a prebuilt agent, or an option it does not take (the
            message lists the valid ones: ``cot`` takes none, so ``--agent cot --agents 5`` fails).
        UserError: an option value out of range.
    """
    accepted = agent_options(name)
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in accepted:
            raise UnknownNameError(f"{name} option", key, accepted)
    return AGENTS[name](**given)
