"""DDP on CPU (gloo, 2 processes): sharding, metric reduction, one set of outputs.

The evaluation splits are sized so that their batches do not divide between the
ranks: the logged metrics must still equal those of one process."""

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

import seqrec
from seqrec.inference.evaluate import evaluate_classifier, evaluate_transcriber
from seqrec.tasks.classification import SequenceClassificationTask
from seqrec.tasks.ctc import CTCTask
from tests.conftest import (
    make_config,
    tiny_asr_overrides,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    tiny_video_overrides,
)
from tests.helpers import mean_cross_entropy, run_cli

DATA_FIXTURES = {
    "kws_synthetic": "synthetic_data_dir",
    "video_synthetic": "video_data_dir",
    "asr_synthetic": "asr_data_dir",
}


def ddp_run(tmp_path: Path, overrides: list[str]) -> Path:
    run = tmp_path / "run"
    # the rank processes load tests.helpers.RecordBatches: run_cli puts the repository
    # on their PYTHONPATH
    run_cli(
        "seqrec-train",
        *overrides,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_epochs=2",
        f"hydra.run.dir={run}",
        f"+callbacks.record={{_target_: tests.helpers.RecordBatches, folder: {tmp_path / 'ids'}}}",
        cwd=tmp_path,
    )
    return run


