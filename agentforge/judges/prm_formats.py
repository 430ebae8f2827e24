"""The three PRM input formats ``PRMJudge`` supports, and how a folder's format is found.

Each format says how ``(question, steps)`` becomes text, where in that text each step's score
is read, and how the score is computed from the model's output there:

``"qwen-prm"`` (Qwen/Qwen2.5-Math-PRM-7B, Zhang et al. 2025 "The Lessons of Developing PRMs"):
    chat template with system prompt, user = question, assistant = each step followed by
    ``<extra_0>``. The model outputs 2-way logits per token; at each ``<extra_0>``,
    ``softmax(logits)[1]`` is P(step correct).
``"math-shepherd"`` (peiyi9979/math-shepherd-mistral-7b-prm, Wang et al. 2024 "Math-Shepherd"):
    a causal LM on ``f"{question} {step_1} ки\\n{step_2} ки..."``; at each ``ки`` the softmax over
    the logits of the ``+`` and ``-`` tokens gives P(+).
``"rlhflow"`` (RLHFlow/Llama3.1-8B-PRM-Mistral-Data / -Deepseek-Data, Xiong et al. 2024): a
    causal-LM chat where user turn k is step k (the first prefixed by the question) and each
    assistant turn is ``+``; P(+) vs P(-) is read from the logits one token before each
    assistant ``+`` (the position that predicts it).

A folder's format comes from, in order: the ``format`` argument, a marker file
``agentforge_prm.json`` (``{"format": ..., optional overrides}``; see ``write_marker``), then
clues (a ``*ProcessRewardModel`` architecture or a 2-label token classifier whose tokenizer
has ``<extra_0>`` -> qwen-prm; "shepherd" / "rlhflow" in the folder or config name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentforge.core.errors import DataFormatError, UserError

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
"""The ChatML chat template (Qwen's), given to tokenizers that ship none (qwen-prm format)."""
LLAMA3 = ("<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
          "\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
          "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
"""The Llama-3 chat template (rlhflow format)."""

FORMATS: tuple[str, ...] = ("qwen-prm", "math-shepherd", "rlhflow")
MARKER_FILE = "agentforge_prm.json"
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
_OPTION_KEYS = {"format", "system_prompt", "step_tag", "good_token", "bad_token",
                "good_token_id", "bad_token_id"}


@dataclass(frozen=True)
class PRMFormat:
    """A resolved format: its name plus the options a marker file may override.

    Attributes:
        name: one of ``FORMATS``.
        options: ``system_prompt`` (qwen-prm), ``step_tag`` (math-shepherd, default ``"ки"``),
            ``good_token``/``bad_token`` (default ``"+"``/``"-"``), ``good_token_id``/
            ``bad_token_id`` (ints that skip the tokenizer lookup).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def head(self) -> str:
        """``"two_way"`` (the model outputs 2 logits per token) or ``"candidates"`` (a causal
        LM whose good/bad token logits are compared)."""
        return "two_way" if self.name == "qwen-prm" else "candidates"


@dataclass
class Rendered:
    """One input as text: ``text``; ``tag_chars``: per step, the char offset of the token the
    step's score hangs on; ``shift``: read the logits ``shift`` tokens from that token (-1 for
    rlhflow: the position predicting ``+``); ``add_special_tokens``: let the tokenizer add BOS."""

    text: str
    tag_chars: list[int]
    shift: int = 0
    add_special_tokens: bool = False


def normalize_format(name: str) -> str:
    """Map spellings like ``"qwen_prm"``/``"Math-Shepherd"`` to a ``FORMATS`` name.

    Raises:
        UserError: not a supported format; the message lists ``FORMATS``.
    """
    key = str(name).strip().lower().replace("_", "-")
    key = {"qwen": "qwen-prm", "qwen2.5-math-prm": "qwen-prm", "shepherd": "math-shepherd"}.get(key, key)
    if key not in FORMATS:
        raise UserError(f"unknown PRM format {name!r}; supported formats: {', '.join(FORMATS)}")
    return key


def write_marker(folder: str | Path, format: str, **options: Any) -> Path:
    """Write ``agentforge_prm.json`` into a model folder so ``PRMJudge`` knows its format.

    Raises:
        UserError: unknown format or option key.
    """
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise UserError(f"unknown PRM marker option(s) {sorted(unknown)}; valid: {sorted(_OPTION_KEYS - {'format'})}")
    path = Path(folder) / MARKER_FILE
    path.write_text(json.dumps({"format": normalize_format(format), **options}, indent=2))
    return path


def read_marker(folder: str | Path) -> PRMFormat | None:
    """Read ``agentforge_prm.json`` from ``folder``; ``None`` if there is none.

    Raises:
        DataFormatError: the file is not a JSON object with a ``format`` key.
        UserError: unknown format or option key.
    """
    path = Path(folder) / MARKER_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(str(path), None, f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or "format" not in data:
        raise DataFormatError(str(path), None, 'expected an object like {"format": "qwen-prm"}')
    unknown = set(data) - _OPTION_KEYS
    if unknown:
        raise UserError(f"{path}: unknown key(s) {sorted(unknown)}; valid: {sorted(_OPTION_KEYS)}")
    options = {k: v for k, v in data.items() if k != "format"}
    return PRMFormat(normalize_format(data["format"]), options)


def _has_token(tokenizer: Any, token: str) -> bool:
    vocab = tokenizer.get_vocab()
    return token in vocab


def detect_format(folder: str | Path, config: Any, tokenizer: Any, override: str | None = None) -> PRMFormat:
    """Resolve the format of a PRM folder (see the module docstring for the order).

    Raises:
        UserError: no format could be determined; the message names the supported formats
            and how to write the marker file.
    """
    marker = read_marker(folder)
    if override is not None:
        options = marker.options if marker else {}
        return PRMFormat(normalize_format(override), options)
    if marker is not None:
        return marker
    archs = list(getattr(config, "architectures", None) or [])
    if any("ProcessRewardModel" in a for a in archs):
        return PRMFormat("qwen-prm")
    if (any(a.endswith("ForTokenClassification") for a in archs)
            and getattr(config, "num_labels", None) == 2 and _has_token(tokenizer, "<extra_0>")):
        return PRMFormat("qwen-prm")
    names = f"{Path(folder).resolve()} {getattr(config, '_name_or_path', '')}".lower()
    causal = any(a.endswith("ForCausalLM") for a in archs)
    if causal and "shepherd" in names:
        return PRMFormat("math-shepherd")
    if causal and "rlhflow" in names:
        return PRMFormat("rlhflow")
    raise UserError(
        f"cannot tell which PRM format the model in {folder} uses (architectures={archs}); "
        f"supported formats: {', '.join(FORMATS)}. Pass PRMJudge(..., format=...) or write "
        f'{MARKER_FILE} in the folder, e.g. {{"format": "math-shepherd"}} '
        "(agentforge.judges.write_marker(folder, 'math-shepherd'))."
    )


def _template(tokenizer: Any, messages: list[dict], generation_prompt: bool = False) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise UserError("this PRM format needs a chat template, and the tokenizer has none")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _render_qwen(fmt: PRMFormat, tokenizer: Any, question: str, steps: list[str]) -> Rendered:
    tag = "<extra_0>"
    steps = [s.replace(tag, "").strip() for s in steps]
    content = "".join(s + tag for s in steps)
    messages = [
        {"role": "system", "content": fmt.options.get("system_prompt", QWEN_SYSTEM)},
        {"role": "user", "content": question.replace(tag, "")},
        {"role": "assistant", "content": content},
    ]
    text = _template(tokenizer, messages)
    start = text.rfind(content)
    if start >= 0:
        ends, pos = [], start
        for s in steps:
            pos += len(s)
            ends.append(pos)
            pos += len(tag)
        return Rendered(text, ends)
    found, pos = [], text.find(tag)  # the template rewrote the content: fall back to the tags
    while pos >= 0:
        found.append(pos)
        pos = text.find(tag, pos + 1)
    if len(found) < len(steps):
        raise UserError("the chat template dropped <extra_0> step separators (qwen-prm format)")
    return Rendered(text, found[-len(steps):])


def _render_shepherd(fmt: PRMFormat, question: str, steps: list[str]) -> Rendered:
    tag = fmt.options.get("step_tag", "ки")
    text, chars = f"{question} ", []
    for i, step in enumerate(steps):
        step = step.strip()
        if step.endswith(tag):  # already tagged by the caller
            step = step[: -len(tag)].rstrip()
        text += step + " "
        chars.append(len(text))
        text += tag + ("\n" if i < len(steps) - 1 else "")
    return Rendered(text, chars, add_special_tokens=True)


def _render_rlhflow(fmt: PRMFormat, tokenizer: Any, question: str, steps: list[str]) -> Rendered:
    good = fmt.options.get("good_token", "+")
    conv: list[dict] = []
    prefixes = []
    for k, step in enumerate(steps):
        conv.append({"role": "user", "content": f"{question} {step}" if k == 0 else step})
        prefixes.append(_template(tokenizer, conv, generation_prompt=True))
        conv.append({"role": "assistant", "content": good})
    text = _template(tokenizer, conv)
    chars = []
    for prefix in prefixes:
        pos = text.find(good, len(prefix)) if text.startswith(prefix) else -1
        if pos < 0 or text[len(prefix):pos].strip():
            raise UserError("the tokenizer's chat template does not render assistant turns as a "
                            "suffix of the generation prompt; it cannot be used with format rlhflow")
        chars.append(pos)
    return Rendered(text, chars, shift=-1)


def render(fmt: PRMFormat, tokenizer: Any, question: str, steps: list[str]) -> Rendered:
    """Render one ``(question, steps)`` input in ``fmt`` (``steps`` non-empty).

    Raises:
        UserError: the tokenizer's chat template cannot express the format.
    """
    if fmt.name == "qwen-prm":
        return _render_qwen(fmt, tokenizer, question, steps)
    if fmt.name == "math-shepherd":
        return _render_shepherd(fmt, question, steps)
    return _render_rlhflow(fmt, tokenizer, question, steps)


def candidate_ids(fmt: PRMFormat, tokenizer: Any) -> tuple[int, int]:
    """Token ids ``(good, bad)`` whose logits a causal-LM PRM compares.

    math-shepherd follows its reference code, ``encode("+ -")`` without BOS when that gives
    two ids; otherwise (and for rlhflow, as in its reference code) the last id of
    ``encode("+")`` and of ``encode("-")``. Marker options ``good_token_id``/``bad_token_id`` win.

    Raises:
        UserError: the two ids are equal (the tokenizer cannot tell ``+`` from ``-``).
    """
    o = fmt.options
    good, bad = o.get("good_token", "+"), o.get("bad_token", "-")
    ids = tokenizer.encode(f"{good} {bad}", add_special_tokens=False)
    if fmt.name == "math-shepherd" and len(ids) == 2:
        pair = (ids[0], ids[1])
    else:
        pair = (tokenizer.encode(good, add_special_tokens=False)[-1],
                tokenizer.encode(bad, add_special_tokens=False)[-1])
    pair = (int(o.get("good_token_id", pair[0])), int(o.get("bad_token_id", pair[1])))
    if pair[0] == pair[1]:
        raise UserError(f"good and bad tokens {good!r}/{bad!r} map to the same id {pair[0]}")
    return pair
