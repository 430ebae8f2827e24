"""Training a PRM on stepwise data, on CPU or GPU, into a folder ``PRMJudge`` loads.

TRL's ``PRMTrainer`` (trl <= 0.2x) trained ``AutoModelForTokenClassification`` with 2 labels:
each step is followed by a separator token, the separator carries the step's label (class 1 =
correct), every other token is ignored, and the loss is token-level cross-entropy. TRL 1.x no
longer ships it, so ``train_prm`` implements the same objective with a plain torch loop, in the
layout of Qwen2.5-Math-PRM (Zhang et al. 2025, "The Lessons of Developing Process Reward Models
in Mathematical Reasoning"): the input is rendered exactly as ``PRMJudge`` renders format
``"qwen-prm"`` (chat template; system, user = question, assistant = steps each ended by
``<extra_0>``), the label sits on each ``<extra_0>``, and the output folder gets the
``agentforge_prm.json`` marker, so ``PRMJudge(out)`` scores with the very positions it was
trained on. Soft labels (Math-Shepherd's soft estimate) train against the target distribution
``[1 - p, p]``; hard labels are the special case ``p`` in {0, 1}.

The base may be a causal LM (a new 2-label head is initialized) or a token classifier; a
tokenizer without ``<extra_0>`` gets it as a special token (embeddings resized), one without a
chat template gets ChatML. Everything is loaded with ``local_files_only=True``.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from agentforge.core.errors import UserError
from agentforge.judges.prm import resolve_device
from agentforge.judges.prm_batching import encode, pad
from agentforge.prm.data import check_record, read_stepwise
from agentforge.judges.prm_formats import CHATML, PRMFormat, render, write_marker

STEP_TAG = "<extra_0>"
FORMAT = PRMFormat("qwen-prm")


@dataclass
class TrainReport:
    """What ``train_prm`` did: ``out`` folder, optimizer ``steps``, ``examples`` (records used),
    ``labeled_steps`` (step labels trained on), ``skipped`` (records with no readable step),
    per-step ``losses``, ``wall_s``."""

    out: str
    steps: int = 0
    examples: int = 0
    labeled_steps: int = 0
    skipped: int = 0
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def load_base(base: str | Path, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a local folder as a 2-label token classifier with
    ``<extra_0>`` in the vocabulary and a chat template.

    Raises:
        UserError: the folder is missing or holds no loadable model/fast tokenizer, or the
            architecture has no token-classification variant.
    """
    import transformers
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    base = Path(base).expanduser()
    if not base.is_dir():
        raise UserError(f"base model folder {base} does not exist")
    try:
        tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a tokenizer from {base}: {exc}") from exc
    if not getattr(tok, "is_fast", False):
        raise UserError(f"{base}: PRM training needs a fast tokenizer (tokenizer.json)")
    if STEP_TAG not in tok.get_vocab():
        tok.add_tokens([STEP_TAG], special_tokens=True)
    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHATML
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            base, num_labels=2, local_files_only=True, **{dtype_kw: dtype},
            id2label={0: "wrong", 1: "correct"}, label2id={"wrong": 0, "correct": 1})
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot load {base} as a token classifier (2 labels): {exc}") from exc
    if model.get_input_embeddings().weight.shape[0] < len(tok):
        model.resize_token_embeddings(len(tok))
    model.config.pad_token_id = tok.pad_token_id
    return model, tok


def encode_record(tok: Any, rec: dict, max_length: int, soft: bool = False) -> tuple[list[int], list[tuple[int, float]]]:
    """Token ids of one record rendered as ``qwen-prm`` and ``(position, target)`` per step whose
    ``<extra_0>`` survives truncation to ``max_length`` tokens (target = P(correct) wanted)."""
    targets = rec["soft_labels"] if soft and "soft_labels" in rec else [float(x) for x in rec["labels"]]
    enc = encode(tok, render(FORMAT, tok, rec["prompt"], rec["completions"]), max_length)
    return enc.ids, [(p, t) for p, t in zip(enc.reads, targets) if p is not None]


