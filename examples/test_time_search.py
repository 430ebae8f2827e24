"""Best-of-N and beam search guided by a judge: an LLM step grader by default.

    python examples/test_time_search.py
    (with a PRM folder: agentforge run --agent beam-search --judge prm:/path/to/prm --limit 10)
"""

from agentforge import LLM, Agent, load_task, make_judge

llm = LLM(model="local/qwen2.5-coder-0.5b-instruct", max_tokens=384)
task = load_task("gsm8k", limit=2)
for name, opts in (("best-of-n", {"n": 4, "weighted": True}), ("beam-search", {"beam_width": 2, "expansions": 2})):
    agent = Agent(name, llm, task, judge=make_judge("llm", llm, task), **opts)
    for ex in task.examples:
        res = agent.run_sync(ex)
        print(f"{name} {ex.id}: {res.answer} (gold {ex.gold}), {res.usage.calls} calls")
