"""``PRMJudge``: a process reward model from a local Hugging Face folder, batched on GPU or CPU.

Supports the three formats in ``prm_formats`` (Qwen2.5-Math-PRM, Math-Shepherd, RLHFlow).
Inputs are sorted by length and packed into batches under a token budget (padding included),
run under ``torch.inference_mode``; CUDA in bfloat16 when available, else CPU in float32.
For causal-LM PRMs only the two candidate rows of the LM head are applied, at the read
positions, instead of computing full-vocabulary logits for every token.
"""

from __future__ import annotations

import inspect
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import torch

from agentforge.core.errors import ModelError, UserError
from agentforge.core.settings import offline_env
from agentforge.judges.base import Item, SyncBatchJudge, check_items
from agentforge.judges.prm_batching import encode, pad, plan_batches
from agentforge.judges.prm_formats import PRMFormat, candidate_ids, detect_format, normalize_format, render

log = logging.getLogger(__name__)
_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
           "float16": torch.float16, "half": torch.float16, "fp32": torch.float32, "float32": torch.float32}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> ``cuda`` if available, else ``cpu``.

    Raises:
        UserError: CUDA was asked for and is not available.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but CUDA is not available")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` -> bfloat16 on CUDA, float32 elsewhere; accepts names like ``"bf16"``.

    Raises:
        UserError: unknown dtype name.
    """
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; valid: {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def _accepted(fn: Any) -> set[str] | None:
    """Keyword names ``fn`` accepts, or None if it takes ``**kwargs``."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _load(path: Path, fmt_override: str | None, dtype: torch.dtype, trust_remote_code: bool):
    offline_env("hf")
    import transformers
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

    kw: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
    try:
        config = AutoConfig.from_pretrained(path, **kw)
        tokenizer = AutoTokenizer.from_pretrained(path, **kw)
    except (OSError, ValueError) as exc:
        hint = ("; this folder ships its own model code: pass trust_remote_code=True "
                "(CLI: --trust-remote-code, or AGENTFORGE_TRUST_REMOTE_CODE=1) if you trust it"
                if "trust_remote_code" in str(exc) else "")
        raise UserError(f"cannot load a Hugging Face model from {path}: {exc}{hint}") from exc
    fmt = detect_format(path, config, tokenizer, fmt_override)
    archs = list(getattr(config, "architectures", None) or [])
    if fmt.head == "candidates":
        cls = AutoModelForCausalLM
    elif "AutoModel" in (getattr(config, "auto_map", None) or {}):
        cls = AutoModel  # the real Qwen2.5-Math-PRM ships Qwen2ForProcessRewardModel as remote code
    elif any(a.endswith("ForTokenClassification") for a in archs):
        cls = AutoModelForTokenClassification
    else:
        raise UserError(f"{path}: a qwen-prm model needs a token-classification head or an "
                        f"auto_map AutoModel entry; architectures={archs}")
    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    try:
        model = cls.from_pretrained(path, **kw, **{dtype_kw: dtype})
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load the {fmt.name} model weights from {path}: {exc}") from exc
    return model, tokenizer, fmt


