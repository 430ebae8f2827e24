"""Experiential, reflective and concept learning, and Reflexion, on the fake model."""

from __future__ import annotations

import asyncio

import pytest

from agentforge.agents import Agent, build_agent_spec
from agentforge.agents.trajectory import AgentResult
from agentforge.core.errors import UnknownNameError
from agentforge.llm import LLM, FunctionModel
from agentforge.memory import HashEmbedder, InMemoryMemory
from agentforge.memory.learning.experience import ExperientialMemory
from agentforge.memory.hygiene import compact
from agentforge.memory.learning.insights import InsightMemory, parse_operations
from agentforge.memory.learning.learner import MemoryLearner
from agentforge.memory.records import MemoryRecord
from agentforge.runner import Runner
from agentforge.tasks import load_task


@pytest.fixture
def store():
    return InMemoryMemory(embedder=HashEmbedder(256))


def test_experience_recall_successes_as_exemplars_and_failures_as_warnings(store):
    mem = ExperientialMemory(store, "gsm8k", k=1, failures=1)
    mem.record("e1", "How many apples does Tom have after buying 3 apples?", "3+2=5", "5", True)
    mem.record("e2", "How many apples does Ann have after eating 2 apples?", "wrong math", "9", False)
    mem.record("e3", "What is the speed of a train in km per hour?", "60", "60", True)
    text = mem.retrieve("How many apples does Bob have after buying 4 apples?")
    assert text.index("Solved similar problem") < text.index("WRONGLY (answer 9)")
    assert "Tom" in text and "train" not in text
    # the current episode never recalls itself
    assert "Tom" not in mem.retrieve("How many apples does Tom have after buying 3 apples?", exclude_episode="e1")


def test_parse_operations_skips_malformed_lines():
    ops, skipped = parse_operations(
        "ADD: Always convert units before adding quantities.\n"
        "1. UPVOTE 2\n"
        "EDIT 9: out of range rule text\n"
        "DOWNVOTE\n"
        "I think the rules are fine\n"
        "- EDIT 1: Check every arithmetic step twice before answering.", n_rules=2)
    assert [(o.op, o.index) for o in ops] == [("ADD", None), ("UPVOTE", 2), ("EDIT", 1)]
    reasons = [r for _, r in skipped]
    assert len(skipped) == 3 and any("between 1 and 2" in r for r in reasons) and "not an operation" in reasons


def test_parse_operations_skips_copied_format_placeholders():
    # what the 0.5B model wrote when asked for operations: the format's own slots
    ops, skipped = parse_operations(
        "ADD: <new general rule>\n"
        "EDIT 1: Improve rule text\n"
        "EDIT 1: <improved rule text>\n"
        "ADD: Add a new general rule.\n"
        "ADD: Write down each intermediate quantity with its unit.", n_rules=1)
    assert [(o.op, o.text) for o in ops] == [("ADD", "Write down each intermediate quantity with its unit.")]
    assert len(skipped) == 4 and all("placeholder" in r for _, r in skipped)


def test_insight_update_skips_rules_that_only_restate_the_prompt(store):
    mem = InsightMemory(store, LLM(model=lambda m, i: "", cache=False), "gsm8k")
    report = mem.apply("ADD: Add a general rule to solve gsm8k problems.\n"
                       "ADD: Solve gsm8k problems step by step, checking units.", ["x1"])
    assert [r.text for r in mem.current()] == ["Solve gsm8k problems step by step, checking units."]
    assert [reason for _, reason in report.skipped] == ["ADD only restates the prompt (a copied placeholder), not a rule"]


def test_insight_operations_votes_dedup_retirement_and_provenance(store):
    mem = InsightMemory(store, LLM(model=lambda m, i: "", cache=False), "gsm8k", max_insights=3, merge_threshold=0.9)
    mem.apply("ADD: Convert all quantities to the same unit first.\nADD: Re-check each multiplication step.", ["x1"])
    assert [r.text for r in mem.current()] == ["Convert all quantities to the same unit first.",
                                               "Re-check each multiplication step."]
    mem.apply("ADD: convert all quantities to the same unit first.", ["x2"])  # near-duplicate: upvote
    top = mem.current()[0]
    assert store.count(kind="insight") == 2 and top.votes == 2 and top.provenance == ["x1", "x2"]
    rep = mem.apply("DOWNVOTE 2\nDOWNVOTE 2", ["x3"])  # votes 1 -> -1: retired
    assert len(rep.retired) == 1 and store.count(kind="insight") == 1
    mem.apply("EDIT 1: Convert every quantity to one unit before any arithmetic.", ["x4"])
    rec = mem.current()[0]
    assert rec.text.startswith("Convert every quantity") and rec.votes == 2 and "x4" in rec.provenance
    mem.apply("ADD: Rule alpha about fractions and ratios.\nADD: Rule beta about percentages growth.\n"
              "ADD: Rule gamma about time and rates.", ["x5"])
    assert store.count(kind="insight") == 3  # bounded
    assert "retrieve" and mem.retrieve().startswith("1. Convert every quantity")


