"""The PRM pipeline: Math-Shepherd labeling on a scripted policy, training a tiny PRM, metrics, CLI."""

from __future__ import annotations

import json
import math
import random
import re

import pytest
from typer.testing import CliRunner

from agentforge.cli.app import _register, app
from agentforge.core.errors import DataFormatError, UserError
from agentforge.prm.data import (champ_record, first_error, load_champ, read_stepwise, split_records,
                                        write_stepwise)
from agentforge.prm.eval import (auroc, evaluate_judge, evaluate_scores, first_error_f1, make_judge,
                                        predict_first_error)
from agentforge.judges import PRMJudge
from agentforge.prm.label import label_task
from agentforge.prm.train import train_prm
from agentforge.judges.testing import make_tiny_prm
from agentforge.llm import LLM, FunctionModel
from agentforge.tasks import Example, GSM8KTask

_register()
cli = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other jobs for the cores)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ---- a scripted policy: odd samples make a known-wrong step 2 ("subtract") --------------------
def policy_fn(fail_every: int = 0):
    """Solutions: even sample -> correct, odd -> wrong at step 2. Rollouts: a prefix holding the
    wrong step never recovers (unless ``fail_every``: then rollout j == 0 recovers)."""

    def fn(messages, info):
        text = messages[-1]["content"]
        a, b = map(int, re.findall(r"has (\d+) apples and gets (\d+) more", text)[0])
        if "Here is the beginning" in text:
            wrong = "subtract" in text.split("Here is the beginning of a solution:")[1]
            x = a + b if not wrong or (fail_every and info.sample_index == 0) else a - b
            return f"Step 3: so the total is {x}.\n\nAnswer: {x}"
        word, op, x = ("add", "+", a + b) if info.sample_index % 2 == 0 else ("subtract", "-", a - b)
        return (f"Step 1: Tom starts with {a} apples.\n\nStep 2: He gets {b} more, so we {word} {b}.\n\n"
                f"Step 3: The total is {a} {op} {b} = {x}.\n\nAnswer: {x}")

    return fn


def toy_task(n: int) -> GSM8KTask:
    rng = random.Random(1)
    pairs = [(rng.randint(10, 50), rng.randint(1, 9)) for _ in range(n)]
    return GSM8KTask("gsm8k", [Example(id=f"q{i}", question=f"Tom has {a} apples and gets {b} more. How many now?",
                                       gold=str(a + b)) for i, (a, b) in enumerate(pairs)])


def test_label_hard_labels_format_and_early_stop(tmp_path):
    fm = FunctionModel(policy_fn())
    out = tmp_path / "labels.jsonl"
    stats = label_task(toy_task(2), LLM(model=fm, cache=False), out, samples=2, completions=3)
    recs = read_stepwise(out)
    assert len(recs) == 4 and stats.questions == 2 and stats.solutions == 4
    by = {(r["id"], r["sample"]): r for r in recs}
    assert by[("q0", 0)]["labels"] == [True, True, True] and by[("q0", 0)]["correct"]
    assert by[("q0", 1)]["labels"] == [True, False, False] and not by[("q0", 1)]["correct"]
    assert by[("q0", 1)]["completions"][1].startswith("Step 2:") and "subtract" in by[("q0", 1)]["completions"][1]
    assert set(by[("q0", 0)]) >= {"prompt", "completions", "labels"} and "soft_labels" not in by[("q0", 0)]
    # correct: no rollouts (the solution itself reaches the gold from every prefix);
    # wrong: step 1 (3) + step 2 (3), step 3 skipped after the error
    assert stats.completions == 2 * (0 + 6) and stats.policy_calls == 4
    assert len(fm.calls) == 4 + 12
    cont = [m for m, _ in fm.calls if "Here is the beginning" in m[-1]["content"]][0]
    assert cont[0]["role"] == "system" and "Continue this solution" in cont[-1]["content"]
    assert all(info.params.get("temperature") == 0.7 for _, info in fm.calls)


