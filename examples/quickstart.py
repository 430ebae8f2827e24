"""Quick start: a 3-agent debate on three GSM8K questions with the embedded local model.

    python examples/quickstart.py            # pulls qwen2.5-coder-0.5b-instruct on first use
"""

from agentforge import Agent, load_task

task = load_task("gsm8k", limit=3)
agent = Agent("debate", model="local/qwen2.5-coder-0.5b-instruct", task=task, agents=3, rounds=1)
for ex in task.examples:
    result = agent.run_sync(ex)
    print(f"{ex.id}: predicted {result.answer} (gold {ex.gold}) votes={result.votes} "
          f"calls={result.usage.calls} tokens={result.usage.total_tokens} {result.wall_s:.0f}s")
