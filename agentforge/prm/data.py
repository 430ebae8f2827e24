"""Stepwise process-supervision data: TRL's format on disk, splits, and CHAMP's annotations.

One JSON object per line, as TRL's stepwise-supervision datasets (``trl-lib/prm800k``,
``trl-lib/math_shepherd``) and its former ``PRMTrainer``::

    {"prompt": "question", "completions": ["step 1", "step 2", ...], "labels": [true, false, ...]}

``labels[k]`` says whether step ``k`` is correct. Optional keys: ``soft_labels`` (floats in
[0, 1], Math-Shepherd's soft estimate), ``id`` (the question's id, used to resume labeling and
to split by question), ``sample`` and anything else (kept, ignored by training).

The first-error index of a record (ProcessBench's label, Zheng et al. 2024) is the index of the
first ``False`` label, or ``-1`` when every step is correct.

CHAMP (Mao et al. 2024, "CHAMP: A Competition-level Dataset for Fine-Grained Analyses of LLMs'
Mathematical Reasoning Capabilities", MIT) ships human first-wrong-step annotations of 540
model-written solutions (GPT-3.5, GPT-4, GPT-4 Turbo, PaLM 2 Medium) as character spans in
``champ_dataset/dataset_files/v0.json`` of the PyPI package ``champ-dataset``; ``load_champ``
reads that JSON straight from the wheel (the package's code is never imported).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentforge.core.errors import DataFormatError, UserError
from agentforge.core.datafiles import iter_lines, parse_json
from agentforge.core.settings import settings
from agentforge.judges.steps import split_steps

CHAMP_PACKAGE, CHAMP_VERSION = "champ-dataset", "1.0.0"
CHAMP_MEMBER = "champ_dataset/dataset_files/v0.json"


def check_record(rec: Any, where: str = "record", line: int | None = None) -> dict:
    """Validate one stepwise record and return it (labels as bools, soft labels as floats).

    Raises:
        DataFormatError: not an object with a str ``prompt``, a list of str ``completions`` and a
            list of bool ``labels`` of the same length (``soft_labels``, if present, likewise, in
            [0, 1]); the message names ``where`` and ``line``.
    """
    def bad(problem: str) -> DataFormatError:
        return DataFormatError(where, line, problem)

    if not isinstance(rec, dict):
        raise bad(f"expected a JSON object, got {type(rec).__name__}")
    prompt, steps, labels = rec.get("prompt"), rec.get("completions"), rec.get("labels")
    if not isinstance(prompt, str):
        raise bad('"prompt" must be a string')
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise bad('"completions" must be a list of strings (the steps)')
    if not isinstance(labels, list) or not all(isinstance(x, bool) for x in labels):
        raise bad('"labels" must be a list of true/false')
    if len(labels) != len(steps):
        raise bad(f'{len(steps)} completions but {len(labels)} labels')
    soft = rec.get("soft_labels")
    if soft is not None:
        if (not isinstance(soft, list) or len(soft) != len(steps)
                or not all(isinstance(x, (int, float)) and 0.0 <= x <= 1.0 for x in soft)):
            raise bad('"soft_labels" must be one number in [0, 1] per step')
        rec = {**rec, "soft_labels": [float(x) for x in soft]}
    return rec


def read_stepwise(path: str | Path) -> list[dict]:
    """Read a stepwise JSONL file (blank lines skipped); see ``check_record``.

    Raises:
        UserError: the file does not exist.
        DataFormatError: a line that is not valid JSON or not a valid record (file and line named).
    """
    return [check_record(parse_json(line, path, n), str(path), n)
            for n, line in iter_lines(path, "stepwise data file")]


def append_records(path: str | Path, records: Iterable[dict]) -> None:
    """Append records as JSON lines in one write (then flush), creating the file if needed."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if text:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(text)
            f.flush()


