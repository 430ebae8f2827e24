"""An agent is data: write a new AgentSpec (plan, solve, self-check loop), save it as JSON, run it.

    python examples/custom_agent_spec.py                 # runs on the embedded 0.5B model
    agentforge run --agent-spec plan_solve_check.json --limit 5
"""

from agentforge.agents import END, Agent, AgentSpec, Condition, EdgeSpec, NodeSpec
from agentforge.llm import LLM
from agentforge.tasks import load_task

spec = AgentSpec(
    name="plan-solve-check",
    description="plan first, solve following the plan, re-solve once if a checker objects",
    nodes=[
        NodeSpec(id="plan", role="planner",
                 prompt="Question: {{ question }}\n\nWrite a short numbered plan to solve it. Do not solve it yet."),
        NodeSpec(id="solve", prompt="Question: {{ question }}\n\nPlan:\n{{ last.plan }}\n\nFollow the plan.\n{{ instructions }}",
                 answer=True),
        NodeSpec(id="check", role="critic", prompt="@feedback"),
        NodeSpec(id="fix", prompt="@refine", answer=True),
    ],
    edges=[
        EdgeSpec(source="plan", target="solve"),
        EdgeSpec(source="solve", target="check"),
        EdgeSpec(source="check", target=END, when=[Condition(kind="contains", node="check", value="STOP")]),
        EdgeSpec(source="check", target="fix"),
        EdgeSpec(source="fix", target=END),
    ],
    entry="plan",
)
spec.save("plan_solve_check.json")
print(f"saved plan_solve_check.json (spec hash {spec.hash()})")

task = load_task("gsm8k", limit=2)
agent = Agent(AgentSpec.load("plan_solve_check.json"), LLM(model="local/qwen2.5-coder-0.5b-instruct", max_tokens=384), task)
for ex in task.examples:
    res = agent.run_sync(ex)
    print(res.trace())
    print(f"gold: {ex.gold}\n")
