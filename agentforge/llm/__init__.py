"""Model access: ``LLM`` (litellm underneath), the embedded ``local/`` provider, the scripted
``fake/`` provider for tests, the completion cache and usage accounting."""

from agentforge.llm.client import LLM, model_requests_allowed
from agentforge.llm.fake import CallInfo, FunctionModel
from agentforge.llm.types import Completion, Message, Usage

__all__ = ["LLM", "Completion", "Message", "Usage", "FunctionModel", "CallInfo", "model_requests_allowed"]
