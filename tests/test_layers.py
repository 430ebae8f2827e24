"""The package's layers point down only (import-linter contract in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_layers_point_down_only():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is a dev dependency: pip install -e '.[dev]'")
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "1 kept, 0 broken" in r.stdout
