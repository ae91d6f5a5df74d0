import json
import subprocess
import sys

import pytest
import soundfile as sf
import torch

import seqrec
from seqrec.inference import CheckpointError
from tests.conftest import TINY_WORDS


@pytest.fixture(scope="module")
def model(trained_run):
    return seqrec.load(trained_run / "checkpoints" / "best.ckpt")


def test_load_rebuilds_the_model_from_the_checkpoint_alone(trained_run, model):
    checkpoint = torch.load(trained_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert (
        checkpoint["hyper_parameters"]["model_config"]["_target_"]
        == "seqrec.modules.SequenceClassifier"
    )
    assert model.labels == TINY_WORDS and model.sample_rate == 16000
    assert not model.model.training


def test_classify_paths_and_waveforms(model, synthetic_data_dir):
    files = sorted((synthetic_data_dir / "kws_synthetic" / "test").glob("*/*.wav"))[:5]
    by_path = model.classify(files, top_k=2, batch_size=2)
    assert len(by_path) == len(files)
    for prediction, path in zip(by_path, files, strict=True):
        assert prediction.label in TINY_WORDS and prediction.input == str(path)
        assert len(prediction.top_k) == 2 and prediction.top_k[0] == (
            prediction.label,
            prediction.score,
        )
        assert prediction.top_k[0][1] >= prediction.top_k[1][1] and 0 < prediction.score <= 1
    waves = [sf.read(f, dtype="float32")[0] for f in files]
    by_wave = model.classify(waves, top_k=5)
    assert len(by_wave[0].top_k) == 3  # capped at the number of labels
    for a, b in zip(by_path, by_wave, strict=True):
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-5)
    with pytest.raises(ValueError, match="1-D"):
        model.classify([torch.zeros(2, 100)])


class Payload:
    """Unpickling it creates ``marker``: the file shows whether a load ran it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload(str(marker))}}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        seqrec.load(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # an unsafe load does run the payload
    assert marker.exists()
    with pytest.raises(CheckpointError, match="not found"):
        seqrec.load(tmp_path / "missing.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a seqrec checkpoint"):
        seqrec.load(tmp_path / "other.ckpt")


def test_predict_and_eval_clis(tmp_path, trained_run, synthetic_data_dir, model):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    manifest = synthetic_data_dir / "kws_synthetic" / "test.jsonl"
    output = tmp_path / "preds.jsonl"
    subprocess.run([sys.executable, "-m", "seqrec.cli.predict", f"ckpt_path={ckpt}", f"manifest={manifest}",
                    f"output={output}", "top_k=2"], cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    n = len(manifest.read_text().splitlines())
    assert len(rows) == n and all(r["label"] in TINY_WORDS and len(r["top_k"]) == 2 for r in rows)

    result = subprocess.run([sys.executable, "-m", "seqrec.cli.evaluate", f"ckpt_path={ckpt}",
                             f"manifest={manifest}", f"output={tmp_path / 'eval.json'}"],
                            cwd=tmp_path, check=True, capture_output=True, text=True)  # fmt: skip
    scores = json.loads((tmp_path / "eval.json").read_text())
    assert scores["num_examples"] == n
    expected = (
        sum(
            r["label"] == json.loads(line)["label"]
            for r, line in zip(rows, manifest.read_text().splitlines(), strict=True)
        )
        / n
    )
    assert scores["acc"] == pytest.approx(expected)
    assert '"acc"' in result.stdout
    assert not list(tmp_path.glob("*.log"))  # eval and predict leave no Hydra litter
