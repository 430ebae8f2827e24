"""The run folder's records besides the results: reading them safely, and the call journal.

``OUT/calls.jsonl`` is the call journal: every model call that finishes inside an example's
attempt (the agent's calls, the judge calls inside it, the memory learner's calls while it
learns from the example) is appended as it finishes, flushed, so a kill loses none that
returned. Lines (JSON objects):

* ``{"id": EXAMPLE_ID, "attempt": TOKEN}``: an attempt at an example started (``id`` is null
  for the memory learner's final flush, which belongs to no example).
* ``{"id": ..., "attempt": ..., "calling": true}``: a call of that attempt is about to be made.
* ``{"id": ..., "attempt": ..., "usage": USAGE}``: one finished call of that attempt
  (``USAGE`` as ``agentforge.llm.types.Usage``; ``calls`` is 1).
* ``{"id": ..., "attempt": ..., "failed": true}``: a call that raised (nothing returned, so no
  usage to charge).
* ``{"carried_learning": USAGE}``: learning calls reported by a run made before the journal
  existed (written once, when such a folder is first resumed).

A resumed run reads it back (``account``): the calls of attempts whose result line is in
``results.jsonl`` are the row's own usage plus what the learner spent on that example; every
other attempt's finished calls (killed in flight, or whose errored line was dropped to be run
again) are *orphaned*: paid for, not in any row. Calls that were started but never finished
(the process died while the model was answering) are counted apart as *unfinished*: a
provider may have billed them, but no usage ever reached the process (a call whose answer was
billed in the instant before a kill, but not yet seen by the client, can only be counted
there). A torn last line is ignored.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, NamedTuple

from agentforge.core.errors import UserError
from agentforge.core.files import JsonlAppender, read_jsonl
from agentforge.llm.types import Usage

JOURNAL = "calls.jsonl"
_FIELDS = ("calls", "cached_calls", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s")


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Read ``results.jsonl`` (one JSON object per example), dropping a torn last line.

    The file is read as bytes and decoded line by line, so a last line cut inside a multi-byte
    UTF-8 character is dropped like any torn line.

    Raises:
        DataFormatError (a ``UserError``): a corrupt line that is not the last one (the file was
            edited or damaged); the message names the file and line. Nothing is rewritten.
    """
    return read_jsonl(path, what="result line").rows


def read_record(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object file of the run folder (``run.json``, ``summary.json``).

    Raises:
        UserError: the file is not valid UTF-8 JSON holding an object; the message names the
            file, what is wrong and the way out (move it away, or use another --out).
    """
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
        problem = None if isinstance(obj, dict) else f"holds a JSON {type(obj).__name__}, not an object"
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"is not valid JSON ({exc})"
    if problem:
        raise UserError(f"{path}: corrupt {what}: it {problem}; move it away (it is rebuilt) or use another --out")
    return obj


def usage_minus(a: Usage, b: Usage) -> Usage:
    """``a - b`` field by field (what an attempt spent beyond its row's usage)."""
    return Usage(**{f: getattr(a, f) - getattr(b, f) for f in _FIELDS})


class Accounts(NamedTuple):
    """What the journal says about calls outside the kept rows (see ``account``).

    Attributes:
        learning: what kept attempts spent beyond their rows' usage (the memory learner's
            calls), plus the learner's final flushes and any carried figure.
        orphaned: every finished call of an attempt without a kept row.
        unfinished: calls of such attempts that started and never finished (in flight at a kill).
    """

    learning: Usage
    orphaned: Usage
    unfinished: int


def account(journal: list[dict[str, Any]], kept: list[dict[str, Any]]) -> Accounts:
    """Split the journal's calls into learning, orphaned and unfinished (see ``Accounts``).

    Args:
        journal: the journal's lines (``read_jsonl(OUT/calls.jsonl).rows``), all written by
            runs that have ended.
        kept: the result rows kept (no error); an example's kept row belongs to its last attempt.
    """
    rows = {r["id"]: r for r in kept}
    last: dict[Any, str] = {}
    spent: dict[tuple[Any, str], Usage] = {}
    open_calls: dict[tuple[Any, str], int] = {}
    learning, orphaned = Usage(), Usage()
    for line in journal:
        key = (line.get("id"), str(line.get("attempt")))
        if "carried_learning" in line:
            learning = learning + Usage.model_validate(line["carried_learning"])
        elif "usage" in line:
            spent[key] = spent.get(key, Usage()) + Usage.model_validate(line["usage"])
            open_calls[key] = open_calls.get(key, 0) - 1
        elif line.get("failed"):
            open_calls[key] = open_calls.get(key, 0) - 1
        elif line.get("calling"):
            open_calls[key] = open_calls.get(key, 0) + 1
        elif "attempt" in line:
            last[line.get("id")] = str(line["attempt"])

    def kept_attempt(key: tuple[Any, str]) -> bool:
        return key[0] in rows and last.get(key[0]) == key[1]

    for key, used in spent.items():
        if key[0] is None:  # the learner's final flush
            learning = learning + used
        elif kept_attempt(key):
            learning = learning + usage_minus(used, Usage.model_validate(rows[key[0]].get("usage") or {}))
        else:
            orphaned = orphaned + used
    unfinished = sum(max(0, n) for key, n in open_calls.items() if not kept_attempt(key))
    return Accounts(learning, orphaned, unfinished)


class Attempt:
    """The call observer of one attempt (``observe_calls(journal.attempt(id))``).

    Attributes:
        example_id: the example (None for the learner's final flush).
        token: the attempt's unique token.
        usage: the total of the calls it saw finish.
    """

    def __init__(self, journal: CallJournal, example_id: str | None):
        self.journal, self.example_id = journal, example_id
        self.token = secrets.token_hex(6)
        self.usage = Usage()
        journal.log.append({"id": example_id, "attempt": self.token})

    def before_call(self) -> None:
        """Journal that a call is about to be made (never refuses it)."""
        self.journal.log.append({"id": self.example_id, "attempt": self.token, "calling": True})

    def after_call(self, usage: Usage | None) -> None:
        """Journal a finished call with its usage, or a failed one (no usage to charge)."""
        if usage is None:
            self.journal.log.append({"id": self.example_id, "attempt": self.token, "failed": True})
            return
        self.usage = self.usage + usage
        self.journal.log.append({"id": self.example_id, "attempt": self.token, "usage": usage.model_dump()})


class CallJournal:
    """Appends to ``OUT/calls.jsonl`` (see the module docstring); close it when the run ends.

    Args:
        folder: the run folder.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / JOURNAL
        self.log = JsonlAppender(self.path)

    def read(self) -> list[dict[str, Any]]:
        """The journal's lines so far (a torn last line ignored)."""
        return read_jsonl(self.path, what="call journal line").rows

    def attempt(self, example_id: str | None) -> Attempt:
        """Start an attempt at ``example_id``: returns its call observer."""
        return Attempt(self, example_id)

    def carry(self, learning: Usage) -> None:
        """Record learning calls a pre-journal run reported (its ``summary.json``)."""
        self.log.append({"carried_learning": learning.model_dump()})

    def close(self) -> None:
        """Close the file."""
        self.log.close()
