"""A run killed by SIGKILL and resumed from its last checkpoint matches an uninterrupted one."""

import json
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_model_overrides, tiny_synthetic_overrides
from tests.helpers import run_cli


def interrupt_overrides(data_dir: Path) -> list[str]:
    """Tiny and free of randomness, so an interrupted run must match an uninterrupted one."""
    return [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(data_dir),
        *tiny_model_overrides(),
        "trainer.max_epochs=4",
        "checkpoint_every_n_steps=2",
        "data.dataset.augment=null",
        "frontend.spec_augment=null",
        "frontend.dither=0",
        "decoder.dropout=0",
        "head.dropout=0",
    ]


def run_training(run_dir: Path, overrides: list[str]) -> subprocess.CompletedProcess:
    """seqrec-train into ``run_dir``; the caller checks how it ended (killed, or not)."""
    return run_cli(
        "seqrec-train", f"hydra.run.dir={run_dir}", *overrides, cwd=run_dir.parent, check=False
    )


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, synthetic_data_dir):
    overrides = interrupt_overrides(synthetic_data_dir)
    reference = run_training(tmp_path / "reference", overrides)
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    assert expected["global_step"] == 12  # 4 epochs of 3 batches

    run = tmp_path / "interrupted"
    killed = run_training(
        run, [*overrides, "+callbacks.kill={_target_: tests.helpers.KillAtStep, step: 9}"]
    )
    assert killed.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 8  # saved mid-epoch: epoch 2, after 2 of its 3 batches
    assert not list((run / "checkpoints").glob(".*tmp*"))

    resumed = run_training(run, [*overrides, "ckpt_path=last"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = json.loads((run / "metrics.json").read_text())
    assert got["global_step"] == expected["global_step"]
    for key in ("val/loss", "test/loss", "test/acc"):
        assert got[key] == pytest.approx(expected[key], abs=1e-5), key


def recorded_steps(path: Path) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_sigkill_then_resume_draws_the_same_augmentations_and_dropout(tmp_path, synthetic_data_dir):
    """With waveform augmentation, dither, SpecAugment and dropout on, a run killed in
    its third epoch and resumed from the checkpoint of the step before trains the
    remaining steps on the same batches of the same augmented waveforms, with the
    same losses, as the uninterrupted run: the sampler seeds each item's augmentation
    from the seed, the epoch and the item, and ``StepSeed`` seeds the model's draws
    (dither, SpecAugment, dropout) from the batch's place in the run."""
    overrides = [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(synthetic_data_dir),
        *tiny_model_overrides(),
        "trainer.max_epochs=4",
        "checkpoint_every_n_steps=1",
    ]
    record = "+callbacks.record={_target_: tests.helpers.RecordTrainingSteps, path: %s}"
    reference = run_training(
        tmp_path / "reference", [*overrides, record % (tmp_path / "ref.jsonl")]
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = recorded_steps(tmp_path / "ref.jsonl")
    total = len(expected)
    assert sorted(expected) == list(range(1, total + 1)) and total % 4 == 0 and total >= 12
    assert len({r["loss"] for r in expected.values()}) == total  # the draws vary
    kill = 2 * total // 4 + 2  # saved after the first batch of epoch 2, killed after the second

    run = tmp_path / "interrupted"
    killed = run_training(
        run,
        [
            *overrides,
            f"+callbacks.kill={{_target_: tests.helpers.KillAtStep, step: {kill}}}",
            record % (tmp_path / "killed.jsonl"),
        ],
    )
    assert killed.returncode == -signal.SIGKILL
    before = recorded_steps(tmp_path / "killed.jsonl")
    assert before == {step: expected[step] for step in range(1, kill)}  # same start, same draws
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == kill - 1

    resumed = run_training(
        run, [*overrides, "ckpt_path=last", record % (tmp_path / "resumed.jsonl")]
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = recorded_steps(tmp_path / "resumed.jsonl")
    assert sorted(after) == list(range(kill, total + 1))
    for step, got in after.items():
        want = expected[step]
        assert got["ids"] == want["ids"], step  # the sampler's place in the epoch: restored
        assert (got["lengths"], got["sums"]) == (want["lengths"], want["sums"]), step
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-5), step
    got = json.loads((run / "metrics.json").read_text())
    reference_metrics = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    for key in ("val/loss", "test/loss", "test/acc"):
        assert got[key] == pytest.approx(reference_metrics[key], abs=1e-5), key