def step_loss(logits: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy at the step positions: ``-(p log q1 + (1 - p) log q0)`` where
    ``q = softmax(logits[rows, cols])`` (2 classes, 1 = correct) and ``p = targets``."""
    logp = logits[rows, cols].float().log_softmax(-1)
    return -(targets * logp[:, 1] + (1 - targets) * logp[:, 0]).mean()


def train_prm(data: str | Path | list[dict], base: str | Path, out: str | Path, *, epochs: float = 1.0,
              lr: float = 2e-5, batch_size: int = 4, max_length: int = 1024, soft: bool = False,
              warmup: float = 0.1, weight_decay: float = 0.0, seed: int = 0, device: str | None = None,
              on_step: Callable[[int, int, float], None] | None = None) -> TrainReport:
    """Fine-tune ``base`` into a ``qwen-prm`` format PRM on stepwise data; save it to ``out``.

    Args:
        data: a stepwise JSONL path or a list of records (see ``agentforge.prm.data``).
        base: local folder of the base model (causal LM or token classifier) and fast tokenizer.
        out: folder to write (model, tokenizer, ``agentforge_prm.json``, ``train_report.json``).
        epochs: passes over the data (fractions allowed; default 1).
        lr: AdamW peak learning rate (default 2e-5), linear warmup over ``warmup`` of the steps,
            then linear decay to 0. batch_size: records per optimizer step (default 4).
        max_length: tokens per input (default 1024); steps past it are not trained on.
        soft: train on ``soft_labels`` where records have them.
        seed: shuffling and head initialization seed. device: default CUDA if available, else CPU.
        on_step: called as ``on_step(step, total_steps, loss)`` after each optimizer step.

    Returns:
        ``TrainReport``.

    Raises:
        UserError: no usable records, bad hyper-parameters, an unloadable base (see ``load_base``).
        DataFormatError: a malformed record.
    """
    if epochs <= 0 or lr <= 0 or batch_size < 1 or max_length < 8:
        raise UserError(f"need epochs > 0, lr > 0, batch_size >= 1, max_length >= 8; got {epochs}, {lr}, "
                        f"{batch_size}, {max_length}")
    records = read_stepwise(data) if isinstance(data, (str, Path)) else [check_record(r) for r in data]
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    dev = resolve_device(device)
    model, tok = load_base(base)
    model.to(dev).train()
    encoded = [encode_record(tok, r, max_length, soft) for r in records]
    report = TrainReport(out=str(out), skipped=sum(not t for _, t in encoded))
    encoded = [e for e in encoded if e[1]]
    if not encoded:
        raise UserError("no trainable records: every record is empty or cut before its first step")
    report.examples = len(encoded)
    per_epoch = math.ceil(len(encoded) / batch_size)
    total = max(1, round(per_epoch * epochs))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warm = int(warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / (warm + 1) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    rng = random.Random(seed)
    order: list[int] = []
    for step in range(total):
        if len(order) < batch_size:
            fresh = list(range(len(encoded)))
            rng.shuffle(fresh)
            order += fresh
        idx, order = order[:batch_size], order[batch_size:]
        batch = pad([encoded[i][0] for i in idx], tok.pad_token_id, "right")
        rows, cols, tgt = [], [], []
        for r, i in enumerate(idx):
            for p, t in encoded[i][1]:
                rows.append(r), cols.append(p), tgt.append(t)
        logits = model(input_ids=batch.input_ids.to(dev), attention_mask=batch.attention_mask.to(dev)).logits
        loss = step_loss(logits, torch.tensor(rows, device=dev), torch.tensor(cols, device=dev),
                         torch.tensor(tgt, device=dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        report.losses.append(loss.item())
        report.labeled_steps += len(tgt)
        if on_step is not None:
            on_step(step + 1, total, report.losses[-1])
    report.steps, report.wall_s = total, time.perf_counter() - t0
    save(model, tok, out, report, {"epochs": epochs, "lr": lr, "batch_size": batch_size,
                                   "max_length": max_length, "soft": soft, "seed": seed, "base": str(base)})
    return report


def save(model: Any, tok: Any, out: str | Path, report: TrainReport | None = None,
         args: dict | None = None) -> Path:
    """Save model + tokenizer + the ``qwen-prm`` marker (+ ``train_report.json``) to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out)
    tok.save_pretrained(out)
    write_marker(out, FORMAT.name)
    if report is not None:
        (out / "train_report.json").write_text(json.dumps({**asdict(report), "args": args or {}}, indent=2))
    return out
