"""Agents as data: ``AgentSpec`` -> LangGraph, prebuilt cot, self-consistency, self-refine, debate."""

from agentforge.agents.graph import Agent, majority
from agentforge.agents.prebuilt import AGENTS, build_agent_spec, register_agent
from agentforge.agents.spec import END, AgentSpec, Condition, EdgeSpec, NodeSpec
from agentforge.agents.trajectory import AgentResult, LLMCall

__all__ = ["Agent", "AgentSpec", "NodeSpec", "EdgeSpec", "Condition", "END", "AgentResult", "LLMCall",
           "AGENTS", "build_agent_spec", "register_agent", "majority"]
