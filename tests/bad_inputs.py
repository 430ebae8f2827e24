"""Bad-input and fault cases for the CLI, as data: one row per case (issue 13's suite).

Shared by ``tests/test_bad_inputs.py`` (every row must end cleanly) and
``benchmarks/bench_bad_inputs.py`` (the share that ends cleanly, before and after a change).
Each case runs ``agentforge <argv>`` in-process against a scripted fake model named
``fake/bad-inputs`` whose reply the case picks; ``{tmp}`` in argv is a fresh folder that
``setup`` may fill. A case is *clean* when the exit code is the expected one, no Python traceback
escaped, and the output matches ``match``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BAD_UTF8 = b'{"question": "caf\xe9 \xff\xfe", "answer": "#### 2"}\n'
DEEP = "[" * 200_000 + "]" * 200_000
MODEL = "fake/bad-inputs"
REPLIES: dict[str, Callable[[list, object], str]] = {
    "answer": lambda m, i: "Work.\nAnswer: 2",
    "raise": lambda m, i: (_ for _ in ()).throw(ValueError("provider exploded")),
    "ansi": lambda m, i: "\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07 \x07bell\nAnswer: 2",
}


@dataclass
class Case:
    """One row: a name, the argv, files to create, the expected exit code and message."""

    name: str
    argv: list[str]
    expect: int = 2
    match: str = ""
    setup: Callable[[Path], None] | None = None
    reply: str = "answer"
    check: Callable[[str, Path], bool] | None = None


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup


def _gsm(rows: list[tuple[str, str]]) -> bytes:
    return "".join(json.dumps({"question": q, "answer": f"#### {a}"}) + "\n" for q, a in rows).encode()


RUN = ["run", "--model", MODEL, "--no-cache", "--out", "{tmp}/out"]
OPT = ["optimize", "--model", MODEL, "--no-cache", "--train", "1", "--val", "1", "--out", "{tmp}/opt"]
CASES: list[Case] = [
    # --- files that cannot be read as what they should be
    Case("data: not UTF-8", [*RUN, "--data", "{tmp}/d.jsonl"], match="UTF-8", setup=_write("d.jsonl", BAD_UTF8)),
    Case("data: deeply nested JSON", [*RUN, "--data", "{tmp}/d.jsonl"], match="d.jsonl",
         setup=_write("d.jsonl", DEEP + "\n")),
    Case("data: a line without an answer", [*RUN, "--data", "{tmp}/d.jsonl"], match=r"d.jsonl:2",
         setup=_write("d.jsonl", _gsm([("1+1?", "2")]) + b'{"question": "no answer"}\n')),
    Case("data: empty file", [*RUN, "--data", "{tmp}/d.jsonl"], match="no examples", setup=_write("d.jsonl", b"")),
    Case("data: folder without train.jsonl", [*RUN, "--data", "{tmp}/empty"], match="empty",
         setup=lambda t: (t / "empty").mkdir()),
    Case("data: missing path", [*RUN, "--data", "{tmp}/nope.jsonl"], match="does not exist"),
    Case("bbh data: not UTF-8", [*RUN, "--task", "bbh/navigate", "--data", "{tmp}/navigate.json"], match="UTF-8",
         setup=_write("navigate.json", b'{"examples": [{"input": "\xff", "target": "Yes"}]}')),
    Case("spec: not UTF-8", [*RUN, "--agent-spec", "{tmp}/s.json"], match="UTF-8", setup=_write("s.json", b"\xff\xfe{")),
    Case("spec: deeply nested", [*RUN, "--agent-spec", "{tmp}/s.json"], match="s.json", setup=_write("s.json", DEEP)),
    Case("spec: not JSON", [*RUN, "--agent-spec", "{tmp}/s.json"], match="s.json", setup=_write("s.json", "name: x")),
    Case("spec: a folder", [*RUN, "--agent-spec", "{tmp}"], match="spec"),
    Case("spec: invalid graph", [*RUN, "--agent-spec", "{tmp}/s.json"], match="no nodes",
         setup=_write("s.json", '{"name": "x", "nodes": [], "edges": [], "entry": "a"}')),
    Case("spec: escaping template path", [*RUN, "--agent-spec", "{tmp}/s.json"], match="only bundled templates",
         setup=_write("s.json", json.dumps({"name": "x", "entry": "a", "nodes": [{"id": "a", "prompt": "@/etc/passwd",
                                                                                     "answer": True}],
                                            "edges": [{"source": "a", "target": "END"}]}))),
    Case("memory import: not UTF-8", ["memory", "import", "memory://{tmp}/m", "{tmp}/r.jsonl"], match="UTF-8",
         setup=_write("r.jsonl", b'{"text": "\xff"}\n')),
    Case("memory import: deeply nested", ["memory", "import", "memory://{tmp}/m", "{tmp}/r.jsonl"], match="r.jsonl",
         setup=_write("r.jsonl", DEEP + "\n")),
    Case("memory import: missing file", ["memory", "import", "memory://{tmp}/m", "{tmp}/none.jsonl"], match="none.jsonl"),
    Case("prm eval: data not UTF-8", ["prm", "eval", "--judge", "http://127.0.0.1:9", "--data", "{tmp}/p.jsonl"],
         match="UTF-8", setup=_write("p.jsonl", b'{"prompt": "\xff"}\n')),
    Case("optimize: spec not UTF-8", [*OPT, "--agent-spec", "{tmp}/s.json"], match="UTF-8",
         setup=_write("s.json", b"\xff")),
    # --- output and memory paths that cannot be written
    Case("out: a file", ["run", "--model", MODEL, "--limit", "1", "--out", "{tmp}/f"], match="not a folder",
         setup=_write("f", "x")),
    Case("out: under a file", ["run", "--model", MODEL, "--limit", "1", "--out", "{tmp}/f/sub"], match="f/sub",
         setup=_write("f", "x")),
    Case("out: read-only filesystem", ["run", "--model", MODEL, "--limit", "1", "--out", "/proc/agentforge-out"],
         match="/proc/agentforge-out"),
    Case("memory: a file, not a folder", [*RUN, "--limit", "1", "--memory", "chroma://{tmp}/f"], match="f",
         setup=_write("f", "x")),
    Case("memory: read-only filesystem", [*RUN, "--limit", "1", "--memory", "chroma:///proc/agentforge-mem"],
         match="agentforge-mem"),
    Case("memory stats: a file", ["memory", "stats", "memory://{tmp}/f"], match="f", setup=_write("f", "x")),
    Case("optimize: out is a file", [*OPT[:-1], "{tmp}/f"], match="not a folder", setup=_write("f", "x")),
    # --- numbers out of range, checked at the edge
    *[Case(f"run {flag} {value}", [*RUN, "--limit", "1", *extra, flag, value], match=re.escape(flag))
      for flag, value, extra in [
          ("--samples", "0", ["--agent", "self-consistency"]), ("--n", "0", ["--agent", "best-of-n"]),
          ("--beam-width", "0", ["--agent", "beam-search"]), ("--max-samples", "0", ["--agent", "best-of-n"]),
          ("--max-tokens", "0", []), ("--max-tokens", "-5", []), ("--temperature", "-1", []),
          ("--temperature", "nan", []), ("--temperature", "5", []), ("--limit", "-1", []), ("--offset", "-3", []),
          ("--concurrency", "0", []), ("--seed", "abc", []), ("--agents", "1", ["--agent", "debate"]),
          ("--trials", "0", ["--agent", "reflexion"]), ("--evaluator", "bogus", ["--agent", "reflexion"]),
          ("--max-iters", "0", ["--agent", "self-refine"])]],
    *[Case(f"optimize {flag} {value}", [*OPT, flag, value], match=re.escape(flag))
      for flag, value in [("--budget-calls", "0"), ("--judge-weight", "2"), ("--judge-weight", "nan"),
                          ("--train", "-1"), ("--max-candidates", "0"), ("--concurrency", "0"), ("--max-tokens", "0")]],
    Case("solve --max-tokens 0", ["solve", "q", "--model", MODEL, "--max-tokens", "0"], match="--max-tokens"),
    Case("memory search --k 0", ["memory", "search", "memory://{tmp}/m", "q", "--k", "0"], match="k"),
    Case("prm serve --port 70000", ["prm", "serve", "--model", "{tmp}", "--port", "70000"], match="70000|port"),
    # --- names with rich markup are printed literally
    Case("task name with markup", ["run", "--task", "[bold red]x[/]", "--model", MODEL], match=re.escape("[bold red]x[/]")),
    Case("agent name with a link", ["run", "--agent", "[link=http://x]y[/link]", "--model", MODEL],
         match=re.escape("[link=http://x]y[/link]")),
    Case("model name with markup", ["run", "--model", "[bold]m"], match=re.escape("[bold]m")),
    Case("agents show with markup", ["agents", "show", "[red]x"], match=re.escape("[red]x")),
    # --- runs that cannot work fail fast; one bad example does not end a run
    Case("unknown local model", ["run", "--model", "local/qwen9", "--limit", "1"], match="qwen2.5-coder"),
    Case("provider without its API key", ["run", "--model", "openai/gpt-4o-mini", "--limit", "3", "--out", "{tmp}/o"],
         match="OPENAI_API_KEY"),
    Case("every example errored", [*RUN, "--limit", "3"], expect=1, match="3 of 3 examples failed", reply="raise"),
    Case("one question past a template limit", [*RUN, "--data", "{tmp}/d.jsonl"], expect=0, match="errors=1",
         setup=_write("d.jsonl", _gsm([("1+1?", "2"), ("x" * 300_000, "2")]))),
    Case("solve strips terminal control codes", ["solve", "1+1?", "--model", MODEL, "--no-cache"], expect=0,
         match="answer: 2", reply="ansi", check=lambda out, tmp: "\x1b" not in out and "\x07" not in out),
    Case("judge folder missing", [*RUN, "--agent", "best-of-n", "--judge", "prm:{tmp}/none", "--limit", "1"],
         match="none"),
]


def classify(case: Case, exit_code: int | None, output: str, exception: BaseException | None, tmp: Path) -> str:
    """``clean``, ``traceback`` (an exception escaped) or ``wrong`` (another exit code or message)."""
    if exception is not None and not isinstance(exception, SystemExit) or "Traceback (most recent call last)" in output:
        return "traceback"
    if exit_code != case.expect or (case.match and not re.search(case.match, output)):
        return "wrong"
    if case.check is not None and not case.check(output, tmp):
        return "wrong"
    return "clean"


def run_case(case: Case, tmp: Path, app, register) -> tuple[str, str]:
    """Run one case in-process with ``typer.testing.CliRunner``; (class, output)."""
    from typer.testing import CliRunner

    if case.setup is not None:
        case.setup(tmp)
    register(MODEL.split("/", 1)[1], REPLIES[case.reply])
    argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
    env = {"COLUMNS": "200", **{k: None for k in os.environ if k.endswith("_API_KEY")}, "OPENAI_API_KEY": None}
    result = CliRunner().invoke(app, argv, env=env)
    out = result.output
    return classify(case, result.exit_code, out, result.exception, tmp), out
