"""HumanEval (Chen et al. 2021) on the bundled data: loading, visible tests, code extraction,
scoring in the sandbox, pass@k, and a scripted run through the CLI and the runner."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import time

import pytest

from agentforge.core.errors import DataFormatError, UserError
from agentforge.tasks import TASK_NAMES, HumanEvalTask, load_task, pass_at_k
from agentforge.tasks import humaneval as he
from agentforge.tasks.docstring_tests import visible_tests
from agentforge.tasks.extraction import code_blocks, extract_code
from agentforge.tasks.programs import complete_program, strip_demo


@pytest.fixture(scope="module")
def task() -> HumanEvalTask:
    return load_task("humaneval")  # type: ignore[return-value]


def fenced(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code}\n```"


# ----------------------------------------------------------------------------- loading


def test_loads_164_problems_with_ids_prompts_and_meta(task):
    assert "humaneval" in TASK_NAMES and task.name == "humaneval" and len(task) == 164
    assert [e.id for e in task] == [f"HumanEval/{i}" for i in range(164)]
    assert task.answer_type == "program"
    for ex in task:
        entry = ex.meta["entry_point"]
        assert set(ex.meta) == {"entry_point", "test", "visible_tests"}
        assert f"def {entry}(" in ex.question and "def check(candidate)" in ex.meta["test"]
        assert ex.gold.startswith(ex.question.strip()) and len(ex.gold) > len(ex.question.strip())
        assert "def check(candidate)" not in task.prompt(ex) and ex.gold not in task.prompt(ex)
    assert "```python" in task.prompt(task.examples[0])


def test_limit_and_offset_keep_file_ids():
    sub = load_task("humaneval", limit=3, offset=160)
    assert [e.id for e in sub] == ["HumanEval/160", "HumanEval/161", "HumanEval/162"]
    assert [e.id for e in load_task("humaneval", limit=2)] == ["HumanEval/0", "HumanEval/1"]


def test_bundled_file_is_the_pinned_one_with_its_license():
    folder = he.DEFAULT_PATH.parent
    assert sorted(p.name for p in folder.iterdir()) == ["HumanEval.jsonl.gz", "LICENSE"]
    assert he.sha256_of(he.DEFAULT_PATH) == he.DATA_SHA256
    assert "MIT License" in (folder / "LICENSE").read_text() and "OpenAI" in (folder / "LICENSE").read_text()


def test_text_tasks_keep_the_default_contract():
    gsm = load_task("gsm8k", limit=1)
    assert gsm.answer_type == "text" and gsm.visible_tests(gsm.examples[0]) == []
    bbh = load_task("bbh/navigate", limit=1)
    assert bbh.answer_type == "text" and bbh.visible_tests(bbh.examples[0]) == []


def test_corrupt_bundled_file_is_refused_naming_it(tmp_path, monkeypatch):
    bad = tmp_path / "HumanEval.jsonl.gz"
    data = bytearray(he.DEFAULT_PATH.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(he, "DEFAULT_PATH", bad)
    with pytest.raises(DataFormatError) as info:
        load_task("humaneval")
    assert str(bad) in str(info.value) and "SHA-256" in str(info.value)
    with pytest.raises(DataFormatError, match="SHA-256"):
        he.load_humaneval(bad, sha256=he.DATA_SHA256)  # another path, checked when asked
    with pytest.raises(DataFormatError, match="gzip"):
        he.load_humaneval(bad)  # unchecked: the damaged gzip stream is still caught, naming the file


def test_user_copies_load_as_gzip_folder_or_plain_jsonl(tmp_path):
    shutil.copy(he.DEFAULT_PATH, tmp_path / "HumanEval.jsonl.gz")
    assert len(load_task("humaneval", data=tmp_path)) == 164
    plain = tmp_path / "he.jsonl"
    lines = gzip.decompress(he.DEFAULT_PATH.read_bytes()).decode().splitlines()
    plain.write_text("\n".join(lines[:2]) + "\n")
    assert [e.id for e in load_task("humaneval", data=plain)] == ["HumanEval/0", "HumanEval/1"]
    record = json.loads(lines[0])
    del record["test"]
    plain.write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataFormatError, match=r"he\.jsonl:2: key 'test' is missing"):
        load_task("humaneval", data=plain)


# ----------------------------------------------------------------------------- visible tests


def test_visible_tests_from_doctests(task):
    assert task.visible_tests(task.example("HumanEval/0")) == [
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",
    ]
    assert task.visible_tests(task.example("HumanEval/2")) == ["assert truncate_number(3.5) == 0.5"]
    # ">>> longest([])" shows no output (None): not a test
    assert task.visible_tests(task.example("HumanEval/12")) == [
        "assert longest(['a', 'b', 'c']) == 'a'", "assert longest(['a', 'bb', 'ccc']) == 'ccc'"]
    # escapes stay as written; a wrapped call with a trailing comment loses the comment
    assert "assert remove_vowels('abcdef\\nghijklm') == 'bcdf\\nghjklm'" in task.example("HumanEval/51").meta[
        "visible_tests"]
    assert task.visible_tests(task.example("HumanEval/32"))[0] == "assert round(find_zero([1, 2]), 2) == -0.5"


def test_visible_tests_from_prose_forms(task):
    vis = {i: task.visible_tests(task.example(f"HumanEval/{i}")) for i in (67, 76, 77, 94, 97, 120, 141, 148)}
    assert vis[77][:2] == ["assert iscube(1) == True", "assert iscube(2) == False"]  # ==>
    assert vis[76][0] == "assert is_simple_power(1, 4) == True"  # => true
    assert vis[67][0] == "assert fruit_distribution('5 apples and 6 oranges', 19) == 8"  # ->19 - 5 - 6 = 8
    assert vis[97][0] == "assert multiply(148, 412) == 16"  # should return 16.
    assert vis[141] == ["assert file_name_check('example.txt') == 'Yes'",  # # => 'No' (the name ...)
                        "assert file_name_check('1example.dll') == 'No'"]
    assert vis[94][-1] == "assert skjkasdkd([0, 8, 1, 2, 1, 7]) == 7"  # For lst = ... the output should be 7
    assert vis[120][0] == "assert maximum([-3, -4, 5], 3) == [-4, -3, 5]"  # Input: arr = ..., k = 3 / Output:
    assert "assert bf('Earth', 'Mercury') == 'Venus'" not in vis[148] and len(vis[148]) == 2  # ("Venus") skipped


def test_visible_tests_skip_what_is_ambiguous_or_wrong(task):
    assert task.visible_tests(task.example("HumanEval/80")) == []  # is_happy(a) => False: `a` is no literal
    assert task.visible_tests(task.example("HumanEval/130")) == ["assert tri(3) == [1, 3, 2, 8]"]  # definitions
    assert task.visible_tests(task.example("HumanEval/47")) == ["assert median([3, 1, 2, 4, 5]) == 3"]  # erratum
    prompt = 'def f(x):\n    """Examples:\n    f(1) = 2\n    f(2) returns 3\n    f(y) = 4\n    f(3) = [\n    """\n'
    assert visible_tests(prompt, "f") == ["assert f(1) == 2", "assert f(2) == 3"]
    numbered = ('def f(x):\n    """f(n) = n + 1 if odd.\n    Example 1:\n      f(1) ==> 2\n'
                '    Example 2:\n      f(3) ==> 4\n    """\n')
    assert visible_tests(numbered, "f") == ["assert f(1) == 2", "assert f(3) == 4"]  # the definition is skipped
    assert visible_tests("def f(:", "f") == [] and visible_tests("def g():\n    pass\n", "f") == []


