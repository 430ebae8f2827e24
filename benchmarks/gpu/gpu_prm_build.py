"""Random-weight PRMs in the Qwen2.5-Math-PRM layout, an offline tokenizer, and GSM8K inputs.

Nothing is downloaded. ``build_prm_folder`` writes a folder shaped like the real
Qwen/Qwen2.5-Math-PRM-7B one (``config.json`` with ``architectures`` and ``auto_map``, the model
class as remote code in ``modeling_qwen2_rm.py``, safetensors weights, a fast tokenizer with a
ChatML chat template and ``<extra_0>``), with random weights built directly on the target
device in the target dtype (a 7B model is built on the GPU in bf16 in seconds, not on the CPU).
``PRMJudge(folder, trust_remote_code=True)`` then loads it through its real loading path.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODELING = HERE / "modeling_qwen2_rm.py"
# Qwen2.5 hyperparameters: (hidden, layers, attention heads, kv heads, intermediate, vocab).
# 0.5B/1.5B are Qwen2.5-0.5B/1.5B; 7B is Qwen2.5-Math-PRM-7B (= Qwen2.5-Math-7B, vocab 152064).
# ``tiny`` is for the CPU dry run; its vocab is the tokenizer's.
SIZES: dict[str, tuple[int, int, int, int, int, int | None]] = {
    "tiny": (64, 2, 4, 2, 128, None),
    "0.5b": (896, 24, 14, 2, 4864, 151936),
    "1.5b": (1536, 28, 12, 2, 8960, 151936),
    "7b": (3584, 28, 28, 4, 18944, 152064),
}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"]  # Qwen2.5-Math-PRM's
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
WORDS = ("she has apples costs dollars each so then total left more than half twice per week "
         "how many buys sells gives the of and to a in is").split()
# Qwen2's pre-tokenizer split: letters, single digits, punctuation runs, newlines, spaces.
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def gsm8k_path() -> Path:
    """The GSM8K train split bundled with the package (``agentforge/tasks/data/gsm8k``)."""
    import agentforge

    return Path(agentforge.__file__).resolve().parent / "tasks" / "data" / "gsm8k" / "train.jsonl"


def gsm8k_items(n: int, seed: int = 0, min_steps: int = 4, max_steps: int = 10,
                path: Path | None = None) -> tuple[list[tuple[str, list[str]]], str]:
    """``n`` real GSM8K solutions as ``(question, steps)``, ``min_steps..max_steps`` steps each.

    Steps are the reference solution's lines with the ``<<...>>`` calculator notes removed,
    plus a last step ``The answer is \\boxed{N}.`` from the ``#### N`` line. Falls back to
    synthetic word-salad solutions of the same shape if the file is missing.

    Returns:
        ``(items, source)`` where ``source`` says where the items came from.
    """
    path = path or gsm8k_path()
    rng = random.Random(seed)
    if not path.is_file():
        def sentence() -> str:
            return " ".join(rng.choices(WORDS, k=rng.randint(8, 25))) + f" {rng.randint(1, 99)}."

        return [(sentence() + "?", [sentence() for _ in range(rng.randint(min_steps, max_steps))])
                for _ in range(n)], "synthetic (no GSM8K file)"
    pool = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        lines = [re.sub(r"<<[^>]*>>", "", x).strip() for x in row["answer"].split("\n")]
        answer = lines.pop()[4:].strip() if lines and lines[-1].startswith("####") else None
        steps = [x for x in lines if x] + ([f"The answer is \\boxed{{{answer}}}."] if answer else [])
        if min_steps <= len(steps) <= max_steps:
            pool.append((row["question"], steps))
    rng.shuffle(pool)
    items = [pool[i % len(pool)] for i in range(n)]
    return items, f"gsm8k train ({path.name}: {len(pool)} solutions with {min_steps}-{max_steps} steps)"


def token_lengths(tokenizer: Any, items: list[tuple[str, list[str]]]) -> list[int]:
    """Tokens per input as the qwen-prm format renders it (system, user = question, assistant =
    steps each ended by ``<extra_0>``, through the tokenizer's chat template)."""
    out = []
    for question, steps in items:
        messages = [{"role": "system", "content": QWEN_SYSTEM}, {"role": "user", "content": question},
                    {"role": "assistant", "content": "".join(s + "<extra_0>" for s in steps)}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        out.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return out


def gsm8k_texts(limit: int = 8000) -> list[str]:
    """Question and answer texts of the bundled GSM8K split (tokenizer training corpus)."""
    path = gsm8k_path()
    if not path.is_file():
        rng = random.Random(0)
        return [" ".join(rng.choices(WORDS, k=20)) + f" {rng.randint(0, 999)} + 7 = 12." for _ in range(2000)]
    out = []
    for line in path.read_text().splitlines()[:limit]:
        row = json.loads(line)
        out += [row["question"], re.sub(r"<<[^>]*>>", "", row["answer"])]
    return out


def build_tokenizer(vocab_size: int = 8192, max_length: int = 4096) -> Any:
    """A Qwen-like fast tokenizer trained here on GSM8K: Qwen2's split pattern (digits one by
    one), byte-level BPE with ``vocab_size`` entries, the special tokens ``SPECIALS``
    (``<extra_0>``, ChatML markers), pad
    ``<|endoftext|>``, eos ``<|im_end|>``, no BOS, and a ChatML chat template.
    Trained on GSM8K so that a solution takes about as many tokens as with Qwen's own
    tokenizer (the report prints tokens per input)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(gsm8k_texts(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=[s for s in SPECIALS if s not in
                                                              ("<|endoftext|>", "<|im_end|>")])
    fast.chat_template = CHATML
    fast.model_max_length = max_length
    return fast


def qwen2_config(size: str, vocab_size: int) -> Any:
    """A ``Qwen2Config`` of ``SIZES[size]`` in the Qwen2.5-Math-PRM layout (remote-code
    ``auto_map``, ``architectures``), 4096 positions; ``vocab_size`` is used for ``tiny``.

    Raises:
        KeyError: unknown size.
    """
    from transformers import Qwen2Config

    hidden, layers, heads, kv, inter, vocab = SIZES[size]
    cfg = Qwen2Config(vocab_size=vocab or vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, intermediate_size=inter,
                      max_position_embeddings=4096, rms_norm_eps=1e-6, rope_theta=10000.0,
                      tie_word_embeddings=False, num_labels=2,
                      initializer_range=0.3 if size == "tiny" else 0.02)
    cfg.architectures = ["Qwen2ForProcessRewardModel"]
    cfg.auto_map = {"AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"}
    return cfg


def param_count(size: str, vocab_size: int = 2048) -> int:
    """Parameters of the PRM at ``size`` (embeddings + decoder + score head), from the shapes."""
    hidden, layers, heads, kv, inter, vocab = SIZES[size]
    head_dim = hidden // heads
    attn = hidden * hidden * 2 + 2 * hidden * kv * head_dim + hidden + 2 * kv * head_dim  # q,o,k,v + biases
    layer = attn + 3 * hidden * inter + 2 * hidden
    return (vocab or vocab_size) * hidden + layers * layer + hidden + hidden * hidden + hidden + 2 * hidden + 2


def model_class() -> type:
    """``Qwen2ForProcessRewardModel`` from ``modeling_qwen2_rm.py`` beside this file."""
    spec = importlib.util.spec_from_file_location("gpu_check_modeling_qwen2_rm", MODELING)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Qwen2ForProcessRewardModel


def build_model(size: str, vocab_size: int, device: Any, dtype: Any, seed: int = 0) -> Any:
    """A random-weight PRM at ``size``, created directly on ``device`` in ``dtype`` (eval mode)."""
    import torch

    torch.manual_seed(seed)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = model_class()(qwen2_config(size, vocab_size))
    finally:
        torch.set_default_dtype(old)
    return model.eval()


def build_prm_folder(folder: Path, size: str, tokenizer: Any, device: Any, dtype: Any,
                     seed: int = 0) -> dict[str, float]:
    """Write a random PRM at ``size`` to ``folder`` in the real Qwen2.5-Math-PRM layout (no
    marker file: the format must be detected from ``architectures``).

    Returns:
        ``{"build_s", "save_s", "disk_gib"}``: seconds to create the weights and to save them,
        and the folder's size in GiB.
    """
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = build_model(size, len(tokenizer), device, dtype, seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    model.save_pretrained(folder)
    shutil.copy(MODELING, folder / MODELING.name)
    tokenizer.save_pretrained(folder)
    t2 = time.perf_counter()
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"build_s": round(t1 - t0, 2), "save_s": round(t2 - t1, 2), "disk_gib": round(disk / 2**30, 2)}


def work_root(need_bytes: int, prefer: str | None = None) -> Path:
    """Where to write model folders: ``prefer`` if given, else ``/dev/shm`` when it has room
    for ``need_bytes`` (+20%), else the system temp folder."""
    import tempfile

    if prefer:
        return Path(prefer)
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > need_bytes * 1.2:
        return Path(tempfile.mkdtemp(prefix="prm-gpu-check-", dir=shm))
    return Path(tempfile.mkdtemp(prefix="prm-gpu-check-"))
