"""seqrec.train: resuming without a checkpoint, or from a pickled payload, is refused."""

import os
from pathlib import Path

import pytest
import torch

from seqrec.inference import CheckpointError
from seqrec.train import train
from tests.conftest import make_config


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