def test_visible_test_coverage_figures(task):
    covered = [e for e in task if e.meta["visible_tests"]]
    total = sum(len(e.meta["visible_tests"]) for e in task)
    assert (len(covered), total) == (156, 437)
    for ex in task:
        for test in ex.meta["visible_tests"]:
            compile(test, ex.id, "exec")  # parses
            assert test.startswith("assert ") and f"{ex.meta['entry_point']}(" in test


# ----------------------------------------------------------------------------- code extraction


def test_extract_code_prefers_the_python_block_defining_the_entry_point():
    func = fenced("def f(x):\n    return x + 1")
    reply = f"Here it is:\n{func}\nUsage:\n{fenced('print(f(1))')}\n{fenced('2', 'text')}"
    assert extract_code(reply, "f") == "def f(x):\n    return x + 1"
    assert extract_code(reply) == "print(f(1))"  # without an entry point: the last Python block
    assert extract_code(fenced("x = 1", "javascript")) == "x = 1"  # any block beats none
    assert code_blocks("```py\na\n```\n```\nb\n```") == [("py", "a"), ("", "b")]
    assert extract_code("```python\ndef f():\n    return 1") == "def f():\n    return 1"  # cut-off reply


def test_extract_code_from_unfenced_replies():
    assert extract_code("Sure! Here is it:\ndef f(x):\n    return x\n\nThis works because f is f.") == (
        "def f(x):\n    return x")
    assert extract_code("    total = sum(xs)\n    return total\n") == "total = sum(xs)\nreturn total"
    assert extract_code("The answer is 5.") is None and extract_code("Yes") is None and extract_code("") is None


