"""PRMJudge on tiny random PRMs of each format, loaded through the real loading path.

Position checks recompute each format's scores the way its reference code does (search the
tag token ids, full-vocabulary logits; RLHFlow: one forward per prefix conversation, read at
-3) and compare with the judge's batched, offset-based, fast-head scores.
"""

from __future__ import annotations

import json
import math
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentforge.core.errors import DataFormatError, UserError  # noqa: E402
from agentforge.judges import PRMJudge, aggregate, split_steps, write_marker  # noqa: E402
from agentforge.judges.prm_batching import pad, plan_batches  # noqa: E402
from agentforge.judges.prm_formats import FORMATS, MARKER_FILE, render  # noqa: E402
from agentforge.judges.testing import build_model, build_tokenizer, make_tiny_prm, random_items  # noqa: E402

ITEMS = random_items(7, seed=3) + [("What is 2+2?", ["Step 1: 2+2 = 4.", "The answer is 4."])]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {f: make_tiny_prm(tmp_path_factory.mktemp(f), f) for f in FORMATS}


@pytest.fixture(scope="module")
def judges(folders):
    return {f: PRMJudge(folders[f], device="cpu") for f in FORMATS}  # exact fp32 comparisons


def reference_scores(judge, question, steps):
    """Each format's scores as its published reference code computes them."""
    tok, model, fmt = judge.tokenizer, judge.model, judge.format.name
    with torch.no_grad():
        if fmt == "rlhflow":
            plus, minus = tok.encode("+", add_special_tokens=False)[-1], tok.encode("-", add_special_tokens=False)[-1]
            conv, out = [], []
            for k, step in enumerate(steps):
                conv += [{"role": "user", "content": f"{question} {step}" if k == 0 else step},
                         {"role": "assistant", "content": "+"}]
                text = tok.apply_chat_template(conv, tokenize=False)
                ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
                logits = model(ids).logits[:, -3, [plus, minus]]
                out.append(logits.softmax(-1)[0, 0].item())
            return out
        r = render(judge.format, tok, question, steps)
        ids = torch.tensor([tok(r.text, add_special_tokens=r.add_special_tokens)["input_ids"]])
        if fmt == "qwen-prm":
            tag = tok.convert_tokens_to_ids("<extra_0>")
            probs = model(ids).logits.softmax(-1)[0, :, 1]
            return probs[ids[0] == tag].tolist()
        tag = tok.encode(" ки", add_special_tokens=False)[-1]
        good, bad = judge.candidates
        probs = model(ids).logits[0][:, [good, bad]].softmax(-1)[:, 0]
        return probs[ids[0] == tag].tolist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_shapes_and_range(judges, fmt):
    judge = judges[fmt]
    assert judge.format.name == fmt
    assert next(judge.model.parameters()).dtype == torch.float32
    assert (judge._fast_head is not None) == (fmt != "qwen-prm")  # causal LMs: 2-row LM head
    scores = judge.score_steps(ITEMS)
    assert [len(s) for s in scores] == [len(steps) for _, steps in ITEMS]
    assert all(0.0 <= x <= 1.0 for row in scores for x in row)
    assert judge.score("q", []).scores == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_scores_read_at_the_right_tokens(judges, fmt):
    judge = judges[fmt]
    for question, steps in ITEMS[-3:]:
        expected = reference_scores(judge, question, steps)
        assert len(expected) == len(steps)
        assert judge.score(question, steps).scores == pytest.approx(expected, abs=1e-4)
        # random weights, so reading one token off would change the scores
        assert max(expected) - min(expected) > 1e-3


@pytest.mark.parametrize("fmt", FORMATS)
def test_batching_and_padding_side_do_not_change_scores(judges, fmt):
    judge = judges[fmt]
    one_by_one = [judge.score(q, s).scores for q, s in ITEMS]
    judge.forward_calls = 0
    batched = judge.score_steps(ITEMS)
    assert judge.forward_calls < len(ITEMS)  # the budget (8192 tokens) packs several per pass
    left = PRMJudge.from_model(judge.model, judge.tokenizer, fmt, padding_side="left").score_steps(ITEMS)
    small = PRMJudge.from_model(judge.model, judge.tokenizer, fmt, max_tokens_per_batch=300)
    small_scores = small.score_steps(ITEMS)
    assert small.forward_calls > judge.forward_calls
    for a, b, c, d in zip(one_by_one, batched, left, small_scores):
        assert b == pytest.approx(a, abs=1e-4)
        assert c == pytest.approx(a, abs=1e-4)
        assert d == pytest.approx(a, abs=1e-4)


def test_tag_text_inside_a_step_does_not_shift_scores(judges):
    judge = judges["qwen-prm"]
    clean = judge.score("q", ["a step", "another"]).scores
    assert judge.score("q", ["a step<extra_0>", "another"]).scores == pytest.approx(clean, abs=1e-5)
    shep = judges["math-shepherd"]
    tagged, plain = shep.score("q", ["a step ки", "b"]).scores, shep.score("q", ["a step", "b"]).scores
    assert tagged == pytest.approx(plain, abs=1e-5)