def test_label_resume_skips_done_questions_and_torn_line(tmp_path):
    fm = FunctionModel(policy_fn())
    out = tmp_path / "labels.jsonl"
    label_task(toy_task(2), LLM(model=fm, cache=False), out, samples=2, completions=2)
    with out.open("a") as f:
        f.write('{"id": "q2", "prompt": "torn')  # a crash mid-write
    calls = len(fm.calls)
    stats = label_task(toy_task(3), LLM(model=fm, cache=False), out, samples=2, completions=2)
    assert stats.skipped == 2 and stats.questions == 1
    assert len(fm.calls) - calls == 2 + 0 + 4  # only q2 was labeled (its correct sample needs no rollouts)
    ids = [r["id"] for r in read_stepwise(out)]  # questions run concurrently: file order is finish order
    assert sorted(ids) == ["q0", "q0", "q1", "q1", "q2", "q2"] and ids[-2:] == ["q2", "q2"]


def test_label_soft_labels(tmp_path):
    out = tmp_path / "soft.jsonl"
    label_task(toy_task(1), LLM(model=policy_fn(fail_every=1), cache=False), out, samples=2, completions=4,
               soft=True)
    wrong = [r for r in read_stepwise(out) if r["sample"] == 1][0]
    assert wrong["soft_labels"] == [1.0, 0.25, 0.0]  # 1 of 4 rollouts recovers after the bad step
    assert wrong["labels"] == [True, True, False]
    with pytest.raises(UserError):
        label_task(toy_task(1), LLM(model=policy_fn(), cache=False), tmp_path / "x.jsonl", samples=0)


# ---- data -----------------------------------------------------------------------------------
def test_stepwise_roundtrip_and_bad_line(tmp_path):
    recs = [{"prompt": "q", "completions": ["a", "b"], "labels": [True, False], "soft_labels": [0.5, 0]}]
    assert read_stepwise(write_stepwise(tmp_path / "x" / "d.jsonl", recs))[0]["soft_labels"] == [0.5, 0.0]
    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt": "q", "completions": ["a"], "labels": [true]}\n'
                 '{"prompt": "q", "completions": ["a", "b"], "labels": [true]}\n')
    with pytest.raises(DataFormatError, match="d.jsonl:2"):
        read_stepwise(p)


def test_split_by_question_and_first_error():
    recs = [{"id": f"q{i // 2}", "prompt": "p", "completions": ["a"], "labels": [True]} for i in range(20)]
    train, test = split_records(recs, held_out=0.2, seed=3)
    assert len(test) == 4 and not {r["id"] for r in train} & {r["id"] for r in test}
    assert first_error([True, False, False]) == 1 and first_error([True, True]) == -1


def test_champ_record_maps_char_span_to_step():
    text = "First we count.\n\nThen we add 2 + 2 = 5.\n\nSo the answer is 5."
    rec = champ_record("q", text, text.index("2 + 2"))
    assert rec["completions"] == ["First we count.", "Then we add 2 + 2 = 5."] and rec["labels"] == [True, False]
    full = champ_record("q", text, text.index("2 + 2"), truncate=False)
    assert full["labels"] == [True, False, False]
    assert champ_record("q", text, None)["labels"] == [True, True, True]


def test_load_champ_from_v0_json(tmp_path):
    v0 = {"problems": {"P_1": {"_raw_text": "How many @@x@@?", "_raw_answer": "3",
                               "fws_annotations": {"GPT-4|0-Shot": {"text": "a.\n\nb.\n\nc.", "start_idx": 3,
                                                                    "end_idx": 5, "author": "x"}}}}}
    p = tmp_path / "v0.json"
    p.write_text(json.dumps(v0))
    (rec,) = load_champ(p)
    assert rec["prompt"] == "How many x?" and rec["labels"] == [True, False] and rec["id"] == "P_1|GPT-4|0-Shot"
    p.write_text("{}")
    with pytest.raises(DataFormatError):
        load_champ(p)


