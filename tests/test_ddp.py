"""DDP on CPU (gloo, 2 processes): sharding, metric reduction, one set of outputs."""

import json
import os
from pathlib import Path

import pytest

import seqrec
from seqrec.evaluate import evaluate_classifier, evaluate_transcriber
from tests.conftest import (
    tiny_asr_overrides,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    tiny_video_overrides,
)
from tests.test_train import run_cli

REPO = Path(__file__).resolve().parents[1]
DATA_FIXTURES = {"kws_synthetic": "synthetic_data_dir", "video_synthetic": "video_data_dir",
                 "asr_synthetic": "asr_data_dir"}  # fmt: skip


def ddp_run(tmp_path: Path, overrides: list[str], monkeypatch) -> Path:
    run = tmp_path / "run"
    # the rank processes load tests.helpers.RecordBatches from the repository
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    run_cli("seqrec.cli.train", *overrides, "trainer=ddp", "trainer.accelerator=cpu",
            "trainer.devices=2", "trainer.max_epochs=2", f"hydra.run.dir={run}",
            f"+callbacks.record={{_target_: tests.helpers.RecordBatches, folder: {tmp_path / 'ids'}}}",
            cwd=tmp_path)  # fmt: skip
    return run


def recipe_overrides(recipe: str, request) -> list[str]:
    if recipe == "kws_synthetic":
        data = request.getfixturevalue("synthetic_data_dir")
        return [*tiny_synthetic_overrides(data), *tiny_model_overrides(), "data.max_batch_seconds=null",
                "data.max_batch_size=3"]  # fmt: skip
    if recipe == "video_synthetic":
        return [
            *tiny_video_overrides(request.getfixturevalue("video_data_dir")),
            "data.max_batch_size=2",
        ]
    data = request.getfixturevalue("asr_data_dir")
    return [*tiny_asr_overrides(data), "data.max_batch_seconds=null", "data.max_batch_size=2"]


@pytest.mark.parametrize("recipe", ["kws_synthetic", "video_synthetic", "asr_synthetic"])
def test_two_cpu_processes_share_each_epoch_and_write_one_run(
    tmp_path, recipe, request, monkeypatch
):
    run = ddp_run(
        tmp_path, [f"experiment={recipe}", *recipe_overrides(recipe, request)], monkeypatch
    )
    ranks = [json.loads((tmp_path / "ids" / f"rank{r}.json").read_text()) for r in (0, 1)]
    for key in ranks[0]:
        batches = [ranks[0][key], ranks[1][key]]
        assert len(batches[0]) == len(batches[1]), key  # the same number of steps on both ranks
        ids = [{i for b in rank for i in b} for rank in batches]
        assert not ids[0] & ids[1], key  # disjoint shards
    assert {"train_epoch0", "train_epoch1", "val_epoch0", "val_epoch1"} <= ranks[0].keys()
    corpus = request.getfixturevalue(DATA_FIXTURES[recipe]) / recipe
    for split in ("train", "val"):  # together the ranks cover each epoch
        expected = {json.loads(line)["id"] for line in (corpus / f"{split}.jsonl").open()}
        covered = {i for rank in ranks for b in rank[f"{split}_epoch0"] for i in b}
        assert covered == expected, split
    assert ranks[0]["train_epoch0"] != ranks[0]["train_epoch1"]  # reshuffled every epoch
    # the logged validation metric covers both ranks: it equals one process scoring all of val
    metrics = json.loads((run / "metrics.json").read_text())
    model = seqrec.load(run / "checkpoints" / "best.ckpt")
    if recipe == "asr_synthetic":
        assert metrics["val/wer"] == pytest.approx(
            evaluate_transcriber(model, corpus / "val.jsonl")["wer"], abs=1e-6
        )
    else:
        assert metrics["val/acc"] == pytest.approx(
            evaluate_classifier(model, corpus / "val.jsonl")["acc"], abs=1e-6
        )
    outputs = sorted(
        p.relative_to(run).as_posix() for p in run.rglob("*") if p.suffix in (".ckpt", ".json")
    )
    assert outputs == ["checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.json"]


def test_checkpoint_averaging_under_two_cpu_processes(tmp_path, request, monkeypatch):
    """Rank 0 writes the average, both ranks validate it: the logged metric is that of
    the evaluated checkpoint, scored by one process on all of val."""
    run = ddp_run(
        tmp_path,
        ["experiment=kws_synthetic", *recipe_overrides("kws_synthetic", request),
         "average_checkpoints=2"],
        monkeypatch,
    )  # fmt: skip
    outputs = sorted(
        p.relative_to(run).as_posix() for p in run.rglob("*") if p.suffix in (".ckpt", ".json")
    )
    assert outputs == ["checkpoints/averaged.ckpt", "checkpoints/best.ckpt", "checkpoints/last.ckpt",
                       "checkpoints/top/epoch000.ckpt", "checkpoints/top/epoch001.ckpt",
                       "metrics.json"]  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    corpus = request.getfixturevalue("synthetic_data_dir") / "kws_synthetic"
    model = seqrec.load(metrics["evaluated_checkpoint"])
    assert metrics["val/acc"] == pytest.approx(
        evaluate_classifier(model, corpus / "val.jsonl")["acc"], abs=1e-6
    )
