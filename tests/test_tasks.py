"""Tests of agentforge.tasks on the real bundled GSM8K (train) and BIG-Bench Hard files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentforge.core.errors import DataFormatError, UnknownNameError, UserError
from agentforge.tasks import BBH_SUBTASKS, TASK_NAMES, BBHTask, GSM8KTask, load_task
from agentforge.tasks.bbh import DEFAULT_DIR as BBH_DIR
from agentforge.tasks.bbh import LABELS, answer_kind
from agentforge.tasks.gsm8k import DEFAULT_PATH as GSM8K_PATH
from agentforge.tasks.numeric import parse_number


@pytest.fixture(scope="module")
def gsm8k() -> GSM8KTask:
    return load_task("gsm8k")  # type: ignore[return-value]


@pytest.fixture(scope="module")
def bbh() -> BBHTask:
    return load_task("bbh")  # type: ignore[return-value]


# ----------------------------------------------------------------------------- bundled data


def test_bundled_data_is_public_splits_only():
    assert sorted(p.name for p in GSM8K_PATH.parent.iterdir()) == ["LICENSE", "train.jsonl"]
    assert sorted(p.stem for p in BBH_DIR.glob("*.json")) == sorted(BBH_SUBTASKS)
    assert len(BBH_SUBTASKS) == 27
    assert (BBH_DIR / "LICENSE").is_file()
    assert len(list((BBH_DIR / "cot-prompts").glob("*.txt"))) == 27


def test_task_names():
    assert TASK_NAMES[:2] == ["gsm8k", "bbh"]
    assert len(TASK_NAMES) == 30 and TASK_NAMES[-1] == "humaneval"
    assert "bbh/navigate" in TASK_NAMES and "bbh/word_sorting" in TASK_NAMES


# ----------------------------------------------------------------------------- GSM8K


def test_gsm8k_loads_bundled_train_split(gsm8k):
    assert len(gsm8k) == 7473
    first = gsm8k.examples[0]
    assert first.id == "train-0" and first.gold == "72"
    assert first.question.startswith("Natalia sold clips")
    assert "#### " not in first.meta["solution"] and "48/2" in first.meta["solution"]
    assert gsm8k.examples[-1].id == "train-7472"
    assert "Answer: <number>" in gsm8k.instructions
    assert gsm8k.prompt(first).startswith(first.question)
    assert gsm8k.prompt(first).endswith(gsm8k.instructions)


def _model_texts(gold: str) -> list[str]:
    """Model-style outputs stating ``gold`` (a GSM8K final answer) in the common formats."""
    value = parse_number(gold)
    assert value is not None
    commas = f"{value:,.0f}" if value == int(value) else f"{value:,}"
    return [
        f"Step 1: compute things.\nSo the total is \\boxed{{{gold}}}.",
        f"The final answer is $\\boxed{{\\${commas}}}$",
        f"\\boxed{{{commas} \\text{{ dollars}}}}",
        f"She pays 3 + 4 = 7 first.\nAnswer: ${commas}",
        f"**Final Answer:** {commas}.00",
        f"Reasoning with 12 and 7.\nThe answer is {gold}.",
        f"It comes to 5 items at 2 each.\n#### {gold}",
        f"Work: 3 * 4 = 12, so she has {gold} hours left",
    ]


def test_gsm8k_extract_and_score_first_50_rows(gsm8k):
    for ex in gsm8k.examples[:50]:
        gold = gsm8k.normalize(ex.gold)
        for text in _model_texts(ex.gold):
            assert gsm8k.extract(text) == gold, (ex.id, text)
            assert gsm8k.check(text, ex), (ex.id, text)
        # the dataset's own worked solution is a model-style text too
        assert gsm8k.check(ex.meta["solution"] + "\n#### " + ex.gold, ex)
        wrong = str(int(parse_number(ex.gold)) + 1)
        for text in _model_texts(wrong):
            assert not gsm8k.check(text, ex), (ex.id, text)
        # a later boxed answer wins over the correct number stated earlier
        assert not gsm8k.check(f"Maybe {ex.gold}? No.\n\\boxed{{{wrong}}}", ex)


def test_gsm8k_comma_golds_from_the_file(gsm8k):
    rows = [ex for ex in gsm8k.examples if "," in ex.gold][:20]
    assert len(rows) == 20
    for ex in rows:
        plain = ex.gold.replace(",", "")
        assert gsm8k.score(plain, ex) and gsm8k.check(f"Answer: {plain}", ex)
        assert gsm8k.check(f"\\boxed{{{ex.gold}}}", ex)
        assert not gsm8k.score(plain + "0", ex)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so \boxed{\$18}", "18"),
        (r"\boxed{18 \text{ dollars}}", "18"),
        (r"\boxed{\text{18 dollars}}", "18"),
        (r"\boxed{\frac{1}{2}}", "0.5"),
        (r"\boxed{\dfrac{3}{4}}", "0.75"),
        (r"\boxed{2\frac{1}{2}}", "2.5"),
        (r"\boxed{-\frac{1}{2}}", "-0.5"),
        (r"\boxed{{18}}", "18"),
        (r"\boxed{x = 5}", "5"),
        (r"\boxed{50\%}", "50"),
        (r"\boxed{1{,}000}", "1000"),
        ("Answer: 72", "72"),
        ("Answer:\n72", "72"),
        ("answer = 72", "72"),
        ("#### 72", "72"),
        ("The answer is 72.", "72"),
        ("Answer: $1,000.", "1000"),
        ("Answer: 1,000,000 people", "1000000"),
        ("Answer: -5", "-5"),
        ("Answer: \u22127", "-7"),
        ("Answer: 10.00", "10"),
        ("Answer: 0.50 dollars", "0.5"),
        ("Answer: 25%", "25"),
        ("Answer: 3/4", "0.75"),
        ("Answer: 18. She earns 9 x 2 = 18 per 2 hours", "18"),
        ("Answer: 2 * 9 = 18", "18"),
        ("It takes 5 hours.", "5"),
        ("pages 10-12", "12"),
        ("To answer this we need 4 boxes of 3 eggs.", "3"),
        ("no digits here", None),
        ("", None),
    ],
)
def test_gsm8k_extraction_formats(gsm8k, text, expected):
    assert gsm8k.extract(text) == expected


def test_gsm8k_normalize_and_score_numbers(gsm8k):
    ex = gsm8k.examples[1]  # gold "10"
    assert ex.gold == "10"
    votes = ["10", "10.00", "$10", "10 dollars", r"\boxed{10}"]
    assert {gsm8k.normalize(v) for v in votes} == {"10"}
    assert gsm8k.score("10.0000001", ex) and not gsm8k.score("10.01", ex)
    assert not gsm8k.score(None, ex) and not gsm8k.score("ten", ex)
    assert gsm8k.extract("nothing") is None and not gsm8k.check("nothing", ex)


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"})


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ('{"question": "q", "answer": ', "invalid JSON"),
        (json.dumps({"question": "q"}), "'answer' is missing"),
        (json.dumps({"question": "q", "answer": 5}), "'answer' is not a string"),
        (json.dumps({"question": "q", "answer": "no marker 5"}), "####"),
        (json.dumps({"question": "q", "answer": "x\n#### many"}), "not a number"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_gsm8k_malformed_line_names_line_number(tmp_path, bad, problem):
    path = _write(tmp_path, "mine.jsonl", [GOOD, "", bad, GOOD])  # blank line 2 still counts
    with pytest.raises(DataFormatError) as info:
        load_task("gsm8k", data=path)
    assert info.value.line == 3 and info.value.path == str(path)
    assert f"{path}:3" in str(info.value) and problem in str(info.value)


def test_gsm8k_explicit_path_ids_and_blank_lines(tmp_path):
    path = _write(tmp_path, "extra.jsonl", [GOOD, "", "  ", GOOD])
    task = load_task("gsm8k", data=path)
    assert [ex.id for ex in task] == ["extra-0", "extra-3"]
    assert [ex.gold for ex in task] == ["2", "2"]
    folder = tmp_path / "folder"
    folder.mkdir()
    _write(folder, "train.jsonl", [GOOD])
    assert [ex.id for ex in load_task("gsm8k", data=folder)] == ["train-0"]
    empty = _write(tmp_path, "empty.jsonl", [""])
    with pytest.raises(DataFormatError, match="no examples"):
        load_task("gsm8k", data=empty)


# ----------------------------------------------------------------------------- BBH


@pytest.mark.parametrize("subtask", BBH_SUBTASKS)
def test_bbh_subtask_golds_round_trip(subtask):
    task = load_task(f"bbh/{subtask}")
    assert isinstance(task, BBHTask) and task.subtask == subtask and len(task) > 0
    assert task.examples[0].id == f"{subtask}-0"
    assert all(ex.meta["subtask"] == subtask for ex in task)
    kind = answer_kind(subtask)
    golds = {task.normalize(ex.gold, ex) for ex in task}
    for ex in task:
        gold = task.normalize(ex.gold, ex)
        assert gold and task.normalize(gold, ex) == gold  # idempotent
        assert task.score(ex.gold, ex)
        texts = [
            f"Let's think step by step.\nSome reasoning.\nSo the answer is {ex.gold}.",
            f"Step one.\nAnswer: {ex.gold}",
        ]
        if kind != "dyck":
            texts.append(f"Reasoning.\nFinal answer: \\boxed{{{ex.gold}}}")
        for text in texts:
            assert task.extract(text, ex) == gold, (ex.id, text)
            assert task.check(text, ex)
        others = sorted(golds - {gold})
        if others:  # another answer from the same subtask must score False
            assert not task.check(f"So the answer is {others[0]}.", ex), ex.id
    if kind == "mc":
        assert golds <= set("ABCDEFGHIJKLMNOPQR") | {"monsters, inc", "dearth, wind, & fire",
                                                      "rita, sue and bob poo"}  # fmt: skip


def test_bbh_all_interleaves_subtasks(bbh):
    assert len(bbh) == 6511 and bbh.subtask is None and bbh.name == "bbh"
    assert [ex.meta["subtask"] for ex in bbh.examples[:27]] == list(BBH_SUBTASKS)
    assert len({ex.id for ex in bbh}) == 6511
    head = load_task("bbh", limit=54)
    counts = {sub: 0 for sub in BBH_SUBTASKS}
    for ex in head:
        counts[ex.meta["subtask"]] += 1
    assert set(counts.values()) == {2}


def test_bbh_all_scores_per_example_kind(bbh):
    for ex in bbh.examples[:27 * 4]:
        assert bbh.check(f"So the answer is {ex.gold}.", ex), ex.id
    assert "(B)" in bbh.instructions and "So the answer is" in bbh.instructions
    mc = next(ex for ex in bbh if ex.meta["subtask"] == "snarks")
    assert "letter" in bbh.instructions_for(mc)
    nav = next(ex for ex in bbh if ex.meta["subtask"] == "navigate")
    assert "Yes or No" in bbh.instructions_for(nav)
    assert bbh.extract("So the answer is (C).") == "C"
    assert bbh.extract("So the answer is Valid.") == "valid"


def test_bbh_multiple_choice_extraction():
    task = load_task("bbh/date_understanding")
    ex = task.examples[0]  # options (A) 12/11/1937 ... (B) 12/25/1937; gold (B)
    assert ex.gold == "(B)" and "(B) 12/25/1937" in ex.question
    good = [
        "So the answer is (B).",
        "the answer is: **(B) 12/25/1937**",
        "Answer: B",
        "Answer: (b)",
        r"So the answer is \boxed{B}.",
        r"\boxed{\text{(B)}}",
        "So the answer is 12/25/1937.",  # the option's text maps to its letter
        "Option (A) is too early; (B) is right.",  # fallback: last option mentioned
        "The answer is option B.",
    ]
    for text in good:
        assert task.extract(text, ex) == "B", text
    assert task.extract("So the answer is (A).", ex) == "A"
    assert task.extract("So the answer is (Z). Hmm, (Z).", ex) is None  # no such option
    assert task.extract("I cannot tell.", ex) is None
    assert not task.score(None, ex)
    assert "(X)" in task.instructions


def test_bbh_free_form_normalization():
    dyck = load_task("bbh/dyck_languages")
    assert dyck.normalize(")]>") == dyck.normalize(") ] >.") == ") ] >"
    assert dyck.extract("So the answer is } ] >.") == "} ] >"
    words = load_task("bbh/word_sorting")
    assert words.normalize("Apple, banana  Cherry.") == "apple banana cherry"
    assert words.extract("So the answer is apple banana. That is sorted.") == "apple banana"
    labels = load_task("bbh/causal_judgement")
    assert labels.extract("So the answer is Yes, because the wire.") == "yes"
    assert labels.extract("No doubt... the person would say No") == "no"
    fallacy = load_task("bbh/formal_fallacies")
    assert fallacy.extract("Hence the argument is invalid.") == "invalid"
    assert fallacy.extract("Hence the argument is valid.") == "valid"
    arith = load_task("bbh/multistep_arithmetic_two")
    assert arith.extract("So the answer is -110.") == "-110"
    assert arith.extract("(3 - 5) = -2, then -2 * 4 = -8") == "-8"


def test_bbh_quirky_free_text_gold_in_mc_subtask():
    task = load_task("bbh/movie_recommendation")
    ex = next(ex for ex in task if ex.gold == "Monsters, Inc")
    assert task.check("So the answer is Monsters, Inc.", ex)
    assert not task.check("So the answer is (A).", ex)


@pytest.mark.parametrize("subtask", BBH_SUBTASKS)
def test_bbh_fewshot_prompts_hold_well_formed_answers(subtask):
    task = load_task(f"bbh/{subtask}")
    shots = task.fewshot[subtask]
    assert "canary" not in shots.lower() and shots.count("\nQ: ") + shots.startswith("Q: ") >= 3
    prompt = task.fewshot_prompt(task.examples[0])
    assert prompt.startswith(shots) and prompt.endswith("A: Let's think step by step.")
    pairs = re.findall(r"Q: (.*?)\nA: (.*?)(?=\n\nQ: |\Z)", shots, re.DOTALL)
    assert len(pairs) == 3
    for question, answer in pairs:
        shot = task.examples[0].model_copy(update={"question": question})
        got = task.extract(answer, shot)
        kind = answer_kind(subtask)
        if kind == "mc":
            assert got is not None and "(" + got + ")" in question
        elif kind == "label":
            assert got in {x.lower() for x in LABELS[subtask]}
        elif kind == "number":
            assert got is not None and parse_number(got) is not None
        elif kind == "words":
            listed = question.split("List:", 1)[1].split()
            assert got == " ".join(sorted(listed))
        else:
            assert got and set(got.replace(" ", "")) <= set(")]}>")


def test_bbh_file_path_and_malformed_json(tmp_path):
    src = BBH_DIR / "navigate.json"
    task = load_task("bbh/navigate", data=src)
    assert len(task) == 250 and "navigate" in task.fewshot
    bad = tmp_path / "navigate.json"
    bad.write_text('{"examples": [{"input": "x"}]}', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"examples\[0\].*'target'") as info:
        load_task("bbh/navigate", data=tmp_path)
    assert str(bad) in str(info.value)
    bad.write_text('{"examples": [\n{"input": }]}', encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load_task("bbh/navigate", data=bad)
    assert info.value.line == 2
    with pytest.raises(UserError, match="snarks.json"):
        load_task("bbh/snarks", data=tmp_path)  # folder without that subtask's file


# ----------------------------------------------------------------------------- load_task


def test_unknown_task_lists_valid_names():
    with pytest.raises(UnknownNameError) as info:
        load_task("gsm9k")
    message = str(info.value)
    assert "gsm9k" in message and "gsm8k" in message and "bbh/word_sorting" in message
    assert isinstance(info.value, UserError) and info.value.valid == sorted(TASK_NAMES)
    with pytest.raises(UnknownNameError):
        load_task("bbh/not_a_subtask")


def test_missing_data_path_names_it(tmp_path):
    missing = tmp_path / "nowhere" / "train.jsonl"
    for name in ("gsm8k", "bbh", "bbh/navigate"):
        with pytest.raises(UserError, match=re.escape(str(missing))):
            load_task(name, data=missing)


def test_limit_and_offset_keep_file_ids():
    task = load_task("gsm8k", limit=5, offset=10)
    assert [ex.id for ex in task] == [f"train-{i}" for i in range(10, 15)]
    assert len(load_task("bbh/navigate", limit=0)) == 0
    assert len(load_task("bbh/snarks", offset=170)) == 8
    assert task.example("train-12").id == "train-12"
    with pytest.raises(UserError):
        task.example("train-99")
    for kwargs in ({"limit": -1}, {"offset": -2}):
        with pytest.raises(UserError):
            load_task("gsm8k", **kwargs)


def test_bbh_agent_prompts_carry_each_examples_own_shots_as_text():
    from agentforge.agents import Agent
    from agentforge.core.aio import run_sync
    from agentforge.llm import FunctionModel

    task = load_task("bbh", limit=27)  # interleaved: one example of every subtask
    prompts = {}

    def model(messages, info):
        prompts[info.call_number] = messages
        return "So the answer is (A)."

    agent = Agent("cot", model=FunctionModel(model), task=task)
    for i, ex in enumerate(task.examples):
        run_sync(agent.arun(ex))
        msgs = prompts[i]
        user = msgs[-1]["content"]
        own = task.fewshot[ex.meta["subtask"]]
        assert own.splitlines()[0] in user and "{'" not in user and "\\n" not in user  # text, not a dict repr
        others = [s for s in task.fewshot if s != ex.meta["subtask"] and task.fewshot[s].splitlines()[0] not in own]
        assert not any(task.fewshot[s].splitlines()[0] in user for s in others)
        assert len(user) < 12_000  # one subtask's shots, not all 27 (~77,000 characters)
        assert "arithmetic" not in msgs[0]["content"]  # the system persona fits a logic puzzle
    assert len(prompts) == 27
