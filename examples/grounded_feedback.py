"""Grounded feedback: agents that learn from running code, on the embedded local model.

* ``pal`` with 3 samples: the model writes ``solution()`` three times, the sandbox runs each, and
  the printed results vote (failed programs do not vote);
* ``self-debug`` on HumanEval: the function is run against the docstring's examples in the
  sandbox, and a failing example ("returned X, expected Y") goes back to the model;
* ``best-of-n`` judged by execution: no gold answer needed.

    python examples/grounded_feedback.py
"""

from agentforge import LLM, Agent, load_task, make_judge

MODEL = "local/qwen2.5-coder-0.5b-instruct"
gsm8k, humaneval = load_task("gsm8k", limit=2), load_task("humaneval", offset=2, limit=1)

for ex in gsm8k.examples:
    res = Agent("pal", model=MODEL, task=gsm8k, samples=3).run_sync(ex)
    print(f"pal@3 {ex.id}: {res.answer} (gold {ex.gold}), votes {res.votes}, {res.usage.calls} calls")

ex = humaneval.examples[0]
res = Agent("self-debug", model=MODEL, task=humaneval, max_iters=2).run_sync(ex)
print(f"self-debug {ex.id}: hidden tests {'pass' if humaneval.score(res.answer, ex) else 'fail'}, "
      f"{res.usage.calls} calls; the sandbox said:\n{res.metadata.get('execution', {})}")

llm = LLM(model=MODEL)
res = Agent("best-of-n", llm, gsm8k, n=3, judge=make_judge("execution", llm, gsm8k)).run_sync(gsm8k.examples[0])
print(f"best-of-3 by execution: {res.answer} (gold {gsm8k.examples[0].gold}), {res.usage.calls} calls")