class PRMJudge(SyncBatchJudge):
    """A process reward model judge loaded from a local folder (never the hub).

    Args:
        path: folder with ``config.json``, weights and a fast tokenizer (``tokenizer.json``).
        device: ``"cuda"``, ``"cpu"``, ... (default: CUDA if available, else CPU).
        dtype: torch dtype or name (default: bfloat16 on CUDA, float32 on CPU).
        max_tokens_per_batch: token budget of one forward pass, padding included (default 8192).
            An input longer than the budget runs alone.
        max_length: longest input in tokens (default: the smaller of the tokenizer's
            ``model_max_length`` and the config's ``max_position_embeddings``; 4096 if neither).
            Longer inputs keep their first ``max_length`` tokens and a warning is issued; steps
            whose read position was cut get NaN (``aggregate`` skips NaN, so ``"last"`` then
            means the last step the PRM saw).
        format: force a format (``"qwen-prm"``, ``"math-shepherd"``, ``"rlhflow"``) instead of
            detecting it (see ``prm_formats``).
        trust_remote_code: allow the model folder's own Python code (Qwen2.5-Math-PRM needs it);
            only files inside ``path`` are used. Default False, as in transformers: running a
            folder's code is opt-in.
        padding_side: ``"left"``/``"right"`` (default: the tokenizer's; scores do not depend on it).

    Raises:
        UserError: missing folder, unloadable model, unknown format (the message names the
            supported formats), CUDA asked for but absent.
    """

    def __init__(self, path: str | Path, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None, max_tokens_per_batch: int = 8192,
                 max_length: int | None = None, *, format: str | None = None,
                 trust_remote_code: bool = False, padding_side: str | None = None):
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise UserError(f"PRM folder {folder} does not exist (PRMJudge loads local folders only)")
        dev = resolve_device(device)
        model, tokenizer, fmt = _load(folder, format, resolve_dtype(dtype, dev), trust_remote_code)
        self._setup(model.to(dev), tokenizer, fmt, max_tokens_per_batch, max_length, padding_side)
        self.path = folder

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, format: str, *, options: dict | None = None,
                   max_tokens_per_batch: int = 8192, max_length: int | None = None,
                   padding_side: str | None = None) -> PRMJudge:
        """Wrap an already loaded model and fast tokenizer (used as is: same device and dtype).

        ``options`` are the marker-file overrides (see ``prm_formats.PRMFormat``).

        Raises:
            UserError: unknown format.
        """
        self = cls.__new__(cls)
        self._setup(model, tokenizer, PRMFormat(normalize_format(format), dict(options or {})),
                    max_tokens_per_batch, max_length, padding_side)
        self.path = None
        return self

    def _setup(self, model, tokenizer, fmt, max_tokens_per_batch, max_length, padding_side):
        if max_tokens_per_batch < 1:
            raise UserError(f"max_tokens_per_batch must be >= 1, got {max_tokens_per_batch}")
        self.model, self.tokenizer, self.format = model.eval(), tokenizer, fmt
        self.device = next(model.parameters()).device
        self.max_tokens_per_batch = int(max_tokens_per_batch)
        self.max_length = int(max_length or self._default_max_length())
        self.padding_side = padding_side or getattr(tokenizer, "padding_side", "right") or "right"
        pad_id = tokenizer.pad_token_id
        self.pad_id = pad_id if pad_id is not None else (tokenizer.eos_token_id or 0)
        self.candidates = candidate_ids(fmt, tokenizer) if fmt.head == "candidates" else None
        self._lock = threading.Lock()
        self.forward_calls = 0  # forward passes run so far (for tests and benchmarks)
        self._fast_head = self._pick_fast_head()

    def _default_max_length(self) -> int:
        limits = [getattr(self.tokenizer, "model_max_length", None),
                  getattr(self.model.config, "max_position_embeddings", None)]
        limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 10_000_000]
        return min(limits) if limits else 4096

    def _pick_fast_head(self):
        """(decoder, lm_head) when the LM head is a plain linear layer, else None."""
        if self.candidates is None:
            return None
        cfg = self.model.config
        if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
            return None
        get_dec = getattr(self.model, "get_decoder", None)
        head = self.model.get_output_embeddings()
        if get_dec is None or not isinstance(head, torch.nn.Linear):
            return None
        decoder = get_dec()
        return (decoder, head) if decoder is not None and decoder is not self.model else None

    def __repr__(self) -> str:
        return f"PRMJudge(format={self.format.name!r}, path={str(self.path)!r}, device={self.device})"

    def score_steps(self, items: list[Item]) -> list[list[float]]:
        """Score many solutions with dynamic batching; see the class docstring.

        Returns:
            ``result[i]`` has one probability per step of ``items[i]`` (NaN for steps cut by
            ``max_length``; ``[]`` for an item with no steps).

        Raises:
            UserError: bad items, or a tokenizer/chat template that cannot express the format.
            ModelError: the forward pass failed (e.g. CUDA out of memory: lower
                ``max_tokens_per_batch``).
        """
        items = check_items(items)
        results = [[float("nan")] * len(steps) for _, steps in items]
        encoded = {}
        for i, (question, steps) in enumerate(items):
            if steps:
                encoded[i] = encode(self.tokenizer, render(self.format, self.tokenizer, question, steps),
                                    self.max_length)
        cut = [i for i, e in encoded.items() if e.cut]
        if cut:
            lost = sum(r is None for i in cut for r in encoded[i].reads)
            warnings.warn(f"PRMJudge: {len(cut)} of {len(encoded)} inputs are longer than max_length="
                          f"{self.max_length} tokens and were cut; {lost} step(s) past the cut "
                          "score NaN", UserWarning, stacklevel=2)
        todo = [i for i, e in encoded.items() if any(r is not None for r in e.reads)]
        for batch in plan_batches([len(encoded[i].ids) for i in todo], self.max_tokens_per_batch):
            rows = [todo[b] for b in batch]
            probs = self._forward([encoded[i].ids for i in rows], [encoded[i].reads for i in rows])
            for i, scores in zip(rows, probs):
                results[i] = scores
        return results

    @torch.inference_mode()
    def _forward(self, seqs: list[list[int]], reads: list[list[int | None]]) -> list[list[float]]:
        b = pad(seqs, self.pad_id, self.padding_side)
        row_idx, pos_idx = [], []
        for r, (shift, rr) in enumerate(zip(b.shifts, reads)):
            for p in rr:
                if p is not None:
                    row_idx.append(r)
                    pos_idx.append(p + shift)
        dev = self.device
        kw = {"input_ids": b.input_ids.to(dev), "attention_mask": b.attention_mask.to(dev),
              "position_ids": b.position_ids.to(dev), "use_cache": False}
        rows, cols = torch.tensor(row_idx, device=dev), torch.tensor(pos_idx, device=dev)
        try:
            with self._lock:
                self.forward_calls += 1
                probs = self._probs(kw, rows, cols).float().cpu().tolist()
        except torch.cuda.OutOfMemoryError as exc:
            raise ModelError(f"PRM forward pass ran out of GPU memory on a batch of {len(seqs)} x "
                             f"{b.input_ids.shape[1]} tokens; lower max_tokens_per_batch") from exc
        out, k = [], 0
        for rr in reads:
            scores = []
            for p in rr:
                scores.append(float("nan") if p is None else probs[k])
                k += p is not None
            out.append(scores)
        return out

    def _call(self, module: Any, kw: dict) -> Any:
        accepted = _accepted(module.forward)
        return module(**(kw if accepted is None else {k: v for k, v in kw.items() if k in accepted}))

    def _probs(self, kw: dict, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """P(step correct) at ``(rows, cols)``, a 1-D tensor."""
        if self.candidates is None:  # qwen-prm: 2-way logits per token, class 1 = correct
            out = self._call(self.model, kw)
            logits = out.logits if hasattr(out, "logits") else out[0]
            picked = logits[rows, cols].float()
            if picked.shape[-1] != 2:
                raise ModelError(f"qwen-prm model returned {picked.shape[-1]} labels per token, expected 2")
            return picked.softmax(-1)[:, 1]
        cand = torch.tensor(self.candidates, device=self.device)
        if self._fast_head is not None:
            decoder, head = self._fast_head
            out = self._call(decoder, kw)
            hidden = (out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0])[rows, cols]
            logits = hidden.float() @ head.weight[cand].float().T  # fp32: only 2 columns
            if head.bias is not None:
                logits = logits + head.bias[cand].float()
        else:
            out = self._call(self.model, kw)
            logits = (out.logits if hasattr(out, "logits") else out[0])[rows, cols][:, cand]
        return logits.float().softmax(-1)[:, 0]
