"""Quick start: a 3-agent debate on three GSM8K questions with the embedded local model.

    python examples/quickstart.py            # pulls qwen2.5-coder-0.5b-instruct on first use
"""

from agentforge.agents import Agent, build_agent_spec
from agentforge.llm import LLM
from agentforge.llm.models import pull
from agentforge.tasks import load_task

MODEL = "qwen2.5-coder-0.5b-instruct"
pull(MODEL)  # no-op when already there
task = load_task("gsm8k", limit=3)
agent = Agent(build_agent_spec("debate", agents=3, rounds=1), LLM(model=f"local/{MODEL}", max_tokens=384), task)
for ex in task.examples:
    result = agent.run(ex.question, ex)
    print(f"{ex.id}: predicted {result.answer} (gold {ex.gold}) votes={result.votes} "
          f"calls={result.usage.calls} tokens={result.usage.total_tokens} {result.wall_s:.0f}s")
