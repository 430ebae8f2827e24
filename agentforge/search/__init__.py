"""Meta-search over agents: prompt, module and system level, budgeted and resumable.

One contract, as DSPy's ``compile``::

    from agentforge.search import Budget, PromptOptimizer

    opt = PromptOptimizer(task, llm, store="runs/search/store.sqlite")
    result = opt.optimize(build_agent_spec("cot"), trainset, valset, Budget(max_calls=600))
    result.best_spec, result.archive, result.history

* :class:`PromptOptimizer`: OPRO proposals, reflective mutation from failures, bootstrapped
  few-shot demonstrations.
* :class:`ModuleOptimizer`: AgentSquare's slots (reasoning, refinement, ensembling, memory).
* :class:`SystemOptimizer`: ADAS / AFlow: the meta model writes new AgentSpec graphs (validated
  JSON, never executed code).

Underneath: :class:`Evaluator` (bounded concurrency, run store, bootstrap intervals),
:class:`RunStore` (SQLite), :class:`Budget` (calls, tokens, USD, wall time; hard stops),
backends (local asyncio, Ray), and :func:`write_outputs` (summary, plots, HTML report).
"""

from __future__ import annotations

from typing import Any

from agentforge.core.errors import BudgetExceeded, UnknownNameError
from agentforge.core.stats import bootstrap_ci
from agentforge.search import report
from agentforge.search.backends import LocalBackend, RayBackend, make_backend
from agentforge.search.base import Optimizer
from agentforge.search.budget import Budget, BudgetMeter, MeteredLLM
from agentforge.search.evaluator import EvalResult, Evaluator, ExampleResult, Objective, default_memory_factory
from agentforge.search.gepa import GEPAOptimizer
from agentforge.search.module_opt import ModuleOptimizer
from agentforge.search.modules import ModuleOptions, build_module_spec
from agentforge.search.prompt_opt import PromptOptimizer
from agentforge.search.result import Archive, Candidate, HistoryEvent, SearchResult
from agentforge.search.store import RunStore
from agentforge.search.system_opt import SystemOptimizer

LEVELS: dict[str, type[Optimizer]] = {"prompt": PromptOptimizer, "module": ModuleOptimizer, "system": SystemOptimizer,
                                      "gepa": GEPAOptimizer}
"""Search level name -> optimizer class."""


def make_optimizer(level: str, task: Any, llm: Any, **options: Any) -> Optimizer:
    """The optimizer of ``level`` (``prompt``, ``module``, ``system`` or ``gepa``) with ``options``.

    Raises:
        UnknownNameError: an unknown level (lists the valid ones).
    """
    if level not in LEVELS:
        raise UnknownNameError("search level", level, LEVELS)
    return LEVELS[level](task, llm, **options)


def write_outputs(result: SearchResult, out: Any, plots: bool = True) -> dict[str, Any]:
    """Write summary.json, best.json, archive.json, history.json, plots and report.html to ``out``."""
    return report.write_outputs(result, out, plots=plots)


__all__ = ["Archive", "Budget", "BudgetExceeded", "BudgetMeter", "Candidate", "EvalResult", "Evaluator",
           "ExampleResult", "GEPAOptimizer", "HistoryEvent", "LEVELS", "LocalBackend", "MeteredLLM", "ModuleOptimizer",
           "ModuleOptions", "Objective", "Optimizer", "PromptOptimizer", "RayBackend", "RunStore", "SearchResult",
           "SystemOptimizer", "bootstrap_ci", "build_module_spec", "default_memory_factory", "make_backend",
           "make_optimizer", "write_outputs"]
