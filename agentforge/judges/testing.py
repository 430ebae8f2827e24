"""Tiny, randomly initialized PRMs in each supported format, built offline (tests, benchmarks).

No hub is reachable, so the tokenizer is a byte-level BPE (like Qwen's and Llama 3's) trained
here on a small corpus, with the special tokens each format needs (``<extra_0>``, ChatML and
Llama-3 chat markers) and a matching chat template. ``make_tiny_prm`` saves model + tokenizer
(+ the ``agentforge_prm.json`` marker) to a folder that ``PRMJudge(folder)`` loads through its
real loading path. Weights are random: the scores mean nothing, positions and shapes do.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from agentforge.core.errors import UserError
from agentforge.judges.prm_formats import CHATML, LLAMA3, normalize_format, write_marker

SPECIALS = ["<|endoftext|>", "<s>", "<|im_start|>", "<|im_end|>", "<extra_0>", "<|begin_of_text|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
WORDS = ("the of and to a in is we have so then step total number each more than less add "
         "subtract multiply divide answer apples cost dollars left equals find first next "
         "therefore because boxed sum half twice three four five seven nine ten twelve").split()
# Qwen2.5 sizes (hidden, layers, heads, kv heads, intermediate, vocab).
SIZES = {"tiny": (32, 2, 4, 2, 64, None), "0.5b": (896, 24, 14, 2, 4864, 151936),
         "1.5b": (1536, 28, 12, 2, 8960, 151936)}


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    """Math-flavoured filler lines with digits, ``+``/``-``/``=`` and Math-Shepherd tags."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = rng.choices(WORDS, k=rng.randint(4, 14))
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        lines.append(f"Step {rng.randint(1, 9)}: {' '.join(words)} {a} + {b} - 3 = {a + b - 3}. ки")
    return lines + ["+", "-", "+ -", "ки", " ки"]


def build_tokenizer(chat_template: str = CHATML, vocab_size: int = 600) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ``SPECIALS``, BOS ``<s>`` added by
    ``add_special_tokens=True``, pad/eos ``<|endoftext|>``, and ``chat_template``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", additional_special_tokens=SPECIALS[2:])
    fast.chat_template = chat_template
    fast.model_max_length = 512
    return fast


def qwen2_config(size: str = "tiny", vocab_size: int | None = None, **extra: Any) -> Any:
    """A ``Qwen2Config`` at one of ``SIZES`` (``tiny``: hidden 32, 2 layers), 2 labels."""
    from transformers import Qwen2Config

    if size not in SIZES:
        raise UserError(f"unknown size {size!r}; valid: {', '.join(SIZES)}")
    hidden, layers, heads, kv, inter, vocab = SIZES[size]
    return Qwen2Config(vocab_size=vocab or vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv, intermediate_size=inter,
                       max_position_embeddings=4096 if size != "tiny" else 512, num_labels=2,
                       tie_word_embeddings=False, **extra)


def build_model(format: str, vocab_size: int, size: str = "tiny", seed: int = 0) -> Any:
    """A random PRM in ``format``: a Qwen2 token classifier (2 labels) for ``qwen-prm``, a
    Llama causal LM (hidden 32, 2 layers) for ``math-shepherd``/``rlhflow``. Weights are drawn
    with a large init range so that scores differ clearly between positions."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2ForTokenClassification

    torch.manual_seed(seed)
    fmt = normalize_format(format)
    if fmt == "qwen-prm":
        cfg = qwen2_config(size, vocab_size, initializer_range=0.3 if size == "tiny" else 0.02)
        return Qwen2ForTokenClassification(cfg).eval()
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=512,
                      initializer_range=0.3, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).eval()


def make_tiny_prm(folder: str | Path, format: str, *, marker: bool = True, seed: int = 0) -> Path:
    """Save a tiny random PRM in ``format`` (model + tokenizer, + marker file if ``marker``).

    ``rlhflow`` gets a Llama-3-style chat template, the others ChatML. Returns ``folder``.
    """
    fmt = normalize_format(format)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(LLAMA3 if fmt == "rlhflow" else CHATML)
    build_model(fmt, len(tok), seed=seed).save_pretrained(folder)
    tok.save_pretrained(folder)
    if marker:
        write_marker(folder, fmt)
    return folder


def random_items(n: int, seed: int = 0, min_steps: int = 2, max_steps: int = 8,
                 words: tuple[int, int] = (5, 30)) -> list[tuple[str, list[str]]]:
    """``n`` random ``(question, steps)`` items of varied length (for tests and benchmarks)."""
    rng = random.Random(seed)

    def sentence(k: int) -> str:
        return " ".join(rng.choices(WORDS, k=k)) + f" {rng.randint(1, 99)}."

    return [(sentence(rng.randint(8, 20)) + "?",
             [sentence(rng.randint(*words)) for _ in range(rng.randint(min_steps, max_steps))])
            for _ in range(n)]
