"""seqrec.tasks.ctc: the CTC length limit, and a finite loss at it."""

import torch

from seqrec.tasks.ctc import ctc_min_frames


def test_ctc_min_frames_counts_a_blank_between_repeats():
    targets = torch.tensor([[1, 1, 1, 0], [2, 3, 2, 3]])
    assert ctc_min_frames(targets, torch.tensor([3, 4])).tolist() == [5, 4]


def test_ctc_loss_is_finite_at_the_length_limit_and_too_short_is_filtered(tmp_path):
    from seqrec.tasks.ctc import CTCTask

    config = {
        "_target_": "seqrec.modules.SequenceModel",
        "frontend": {
            "_target_": "seqrec.modules.AudioFrontend",
            "out_dim": 16,
            "featurizer": {
                "_target_": "seqrec.modules.LogMelSpectrogram",
                "sample_rate": 16000,
                "n_mels": 16,
            },
        },
        "encoder": {"_target_": "seqrec.modules.ConvSubsampling", "input_dim": 16, "out_dim": 16},
        "decoder": {"_target_": "seqrec.modules.RecurrentDecoder", "input_dim": 16, "hidden": 8},
        "head": {"_target_": "seqrec.modules.CTCHead", "input_dim": 16, "num_classes": 29},
    }
    task = CTCTask(
        config,
        {"kind": "char"},
        {"modality": "audio", "sample_rate": 16000},
        optimizer=torch.optim.SGD,
    )
    samples = 16000  # 1 s: 97 feature frames -> 25 frames after x4 subsampling
    frames = task.model(torch.zeros(1, samples), torch.tensor([samples]))[1].item()
    exact = torch.tensor([[1 + (i % 2) for i in range(frames)]])  # alternating: no repeats
    too_long = torch.tensor([[1 + (i % 2) for i in range(frames + 1)]])
    repeats = torch.tensor([[1] * frames])  # needs 2 * frames - 1 frames
    batch = type("B", (), {})()
    batch.inputs = torch.randn(3, samples) * 0.1
    batch.lengths = torch.tensor([samples] * 3)
    batch.targets = torch.nn.utils.rnn.pad_sequence(
        [exact[0], too_long[0], repeats[0]], batch_first=True
    )
    batch.target_lengths = torch.tensor([frames, frames + 1, frames])
    loss, _, _, too_short = task._loss(batch)
    assert too_short == 2 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in task.parameters() if p.grad is not None)
    batch.inputs, batch.lengths = batch.inputs[1:], batch.lengths[1:]
    batch.targets, batch.target_lengths = batch.targets[1:], batch.target_lengths[1:]
    assert task._loss(batch)[0] is None  # nothing alignable: no loss, no NaN
