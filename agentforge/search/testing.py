"""Scripted fakes for testing searches without a real model (as ``agentforge.judges.testing``).

* :func:`toy_task`: a task of ``n`` tiny problems (``gold = 2 * i``) with the base answer
  extraction (``Answer: <x>``) and exact-match metric.
* :func:`scripted_model`: one ``FunctionModel`` that answers agent calls with ``solver`` and
  meta-model calls (tagged ``meta:...`` by the search, see ``CallInfo.tag``) with ``meta``, so a
  test can plant a better candidate: e.g. the solver answers correctly only when the system
  prompt holds a magic word, and the meta model proposes that word. Routing is on the tag, not
  on prompt wording, so editing a template cannot break it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentforge.llm import CallInfo, FunctionModel
from agentforge.tasks import Example, Task

def toy_task(n: int = 12, name: str = "toy") -> Task:
    """``n`` problems ``"Toy problem i: what is i + i?"`` with gold ``2 * i`` (ids ``toy-i``)."""
    examples = [Example(id=f"toy-{i}", question=f"Toy problem {i}: what is {i} + {i}?", gold=str(2 * i))
                for i in range(n)]
    return Task(name, examples, instructions="Finish with a line 'Answer: <number>'.")


def is_meta_call(info: CallInfo) -> bool:
    """True when the call is a meta-model call of ``agentforge.search`` (tagged ``meta:...``)."""
    return bool(info.tag) and info.tag.startswith("meta")


def gold_of(task: Task, messages: Sequence[dict]) -> str | None:
    """The gold answer of the task problem quoted last in the last user message (None if none is);
    demonstrations quoted before the problem are passed over."""
    text = str(messages[-1].get("content", ""))
    hits = [ex for ex in task.examples if ex.question in text]
    return max(hits, key=lambda ex: (text.rfind(ex.question), len(ex.question))).gold if hits else None


def planted_solver(task: Task, good: Callable[[Sequence[dict]], bool]) -> Callable[[list[dict], CallInfo], str]:
    """A solver answering ``Answer: <gold>`` when ``good(messages)``, else ``Answer: -1``."""

    def solve(messages: list[dict], info: CallInfo) -> str:
        gold = gold_of(task, messages)
        ok = gold is not None and good(messages)
        return f"Step 1: think.\nAnswer: {gold if ok else -1}"

    return solve


def scripted_model(solver: Callable[[list[dict], CallInfo], str],
                   meta: Callable[[list[dict], CallInfo], str] | Sequence[str],
                   name: str | None = None) -> FunctionModel:
    """A FunctionModel routing meta-model calls to ``meta`` and the rest to ``solver``.

    Args:
        solver: ``(messages, info) -> text`` for agent calls.
        meta: ``(messages, info) -> text``, or a list of replies used in order (the last repeats).
        name: the fake model's name (fixed names keep resume checks stable across objects).
    """
    replies = list(meta) if not callable(meta) else None
    count = {"meta": 0}

    def fn(messages: list[dict], info: CallInfo) -> str:
        if not is_meta_call(info):
            return solver(messages, info)
        i = count["meta"]
        count["meta"] += 1
        if replies is not None:
            return replies[min(i, len(replies) - 1)]
        return meta(messages, info)

    return FunctionModel(fn, name=name)