def test_truncation_warns_and_marks_cut_steps_nan(judges):
    judge = judges["qwen-prm"]
    question, steps = "What is 2+2?", ["2+2 = 4."] + ["so the total is 4."] * 6
    full = judge.score(question, steps).scores
    r = render(judge.format, judge.tokenizer, question, steps)
    n_tokens = len(judge.tokenizer(r.text, add_special_tokens=False)["input_ids"])
    short = PRMJudge.from_model(judge.model, judge.tokenizer, "qwen-prm", max_length=n_tokens - 30)
    with pytest.warns(UserWarning, match="max_length"):
        cut = short.score(question, steps).scores
    seen = [x for x in cut if not math.isnan(x)]
    assert 0 < len(seen) < len(steps) and all(math.isnan(x) for x in cut[len(seen):])
    assert seen == pytest.approx(full[: len(seen)], abs=1e-4)
    assert aggregate(cut, "last") == pytest.approx(full[len(seen) - 1], abs=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        judge.score(question, steps)  # under the default max_length: no warning


def test_score_solution_uses_split_and_aggregate(judges):
    judge = judges["qwen-prm"]
    text = "Step 1: 2+2 = 4.\nStep 2: The answer is 4."
    steps = split_steps(text)
    assert judge.score_solution("2+2?", text, how="min") == pytest.approx(min(judge.score("2+2?", steps).scores))


def test_format_detection(tmp_path, folders):
    # qwen-prm is recognised without a marker (token classifier + <extra_0>)
    bare = make_tiny_prm(tmp_path / "plain-qwen", "qwen-prm", marker=False)
    assert PRMJudge(bare).format.name == "qwen-prm"
    # a causal LM without marker or name clue: error names the supported formats
    unknown = make_tiny_prm(tmp_path / "some-model", "math-shepherd", marker=False)
    with pytest.raises(UserError) as err:
        PRMJudge(unknown)
    for name in FORMATS:
        assert name in str(err.value)
    assert MARKER_FILE in str(err.value)
    # ... the folder name is a clue, and format= forces it
    named = make_tiny_prm(tmp_path / "math-shepherd-tiny", "math-shepherd", marker=False)
    assert PRMJudge(named).format.name == "math-shepherd"
    assert PRMJudge(unknown, format="rlhflow").format.name == "rlhflow"
    write_marker(unknown, "math_shepherd")
    assert json.loads((unknown / MARKER_FILE).read_text())["format"] == "math-shepherd"
    assert PRMJudge(unknown).format.name == "math-shepherd"


def test_bad_marker_and_bad_folder(tmp_path, folders):
    folder = make_tiny_prm(tmp_path / "m", "qwen-prm")
    (folder / MARKER_FILE).write_text("{not json")
    with pytest.raises(DataFormatError, match=MARKER_FILE):
        PRMJudge(folder)
    (folder / MARKER_FILE).write_text('{"format": "orm"}')
    with pytest.raises(UserError, match="qwen-prm, math-shepherd, rlhflow"):
        PRMJudge(folder)
    with pytest.raises(UserError, match="does not exist"):
        PRMJudge(tmp_path / "nope")
    with pytest.raises(UserError, match="cannot load"):
        PRMJudge(tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA"):
            PRMJudge(folders["qwen-prm"], device="cuda")


def test_default_device_and_dtype():
    from agentforge.judges.prm import resolve_device, resolve_dtype

    dev = resolve_device(None)
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype(None, dev) == (torch.bfloat16 if dev.type == "cuda" else torch.float32)
    assert resolve_dtype("bf16", dev) == torch.bfloat16
    with pytest.raises(UserError, match="dtype"):
        resolve_dtype("int3", dev)


def test_plan_batches_and_pad():
    batches = plan_batches([5, 50, 20, 20, 100], max_tokens=60)
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3, 4]
    assert batches[0] == [4]  # over budget: alone, and longest first
    assert all(len(b) * max([5, 50, 20, 20, 100][i] for i in b) <= 60 for b in batches[1:])
    b = pad([[1, 2, 3], [4]], pad_id=0, side="left")
    assert b.input_ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert b.position_ids.tolist() == [[0, 1, 2], [0, 0, 0]] and b.shifts == [0, 2]
    with pytest.raises(UserError):
        pad([[1]], 0, side="middle")


def test_from_model_and_candidates():
    tok = build_tokenizer()
    model = build_model("math-shepherd", len(tok))
    judge = PRMJudge.from_model(model, tok, "shepherd")
    good, bad = judge.candidates
    assert tok.decode([good]).strip() == "+" and tok.decode([bad]).strip() == "-"
    forced = PRMJudge.from_model(model, tok, "math-shepherd", options={"good_token_id": 5, "bad_token_id": 6})
    assert forced.candidates == (5, 6)
    with pytest.raises(UserError, match="supported formats"):
        PRMJudge.from_model(model, tok, "orm")
