"""seqrec.tasks.checkpointing: atomic writes, and averaging only checkpoints of one model."""

import pytest
import torch

from seqrec.tasks.checkpointing import AtomicCheckpointIO


def test_atomic_checkpoint_write_never_leaves_a_truncated_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["step"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


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
