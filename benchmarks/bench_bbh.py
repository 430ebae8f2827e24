"""BIG-Bench Hard: our cot agent against the published BBH CoT prompting setup, same model.

Three subtasks (navigate: yes/no, date_understanding: multiple choice, object_counting: a
number), the first 50 examples of each, the embedded 0.5B model, greedy, max_tokens 512.

* ``cot``: the framework's prompt path (the task's system persona, the example's own subtask's
  3-shot CoT prompt as ``{{ fewshot }}``, the question, the answer-format instruction).
* ``bbh-cot``: the setup of Suzgun et al. 2022 ("Challenging BIG-Bench Tasks and Whether
  Chain-of-Thought Can Solve Them"): the subtask's 3-shot CoT prompt, then ``Q: <input>`` and
  ``A: Let's think step by step.``, as one user message with no system prompt; the answer is read
  from "So the answer is ...", as in that paper.

Resumable (``benchmarks/results/bbh/<model>/<subtask>/<setup>/``); ``--report-only`` rebuilds.

Usage:
    python benchmarks/bench_bbh.py [--model qwen2.5-coder-0.5b-instruct] [--limit 50]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import markdown, run_config, summarize, write_report

from agentforge.agents import END, AgentSpec, EdgeSpec, NodeSpec, build_agent_spec
from agentforge.llm import LLM, model_requests_allowed
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "bbh"
SUBTASKS = ("navigate", "date_understanding", "object_counting")
PUBLISHED = AgentSpec(
    name="bbh-cot", description="Suzgun et al. 2022: 3-shot CoT prompt, Q:, A: Let's think step by step.",
    nodes=[NodeSpec(id="answer", system=None, prompt="{{ fewshot }}\n\nQ: {{ question }}\nA: Let's think step by step.",
                    answer=True)],
    edges=[EdgeSpec(source="answer", target=END)], entry="answer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    root = ROOT / args.model
    llm = LLM(model=f"local/{args.model}", seed=0, max_tokens=512, cache_dir=str(ROOT / "cache"))
    setups = {"cot": build_agent_spec("cot"), "bbh-cot": PUBLISHED}
    all_rows, sections = [], []
    for sub in SUBTASKS:
        task = load_task(f"bbh/{sub}", limit=args.limit)
        if not args.report_only:
            for name, spec in setups.items():
                print(f"== {sub} {name}", flush=True)
                run_config(task, spec, llm, root / sub / name, f"{sub} {name}")
        ids = [ex.id for ex in task.examples]
        with model_requests_allowed(False):
            base = summarize("bbh-cot", root / sub / "bbh-cot", ids)
            rows = [r for name in ("bbh-cot", "cot")
                    if (r := summarize(name, root / sub / name, ids, base["correct"] if base else None))]
        for r in rows:
            r["subtask"] = sub
        all_rows += rows
        sections.append(f"### bbh/{sub}, first {args.limit}, {args.model}\n\n{markdown(rows, 'bbh-cot')}")
    text = "\n\n".join(sections)
    print(text)
    write_report(root, all_rows, text)


if __name__ == "__main__":
    main()
