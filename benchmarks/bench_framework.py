"""Framework overhead and concurrency of compiled agent graphs (scripted fake models, no LLM).

1. Overhead: time per LLM call through a compiled ``cot`` agent graph (LangGraph + templates +
   LLM layer + litellm) against a plain loop of direct ``litellm.acompletion`` calls to the same
   zero-latency fake model, in the same run. Prints both and the ratio.
2. Concurrency: a fake model that sleeps 200 ms per call; wall time of a 3-agent, 2-round debate
   (9 calls) against the ideal of 3 sequential stages x 200 ms. Prints the ratio (1.0 = ideal;
   9 calls run one after another would give 3.0).

Usage: python benchmarks/bench_framework.py [--calls 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from agentforge.agents import Agent, build_agent_spec
from agentforge.llm import LLM, FunctionModel


class _Fmt:
    instructions = "Finish with 'Answer: <x>'."

    def extract(self, text, example=None):
        return text.rsplit("Answer:", 1)[-1].strip() if "Answer:" in text else None

    def normalize(self, answer, example=None):
        return answer


async def overhead(calls: int) -> tuple[float, float, float]:
    import litellm

    fm = FunctionModel(lambda m, i: "Answer: 4", name="bench-zero")
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    # warm-up (litellm lazy imports, template compilation)
    await litellm.acompletion(model=fm.model_id, messages=msgs)
    agent = Agent(build_agent_spec("cot"), LLM(model=fm, cache=False), _Fmt())
    llm = LLM(model=fm, cache=False)
    await agent.arun("warm up")

    t0 = time.perf_counter()
    for _ in range(calls):
        await litellm.acompletion(model=fm.model_id, messages=msgs, temperature=0.0, max_tokens=512)
    direct = (time.perf_counter() - t0) / calls
    t0 = time.perf_counter()
    for _ in range(calls):
        await llm.acomplete(msgs)
    layer = (time.perf_counter() - t0) / calls
    t0 = time.perf_counter()
    for i in range(calls):
        await agent.arun(f"What is {i}+2?")
    graph = (time.perf_counter() - t0) / calls
    return direct, layer, graph


async def debate_wall(delay: float) -> float:
    async def slow(m, i):
        await asyncio.sleep(delay)
        return "Answer: 5"

    agent = Agent(build_agent_spec("debate", agents=3, rounds=2), LLM(model=FunctionModel(slow), cache=False), _Fmt())
    await agent.arun("warm up")
    t0 = time.perf_counter()
    res = await agent.arun("What is 2+3?")
    assert res.usage.calls == 9
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    runs = [asyncio.run(overhead(args.calls)) for _ in range(args.repeats)]
    direct = statistics.median(r[0] for r in runs) * 1e3
    layer = statistics.median(r[1] for r in runs) * 1e3
    graph = statistics.median(r[2] for r in runs) * 1e3
    print(f"overhead ({args.calls} calls x {args.repeats} repeats, median; zero-latency fake model)")
    print(f"  direct litellm.acompletion loop : {direct:7.3f} ms/call")
    print(f"  agentforge LLM.acomplete loop   : {layer:7.3f} ms/call  ratio {layer / direct:5.2f}x")
    print(f"  compiled cot agent graph        : {graph:7.3f} ms/call  ratio {graph / direct:5.2f}x "
          f"(+{graph - direct:.3f} ms/call)")
    walls = [asyncio.run(debate_wall(0.2)) for _ in range(args.repeats)]
    wall = statistics.median(walls)
    print("concurrency (3-agent, 2-round debate = 9 calls, fake model sleeping 200 ms/call)")
    print(f"  wall {wall * 1e3:7.1f} ms; ideal 3 stages x 200 ms = 600 ms; ratio {wall / 0.6:5.3f} "
          f"(sequential calls would be {9 * 0.2 / 0.6:.1f})")


if __name__ == "__main__":
    main()