def test_extract_completes_whole_functions_bodies_and_helpers(task):
    ex0 = task.example("HumanEval/0")
    whole = "def has_close_elements(numbers, threshold):\n    return False\n\nprint(has_close_elements([], 1))"
    program = task.extract(fenced(whole), ex0)
    assert program.startswith("from typing import List") and "print(" not in program  # import added, demo dropped
    body = task.extract(fenced("    return any(abs(a - b) < threshold for a in numbers for b in numbers[:0])"), ex0)
    assert body.startswith(ex0.question.strip()) and body.endswith("for b in numbers[:0])")
    assert task.extract(body, ex0) == body and task.extract(fenced(program), ex0) == program  # idempotent
    ex38 = task.example("HumanEval/38")
    decode = task.extract(fenced("def decode_cyclic(s):\n    return encode_cyclic(encode_cyclic(s))"), ex38)
    assert decode.index("def encode_cyclic") < decode.index("def decode_cyclic")  # the prompt's helper comes along
    assert task.extract("I cannot solve this.", ex0) is None
    assert task.extract(fenced("def g():\n    return 1\nprint(g())")) == "def g():\n    return 1"  # no example
    assert task.normalize("  x = 1\n") == "x = 1"


def test_strip_demo_drops_demo_statements_only():
    code = ("import sys\nsys.setrecursionlimit(10000)\nLIMIT = 3\n\n\ndef f(x):\n    # keep me\n    return x\n\n"
            "print(f(1))\nf(2)\nassert f(3) == 3\n'doc'\nif __name__ == '__main__':\n    f(4)\n")
    assert strip_demo(code) == ("import sys\n\nsys.setrecursionlimit(10000)\n\nLIMIT = 3\n\n"
                                "def f(x):\n    # keep me\n    return x")


def test_program_helpers_leave_code_they_cannot_read_alone():
    assert strip_demo("def f(:\n print(1)") == "def f(:\n print(1)"
    assert strip_demo("if __name__ == '__main__':\n    main()") == "if __name__ == '__main__':\n    main()"
    assert complete_program("return (", "def f(x):\n    '''doc'''\n", "f") == "return ("


# ----------------------------------------------------------------------------- scoring (sandbox)


def test_every_canonical_solution_passes_its_hidden_tests(task):
    from agentforge.sandbox import Limits, arun_program

    async def run_all():
        return await asyncio.gather(*(arun_program(*task.harness(ex.gold, ex), limits=Limits(wall_s=30.0))
                                      for ex in task))

    results = asyncio.run(run_all())
    failed = [(ex.id, res.feedback()) for ex, res in zip(task, results) if not res.passed]
    assert failed == []


def test_every_canonical_solution_passes_its_visible_tests(task):
    from agentforge.sandbox import Limits, arun_program

    shown = [ex for ex in task if ex.meta["visible_tests"]]

    async def run_all():
        return await asyncio.gather(*(arun_program(ex.gold, task.visible_tests(ex), limits=Limits(wall_s=30.0))
                                      for ex in shown))

    results = asyncio.run(run_all())
    failing = [(ex.id, res.first_failure) for ex, res in zip(shown, results) if not res.passed]
    assert failing == []  # a failure here is a parsing bug (or a new erratum)


