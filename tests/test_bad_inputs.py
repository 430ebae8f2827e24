"""Every bad input is a clean error: exit 2 (or the documented code), one message, no traceback.

The cases are data in ``tests/bad_inputs.py``; ``benchmarks/bench_bad_inputs.py`` measures the
same table against an earlier commit.
"""

from __future__ import annotations

import pytest

from bad_inputs import CASES, run_case

from agentforge.cli.app import _register, app
from agentforge.llm.fake import FunctionModel

_register()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_ends_cleanly(case, tmp_path):
    verdict, output = run_case(case, tmp_path, app, lambda name, fn: FunctionModel(fn, name=name))
    assert verdict == "clean", f"{case.name}: {verdict} (expected exit {case.expect}, /{case.match}/)\n{output[-1500:]}"