def test_reflexion_retries_with_reflection_until_correct(toy_task):
    from agentforge.tasks import Example

    Ex = lambda: Example(id="q1", question="8-3?", gold="5")  # noqa: E731

    def fn(m, i):
        content = m[-1]["content"]
        if "judged wrong" in content:
            return "I added instead of subtracting. Next time subtract."
        return "Answer: 5" if "subtract" in content else "Answer: 9"

    fm = FunctionModel(fn)
    res = Agent(build_agent_spec("reflexion", trials=3), LLM(model=fm, cache=False), toy_task).run("8-3?", Ex())
    assert res.answer == "5"
    assert res.metadata["trials"] == [{"trial": 1, "answer": "9", "correct": False},
                                      {"trial": 2, "answer": "5", "correct": True}]
    assert [c.node for c in res.trajectory] == ["attempt", "reflect", "attempt"]
    assert "Next time subtract" in fm.calls[2][0][-1]["content"]
    assert res.metadata["reflections"] == ["I added instead of subtracting. Next time subtract."]


def test_reflexion_with_llm_evaluator_needs_no_gold(toy_task):
    spec = build_agent_spec("reflexion", trials=2).model_copy(update={"evaluator": "llm"})

    def fn(m, i):
        content = m[-1]["content"]
        if "CORRECT or INCORRECT" in content:
            return "Looks right.\nCORRECT"
        return "Answer: 7"

    res = Agent(spec, LLM(model=fn, cache=False), toy_task).run("3+4?")
    assert res.metadata["trials"] == [{"trial": 1, "answer": "7", "correct": True}]
    assert [c.role for c in res.trajectory] == ["solver", "evaluator"]


def _result(text, answer):
    return AgentResult(answer=answer, text=text)


def test_learner_writes_are_idempotent_and_insights_update_every_n(store):
    calls = []

    def fn(m, i):
        calls.append(m[-1]["content"])
        if "Propose at most" in m[-1]["content"]:
            return "ADD: Write the equation before computing.\nnonsense line"
        return "I misread the question."

    learner = MemoryLearner(store, LLM(model=fn, cache=False), "gsm8k", insight_every=2)

    class Ex:
        def __init__(self, i):
            self.id = f"ex{i}"

    asyncio.run(learner.aafter_episode("q one about apples", Ex(1), _result("sol 1 Answer: 3", "3"), True))
    ids = asyncio.run(learner.aafter_episode("q two about pears", Ex(2), _result("sol 2 Answer: 4", "4"), False))
    assert store.count(kind="experience") == 2 and store.count(kind="reflection") == 1
    assert store.count(kind="insight") == 1
    ins = store.list(kind="insight")[0]
    exp_ids = {r.id for r in store.list(kind="experience")}
    assert set(ins.provenance) == exp_ids  # provenance: the episodes it came from
    refl = store.list(kind="reflection")[0]
    assert refl.provenance and refl.provenance[0] in exp_ids
    # re-running the same episode (e.g. after kill -9) does not duplicate anything
    again = asyncio.run(learner.aafter_episode("q two about pears", Ex(2), _result("sol 2 Answer: 4", "4"), False))
    assert set(again) == set(ids) - {r.id for r in store.list(kind="insight")}
    assert store.count(kind="experience") == 2 and store.count(kind="reflection") == 1
    text = learner.retrieve("q three about apples and pears", Ex(3))
    assert "General rules learned so far:\n1. Write the equation" in text and "Lessons from earlier mistakes" in text


def test_learner_survives_model_failure_and_rejects_unknown_kind(store):
    def broken(m, i):
        raise RuntimeError("down")

    learner = MemoryLearner(store, LLM(model=broken, cache=False, retries=0), "gsm8k", learn=["reflection"])
    assert asyncio.run(learner.aafter_episode("q", None, _result("x", "1"), False)) == []
    with pytest.raises(UnknownNameError):
        MemoryLearner(store, LLM(model=broken, cache=False), "gsm8k", learn=["skills"])