def first_lines(manifest: Path, n: int, out: Path) -> Path:
    """The first ``n`` lines of ``manifest``, its media paths made absolute, in ``out``."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines()[:n]]
    for row in rows:
        row["audio_filepath"] = str(manifest.parent / row["audio_filepath"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return out


def recipe_overrides(recipe: str, request, tmp_path: Path) -> list[str]:
    """Tiny runs whose validation and test batch counts are odd, so the 2 ranks' shares
    must be evened out: 3 batches each (kws, asr), or 1 batch, which leaves rank 1 an
    empty batch only (video)."""
    if recipe == "kws_synthetic":
        data = request.getfixturevalue("synthetic_data_dir")
        return [
            *tiny_synthetic_overrides(data),
            *tiny_model_overrides(),
            "data.max_batch_seconds=null",
            "data.max_batch_size=2",
        ]
    if recipe == "video_synthetic":
        return [
            *tiny_video_overrides(request.getfixturevalue("video_data_dir")),
            "data.max_batch_size=4",
        ]
    data = request.getfixturevalue("asr_data_dir")
    for split in ("val", "test"):
        first_lines(
            data / "asr_synthetic" / f"{split}.jsonl", 3, tmp_path / "eval" / f"{split}.jsonl"
        )
    return [
        *tiny_asr_overrides(data),
        f"data.val_manifest={tmp_path / 'eval' / 'val.jsonl'}",
        f"data.test_manifest={tmp_path / 'eval' / 'test.jsonl'}",
        "data.max_batch_seconds=null",
        "data.max_batch_size=1",
    ]


def eval_manifest(recipe: str, request, tmp_path: Path, split: str) -> Path:
    if recipe == "asr_synthetic":
        return tmp_path / "eval" / f"{split}.jsonl"
    return request.getfixturevalue(DATA_FIXTURES[recipe]) / recipe / f"{split}.jsonl"


def single_process_metrics(checkpoint: Path, overrides: list[str], folder: Path) -> dict:
    """The logged validation and test metrics of ``checkpoint``, scored by this one
    process through the same datamodule and task."""
    task_class = CTCTask if "experiment=asr_synthetic" in overrides else SequenceClassificationTask
    task = task_class.load_from_checkpoint(
        checkpoint, map_location="cpu", weights_only=True, optimizer=None
    )
    datamodule = instantiate(make_config(folder, overrides).data)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        default_root_dir=folder,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    results = [
        *trainer.validate(task, datamodule=datamodule, verbose=False),
        *trainer.test(task, datamodule=datamodule, verbose=False),
    ]
    return {key: float(value) for result in results for key, value in result.items()}


@pytest.mark.parametrize("recipe", ["kws_synthetic", "video_synthetic", "asr_synthetic"])
def test_two_cpu_processes_share_each_epoch_and_write_one_run(tmp_path, recipe, request):
    overrides = [f"experiment={recipe}", *recipe_overrides(recipe, request, tmp_path)]
    run = ddp_run(tmp_path, overrides)
    ranks = [json.loads((tmp_path / "ids" / f"rank{r}.json").read_text()) for r in (0, 1)]
    for key in ranks[0]:
        batches = [ranks[0][key], ranks[1][key]]
        assert len(batches[0]) == len(batches[1]), key  # the same number of steps on both ranks
        ids = [{i for b in rank for i in b} for rank in batches]
        assert not ids[0] & ids[1], key  # disjoint shards
    assert {"train_epoch0", "train_epoch1", "val_epoch0", "val_epoch1"} <= ranks[0].keys()
    corpus = request.getfixturevalue(DATA_FIXTURES[recipe]) / recipe
    manifests = {
        split: eval_manifest(recipe, request, tmp_path, split) for split in ("val", "test")
    }

    def ids(manifest: Path) -> list[str]:
        return sorted(json.loads(line)["id"] for line in manifest.open())

    # together the ranks cover each epoch; validation scores each utterance once
    assert {i for rank in ranks for b in rank["train_epoch0"] for i in b} == set(
        ids(corpus / "train.jsonl")
    )
    assert sorted(i for rank in ranks for b in rank["val_epoch0"] for i in b) == ids(
        manifests["val"]
    )
    real_batches = sum(1 for rank in ranks for b in rank["val_epoch0"] if b)
    assert real_batches % 2 == 1  # the case where the ranks' shares must be evened out
    assert ranks[0]["train_epoch0"] != ranks[0]["train_epoch1"]  # reshuffled every epoch

    # the logged validation and test metrics cover both ranks once: they equal one
    # process scoring all of val and test
    metrics = json.loads((run / "metrics.json").read_text())
    checkpoint = Path(metrics["evaluated_checkpoint"])
    single = single_process_metrics(checkpoint, overrides, tmp_path / "single")
    assert {"val/loss", "test/loss"} <= single.keys()
    for key, value in single.items():
        assert metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    model = seqrec.load(checkpoint)
    for split, manifest in manifests.items():
        if recipe == "asr_synthetic":
            expected = evaluate_transcriber(model, manifest)
            assert metrics[f"{split}/wer"] == pytest.approx(expected["wer"], abs=1e-6)
            assert metrics[f"{split}/cer"] == pytest.approx(expected["cer"], abs=1e-6)
            continue
        expected = evaluate_classifier(model, manifest)
        for name in ("acc", "acc_macro", *(f"acc_class/{label}" for label in model.labels)):
            if split == "test" or "/" not in name:
                assert metrics[f"{split}/{name}"] == pytest.approx(expected[name], abs=1e-6), name
    if recipe == "kws_synthetic":  # the loss is a mean over utterances, each counted once
        smoothing = torch.load(checkpoint, weights_only=True)["hyper_parameters"]["label_smoothing"]
        for split, manifest in manifests.items():
            expected = mean_cross_entropy(model, manifest, smoothing)
            assert metrics[f"{split}/loss"] == pytest.approx(expected, rel=1e-5), split
    outputs = sorted(
        p.relative_to(run).as_posix() for p in run.rglob("*") if p.suffix in (".ckpt", ".json")
    )
    assert outputs == ["checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.json"]


def test_checkpoint_averaging_under_two_cpu_processes(tmp_path, request):
    """Rank 0 writes the average, both ranks validate it: the logged metric is that of
    the evaluated checkpoint, scored by one process on all of val."""
    run = ddp_run(
        tmp_path,
        [
            "experiment=kws_synthetic",
            *recipe_overrides("kws_synthetic", request, tmp_path),
            "average_checkpoints=2",
        ],
    )
    outputs = sorted(
        p.relative_to(run).as_posix() for p in run.rglob("*") if p.suffix in (".ckpt", ".json")
    )
    assert outputs == [
        "checkpoints/averaged.ckpt",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "checkpoints/top/epoch000.ckpt",
        "checkpoints/top/epoch001.ckpt",
        "metrics.json",
    ]
    metrics = json.loads((run / "metrics.json").read_text())
    corpus = request.getfixturevalue("synthetic_data_dir") / "kws_synthetic"
    model = seqrec.load(metrics["evaluated_checkpoint"])
    assert metrics["val/acc"] == pytest.approx(
        evaluate_classifier(model, corpus / "val.jsonl")["acc"], abs=1e-6
    )


def test_skipped_samples_are_counted_over_every_rank(tmp_path, request):
    """Six unreadable training files, two processes, each reading its own shard: the
    run's metrics.json counts all six, not only rank 0's."""
    data = request.getfixturevalue("synthetic_data_dir")
    corpus = data / "kws_synthetic"
    rows = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()]
    for row in rows:
        row["audio_filepath"] = str(corpus / row["audio_filepath"])
    for i in range(6):
        bad = tmp_path / "bad" / f"bad{i}.wav"
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(b"RIFF" + bytes(range(40)) * 3)
        rows.append({**rows[i], "audio_filepath": str(bad), "id": f"bad{i}"})
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run = ddp_run(
        tmp_path,
        [
            "experiment=kws_synthetic",
            *recipe_overrides("kws_synthetic", request, tmp_path),
            f"data.train_manifest={manifest}",
            "data.on_error=skip",
            "trainer.max_epochs=1",
        ],
    )
    ranks = [json.loads((tmp_path / "ids" / f"rank{r}.json").read_text()) for r in (0, 1)]
    read = [{i for b in rank["train_epoch0"] for i in b} for rank in ranks]
    assert all(len(r) < len(rows) - 6 for r in read)  # each rank read only its shard
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data/skipped"]["loading"]["train"] == {"unreadable_audio": 6}
