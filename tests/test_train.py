"""The task and the training entry point, on tiny data and tiny models."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import seqrec
from seqrec.config import CONF_DIR
from seqrec.tasks import metrics as names
from seqrec.train import train
from tests.conftest import (
    make_config,
    tiny_asr_overrides,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    tiny_video_overrides,
)


def test_trained_run_writes_every_output(trained_run):
    for path in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "config.yaml", "metrics.json",
                 "logs/metrics.csv", "confusion_matrix.png"):  # fmt: skip
        assert (trained_run / path).is_file(), path
    assert list((trained_run / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in (
        names.VAL_ACC,
        names.VAL_LOSS,
        names.TEST_ACC,
        names.TEST_LOSS,
        names.TEST_ACC_MACRO,
    ):
        assert 0.0 <= metrics[key] <= (1.0 if "acc" in key else 100.0), key
    assert {f"{names.TEST_CLASS_ACC_PREFIX}{w}" for w in ("yes", "no", "up")} <= metrics.keys()
    assert metrics["best_checkpoint"].endswith("best.ckpt")
    assert "${" not in (trained_run / "config.yaml").read_text()  # resolved


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_both_cells_train_and_learn(tmp_path, synthetic_data_dir, cell):
    """Ten short epochs on the tiny corpus: the training loss must fall."""
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", *tiny_synthetic_overrides(synthetic_data_dir),
                                 *tiny_model_overrides(), f"decoder.cell={cell}", "trainer.max_epochs=10",
                                 "data.dataset.augment.noise_prob=0", "frontend.spec_augment=null",
                                 "task.optimizer.lr=0.02", "task.label_smoothing=0"])  # fmt: skip
    train(cfg)
    with (tmp_path / "logs" / "metrics.csv").open() as f:
        losses = [float(row["train/loss"]) for row in csv.DictReader(f) if row["train/loss"]]
    assert len(losses) == 30
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3
    model = seqrec.load(tmp_path / "checkpoints" / "last.ckpt")
    rnn = model.model.decoder.rnn
    assert isinstance(rnn, torch.nn.GRU if cell == "gru" else torch.nn.LSTM)


def test_averaged_checkpoint_is_the_mean_of_the_top_k_and_chosen_on_validation(
    tmp_path, synthetic_data_dir
):
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", *tiny_synthetic_overrides(synthetic_data_dir),
                                 *tiny_model_overrides(), "trainer.max_epochs=4",
                                 "average_checkpoints=3"])  # fmt: skip
    train(cfg)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    top = sorted((tmp_path / "checkpoints" / "top").glob("*.ckpt"))
    assert len(top) == 3 and summary["averaged_from"] == [p.name for p in top]
    members = [torch.load(p, weights_only=True)["state_dict"] for p in top]
    averaged = torch.load(tmp_path / "checkpoints" / "averaged.ckpt", weights_only=True)
    assert averaged["averaged_from"] == summary["averaged_from"]
    for key, value in averaged["state_dict"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(m[key] for m in members) / 3)
    assert any(  # the members differ, so the average is a new point
        not torch.equal(members[0][key], members[1][key]) for key in members[0]
    )
    scores = summary["validation_by_checkpoint"]
    chosen = "averaged" if scores["averaged"] >= scores["best"] else "best"  # val/acc: higher wins
    assert summary["evaluated_checkpoint"].endswith(f"{chosen}.ckpt")
    assert summary[names.VAL_ACC] == scores[chosen]
    prediction = seqrec.load(tmp_path / "checkpoints" / "averaged.ckpt").classify(
        [torch.zeros(16000)]
    )[0]
    assert prediction.label in ("yes", "no", "up")


def test_averaging_refuses_checkpoints_of_different_models(tmp_path):
    from seqrec.inference import CheckpointError
    from seqrec.tasks.checkpointing import average_checkpoints

    for name, size in (("a.ckpt", 3), ("b.ckpt", 4)):
        torch.save({"state_dict": {"model.w": torch.ones(size)}}, tmp_path / name)
    with pytest.raises(CheckpointError, match=r"b\.ckpt: cannot average with .*a\.ckpt.*shape"):
        average_checkpoints([tmp_path / "a.ckpt", tmp_path / "b.ckpt"], tmp_path / "avg.ckpt")
    torch.save(
        {"state_dict": {"model.w": torch.ones(3), "model.n": torch.tensor(5)}}, tmp_path / "a.ckpt"
    )
    torch.save(
        {"state_dict": {"model.w": torch.zeros(3), "model.n": torch.tensor(9)}}, tmp_path / "c.ckpt"
    )
    average_checkpoints([tmp_path / "a.ckpt", tmp_path / "c.ckpt"], tmp_path / "avg.ckpt")
    state = torch.load(tmp_path / "avg.ckpt", weights_only=True)["state_dict"]
    assert (
        state["model.w"].tolist() == [0.5] * 3 and state["model.n"].item() == 5
    )  # counters: the first's


def test_fast_dev_run_writes_metrics_without_checkpoints(tmp_path, synthetic_data_dir):
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", *tiny_synthetic_overrides(synthetic_data_dir),
                                 *tiny_model_overrides(), "trainer.fast_dev_run=true"])  # fmt: skip
    metrics = train(cfg)
    assert (
        names.TEST_ACC in metrics
        and json.loads((tmp_path / "metrics.json").read_text())["best_checkpoint"] is None
    )


def test_config_interpolations_are_checked(tmp_path):
    cfg = make_config(
        tmp_path, ["experiment=kws_synthetic", "decoder.hidden=32", "decoder.bidirectional=false"]
    )
    assert cfg.decoder.out_dim == 32 and cfg.head.input_dim == 32 and cfg.head.num_classes == 35
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", "frontend=mfcc"])
    assert cfg.encoder.input_dim == cfg.frontend.featurizer.n_mfcc == 40


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def cli_overrides(data_dir: Path) -> list[str]:
    return [
        *tiny_synthetic_overrides(data_dir),
        *tiny_model_overrides(),
        "trainer.fast_dev_run=true",
    ]


EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def preset_overrides(experiment: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    """Tiny data and model for each preset, so its CLI run takes seconds."""
    data_dir = f"paths.data_dir={tmp_path / 'data'}"
    if experiment == "kws_synthetic":
        return [
            *tiny_synthetic_overrides(request.getfixturevalue("synthetic_data_dir")),
            *tiny_model_overrides(),
        ]
    if experiment == "kws_speech_commands":
        root = request.getfixturevalue("speech_commands_root")
        return [data_dir, f"data.prepare.root={root}", *tiny_model_overrides()]
    if experiment == "video_synthetic":
        return tiny_video_overrides(request.getfixturevalue("video_data_dir"))
    if experiment in ("asr_synthetic", "asr_synthetic_large"):
        asr_data = request.getfixturevalue("asr_data_dir")
        return [*tiny_asr_overrides(asr_data), f"data.prepare.root={asr_data / 'asr_synthetic'}",
                "data.num_workers=0"]  # fmt: skip
    if experiment == "asr_librispeech":
        root = request.getfixturevalue("librispeech_root")
        return [data_dir, f"data.prepare.root={root}", "data.prepare.eval_subsets=[dev-clean]",
                "data.test_manifest=${data.prepare.out_dir}/dev-clean.jsonl", "data.tokenizer.vocab_size=40",
                *tiny_model_overrides()]  # fmt: skip
    if experiment in ("video_ucf101", "video_hmdb51"):
        root = request.getfixturevalue(experiment.removeprefix("video_") + "_root")
        return [data_dir, f"data.prepare.root={root}", "data.dataset.num_frames=2", "data.dataset.num_clips=2",
                "data.dataset.clip_seconds=0.3", "data.dataset.short_side=32", "data.dataset.transform.size=32",
                "data.max_batch_size=2", "data.num_workers=0", "trainer.enable_progress_bar=false"]  # fmt: skip
    pytest.fail(f"no test data for experiment {experiment}: add it here")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_preset_through_the_cli(tmp_path, experiment, request):
    overrides = [f"experiment={experiment}", f"hydra.run.dir={tmp_path / 'run'}", "trainer.fast_dev_run=true",
                 *preset_overrides(experiment, tmp_path, request)]  # fmt: skip
    result = run_cli("seqrec.cli.train", *overrides, cwd=tmp_path)
    assert "test metrics:" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics[names.TEST_WER if experiment.startswith("asr_") else names.TEST_ACC] >= 0


def test_multirun_sweep(tmp_path, synthetic_data_dir):
    run_cli("seqrec.cli.train", "-m", "experiment=kws_synthetic", *cli_overrides(synthetic_data_dir),
            "decoder.hidden=8,16", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)  # fmt: skip
    for job, hidden in ((0, 8), (1, 16)):
        config = (tmp_path / "sweep" / str(job) / "config.yaml").read_text()
        assert f"hidden: {hidden}" in config
        assert (tmp_path / "sweep" / str(job) / "metrics.json").is_file()
