"""The meta model: the LLM that proposes candidates, and its prompt templates.

Meta prompts are data: Jinja files in ``agentforge/prompts/meta`` rendered in the same sandbox
as agent prompts. Every meta-model call is recorded in the run store under a hash of its request
(model, messages, sample index, sampling options), so a resumed search replays the proposals it
already paid for instead of asking again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agentforge.core.templates import render, template_source
from agentforge.llm import LLM
from agentforge.llm.types import Message, Usage
from agentforge.search.budget import BudgetMeter, MeteredLLM
from agentforge.search.store import RunStore

def meta_template(name: str) -> str:
    """The source of the meta prompt ``@meta/<name>`` (``agentforge/prompts/meta/<name>.j2``).

    Raises:
        UnknownNameError: no such template (lists the bundled ones).
    """
    return template_source(f"@meta/{name}")


def render_meta(name: str, **context: Any) -> str:
    """Render the meta prompt ``@meta/<name>`` against ``context`` (sandboxed, strict undefined)."""
    return render(f"@meta/{name}", context)


class MetaModel:
    """Proposal calls with replay from the run store.

    Args:
        llm: the meta model's configuration (wrapped so its calls are metered).
        store: the run store recording calls.
        meter: the budget meter the calls are charged to.
        temperature: sampling temperature of proposals (default 0.7; None keeps the LLM's).
        max_tokens: completion cap of proposals (None keeps the LLM's).
    """

    def __init__(self, llm: LLM, store: RunStore, meter: BudgetMeter, temperature: float | None = 0.7,
                 max_tokens: int | None = None):
        self.llm = MeteredLLM.wrap(llm, meter)
        self.store, self.meter = store, meter
        self.overrides = {k: v for k, v in (("temperature", temperature), ("max_tokens", max_tokens)) if v is not None}
        self.calls = 0
        self.replayed = 0
        self._seen: set[str] = set()

    @property
    def model(self) -> str:
        """The meta model's id."""
        return self.llm.model

    def key(self, messages: list[Message], sample_index: int, response_format: dict | None = None) -> str:
        """The request hash a call is recorded under."""
        options = {**self.overrides, **({"response_format": response_format} if response_format else {})}
        blob = json.dumps({"model": self.llm.model, "messages": messages, "sample": sample_index,
                           "options": options}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def ask(self, messages: list[Message], *, tag: str, sample_index: int = 0,
                  response_format: dict | None = None) -> str:
        """The meta model's reply to ``messages`` (replayed when recorded).

        ``response_format`` (OpenAI's form, e.g. a JSON schema) constrains the reply where the
        provider supports it; it is part of the recorded request.

        Raises:
            BudgetExceeded: the budget is exhausted.
            ModelCallError: the model failed (nothing is recorded; a resume asks again).
        """
        key = self.key(messages, sample_index, response_format)
        rec = self.store.get_call(key)
        if rec is not None:
            if key not in self._seen:  # paid in an earlier session: charge it once
                self.meter.replay(Usage.model_validate(rec["usage"]))
                self.replayed += 1
                self._seen.add(key)
            return rec["text"]
        fmt = {"response_format": response_format} if response_format else {}
        comp = await self.llm.acomplete(messages, sample_index=sample_index, tag=f"meta:{tag}", **self.overrides,
                                        **fmt)
        self.store.put_call(key, tag, {"text": comp.text, "usage": comp.usage.model_dump()})
        self._seen.add(key)
        self.calls += 1
        return comp.text
