"""Learning into a memory store: experiential (ExpeL exemplars), reflective (Reflexion
self-reflections) and concept (ExpeL insights) learning, and ``MemoryLearner``, the
``AgentMemory`` an agent run uses (retrieve before an episode, learn after it).

It uses the model layer and the storage contract (``agentforge.memory``); it knows nothing of
agents beyond the result object it is handed.
"""

from agentforge.memory.learning.experience import ExperientialMemory
from agentforge.memory.learning.insights import InsightMemory
from agentforge.memory.learning.learner import LEARN_KINDS, MemoryLearner
from agentforge.memory.learning.reflection import ReflectiveMemory

__all__ = ["ExperientialMemory", "InsightMemory", "LEARN_KINDS", "MemoryLearner", "ReflectiveMemory"]
