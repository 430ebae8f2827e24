"""Shared fixtures: unit tests may only call scripted fake models (pydantic-ai style guard)."""

from __future__ import annotations

import pytest

import agentforge.llm.client as client
from agentforge.tasks.base import Task


@pytest.fixture(autouse=True)
def _forbid_real_models(request):
    """Forbid real model calls except in tests marked ``integration``."""
    allowed = request.node.get_closest_marker("integration") is not None
    old = client.ALLOW_MODEL_REQUESTS
    client.ALLOW_MODEL_REQUESTS = allowed
    yield
    client.ALLOW_MODEL_REQUESTS = old


class AnswerTask(Task):
    """A minimal answer format for agent tests: answers are 'Answer: X' lines."""

    def __init__(self):
        super().__init__("toy", [], instructions="Finish with 'Answer: <x>'.")

    def extract(self, text, example=None):
        import re

        m = re.findall(r"Answer:\s*(\S+)", text)
        return m[-1].strip(".") if m else None

    def normalize(self, answer, example=None):
        return answer.strip()


@pytest.fixture
def toy_task():
    return AnswerTask()


@pytest.fixture(scope="module")
def gsm8k():
    """The first 3 GSM8K train questions."""
    from agentforge.tasks import load_task

    return load_task("gsm8k", limit=3)


@pytest.fixture(scope="module")
def humaneval():
    """The first 3 HumanEval problems."""
    from agentforge.tasks import load_task

    return load_task("humaneval", limit=3)