# ---- metrics --------------------------------------------------------------------------------
def test_auroc_exact_values():
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert auroc([0.1, 0.2, 0.9], [False, False, True]) == 1.0
    assert auroc([0.9, 0.2], [False, True]) == 0.0
    assert auroc([0.5, 0.5, 0.5], [True, False, True]) == 0.5
    assert auroc([0.3, 0.3, 0.7], [False, True, True]) == pytest.approx(0.75)  # a tie counts half
    assert auroc([0.2, float("nan"), 0.9], [False, True, True]) == 1.0
    assert math.isnan(auroc([0.2, 0.3], [True, True]))


def test_auroc_matches_sklearn_on_random_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    s = [rng.randint(0, 9) / 10 for _ in range(200)]
    y = [rng.random() < 0.4 + 0.5 * v for v in s]
    assert auroc(s, y) == pytest.approx(metrics.roc_auc_score(y, s))


def test_first_error_f1_cases():
    assert predict_first_error([0.9, 0.4, 0.2]) == 1
    assert predict_first_error([0.9, 0.8]) == -1
    assert predict_first_error([float("nan"), 0.9, 0.1], threshold=0.2) == 2
    r = first_error_f1([1, -1, 2, -1], [1, 2, 2, -1])  # erroneous: 2 of 3 right; correct: 1 of 1
    assert r["error_acc"] == pytest.approx(2 / 3) and r["correct_acc"] == 1.0
    assert r["f1"] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1)) and (r["n_error"], r["n_correct"]) == (3, 1)
    assert first_error_f1([0, 1], [-1, 0])["f1"] == 0.0
    assert math.isnan(first_error_f1([-1], [-1])["f1"])


def test_evaluate_scores_report():
    recs = [{"prompt": "q", "completions": ["a", "b"], "labels": [True, False]},
            {"prompt": "q", "completions": ["a", "b"], "labels": [True, True]}]
    rep = evaluate_scores(recs, [[0.9, 0.1], [0.8, 0.7]])
    assert rep.auroc == 1.0 and rep.f1 == 1.0 and rep.steps == 4 and rep.positive == 3
    with pytest.raises(UserError):
        evaluate_scores(recs, [[0.9], [0.8, 0.7]])


def test_make_judge_rejects_unknown_spec():
    with pytest.raises(UserError, match="prm:<model folder>"):
        make_judge("openai/gpt-4o")
    assert make_judge("http://127.0.0.1:1").url == "http://127.0.0.1:1"


# ---- training (tiny base, CPU) and end-to-end CLI --------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Label 6 toy questions with the scripted policy, train a tiny PRM on them."""
    root = tmp_path_factory.mktemp("prm")
    data = root / "labels.jsonl"
    label_task(toy_task(6), LLM(model=policy_fn(), cache=False), data, samples=2, completions=2)
    base = make_tiny_prm(root / "base", "qwen-prm", marker=False)
    report = train_prm(data, base, root / "out", epochs=8, lr=2e-3, batch_size=4)
    return root, data, report


def test_train_then_prmjudge_scores_wrong_step_lower(trained):
    root, data, report = trained
    assert report.steps == 24 and report.examples == 12 and report.labeled_steps > 0
    assert sum(report.losses[-3:]) / 3 < report.losses[0]
    assert json.loads((root / "out" / "agentforge_prm.json").read_text())["format"] == "qwen-prm"
    judge = PRMJudge(root / "out")
    assert judge.format.name == "qwen-prm"
    recs = read_stepwise(data)
    good = next(r for r in recs if all(r["labels"]))
    bad = next(r for r in recs if not all(r["labels"]))
    (sg, sb) = judge.score_steps([(good["prompt"], good["completions"]), (bad["prompt"], bad["completions"])])
    assert len(sg) == 3 and sb[1] < 0.5 < sg[1]
    assert evaluate_judge(judge, recs).auroc > 0.9


