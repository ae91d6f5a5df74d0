"""seqrec-detect: a NaN in a file or on stdin, and a sidecar off its schema, end the
command with a message naming the input, and a non-zero exit; no "0 events"."""

import io
import json
import sys
import types

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir

from seqrec.cli import detect
from seqrec.config import conf_dir
from tests.helpers import TONE_RATE as RATE
from tests.helpers import ToneSpotter
from tests.helpers import tone_stream as stream

BURSTS = [("low", 1.0, 1.5), ("high", 3.5, 4.0)]


def run_detect(monkeypatch, tmp_path, *overrides: str) -> None:
    model = ToneSpotter()
    model.kind = "classifier"
    model.source = str(tmp_path / "kws.onnx")
    monkeypatch.setattr(detect, "load_model", lambda cfg: model)
    with initialize_config_dir(conf_dir(), version_base="1.3"):
        cfg = compose("detect", [f"ckpt_path={model.source}", *overrides])
    detect.main(cfg)


def test_a_wav_file_holding_a_nan_is_an_error_not_zero_events(monkeypatch, tmp_path, capsys):
    wave = stream(BURSTS)
    path = tmp_path / "long.wav"
    sf.write(path, wave, RATE, subtype="FLOAT")
    run_detect(monkeypatch, tmp_path, f"input={path}", "threshold=0.9")
    assert [json.loads(line)["word"] for line in capsys.readouterr().out.splitlines()] == [
        "low", "high",
    ]  # fmt: skip
    wave[4 * RATE] = np.nan
    sf.write(path, wave, RATE, subtype="FLOAT")
    with pytest.raises(SystemExit, match=rf"^seqrec-detect: {path}: audio contains NaN") as exit:
        run_detect(monkeypatch, tmp_path, f"input={path}", "threshold=0.9")
    assert f"at sample {4 * RATE})" in str(exit.value)  # a message: exit status 1
    assert "events" not in capsys.readouterr().err


def test_a_nan_in_f32le_on_stdin_is_an_error_naming_its_byte(monkeypatch, tmp_path, capsys):
    wave = stream(BURSTS)
    wave[3 * RATE + 1] = np.nan  # between the two words
    buffer = io.BytesIO(wave.astype("<f4").tobytes())
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=buffer))
    with pytest.raises(
        SystemExit, match=rf"stdin: .*at sample {3 * RATE + 1}, byte {4 * (3 * RATE + 1)}\)"
    ):
        run_detect(monkeypatch, tmp_path, "input=-", "pcm=f32le", "threshold=0.9")
    printed = [json.loads(line)["word"] for line in capsys.readouterr().out.splitlines()]
    assert printed == ["low"]  # what came before the NaN, as it was found


def test_a_sidecar_off_its_schema_is_an_error_naming_it_and_the_key(monkeypatch, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, stream(BURSTS), RATE)
    sidecar = tmp_path / "kws.detect.json"
    sidecar.write_text('{"threshold": {}}')  # no word: the detector would never fire
    with pytest.raises(SystemExit, match=rf"{sidecar}: 'threshold' must be .*non-empty object"):
        run_detect(monkeypatch, tmp_path, f"input={path}")
