"""seqrec.train: resuming without a checkpoint, or from a pickled payload, is refused."""

import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from seqrec.inference import CheckpointError
from seqrec.train import train
from tests.conftest import make_config, tiny_synthetic_overrides


def test_resume_without_a_checkpoint_says_how(tmp_path):
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", "ckpt_path=last"])
    with pytest.raises(CheckpointError, match=r"no checkpoint to resume from.*hydra\.run\.dir"):
        train(cfg)


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/seqrec_resume_payload_ran",))


def test_resume_refuses_a_pickled_payload(tmp_path):
    marker = Path("/tmp/seqrec_resume_payload_ran")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "loops": Payload()}, evil)
    with pytest.raises(CheckpointError, match="refused to load"):
        train(make_config(tmp_path, ["experiment=kws_synthetic", f"ckpt_path={evil}"]))
    assert not marker.exists()


def test_a_second_run_into_a_used_run_directory_is_refused(tmp_path):
    from seqrec.train import RunDirectoryError, claim_run_directory, train

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"first run")
    (run / "metrics.json").write_text("{}")
    (run / "logs").mkdir()
    (run / "logs" / "metrics.csv").write_text("epoch\n0\n")
    cfg = make_config(run, tiny_synthetic_overrides(tmp_path / "data"))
    with pytest.raises(
        RunDirectoryError,
        match=r"run holds a previous run \(checkpoints, metrics\.json, logs\); resume it with ckpt_path=last",
    ):
        train(cfg)  # refused before anything is built or written
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == b"first run"
    assert not (run / "config.yaml").exists()
    claim_run_directory(run, resuming=True, overwrite=False)  # resuming continues it
    assert (run / "metrics.json").exists()
    claim_run_directory(run, resuming=False, overwrite=True)
    assert not any((run / name).exists() for name in ("checkpoints", "metrics.json", "logs"))
    claim_run_directory(run, resuming=False, overwrite=False)  # now empty: a new run may start


def test_the_best_checkpoint_is_never_versioned():
    from seqrec.config import CONF_DIR

    callbacks = OmegaConf.load(CONF_DIR / "callbacks" / "default.yaml")
    assert callbacks.best_checkpoint.enable_version_counter is False
