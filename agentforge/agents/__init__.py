"""Agents as data: ``AgentSpec`` -> LangGraph; prebuilt agents; test-time search; the unit of work.

``Agent("debate", model="local/qwen2.5-coder-0.5b-instruct").run_sync("question")`` runs a
prebuilt agent; ``run_example`` runs one task example and scores it (the runner and the
meta-search both use it).
"""

from agentforge.agents.episode import Episode, run_example
from agentforge.agents.graph import Agent
from agentforge.agents.memory import AgentMemory
from agentforge.agents.nodes import majority
from agentforge.agents.prebuilt import AGENTS, agent_options, build_agent_spec, register_agent
from agentforge.agents.spec import END, AgentSpec, Condition, EdgeSpec, ExecuteSpec, NodeSpec, SearchSpec
from agentforge.agents.trajectory import AgentResult, LLMCall, usage_of

__all__ = ["Agent", "AgentMemory", "AgentSpec", "NodeSpec", "EdgeSpec", "Condition", "ExecuteSpec", "SearchSpec",
           "END", "AgentResult", "LLMCall", "Episode", "run_example", "AGENTS", "agent_options", "build_agent_spec",
           "register_agent", "majority", "usage_of"]
