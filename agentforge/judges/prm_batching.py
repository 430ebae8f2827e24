"""Tokenizing rendered PRM inputs, truncating them, and packing them into padded batches.

Scores are read at token positions computed from character offsets (the fast tokenizer's
offset mapping), not by searching for a tag id, so a step that happens to contain the tag text
cannot shift the scores. Padding is done here, on either side, and the read positions move with
it; ``position_ids`` are computed from the attention mask so left padding does not shift the
model's positions.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import torch

from agentforge.core.errors import UserError
from agentforge.judges.prm_formats import Rendered


@dataclass
class Encoded:
    """One tokenized input: ``ids`` (already cut to max length), ``reads``: per step, the token
    position whose output scores it, or ``None`` if the cut removed it; ``cut``: whether the
    input was longer than the max length."""

    ids: list[int]
    reads: list[int | None]
    cut: bool = False


def _token_at(spans: list[tuple[int, int, int]], starts: list[int], char: int) -> int:
    """Index of the token covering ``char`` (or the first token starting after it); ``spans``
    are the non-empty ``(start, end, token_index)`` offsets, ``starts`` their starts."""
    j = bisect_right(starts, char) - 1
    if j >= 0 and spans[j][1] > char:
        return spans[j][2]
    if j + 1 < len(spans):
        return spans[j + 1][2]
    raise UserError(f"no token covers character {char} of the rendered PRM input")


def encode(tokenizer: Any, rendered: Rendered, max_length: int) -> Encoded:
    """Tokenize ``rendered`` and find each step's read position.

    Inputs longer than ``max_length`` keep their first ``max_length`` tokens (the question and
    the early steps); a step whose read position falls past the cut gets ``None``.

    Raises:
        UserError: the tokenizer is not a fast tokenizer (no offset mapping), or a read
            position falls before the start of the input.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("PRMJudge needs a fast tokenizer (a tokenizer.json in the model folder)")
    enc = tokenizer(rendered.text, add_special_tokens=rendered.add_special_tokens,
                    return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    spans = [(s, e, i) for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s]
    starts = [s for s, _, _ in spans]
    reads: list[int | None] = []
    for char in rendered.tag_chars:
        pos = _token_at(spans, starts, char) + rendered.shift
        if pos < 0:
            raise UserError("a PRM read position falls before the start of the input")
        reads.append(pos if pos < max_length else None)
    return Encoded(ids[:max_length], reads, cut=len(ids) > max_length)


def plan_batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Group input indices into batches whose padded size fits a token budget.

    Inputs are sorted by length, longest first, so each batch pads to its first member;
    a batch grows while ``len(batch) * longest <= max_tokens``. An input longer than the budget
    runs alone. Every index appears in exactly one batch.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


@dataclass
class Batch:
    """Padded tensors for one forward pass plus each row's pad offset (left padding)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    shifts: list[int]


def pad(seqs: list[list[int]], pad_id: int, side: str = "right") -> Batch:
    """Pad token-id lists to one length on ``side`` (``"left"`` or ``"right"``).

    ``shifts[r]`` is how far row ``r``'s tokens moved (its left padding), to add to read
    positions. ``position_ids`` count real tokens only (pads get 0).

    Raises:
        UserError: ``side`` is neither ``"left"`` nor ``"right"``.
    """
    if side not in ("left", "right"):
        raise UserError(f"padding side must be 'left' or 'right', got {side!r}")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    shifts = []
    for r, s in enumerate(seqs):
        start = width - len(s) if side == "left" else 0
        ids[r, start:start + len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, start:start + len(s)] = 1
        shifts.append(start)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return Batch(ids, mask, position_ids, shifts)
