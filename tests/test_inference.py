import json

import pytest
import soundfile as sf
import torch

import seqrec
from seqrec.inference import CheckpointError
from tests.conftest import TINY_WORDS
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def model(trained_run):
    return seqrec.load(trained_run / "checkpoints" / "best.ckpt")


def test_load_rebuilds_the_model_from_the_checkpoint_alone(trained_run, model):
    checkpoint = torch.load(trained_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert (
        checkpoint["hyper_parameters"]["model_config"]["_target_"] == "seqrec.modules.SequenceModel"
    )
    assert model.labels == TINY_WORDS and model.sample_rate == 16000
    assert not model.model.training


def test_classify_paths_and_waveforms(model, synthetic_data_dir):
    files = sorted((synthetic_data_dir / "kws_synthetic" / "test").glob("*/*.wav"))[:5]
    by_path = model.classify(files, top_k=2, batch_size=2)
    assert len(by_path) == len(files)
    for prediction, path in zip(by_path, files, strict=True):
        wave = torch.from_numpy(sf.read(path, dtype="float32")[0])
        with torch.no_grad():  # the network on this file alone, outside classify()
            logits, _ = model.model(wave.unsqueeze(0), torch.tensor([wave.numel()]))
        probs, best = logits[0].softmax(-1).topk(2)
        assert [label for label, _ in prediction.top_k] == [TINY_WORDS[i] for i in best]
        assert [p for _, p in prediction.top_k] == pytest.approx(probs.tolist(), abs=1e-5)
        assert prediction.input == str(path)
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
    run_cli(
        "seqrec-predict",
        f"ckpt_path={ckpt}",
        f"manifest={manifest}",
        f"output={output}",
        "top_k=2",
        cwd=tmp_path,
    )
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    n = len(manifest.read_text().splitlines())
    files = [manifest.parent / json.loads(line)["audio_filepath"] for line in manifest.open()]
    assert len(rows) == n
    for row, expected in zip(rows, model.classify(files, top_k=2), strict=True):
        assert row["label"] == expected.label  # the CLI predicts what the API does
        assert [t["label"] for t in row["top_k"]] == [label for label, _ in expected.top_k]
        assert [t["score"] for t in row["top_k"]] == pytest.approx([p for _, p in expected.top_k])

    result = run_cli(
        "seqrec-eval",
        f"ckpt_path={ckpt}",
        f"manifest={manifest}",
        f"output={tmp_path / 'eval.json'}",
        cwd=tmp_path,
    )
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
