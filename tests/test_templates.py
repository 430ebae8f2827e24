"""Templates cannot run away: work limits hold while rendering, nothing folds at compile time,
the sandbox is immutable, and only bundled templates can be named."""

from __future__ import annotations

import pytest

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.core.errors import SpecValidationError, TemplateError, TemplateLimitError, UnknownNameError
from agentforge.core.templates import MAX_OUTPUT, check_template, render, template_names

HOSTILE = {
    "nested loops": "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
                    "{% endfor %}{% endfor %}{% endfor %}",
    "loops over the question": "{% for a in question %}{% for b in question %}x{% endfor %}{% endfor %}",
    "center method": "{{ 'x'.center(1000000000) }}",
    "center filter": "{{ 'x'|center(1000000000) }}",
    "ljust": "{{ 'x'.ljust(500000000) }}",
    "zfill": "{{ '1'.zfill(500000000) }}",
    "percent format": "{{ '%0999999999d' % 1 }}",
    "str.format width": "{{ '{:>1000000000}'.format(1) }}",
    "format filter": "{{ '%0999999999d'|format(1) }}",
    "replace blow-up": "{{ ('x' * 100000).replace('x', 'x' * 100000) }}",
    "indent filter": "{{ question|indent(100000000) }}",
    "repetition": "{{ 'ab' * 500000000 }}",
    "power": "{{ 10 ** 10 ** 10 }}",
    "output flood": "{% for i in range(1000) %}{{ question }}{% endfor %}",
    "mutation": "{% for i in range(3) %}{{ peers.append(i) }}{% endfor %}",
    "private attribute": "{{ question.__class__.__mro__ }}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_is_refused_without_touching_the_run_state(name):
    # how fast and how small (the issue's goal: under 1 s and 100 MB): benchmarks/bench_templates.py
    ctx = {"question": "q" * 10_000, "peers": [1, 2]}
    with pytest.raises((TemplateError, TemplateLimitError)):
        render(HOSTILE[name], ctx)
    assert ctx["peers"] == [1, 2]


def test_ordinary_templates_still_work():
    assert render("{% for p in peers %}{{ loop.index }}{% endfor %} {{ 'ab' * 2 }}", {"peers": [1, 2]}) == "12 abab"
    assert render("{{ '%5.1f' % 3.14159 }}|{{ 'x'.center(5) }}|{{ 'a b'.replace(' ', '_') }}", {}) == "3.1|  x  |a_b"
    assert len(render("{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}", {})) == 100_000 < MAX_OUTPUT
    for name in template_names():  # every bundled template compiles under the limits
        check_template(f"@{name}", variables=None)


def test_only_bundled_templates_can_be_named():
    for ref in ("@/etc/passwd", "@../../etc/passwd", "@meta/../../secret", "@C:/x", "@Solve"):
        with pytest.raises(TemplateError, match="only bundled templates"):
            render(ref, {})
    with pytest.raises(UnknownNameError, match="@solve"):
        render("@nonexistent", {})
    assert "Question:" in render("@solve", {"question": "q", "instructions": "", "fewshot": "", "memory": ""})


def test_specs_with_runaway_or_escaping_templates_do_not_validate():
    data = build_agent_spec("cot").model_dump()
    data["nodes"][0]["prompt"] = "@/etc/hosts"
    with pytest.raises(SpecValidationError, match="only bundled templates"):
        AgentSpec.validate_dict(data)
    data["nodes"][0]["prompt"] = "{% for i in question %}"  # does not parse
    with pytest.raises(SpecValidationError, match="does not parse"):
        AgentSpec.validate_dict(data)
