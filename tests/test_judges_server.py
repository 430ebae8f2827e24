"""The judge server (started for real on a loopback port) and its client, HTTPJudge."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from agentforge.core.errors import MalformedOutputError, ModelCallError, UserError  # noqa: E402
from agentforge.judges import BackgroundServer, HTTPJudge, Judge, SyncBatchJudge, VerifierJudge  # noqa: E402
from agentforge.judges.http import qwen_prm_prompt  # noqa: E402
from agentforge.judges.testing import random_items  # noqa: E402


class Recording(SyncBatchJudge):
    """Wraps a judge; records the size of every batch it scores and slows each one down so
    that concurrent requests pile up (as they do behind a busy GPU)."""

    def __init__(self, inner: Judge, delay: float = 0.05):
        self.inner, self.delay, self.calls = inner, delay, []
        self._lock = threading.Lock()

    def score_steps(self, items):
        with self._lock:
            self.calls.append(len(items))
        time.sleep(self.delay)
        if any(q == "bad" for q, _ in items):
            raise UserError("question 'bad' is not allowed")
        return [r.scores for r in self.inner.score_batch(items)]


@pytest.fixture(scope="module")
def prm(tmp_path_factory):
    pytest.importorskip("transformers")
    from agentforge.judges import PRMJudge
    from agentforge.judges.testing import make_tiny_prm

    return PRMJudge(make_tiny_prm(tmp_path_factory.mktemp("qwen"), "qwen-prm"), device="cpu")


def test_concurrent_clients_are_merged_and_match_in_process(prm):
    judge = Recording(prm)
    items = random_items(32, seed=11)
    expected = [r.scores for r in prm.score_batch(items)]
    per_client = [items[c::8] for c in range(8)]  # 8 clients, 4 requests of one item each
    results: dict[int, list] = {}
    barrier = threading.Barrier(8)
    with BackgroundServer(judge, max_batch_wait_ms=20) as server:
        assert server.url.startswith("http://127.0.0.1:")

        def client(c):
            with HTTPJudge(server.url) as remote:
                barrier.wait()
                results[c] = [remote.score(q, s).scores for q, s in per_client[c]]

        threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert server.batcher.requests == 32
    for c in range(8):
        for got, want in zip(results[c], expected[c::8]):
            assert got == pytest.approx(want, abs=1e-4)
    assert sum(judge.calls) == 32
    assert len(judge.calls) < 32 and max(judge.calls) > 1  # requests were merged


def test_async_clients_and_nan_round_trip():
    verifier = Recording(VerifierJudge(lambda text, ex: text.endswith("4")), delay=0.02)
    with BackgroundServer(verifier, max_batch_wait_ms=20) as server:
        remote = HTTPJudge(server.url + "/score")  # a full /score URL works too

        async def many():
            return await asyncio.gather(*[remote.ascore_batch([("q", ["a", f"b {i}"]), ("q", [])])
                                          for i in range(8)])

        out = asyncio.run(many())
        for i, (first, empty) in enumerate(out):
            first, empty = first.scores, empty.scores
            assert math.isnan(first[0]) and first[1] == (1.0 if i == 4 else 0.0)
            assert empty == []
        assert len(verifier.calls) < 8
        assert remote.score_solution("q", "x\n\n= 4") == 1.0


def test_one_bad_request_does_not_fail_the_others():
    judge = Recording(VerifierJudge(lambda t, ex: True), delay=0.05)
    with BackgroundServer(judge, max_batch_wait_ms=50) as server:
        remote = HTTPJudge(server.url)

        async def both():
            return await asyncio.gather(remote.ascore("bad", ["x"]), remote.ascore("good", ["x"]),
                                        return_exceptions=True)

        bad, good = asyncio.run(both())
        assert isinstance(bad, UserError) and "400" in str(bad) and "not allowed" in str(bad)
        assert good.scores == [1.0]


def test_token_auth():
    with BackgroundServer(VerifierJudge(lambda t, ex: True), token="s3cret") as server:
        assert HTTPJudge(server.url, token="s3cret").score("q", ["a"]).scores == [1.0]
        with pytest.raises(UserError, match="401.*token"):
            HTTPJudge(server.url).score("q", ["a"])
        with pytest.raises(UserError, match="401"):
            HTTPJudge(server.url, token="wrong").score("q", ["a"])
        r = httpx.post(server.url + "/score", json={"items": []})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert httpx.get(server.url + "/health").json() == {"status": "ok"}


def test_size_limit_and_bad_body():
    with BackgroundServer(VerifierJudge(lambda t, ex: True), max_request_bytes=2000) as server:
        assert HTTPJudge(server.url).score("q", ["short"]).scores == [1.0]
        with pytest.raises(UserError, match="413.*2000 bytes"):
            HTTPJudge(server.url).score("q", ["x" * 5000])

        def chunked():  # no Content-Length: the limit is enforced while reading
            yield b'{"items": [{"question": "q", "steps": ["'
            for _ in range(10):
                yield b"x" * 500
            yield b'"]}]}'

        r = httpx.post(server.url + "/score", content=chunked())
        assert r.status_code == 413 and "max-request-bytes" in r.json()["detail"]
        r = httpx.post(server.url + "/score", json={"items": [{"question": "q"}]})
        assert r.status_code == 422


def test_unreachable_server():
    with BackgroundServer(VerifierJudge(lambda t, ex: True)) as server:
        url = server.url
    with pytest.raises(ModelCallError, match="unreachable"):
        HTTPJudge(url, timeout=2).score("q", ["a"])


# -- per-request caps -------------------------------------------------------------------------
def test_item_and_token_caps_refuse_before_scoring():
    judge = Recording(VerifierJudge(lambda t, ex: True), delay=0)
    with BackgroundServer(judge, max_items_per_request=3, max_tokens_per_request=100) as server:
        assert server.app.state.token_counting == "estimated as characters / 4"  # no tokenizer
        remote = HTTPJudge(server.url, max_items_per_request=10)
        with pytest.raises(UserError, match=r"413.*4 items.*limit of 3 items.*max_items_per_request=3"):
            remote.score_batch([("q", ["a"])] * 4)
        with pytest.raises(UserError, match=r"413.*126 tokens \(estimated as characters / 4\).*limit of 100 tokens"
                                            r".*max_tokens_per_request=100"):
            remote.score("q", ["x" * 500, "y"])  # 502 characters -> ceil(502 / 4) = 126
        r = httpx.post(server.url + "/score", json={"items": [{"question": "q", "steps": []}] * 5})
        assert r.status_code == 413 and (r.json()["cap"], r.json()["limit"], r.json()["got"]) == \
            ("max_items_per_request", 3, 5)
        assert judge.calls == []  # refused before anything was scored
        assert [x.scores for x in remote.score_batch([("q", ["x" * 132])] * 3)] == [[1.0]] * 3  # 100 tokens
        assert judge.calls == [3]


def test_token_cap_counts_with_the_judges_tokenizer(prm):
    items = random_items(3, seed=5)
    exact = sum(len(prm.tokenizer(t, add_special_tokens=False)["input_ids"]) for q, s in items for t in (q, *s))
    estimate = math.ceil(sum(len(q) + sum(map(len, s)) for q, s in items) / 4)
    assert exact != estimate
    with BackgroundServer(prm, max_tokens_per_request=exact - 1) as server:
        assert server.app.state.token_counting == "counted with the judge's tokenizer"
        remote = HTTPJudge(server.url)
        with pytest.raises(UserError, match=rf"413.*{exact} tokens \(counted with the judge's tokenizer\).*"
                                            rf"max_tokens_per_request={exact - 1}"):
            remote.score_batch(items)
        assert len(remote.score_batch(items[:2])) == 2


def test_http_judge_explains_422():
    remote = HTTPJudge("http://127.0.0.1:1")
    with pytest.raises(UserError, match=r"422: bad request body: items.*same protocol version"):
        remote._check_status(httpx.Response(422, json={"detail": "bad request body: items missing"}))
    with pytest.raises(UserError, match=r"413.*server cap max_request_bytes=10.*--max-request-bytes"):
        remote._check_status(httpx.Response(413, json={"detail": "too big", "cap": "max_request_bytes",
                                                       "limit": 10, "got": 11}))


# -- fair scheduling ---------------------------------------------------------------------------
class PerItem(SyncBatchJudge):
    """Costs ``per_item`` seconds per item; scores every step of item ``(str(i), steps)`` as
    ``i / 1e6``, so that the order of results can be checked; question "bad" raises."""

    def __init__(self, per_item: float):
        self.per_item, self.batches = per_item, []

    def score_steps(self, items):
        self.batches.append([q for q, _ in items])
        time.sleep(self.per_item * len(items))
        if any(q == "bad" for q, _ in items):
            raise UserError("question 'bad' is not allowed")
        return [[int(q) / 1e6] * len(s) for q, s in items]


def test_small_request_is_not_stuck_behind_a_huge_one():
    judge = PerItem(0.0005)
    big = [(str(i), ["s"]) for i in range(1, 2001)]  # about 1 s of scoring
    done = {}
    with BackgroundServer(judge, max_batch_items=100, max_items_per_request=5000) as server:
        def send_big():
            done["big_scores"] = HTTPJudge(server.url, max_items_per_request=5000).score_batch(big)
            done["big"] = time.monotonic()

        thread = threading.Thread(target=send_big)
        thread.start()
        while not judge.batches:  # the big request is being scored
            time.sleep(0.002)
        t0 = time.monotonic()
        small = HTTPJudge(server.url).score("7777", ["a", "b"])
        done["small"] = time.monotonic()
        thread.join(60)
    assert small.scores == [0.007777, 0.007777]
    assert done["small"] < done["big"] and done["small"] - t0 < 0.5
    assert [r.scores for r in done["big_scores"]] == [[i / 1e6] for i in range(1, 2001)]  # in order
    assert max(map(len, judge.batches)) <= 100
    merged = [b for b in judge.batches if "7777" in b]
    assert len(merged) == 1 and len(merged[0]) > 1  # the small request shared a batch with the big one


def test_a_failing_chunk_fails_only_its_request():
    judge = PerItem(0.0002)
    bad = [(str(i), ["s"]) for i in range(300)]
    bad[150] = ("bad", ["s"])
    with BackgroundServer(judge, max_batch_items=50, max_batch_wait_ms=30) as server:
        remote = HTTPJudge(server.url, max_items_per_request=1000)

        async def both():
            return await asyncio.gather(remote.ascore_batch(bad), remote.ascore_batch([("5", ["a"])] * 3),
                                        return_exceptions=True)

        failed, good = asyncio.run(both())
    assert isinstance(failed, UserError) and "not allowed" in str(failed)
    assert [r.scores for r in good] == [[5e-6]] * 3
    assert not any("299" in b for b in judge.batches)  # the rest of the failed request was dropped


# -- docs, token, bind address -----------------------------------------------------------------
def test_docs_off_by_default_and_behind_the_token():
    ok = VerifierJudge(lambda t, ex: True)
    pages = ("/docs", "/redoc", "/openapi.json")
    with BackgroundServer(ok) as server:
        assert [httpx.get(server.url + p).status_code for p in pages] == [404] * 3
    with BackgroundServer(ok, docs=True, token="s3cret") as server:
        assert [httpx.get(server.url + p).status_code for p in pages] == [401] * 3
        auth = {"Authorization": "Bearer s3cret"}
        assert [httpx.get(server.url + p, headers=auth).status_code for p in pages] == [200] * 3
        assert "/score" in httpx.get(server.url + "/openapi.json", headers=auth).json()["paths"]


def test_load_token(tmp_path):
    from agentforge.judges.server_checks import load_token

    f = tmp_path / "token"
    f.write_text("  s3cret\n")
    assert load_token(f, env={}) == "s3cret"
    assert load_token(None, env={"AGENTFORGE_JUDGE_TOKEN": "abc "}) == "abc"
    assert load_token(None, env={}) is None
    for path, env, msg in [(tmp_path / "nope", {}, "does not exist"), (tmp_path, {}, "cannot read token file"),
                           (None, {"AGENTFORGE_JUDGE_TOKEN": " "}, "AGENTFORGE_JUDGE_TOKEN is empty"),
                           (f, {"AGENTFORGE_JUDGE_TOKEN": "x"}, "both --token-file")]:
        with pytest.raises(UserError, match=msg):
            load_token(path, env=env)
    f.write_text("\n")
    with pytest.raises(UserError, match="is empty"):
        load_token(f, env={})
    f.write_text("two words")
    with pytest.raises(UserError, match="printable ASCII without spaces"):
        load_token(f, env={})


def test_bind_address_checked_before_binding():
    from agentforge.judges.server import serve
    from agentforge.judges.server_checks import check_bind_address

    for host in ("127.0.0.1", "::1", "0.0.0.0", "localhost"):
        check_bind_address(host, 8000)
    for host, port, msg in [("127.0.0.1", 0, "1-65535"), ("127.0.0.1", 65536, "1-65535"),
                            ("not a host", 80, "IP address"), ("300.1.2.3", 80, "IP address")]:
        with pytest.raises(UserError, match=msg):
            check_bind_address(host, port)
    with pytest.raises(UserError, match="1-65535"):
        serve(VerifierJudge(lambda t, ex: True), port=70000)


def test_cli_serve_checks_options_before_loading(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from agentforge.cli.app import _register, app

    _register()
    monkeypatch.delenv("AGENTFORGE_JUDGE_TOKEN", raising=False)

    def serve(*args):
        return CliRunner().invoke(app, ["prm", "serve", "--model", str(tmp_path / "none"), *args])

    r = serve("--port", "70000")
    assert r.exit_code == 2 and "port must be an integer in 1-65535, got 70000" in r.output
    r = serve("--host", "bad host")
    assert r.exit_code == 2 and "host must be an IP address" in r.output
    r = serve("--token-file", str(tmp_path / "missing"))
    assert r.exit_code == 2 and "token file" in r.output and "does not exist" in r.output
    r = serve("--token", "t")  # deprecated alias: works (here: fails later, on the missing model), warns
    assert r.exit_code == 2 and "--token is deprecated" in r.output and "PRM folder" in r.output


# -- vLLM pooling protocol --------------------------------------------------------------------
def fake_vllm(rows_per_prompt=None):
    """A stand-in for vLLM's /pooling: one [p_wrong, p_right] row per <extra_0> in each prompt."""
    from fastapi import FastAPI

    app, seen = FastAPI(), []

    @app.post("/pooling")
    async def pooling(body: dict):
        seen.append(body)
        data = []
        for i, prompt in enumerate(body["input"]):
            n = prompt.count("<extra_0>") if rows_per_prompt is None else rows_per_prompt
            data.append({"index": i, "object": "pooling", "data": [[0.25, 0.75 - k / 10] for k in range(n)]})
        return {"object": "list", "model": body.get("model"), "data": data[::-1]}  # any order

    return app, seen