def test_score_rejects_wrong_and_looping_programs(task):
    ex = task.example("HumanEval/2")
    assert task.score(ex.gold, ex) is True
    assert task.check(fenced("def truncate_number(number):\n    return number % 1.0"), ex) is True
    assert task.score("def truncate_number(number):\n    return number", ex) is False
    assert task.score("import sys\ndef truncate_number(number):\n    sys.exit(0)", ex) is False  # no escape
    assert task.score(None, ex) is False and task.score("  ", ex) is False
    fast = HumanEvalTask("humaneval", [ex], wall_s=2.0)
    t0 = time.perf_counter()
    assert fast.score("def truncate_number(number):\n    while True:\n        pass", ex) is False
    assert time.perf_counter() - t0 < 15
    with pytest.raises(UserError, match="wall_s"):
        HumanEvalTask("humaneval", [ex], wall_s=0)


# ----------------------------------------------------------------------------- pass@k


def test_pass_at_k_matches_hand_computed_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # c / n
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(10, 1, 5) == pytest.approx(0.5)  # 1 - C(9,5)/C(10,5) = 1 - 126/252
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(200, 0, 10) == 0.0
    assert pass_at_k(200, 191, 10) == 1.0 and pass_at_k(3, 3, 3) == 1.0  # n - c < k
    assert 0.0 < pass_at_k(1000, 1, 100) == pytest.approx(0.1)  # stable with huge binomials


@pytest.mark.parametrize("args", [(5, 1, 6), (5, 1, 0), (5, 6, 1), (5, -1, 1), (0, 0, 1), (5, 1, 1.5), (True, 1, 1)])
def test_pass_at_k_rejects_bad_arguments(args):
    with pytest.raises(UserError, match="pass_at_k"):
        pass_at_k(*args)


# ----------------------------------------------------------------------------- a scripted run


def test_cli_run_records_programs_and_correctness(tmp_path):
    from typer.testing import CliRunner

    from agentforge.cli.app import _register, app
    from agentforge.llm.fake import FunctionModel
    from agentforge.runner import read_results

    problems = load_task("humaneval", limit=3, offset=1)
    golds = {ex.question.strip(): ex.gold for ex in problems}

    def model(messages, info):
        prompt = messages[-1]["content"]
        q = next(q for q in golds if q in prompt)
        if "def below_zero" in q:  # HumanEval/3: a wrong program
            return fenced("def below_zero(operations):\n    return False")
        return "Let me write it.\n" + fenced(golds[q]) + "\nDone."

    fm = FunctionModel(model, name="humaneval-cli")
    _register()
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--task", "humaneval", "--agent", "cot", "--limit", "3", "--offset", "1",
                                      "--model", fm.model_id, "--no-cache", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in read_results(out / "results.jsonl")}
    assert sorted(rows) == ["HumanEval/1", "HumanEval/2", "HumanEval/3"]
    assert rows["HumanEval/2"]["prediction"].startswith("def truncate_number") and rows["HumanEval/2"]["correct"]
    assert rows["HumanEval/1"]["correct"] and not rows["HumanEval/3"]["correct"]
    assert "def below_zero(operations):\n    return False" in rows["HumanEval/3"]["prediction"]
    assert all(r["error"] is None for r in rows.values())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and summary["correct"] == 2 and summary["llm_calls"] == 3


def test_runner_scores_programs_with_the_hidden_tests(tmp_path):
    from agentforge.agents import build_agent_spec
    from agentforge.llm import LLM, FunctionModel
    from agentforge.runner import Runner, read_results

    problems = load_task("humaneval", limit=2, offset=2)  # truncate_number, below_zero
    bodies = {"truncate_number": "    return number % 1.0", "below_zero": "    return True"}  # right, wrong

    def model(messages, info):
        name = next(n for n in bodies if f"def {n}(" in messages[-1]["content"])
        return fenced(bodies[name])  # a bare body: completed with the prompt

    summary = Runner(problems, build_agent_spec("cot"), LLM(model=FunctionModel(model), cache=False), tmp_path).run()
    rows = {r["id"]: r for r in read_results(tmp_path / "results.jsonl")}
    assert rows["HumanEval/2"]["correct"] and not rows["HumanEval/3"]["correct"]
    assert rows["HumanEval/2"]["prediction"].startswith("def truncate_number(number: float) -> float:")
    assert rows["HumanEval/3"]["prediction"].startswith("from typing import List")
    assert summary["accuracy"] == 0.5 and summary["errors"] == 0
