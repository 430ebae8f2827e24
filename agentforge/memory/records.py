"""What a memory store holds: :class:`MemoryRecord`, and what a search returns: :class:`SearchHit`.

A record is one piece of text an agent may recall later, with enough bookkeeping for the
learning layer (which records a reflection came from, how well the attempt scored, how often
a recalled insight helped). Records are plain pydantic data: they serialize to one JSON line
each (``record.model_dump_json()``), which is also the export format of every store.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

RecordKind = Literal["experience", "reflection", "insight"]
"""The three kinds of memory: raw attempts, self-critiques of attempts, distilled rules."""

RECORD_KINDS: tuple[str, ...] = ("experience", "reflection", "insight")

MetadataValue = Union[str, bool, int, float, list[Any], dict[str, Any]]
"""A metadata value. Scalars (str, bool, int, float) can be filtered on in ``search(where=...)``;
lists and dicts are stored (as JSON strings in Chroma) and come back unchanged, but cannot be
filtered on."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MemoryRecord(BaseModel):
    """One remembered item.

    Attributes:
        id: unique id within a store; default a random ``uuid4().hex``. Any non-empty string
            works (backends that need UUID keys, like Qdrant, derive one from it).
        kind: ``"experience"`` (an attempt and its outcome), ``"reflection"`` (a critique of
            one or more attempts) or ``"insight"`` (a rule distilled from many).
        namespace: the task family the memory belongs to, e.g. ``"gsm8k"``; default
            ``"default"``. Searches are usually restricted to one namespace.
        text: what gets embedded and recalled; must contain a non-whitespace character.
        metadata: free-form ``str -> str | int | float | bool`` (also lists/dicts, which are
            stored but not filterable). Keys must be non-empty strings.
        created_at: creation time, timezone-aware UTC (naive datetimes are taken as UTC).
        provenance: ids of the records this one was derived from (e.g. the experiences a
            reflection critiques).
        score: outcome of the attempt (e.g. 1.0 correct, 0.0 wrong, or a judge's score), or None.
        votes: net count of times this memory helped (+) or hurt (-) when recalled.

    Raises:
        pydantic.ValidationError: (a ``ValueError``) for empty/whitespace-only text, an
            unknown kind, an empty id or namespace, or a metadata value that is not JSON data.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    kind: RecordKind = "experience"
    namespace: str = Field(default="default", min_length=1)
    text: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=_utcnow)
    provenance: list[str] = Field(default_factory=list)
    score: float | None = None
    votes: int = 0

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("memory text is empty or whitespace only; a record needs text to embed")
        return value

    @field_validator("created_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("metadata")
    @classmethod
    def _metadata_is_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if not key:
                raise ValueError("metadata keys must be non-empty strings")
            if isinstance(item, (list, dict)):
                try:
                    json.dumps(item)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"metadata[{key!r}] is not JSON-serializable: {exc}") from None
        return value


class SearchHit(BaseModel):
    """A record returned by ``MemoryStore.search`` with its cosine similarity to the query.

    Attributes:
        record: the stored record.
        similarity: cosine similarity in [-1, 1] (1 = same direction); hits are sorted by it,
            highest first.
    """

    model_config = ConfigDict(frozen=True)

    record: MemoryRecord
    similarity: float


def encode_metadata(metadata: dict[str, Any]) -> tuple[dict[str, str | bool | int | float], list[str]]:
    """Flatten metadata for backends that store scalars only (Chroma, Qdrant).

    Returns ``(flat, json_keys)``: lists and dicts become compact JSON strings and their keys
    are listed in ``json_keys`` so that :func:`decode_metadata` can restore them.
    """
    flat: dict[str, str | bool | int | float] = {}
    json_keys: list[str] = []
    for key, value in metadata.items():
        if isinstance(value, (list, dict)):
            json_keys.append(key)
            flat[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            flat[key] = value
    return flat, json_keys


def decode_metadata(flat: dict[str, Any], json_keys: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Inverse of :func:`encode_metadata`."""
    keys = set(json_keys)
    return {key: json.loads(value) if key in keys else value for key, value in flat.items()}
