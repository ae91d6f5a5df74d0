"""scripts/gpu_session.sh, in its CPU smoke mode: every step runs and leaves its output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# a minute of CPU: out of the default suite; `pytest -m slow` runs it before a GPU session
@pytest.mark.slow
def test_gpu_session_script_smoke_mode_runs_every_step(tmp_path):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "SMOKE": "1",
        "PYTHON": sys.executable,
        "OUT": str(out),
        "DATA_DIR": str(tmp_path / "data"),
        "RUN_DIR": str(tmp_path / "run"),
    }
    result = subprocess.run(
        [str(ROOT / "scripts" / "gpu_session.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    bench = json.loads((out / "bench.log").read_text().strip().splitlines()[-1])
    assert bench["train_pipeline_efficiency"] > 0 and bench["accelerator"] == "cpu"
    assert "errors" not in bench
    timer = json.loads((out / "train_timer.json").read_text())
    assert timer["samples"] > 0 and timer["audio_seconds"] > 0
    assert "test/cer" in json.loads((out / "metrics.json").read_text())
