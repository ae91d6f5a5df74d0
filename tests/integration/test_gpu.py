"""The CUDA paths: the RNN on packed sequences (cuDNN) and bf16-mixed precision
(``trainer=gpu``). Marked ``gpu``; skipped where there is no CUDA device."""

import csv
import json
import math

import pytest
import torch

import seqrec
from seqrec.data.batch import pad_sequences
from seqrec.modules import RecurrentDecoder
from seqrec.modules import decoder as decoder_module
from seqrec.tasks import metrics as names
from seqrec.tasks.callbacks import NONFINITE_STEPS
from seqrec.train import train
from tests.conftest import (
    make_config,
    tiny_asr_overrides,
    tiny_model_overrides,
    tiny_synthetic_overrides,
)
from tests.helpers import (
    assert_batch_invariant,
    build_kws_model,
    direct_scores,
    error_rates,
    tiny_ctc_model,
    waveforms,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture
def full_fp32():
    """cuDNN and cuBLAS without TF32, so that the GPU is held to the CPU's tolerance."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture
def packed_calls(monkeypatch) -> list[int]:
    """Counts the decoder's calls to ``pack_padded_sequence``: proof that the packed
    path ran."""
    calls = []
    original = decoder_module.pack_padded_sequence

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(decoder_module, "pack_padded_sequence", counting)
    return calls


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("bidirectional", "proj_size"), [(True, 0), (False, 0), (True, 12)])
def test_packed_cuda_decoder_matches_the_cpu_path_with_gradients(
    cell, bidirectional, proj_size, full_fp32, packed_calls
):
    """A padded batch through the decoder on CUDA (packed, cuDNN) and on the CPU (layer
    by layer, each utterance reversed within its length): the same output, zero on
    padding, and the same gradients."""
    torch.manual_seed(0)
    decoder = RecurrentDecoder(
        6,
        hidden=8,
        num_layers=3,
        cell=cell,
        bidirectional=bidirectional,
        proj_size=proj_size,
        dropout=0.0,
    ).train()
    x = torch.randn(4, 11, 6)
    lengths = torch.tensor([11, 7, 1, 9])
    weights = torch.randn(4, 11, decoder.out_dim)

    def run(device: str) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        decoder.to(device).zero_grad()
        inputs = x.to(device, copy=True).requires_grad_()
        y, out_lengths = decoder(inputs, lengths.to(device))
        assert out_lengths.tolist() == lengths.tolist()
        (y * weights.to(device)).sum().backward()
        grads = [p.grad.detach().cpu().clone() for p in decoder.parameters()]
        return y.detach().cpu(), inputs.grad.cpu().clone(), grads

    cpu_y, cpu_x_grad, cpu_grads = run("cpu")
    assert not packed_calls
    gpu_y, gpu_x_grad, gpu_grads = run("cuda")
    assert len(packed_calls) == 1
    torch.testing.assert_close(gpu_y, cpu_y, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gpu_x_grad, cpu_x_grad, atol=1e-5, rtol=1e-4)
    for gpu_grad, cpu_grad in zip(gpu_grads, cpu_grads, strict=True):
        torch.testing.assert_close(gpu_grad, cpu_grad, atol=1e-5, rtol=1e-4)
    assert gpu_y[1, 7:].abs().max() == 0 and gpu_y[2, 1:].abs().max() == 0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_whole_model_on_cuda_ignores_padding_and_matches_the_cpu(cell, full_fp32, packed_calls):
    model = build_kws_model(cell).eval()
    waves = waveforms(16000, 11000, 4000, 800, seed=1)
    padded, lengths = pad_sequences(waves)
    with torch.no_grad():
        cpu_logits, _ = model(padded, lengths)
    model.cuda()
    gpu_logits, gpu_lengths = assert_batch_invariant(model, [w.cuda() for w in waves], atol=1e-5)
    assert packed_calls  # the batch was padded, so the decoder packed it (one wave alone is not)
    assert gpu_lengths.dtype == torch.int64
    # the frontend's FFT differs between cuFFT and the CPU in the last bits
    torch.testing.assert_close(gpu_logits.cpu(), cpu_logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["classifier", "ctc"])
def test_bf16_autocast_forward_matches_fp32_and_keeps_lengths(kind, full_fp32):
    """Under bf16 autocast (what ``trainer=gpu``'s bf16-mixed runs) a padded batch gives
    the fp32 probabilities within a loose tolerance, and the same lengths. (Computing
    everything after the frontend in bf16 on the CPU moves them by at most 7e-4.)"""
    torch.manual_seed(0)
    model = (build_kws_model("lstm") if kind == "classifier" else tiny_ctc_model()).cuda().eval()
    padded, lengths = pad_sequences(waveforms(16000, 11000, 4000, 800, seed=2))
    padded, lengths = padded.cuda(), lengths.cuda()
    with torch.no_grad():
        reference, reference_lengths = model(padded, lengths)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            output, out_lengths = model(padded, lengths)
    assert out_lengths.dtype == torch.int64 and torch.equal(out_lengths, reference_lengths)
    output = output.float()
    assert torch.isfinite(output).all()
    if kind == "classifier":
        torch.testing.assert_close(output.softmax(-1), reference.softmax(-1), atol=1e-2, rtol=0)
    else:  # log-probabilities over the real frames; padding is zero in both
        for i, n in enumerate(out_lengths.tolist()):
            torch.testing.assert_close(
                output[i, :n].exp(), reference[i, :n].exp(), atol=1e-2, rtol=0
            )
            torch.testing.assert_close(output[i, :n], reference[i, :n], atol=0.1, rtol=0)


def test_trainer_gpu_trains_in_bf16_and_its_checkpoint_scores_the_same_on_the_cpu(
    tmp_path, synthetic_data_dir, full_fp32
):
    cfg = make_config(
        tmp_path,
        [
            "experiment=kws_synthetic",
            *tiny_synthetic_overrides(synthetic_data_dir),
            *tiny_model_overrides(),
            "trainer=gpu",
            "trainer.max_epochs=3",
        ],
    )
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accelerator == "gpu"
    metrics = train(cfg).metrics
    with (tmp_path / "logs" / "metrics.csv").open() as f:
        losses = [float(row["train/loss"]) for row in csv.DictReader(f) if row["train/loss"]]
    steps = json.loads((tmp_path / "metrics.json").read_text())["global_step"]
    assert len(losses) == steps >= 9 and all(math.isfinite(loss) for loss in losses)
    assert metrics[NONFINITE_STEPS] == 0
    checkpoint = tmp_path / "checkpoints" / "best.ckpt"
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    # the same checkpoint in fp32 on the CPU: the loss within bf16's error, and at most
    # one of the 6 test clips decided the other way
    cpu = direct_scores(checkpoint, synthetic_data_dir / "kws_synthetic" / "test.jsonl")
    assert metrics[names.TEST_LOSS] == pytest.approx(cpu["loss"], abs=0.02)
    assert abs(metrics[names.TEST_ACC] - cpu["acc"]) <= 1 / 6 + 1e-6
    # and inference on the GPU (a padded batch, packed) agrees with the CPU's
    files = sorted((synthetic_data_dir / "kws_synthetic" / "test").glob("*/*.wav"))
    on_gpu = seqrec.load(checkpoint, device="cuda").classify(files, top_k=3)
    on_cpu = seqrec.load(checkpoint).classify(files, top_k=3)
    for a, b in zip(on_gpu, on_cpu, strict=True):
        assert dict(a.top_k) == pytest.approx(dict(b.top_k), abs=1e-4)


def test_trainer_gpu_ctc_steps_are_finite_in_bf16(tmp_path, asr_data_dir):
    """CTC training steps under bf16-mixed: none is skipped as non-finite."""
    outputs = tmp_path / "test_outputs.json"  # the transcripts the test step decoded
    cfg = make_config(
        tmp_path,
        [
            "experiment=asr_synthetic",
            *tiny_asr_overrides(asr_data_dir),
            "trainer=gpu",
            "trainer.fast_dev_run=3",
            f"+callbacks.record={{_target_: tests.helpers.RecordTestOutputs, path: {outputs}}}",
        ],
    )
    metrics = train(cfg).metrics
    assert metrics[NONFINITE_STEPS] == 0
    assert math.isfinite(metrics[names.TEST_LOSS]) and metrics[names.TEST_LOSS] > 0
    rows = json.loads(outputs.read_text())
    wer, _ = error_rates([r["hypothesis"] for r in rows], [r["reference"] for r in rows])
    assert metrics[names.TEST_WER] == metrics[names.TEST_WER_GREEDY]  # 3 steps: untrained
    assert metrics[names.TEST_WER] == pytest.approx(wer, abs=1e-6)