def test_compact_merges_duplicates_and_prunes_retired(store):
    store.add([MemoryRecord(kind="insight", namespace="n", text="Check units carefully", votes=2),
               MemoryRecord(kind="insight", namespace="n", text="check units carefully", votes=1),
               MemoryRecord(kind="insight", namespace="n", text="Bad rule about nothing", votes=-1),
               MemoryRecord(kind="experience", namespace="n", text="same text", score=1.0),
               MemoryRecord(kind="experience", namespace="n", text="same text", score=0.0)])
    report = compact(store, threshold=0.95)
    assert report == {"merged": 1, "pruned": 1}
    ins = store.list(kind="insight")
    assert len(ins) == 1 and ins[0].votes == 3 and len(ins[0].provenance) == 1
    assert store.count(kind="experience") == 2  # success never folded into a failure


def test_runner_learns_online_and_memory_reaches_prompts(store):
    task = load_task("gsm8k", limit=3)
    golds = {e.question: e.gold for e in task.examples}
    prompts = []

    def fn(m, i):
        prompts.append(m[-1]["content"])
        current = m[-1]["content"].rsplit("Question: ", 1)[-1]  # memory exemplars come before it
        q = next((q for q in golds if q in current), None)
        return f"Answer: {golds[q]}" if q else "ok"

    llm = LLM(model=fn, cache=False)
    learner = MemoryLearner(store, llm, "gsm8k", learn=["experience"])
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        summary = Runner(task, build_agent_spec("cot"), llm, out, memory=learner).run()
    assert summary["accuracy"] == 1.0 and store.count(kind="experience") == 3
    assert "Notes from earlier, similar problems" not in prompts[0]
    assert "Solved similar problem" in prompts[-1]


def test_runner_flushes_pending_insight_episodes_at_the_end(store):
    task = load_task("gsm8k", limit=3)
    asked = []

    def fn(m, i):
        if "Propose at most" in m[-1]["content"]:
            asked.append(m[-1]["content"])
            return "ADD: Read the question twice before computing."
        return "Answer: 1"

    llm = LLM(model=fn, cache=False)
    learner = MemoryLearner(store, llm, "gsm8k", learn=["insight"], insight_every=10)
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        Runner(task, build_agent_spec("cot"), llm, out, memory=learner).run()
    assert len(asked) == 1 and asked[0].count("[FAILURE]") == 3
    assert [r.text for r in store.list(kind="insight")] == ["Read the question twice before computing."]


def test_runner_reports_learning_calls_apart_and_keeps_them_on_resume(store, tmp_path):
    task = load_task("gsm8k", limit=3)

    def fn(m, i):
        if "Propose at most" in m[-1]["content"]:
            return "ADD: Read the question twice before computing."
        return "Answer: -1"  # always wrong: every episode gets a self-reflection

    llm = LLM(model=fn, cache=False)
    learner = MemoryLearner(store, llm, "gsm8k", learn=["reflection", "insight"], insight_every=2)
    summary = Runner(task, build_agent_spec("cot"), llm, tmp_path, memory=learner).run()
    # 3 agent calls; learning: 3 reflections + an insight update after 2 episodes + the final flush
    assert summary["llm_calls"] == 3 and summary["learning_usage"]["calls"] == 5
    again = Runner(task, build_agent_spec("cot"), llm, tmp_path,
                   memory=MemoryLearner(store, llm, "gsm8k", learn=["reflection", "insight"])).run()
    assert again["llm_calls"] == 3 and again["learning_usage"]["calls"] == 5


def test_experiences_keep_what_the_sandbox_reported(store):
    from agentforge.agents import Agent
    from agentforge.memory.learning import MemoryLearner
    from agentforge.tasks import Example, load_task

    task = load_task("gsm8k", limit=1)
    fm = FunctionModel(lambda m, i: "```python\ndef solution():\n    return 1 / 0\n```")
    llm = LLM(model=fm)
    learner = MemoryLearner(store, llm, namespace="gsm8k", learn=["experience"])
    ex = Example(id="q1", question="What is 2 + 2?", gold="4")
    res = Agent("pal", llm, task, memory=learner).run_sync(ex)
    ids = asyncio.run(learner.aafter_episode(ex.question, ex, res, False))
    rec = store.get(ids[0])
    assert "ZeroDivisionError" in rec.metadata["execution"] and rec.score == 0.0
    assert "Running its program showed" in learner.experience.retrieve("What is 2 + 3?")
