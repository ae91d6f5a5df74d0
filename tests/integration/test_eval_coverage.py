"""What a training run leaves out and what it scores: ``data.max_duration`` and bad samples
limit training only; validation and test score every utterance of their manifests, a long
one in a batch of its own."""

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch

import seqrec
from seqrec.data.manifest import ManifestError
from seqrec.inference.evaluate import evaluate_classifier
from seqrec.train import train
from tests.conftest import (
    make_config,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    write_manifest_lines,
    write_wav,
)
from tests.helpers import mean_cross_entropy

MAX_DURATION = 2.0


MAX_BATCH_SECONDS = 8.0


LONG_SECONDS = {"train": [3.0], "val": [3.0], "test": [3.0, 9.0]}  # the corpus clips last 1 s


class RecordTestBatches(pl.Callback):
    """Write the sample ids of every test batch to ``path`` (JSON)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.batches: list[list[str]] = []

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, *args) -> None:
        self.batches.append(list(batch.ids))

    def on_test_end(self, trainer, module) -> None:
        Path(self.path).write_text(json.dumps(self.batches))


def corpus_with_long_clips(data_dir: Path, folder: Path) -> None:
    """The tiny corpus's manifests, each split with clips longer than MAX_DURATION added:
    a 1 s clip followed by quiet noise, keeping its label."""
    rng = np.random.default_rng(0)
    for split, lengths in LONG_SECONDS.items():
        manifest = data_dir / "kws_synthetic" / f"{split}.jsonl"
        rows = [json.loads(line) for line in manifest.read_text().splitlines()]
        for row in rows:
            row["audio_filepath"] = str(manifest.parent / row["audio_filepath"])
        for n, seconds in enumerate(lengths):
            source = rows[n]
            audio, rate = sf.read(source["audio_filepath"], dtype="float32")
            tail = 0.003 * rng.standard_normal(round((seconds - len(audio) / rate) * rate))
            path = folder / f"{split}_long{n}.wav"
            sf.write(path, np.concatenate([audio, tail.astype(np.float32)]), rate)
            rows.append(
                {
                    **source,
                    "audio_filepath": str(path),
                    "duration": seconds,
                    "id": f"{source['id']}_long{n}",
                }
            )
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_max_duration_limits_training_only_and_test_scores_every_line(tmp_path, synthetic_data_dir):
    data = tmp_path / "long"
    data.mkdir()
    corpus_with_long_clips(synthetic_data_dir, data)
    batches_file = tmp_path / "test_batches.json"
    overrides = [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(synthetic_data_dir),
        *tiny_model_overrides(),
        f"data.max_duration={MAX_DURATION}",
        f"data.max_batch_seconds={MAX_BATCH_SECONDS}",
        *(f"data.{split}_manifest={data / split}.jsonl" for split in LONG_SECONDS),
        f"+callbacks.record={{_target_: {__name__}.RecordTestBatches, path: {batches_file}}}",
    ]
    train(make_config(tmp_path / "run", overrides))

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # only training leaves out what is over the limit
    assert metrics["data/skipped"]["manifest"] == {"train": {"too_long": 1}, "val": {}, "test": {}}
    lines = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()]
    batches = json.loads(batches_file.read_text())
    assert sorted(i for b in batches for i in b) == sorted(row["id"] for row in lines)
    durations = {row["id"]: row["duration"] for row in lines}
    for batch in batches:  # within the cap, or alone
        padded = len(batch) * max(durations[i] for i in batch)
        assert padded <= MAX_BATCH_SECONDS or len(batch) == 1, batch
    assert [durations[i] for i in batches[-1]] == [9.0]

    # the logged test metrics are those of the whole manifest
    model = seqrec.load(metrics["evaluated_checkpoint"])
    expected = evaluate_classifier(model, data / "test.jsonl")
    assert expected["num_examples"] == len(lines) == 8
    assert metrics["test/acc"] == pytest.approx(expected["acc"], abs=1e-6)
    assert metrics["test/acc_macro"] == pytest.approx(expected["acc_macro"], abs=1e-6)
    checkpoint = torch.load(metrics["evaluated_checkpoint"], weights_only=True)
    smoothing = checkpoint["hyper_parameters"]["label_smoothing"]
    for split in ("val", "test"):
        loss = mean_cross_entropy(model, data / f"{split}.jsonl", smoothing)
        assert metrics[f"{split}/loss"] == pytest.approx(loss, rel=1e-5), split


def write_corpus_with_problems(data_dir: Path, folder: Path) -> None:
    """Copy the tiny corpus manifests, adding bad lines and a ten-minute recording."""
    root = data_dir / "kws_synthetic"
    folder.mkdir(parents=True)
    write_wav(folder / "ten_minutes.wav", seconds=600.0, rate=16000)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage" + bytes(40))
    for split in ("train", "val", "test"):
        lines = [json.loads(line) for line in (root / f"{split}.jsonl").read_text().splitlines()]
        for row in lines:
            row["audio_filepath"] = str(root / row["audio_filepath"])
        extra = [
            "not json",
            {"audio_filepath": str(folder / "corrupt.wav"), "duration": 1.0, "label": "yes"},
            {"audio_filepath": str(folder / "ten_minutes.wav"), "duration": 600.0, "label": "no"},
        ]
        write_manifest_lines(folder / f"{split}.jsonl", [*lines[:3], *extra, *lines[3:]])


def test_training_skips_bad_samples_and_reports_them(tmp_path, synthetic_data_dir):
    data = tmp_path / "messy"
    write_corpus_with_problems(synthetic_data_dir, data)
    overrides = [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(synthetic_data_dir),
        *tiny_model_overrides(),
        *(f"data.{split}_manifest={data / split}.jsonl" for split in ("train", "val", "test")),
        "data.max_duration=20",
    ]
    with pytest.raises(ManifestError, match=r"train\.jsonl:4: not valid JSON"):
        train(make_config(tmp_path / "strict", overrides))
    train(make_config(tmp_path / "run", [*overrides, "data.on_error=skip"]))
    skipped = json.loads((tmp_path / "run" / "metrics.json").read_text())["data/skipped"]
    for split in ("train", "val", "test"):
        # max_duration limits training only: evaluation scores the ten-minute recording
        too_long = {"too_long": 1} if split == "train" else {}
        assert skipped["manifest"][split] == {"invalid_json": 1, **too_long}
        assert skipped["loading"][split] == {"unreadable_audio": 1}
