"""Learn online into a persistent Chroma memory while streaming GSM8K, then inspect what was learned.

    python examples/memory_learning.py
    agentforge memory stats chroma:///tmp/agentforge-example-memory
"""

import asyncio

from agentforge.agents import build_agent_spec
from agentforge.llm import LLM
from agentforge.memory import open_memory
from agentforge.memory.learning.learner import MemoryLearner
from agentforge.runner import Runner
from agentforge.tasks import load_task

store = open_memory("chroma:///tmp/agentforge-example-memory")
llm = LLM(model="local/qwen2.5-coder-0.5b-instruct", max_tokens=384)
learner = MemoryLearner(store, llm, namespace="gsm8k", learn=["experience", "reflection", "insight"], insight_every=5)
task = load_task("gsm8k", limit=10)
summary = asyncio.run(Runner(task, build_agent_spec("cot"), llm, "/tmp/agentforge-example-run", memory=learner).arun())
print(summary)
print("insights:\n" + (learner.insights.retrieve() or "(none yet)"))
print(f"records: {store.count()} ({store.count(kind='reflection')} reflections)")
