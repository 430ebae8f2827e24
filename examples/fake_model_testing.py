"""Test your agent logic without any model: a plain function is the model.

    python examples/fake_model_testing.py
"""

from agentforge.agents import Agent, build_agent_spec
from agentforge.llm import LLM, FunctionModel
from agentforge.tasks import load_task


def model(messages, info):
    """Debaters disagree in round 0, then converge on 72 after reading each other."""
    if "Your previous answer" in messages[-1]["content"]:
        return "Having read the others: 48 + 24 = 72.\nAnswer: 72"
    return f"Answer: {[72, 70, 72][info.sample_index % 3]}"


fm = FunctionModel(model)
task = load_task("gsm8k", limit=1)
result = Agent(build_agent_spec("debate", agents=3, rounds=1), LLM(model=fm, cache=False), task).run(
    task.examples[0].question, task.examples[0])
print(result.trace())
assert result.answer == "72" and len(fm.calls) == 6
print("ok: 6 calls, answer 72")
