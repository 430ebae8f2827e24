"""The model layer on the scripted fake model: usage, cache, retries, concurrency, guard."""

from __future__ import annotations

import asyncio

import litellm
import pytest

from agentforge.core.errors import ModelCallError, ModelRequestsForbiddenError, UserError
from agentforge.llm import LLM, FunctionModel

MSGS = [{"role": "user", "content": "what is two plus two"}]


def test_function_model_returns_text_and_usage(tmp_path):
    fm = FunctionModel(lambda m, i: "four is the answer")
    comp = LLM(model=fm, cache_dir=str(tmp_path)).complete(MSGS)
    assert comp.text == "four is the answer"
    assert comp.usage.calls == 1
    assert comp.usage.prompt_tokens == 5 and comp.usage.completion_tokens == 4
    assert comp.usage.cost_usd == 0.0 and not comp.cached
    assert fm.calls[0][0] == MSGS


def test_plain_callable_is_accepted_as_model():
    llm = LLM(model=lambda m, i: "ok", cache=False)
    assert llm.model.startswith("fake/")
    assert llm.complete(MSGS).text == "ok"


def test_cache_hit_is_identical_and_free_and_sample_index_is_part_of_key(tmp_path):
    fm = FunctionModel(lambda m, i: f"sample {i.sample_index} call {i.call_number}")
    llm = LLM(model=fm, cache_dir=str(tmp_path), temperature=0.7, cache=True)  # fakes are uncached by default
    a0 = llm.complete(MSGS, sample_index=0)
    a1 = llm.complete(MSGS, sample_index=1)
    assert a0.text != a1.text
    again = llm.complete(MSGS, sample_index=0)
    assert again.text == a0.text and again.cached and again.usage.cached_calls == 1
    assert len(fm.calls) == 2  # the rerun never reached the model
    # a different sampling parameter is a different key
    llm.with_options(temperature=0.2).complete(MSGS, sample_index=0)
    assert len(fm.calls) == 3


def test_retries_on_timeout_then_succeeds():
    attempts = []

    def flaky(m, i):
        attempts.append(1)
        if len(attempts) < 3:
            raise litellm.Timeout("slow", model="fake", llm_provider="fake")
        return "done"

    comp = LLM(model=flaky, cache=False, backoff_s=0.0, retries=3).complete(MSGS)
    assert comp.text == "done" and len(attempts) == 3


def test_gives_up_after_retries_with_model_call_error():
    calls = []

    def always_timeout(m, i):
        calls.append(1)
        raise litellm.RateLimitError("busy", model="fake", llm_provider="fake")

    with pytest.raises(ModelCallError, match="after 3 attempt"):
        LLM(model=always_timeout, cache=False, backoff_s=0.0, retries=2).complete(MSGS)
    assert len(calls) == 3


def test_non_retryable_error_is_not_retried():
    calls = []

    def broken(m, i):
        calls.append(1)
        raise ValueError("bad prompt")

    with pytest.raises(ModelCallError, match="bad prompt"):
        LLM(model=broken, cache=False, backoff_s=0.0).complete(MSGS)
    assert len(calls) == 1


def test_concurrency_limit_is_respected():
    in_flight, peak = 0, 0

    async def slow(m, i):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return "x"

    llm = LLM(model=slow, cache=False, max_concurrency=3)

    async def go():
        await asyncio.gather(*[llm.acomplete(MSGS, sample_index=i) for i in range(10)])

    asyncio.run(go())
    assert peak == 3


def test_guard_forbids_real_models_in_unit_tests():
    with pytest.raises(ModelRequestsForbiddenError):
        LLM(model="local/qwen2.5-coder-0.5b-instruct").complete(MSGS)


def test_unknown_sampling_option_is_a_user_error():
    with pytest.raises(UserError, match="unknown sampling option"):
        LLM(model=lambda m, i: "x", cache=False).complete(MSGS, temprature=0.1)


def test_sync_call_inside_event_loop_is_refused():
    llm = LLM(model=lambda m, i: "x", cache=False)

    async def go():
        llm.complete(MSGS)

    with pytest.raises(UserError, match="acomplete"):
        asyncio.run(go())


def test_remote_calls_get_per_sample_seeds_and_no_private_fields(monkeypatch, tmp_path):
    from litellm.types.utils import ModelResponse

    from agentforge.llm import model_requests_allowed
    from agentforge.llm.providers import sample_seed

    sent = []

    async def fake_acompletion(**kwargs):
        sent.append(kwargs)
        resp = ModelResponse()
        resp.choices[0].message.content = "ok"
        return resp

    monkeypatch.setattr(litellm, "acompletion", fake_acompletion)
    llm = LLM(model="openai/gpt-test", seed=7, cache=False, extra={"api_base": "http://127.0.0.1:9", "api_key": "sk-x"})
    with model_requests_allowed(True):
        for i in range(3):
            llm.complete(MSGS, sample_index=i)
    assert [k["seed"] for k in sent] == [sample_seed(7, i) for i in range(3)]
    assert len({k["seed"] for k in sent}) == 3
    assert all("extra_body" not in k and k["drop_params"] is True for k in sent)
    assert "sk-x" not in repr(llm)