def write_stepwise(path: str | Path, records: Iterable[dict]) -> Path:
    """Write records as a new JSONL file (parents created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def first_error(labels: list[bool]) -> int:
    """Index of the first ``False`` label, ``-1`` if none (ProcessBench's convention)."""
    return next((k for k, ok in enumerate(labels) if not ok), -1)


def split_records(records: list[dict], held_out: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Split into (train, held-out) by question, so no question's solutions land on both sides.

    Questions are grouped by ``id`` (else ``prompt``), shuffled with ``seed``, and about a
    ``held_out`` fraction of them (at least one when there are two or more) is held out.

    Raises:
        UserError: ``held_out`` not in [0, 1).
    """
    if not 0.0 <= held_out < 1.0:
        raise UserError(f"held_out must be in [0, 1), got {held_out}")
    keys = list(dict.fromkeys(str(r.get("id", r["prompt"])) for r in records))
    random.Random(seed).shuffle(keys)
    n_out = 0 if held_out == 0 or len(keys) < 2 else max(1, round(held_out * len(keys)))
    out_keys = set(keys[:n_out])
    train = [r for r in records if str(r.get("id", r["prompt"])) not in out_keys]
    test = [r for r in records if str(r.get("id", r["prompt"])) in out_keys]
    return train, test


def _cache_dir() -> Path:
    return settings().home_dir / "data" / "champ"


def champ_json(cache_dir: str | Path | None = None) -> bytes:
    """The bytes of CHAMP's ``v0.json``, from an installed ``champ_dataset`` package (found, not
    imported), else a cached wheel in ``cache_dir`` (default ``$AGENTFORGE_HOME/data/champ``),
    else a wheel fetched there with ``pip download --no-deps champ-dataset==1.0.0``.

    Raises:
        UserError: the package is not installed and pip could not fetch it (pip's output tail).
    """
    import importlib.util

    spec = importlib.util.find_spec("champ_dataset")  # locates the package without running it
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / "dataset_files" / "v0.json"
            if candidate.is_file():
                return candidate.read_bytes()
    folder = Path(cache_dir) if cache_dir else _cache_dir()
    wheels = sorted(folder.glob("champ_dataset-*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
               "--disable-pip-version-check", f"{CHAMP_PACKAGE}=={CHAMP_VERSION}", "-d", str(folder)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(folder.glob("champ_dataset-*.whl"))
        if res.returncode != 0 or not wheels:
            raise UserError(f"cannot get CHAMP: pip download {CHAMP_PACKAGE}=={CHAMP_VERSION} failed "
                            f"(exit {res.returncode}): {(res.stderr or res.stdout).strip()[-800:]}")
    with zipfile.ZipFile(wheels[-1]) as zf:
        return zf.read(CHAMP_MEMBER)


def _step_spans(text: str, steps: list[str]) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for s in steps:
        start = text.find(s, pos)
        start = pos if start < 0 else start
        spans.append((start, start + len(s)))
        pos = start + len(s)
    return spans


def champ_record(question: str, text: str, start_idx: int | None, *, truncate: bool = True,
                 **extra: Any) -> dict | None:
    """One CHAMP annotation as a stepwise record, or ``None`` if the solution has no steps.

    ``text`` is split with ``split_steps(text)`` (``"auto"``: usually blank lines); the first
    wrong step is the step whose span contains ``start_idx`` (the annotated span's start; the
    next step if it falls between steps). Steps before it are labeled ``True``, it ``False``;
    ``start_idx=None`` ("no mistake") labels every step ``True``. CHAMP does not annotate steps
    after the first error, so with ``truncate`` (default) the record stops at the first error,
    as PRM800K-derived stepwise data does; otherwise later steps are labeled ``False``
    (Math-Shepherd's convention).
    """
    steps = split_steps(text)
    if not steps:
        return None
    labels = [True] * len(steps)
    if start_idx is not None:
        spans = _step_spans(text, steps)
        k = next((i for i, (_, end) in enumerate(spans) if end > start_idx), len(steps) - 1)
        if truncate:
            steps, labels = steps[: k + 1], [True] * k + [False]
        else:
            labels = [True] * k + [False] * (len(steps) - k)
    return {"prompt": question, "completions": steps, "labels": labels, **extra}


def load_champ(path: str | Path | None = None, *, truncate: bool = True) -> list[dict]:
    """CHAMP's first-wrong-step annotations as stepwise records (see ``champ_record``).

    Args:
        path: a ``v0.json`` file or a ``champ_dataset`` wheel; default: see ``champ_json``.
        truncate: stop each record at its first error (default True).

    Returns:
        One record per annotated solution (540 in v0), in file order, with extra keys ``id``
        (``"P_...|<model>|<prompt setting>"``), ``source`` (``"champ"``) and ``gold`` (the
        problem's final answer).

    Raises:
        UserError: the file is missing or CHAMP cannot be fetched.
        DataFormatError: the JSON does not have CHAMP v0's structure.
    """
    if path is None:
        raw = champ_json()
    else:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"CHAMP file {p} does not exist")
        raw = zipfile.ZipFile(p).read(CHAMP_MEMBER) if p.suffix == ".whl" else p.read_bytes()
    where = str(path or CHAMP_MEMBER)
    try:
        problems = json.loads(raw)["problems"]
        out = []
        for pid, prob in problems.items():
            question = prob["_raw_text"].replace("@@", "")
            gold = prob.get("_raw_answer", "").replace("@@", "")
            for key, ann in (prob.get("fws_annotations") or {}).items():
                rec = champ_record(question, ann["text"], ann.get("start_idx"), truncate=truncate,
                                   id=f"{pid}|{key}", source="champ", gold=gold)
                if rec is not None:
                    out.append(rec)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(where, None, f"not CHAMP v0 JSON ({type(exc).__name__}: {exc})") from None
    return out


def label_stats(records: list[dict]) -> dict[str, float]:
    """Counts for a report: records, steps, positive step fraction, solutions with an error."""
    steps = sum(len(r["labels"]) for r in records)
    pos = sum(sum(r["labels"]) for r in records)
    return {"records": len(records), "steps": steps,
            "positive_fraction": pos / steps if steps else math.nan,
            "with_error": sum(first_error(r["labels"]) >= 0 for r in records)}