def test_train_from_causal_lm_base_and_errors(tmp_path):
    base = make_tiny_prm(tmp_path / "base", "math-shepherd", marker=False)  # a Llama causal LM
    recs = [{"prompt": "we add?", "completions": ["add 3 + 4 = 7.", "answer 7."], "labels": [True, True]}]
    train_prm(recs, base, tmp_path / "out", epochs=1, batch_size=1)
    assert len(PRMJudge(tmp_path / "out").score("we add?", ["a.", "b.", "c."]).scores) == 3
    with pytest.raises(UserError, match="does not exist"):
        train_prm([{"prompt": "q", "completions": ["a"], "labels": [True]}], tmp_path / "none", tmp_path / "o")
    with pytest.raises(UserError):
        train_prm([], tmp_path, tmp_path / "o", lr=0)


def test_cli_eval_prm_and_http_and_bad_judge(trained):
    from agentforge.judges.server import BackgroundServer

    root, data, _ = trained
    r = cli.invoke(app, ["prm", "eval", "--judge", f"prm:{root / 'out'}", "--data", str(data),
                         "--out", str(root / "rep.json")])
    assert r.exit_code == 0, r.output
    assert "step AUROC" in r.output and json.loads((root / "rep.json").read_text())["auroc"] > 0.9
    with BackgroundServer(PRMJudge(root / "out"), token="s3cret") as srv:
        r = cli.invoke(app, ["prm", "eval", "--judge", srv.url, "--token", "s3cret", "--data", str(data)])
    assert r.exit_code == 0 and "F1" in r.output, r.output
    r = cli.invoke(app, ["prm", "eval", "--judge", "gpt4", "--data", str(data)])
    assert r.exit_code == 2 and "unknown judge" in r.output
    r = cli.invoke(app, ["prm", "eval", "--judge", f"prm:{root / 'missing'}", "--data", str(data)])
    assert r.exit_code == 2
    r = cli.invoke(app, ["prm", "eval", "--judge", f"prm:{root / 'out'}"])
    assert r.exit_code == 2 and "--champ" in r.output


def test_cli_label_and_train(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTFORGE_CACHE", "0")
    FunctionModel(policy_fn(), name="prm-policy")
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text("".join(json.dumps({"question": f"Tom has {a} apples and gets 2 more. How many?",
                                       "answer": f"... #### {a + 2}"}) + "\n" for a in (10, 20)))
    out = tmp_path / "l.jsonl"
    args = ["prm", "label", "--data", str(gsm), "--model", "fake/prm-policy", "--samples", "2",
            "--completions", "2", "--out", str(out), "--soft"]
    r = cli.invoke(app, args)
    assert r.exit_code == 0, r.output
    recs = read_stepwise(out)
    assert len(recs) == 4 and all("soft_labels" in x for x in recs)
    r = cli.invoke(app, args)
    assert r.exit_code == 0 and "2 already done" in r.output
    base = make_tiny_prm(tmp_path / "base", "qwen-prm", marker=False)
    r = cli.invoke(app, ["prm", "train", "--data", str(out), "--base", str(base), "--out", str(tmp_path / "m"),
                         "--epochs", "1", "--batch-size", "2", "--soft"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m" / "agentforge_prm.json").is_file() and "trained 2 steps" in r.output
    r = cli.invoke(app, ["prm", "train", "--data", str(tmp_path / "nope.jsonl"), "--base", str(base),
                         "--out", str(tmp_path / "m2")])
    assert r.exit_code == 2


def test_cli_serve_calls_serve(tmp_path, monkeypatch):
    import agentforge.judges.server as server

    seen = {}
    monkeypatch.setattr(server, "serve", lambda judge, **kw: seen.update(judge=judge, **kw))
    model = make_tiny_prm(tmp_path / "m", "math-shepherd")
    r = cli.invoke(app, ["prm", "serve", "--model", str(model), "--port", "8123", "--token", "t",
                         "--max-request-bytes", "1000", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert seen["port"] == 8123 and seen["host"] == "127.0.0.1" and seen["token"] == "t"
    assert seen["max_request_bytes"] == 1000 and seen["judge"].format.name == "math-shepherd"
    r = cli.invoke(app, ["prm", "serve", "--model", str(tmp_path / "none")])
    assert r.exit_code == 2