def test_cache_key_separates_api_bases_but_ignores_secrets(tmp_path):
    from agentforge.llm.cache import cache_key

    fm = FunctionModel(lambda m, i: f"{len(fm.calls)}", name="keyed")
    x = LLM(model=fm, cache_dir=str(tmp_path), extra={"api_key": "one"}, cache=True)
    y = LLM(model=fm, cache_dir=str(tmp_path), extra={"api_key": "two"}, cache=True)
    assert x.complete(MSGS).text == y.complete(MSGS).text  # secrets are not part of the key
    assert cache_key("m", MSGS, {}, 0) != cache_key("m", MSGS, {"extra": {"api_base": "http://b"}}, 0)


def test_fake_model_returning_non_text_is_not_retried():
    calls = []

    def bad(m, i):
        calls.append(1)
        return None

    with pytest.raises(ModelCallError, match="expected str"):
        LLM(model=bad, cache=False, backoff_s=0.0).complete(MSGS)
    assert len(calls) == 1


def _seed_echo_provider():
    """An in-process provider whose completion names the seed stream it drew from."""
    from agentforge.llm.local import _sample_seed
    from agentforge.llm.providers import SyncProvider

    class SeedEcho(SyncProvider):
        def generate(self, model, messages, params):
            return f"seed {_sample_seed(params)}", 3, 2

    return SeedEcho()


def test_in_process_provider_returns_n_distinct_choices():
    # DSPy's COPRO asks for several instructions in one call (n > 1); each choice is its own sample
    from agentforge.llm.providers import register_provider

    register_provider("echo-n", _seed_echo_provider())
    resp = litellm.completion(model="echo-n/m", messages=MSGS, n=3, seed=5)
    texts = [c.message.content for c in resp.choices]
    assert len(texts) == 3 and len(set(texts)) == 3
    single = litellm.completion(model="echo-n/m", messages=MSGS, seed=5)
    assert single.choices[0].message.content == texts[0]  # choice 0 is the plain request's sample
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (3, 6)
    with pytest.raises(litellm.BadRequestError, match="n must be >= 1"):
        litellm.completion(model="echo-n/m", messages=MSGS, n=-1)


def test_response_format_reaches_the_provider_and_is_part_of_the_cache_key(tmp_path):
    fm = FunctionModel(lambda m, i: str(i.params.get("response_format", {}).get("type")))
    llm = LLM(model=fm, cache_dir=str(tmp_path))
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert llm.complete(MSGS, response_format=schema).text == "json_schema"
    assert llm.complete(MSGS).text == "None"  # a plain request is not served the constrained reply
    assert llm.complete(MSGS, response_format={"type": "json_object"}).text == "json_object"
    assert len(fm.calls) == 3


def test_local_provider_turns_response_format_into_a_llama_cpp_json_grammar():
    from agentforge.llm.local import _response_format

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert _response_format({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}) == \
        {"type": "json_object", "schema": schema}
    assert _response_format({"type": "json_object"}) == {"type": "json_object"}
    assert _response_format({"type": "text"}) is None and _response_format(None) is None
    with pytest.raises(UserError, match="'xml' is not supported"):
        _response_format({"type": "xml"})


def test_fake_models_are_uncached_by_default(tmp_path):
    fm = FunctionModel(lambda m, i: f"call {i.call_number}")
    llm = LLM(model=fm, cache_dir=str(tmp_path))
    assert llm.complete(MSGS).text == "call 0" and llm.complete(MSGS).text == "call 1"
    assert not any(tmp_path.iterdir())  # nothing written to the user's cache


def test_call_tag_reaches_fakes_but_not_the_cache_key(tmp_path):
    fm = FunctionModel(lambda m, i: f"tag={i.tag}")
    llm = LLM(model=fm, cache=False)
    assert llm.complete(MSGS).text == "tag=None"
    assert asyncio.run(llm.acomplete(MSGS, tag="meta:opro")).text == "tag=meta:opro"


def test_typed_errors_survive_the_litellm_round_trip():
    from agentforge.core.errors import ModelNotAvailableError, UnknownNameError

    def missing(m, i):
        raise ModelNotAvailableError("model x is not pulled: agentforge models pull x")

    with pytest.raises(ModelNotAvailableError, match="models pull x"):
        LLM(model=missing, cache=False).complete(MSGS)
    with pytest.raises(UnknownNameError, match="fake model"):  # raised inside the provider, as itself
        LLM(model="fake/never-registered", cache=False).complete(MSGS)


def test_local_grammar_drops_string_bounds_llama_cpp_cannot_expand():
    from agentforge.llm.local import MAX_GRAMMAR_REPEAT, grammar_safe

    schema = {"type": "object", "properties": {
        "a": {"type": "string", "maxLength": 1500, "minLength": 10},
        "b": {"type": "array", "items": {"type": "string", "maxLength": MAX_GRAMMAR_REPEAT}}}}
    safe = grammar_safe(schema)
    assert safe["properties"]["a"] == {"type": "string", "minLength": 10}  # 1500 nested repeats crashed llama.cpp
    assert safe["properties"]["b"]["items"]["maxLength"] == MAX_GRAMMAR_REPEAT and schema["properties"]["a"]["maxLength"]