def test_vllm_protocol(prm):
    import uvicorn  # noqa: F401

    app, seen = fake_vllm()
    with _serve_app(app) as url:
        remote = HTTPJudge(url, protocol="vllm", model="Qwen/Qwen2.5-Math-PRM-7B", max_items_per_request=2)
        out = [r.scores for r in remote.score_batch([("q1", ["a", "b"]), ("q2", ["c"]), ("q3", []),
                                                     ("q4", ["d", "e", "f"])])]
        assert out == [pytest.approx([0.75, 0.65]), [0.75], [], pytest.approx([0.75, 0.65, 0.55])]
        assert len(seen) == 2 and seen[0]["model"] == "Qwen/Qwen2.5-Math-PRM-7B"
        assert seen[0]["input"][0] == qwen_prm_prompt("q1", ["a", "b"])
    # the client-side prompt is exactly what the model's chat template renders
    system = "Please reason step by step, and put your final answer within \\boxed{}."
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a<extra_0>b<extra_0>"}]
    assert prm.tokenizer.apply_chat_template(messages, tokenize=False) == qwen_prm_prompt("q1", ["a", "b"])
    app, _ = fake_vllm(rows_per_prompt=40)  # token-level pooling: one row per token
    with _serve_app(app) as url:
        with pytest.raises(MalformedOutputError, match="STEP pooling"):
            HTTPJudge(url, protocol="vllm").score("q", ["a", "b"])
    with pytest.raises(UserError, match="protocol"):
        HTTPJudge(url, protocol="grpc")


class _serve_app:
    """Run any ASGI app on a free loopback port (for the fake vLLM)."""

    def __init__(self, app):
        import socket

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
