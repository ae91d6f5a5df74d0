"""Matrix-multiply GFLOP/s of the recipe's recurrent decoder, forward + backward,
against one large matrix product: the machine's practical limit.

- ``rnn_gflops_synthetic_shape``: one made-up batch like the bucketing sampler's, 32
  utterances of 250 frames with lengths spread evenly over the last 10 %;
  ``rnn_gflops_packed_synthetic_shape`` is the same RNN on the same batch through
  packed sequences, which is what the decoder runs on CUDA.
- ``rnn_gflops_preset_batches``: the preset's own batches, as the bucketing sampler
  cuts them from the training manifest (its first ``batches`` of epoch 0, manifest
  durations), through the preset's frontend and subsampling to the decoder's input.
- ``gemm_gflops``: one n x n product.

Only real frames count as work (:func:`rnn_matmul_flops`).
"""

import time
from collections.abc import Callable

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqrec.bench.common import build_task, sync
from seqrec.data.sampler import AugmentKey


def rnn_matmul_flops(rnn: nn.RNNBase, frames: int) -> int:
    """Matrix-multiply FLOPs of ``rnn`` (LSTM or GRU) over ``frames`` real frames,
    forward + backward: per layer, direction and frame, ``2 * gates * hidden *
    (inputs + hidden)`` forward, and backward costs about twice the forward.

    >>> rnn_matmul_flops(nn.LSTM(10, 20), frames=1)  # 3 * 2 * 4 * 20 * (10 + 20)
    14400
    """
    gates = 4 if isinstance(rnn, nn.LSTM) else 3
    directions = 2 if rnn.bidirectional else 1
    per_frame = 0
    for layer in range(rnn.num_layers):
        inputs = rnn.input_size if layer == 0 else rnn.hidden_size * directions
        per_frame += 2 * gates * rnn.hidden_size * (inputs + rnn.hidden_size) * directions
    return 3 * per_frame * frames


def timed_gflops(
    steps: list[Callable[[], None]],
    flops: int,
    device: str,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """``flops`` over the seconds that ``steps`` take, run in turn after one untimed
    warm-up call of the first, in GFLOP/s."""
    steps[0]()
    sync(torch.device(device))
    start = clock()
    for step in steps:
        step()
    sync(torch.device(device))
    return flops / (clock() - start) / 1e9


def _backward_step(
    forward: Callable[[], torch.Tensor], autocast: torch.autocast
) -> Callable[[], None]:
    def step() -> None:
        with autocast:
            out = forward()
        out.float().sum().backward()

    return step


def _autocast(device: str, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(
        torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None
    )


def rnn_gflops_synthetic_shape(
    cfg: DictConfig,
    batch: int = 32,
    frames: int = 250,
    repeats: int = 3,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """The decoder (under autocast to ``dtype`` when given) on the synthetic batch,
    directly and through packed sequences."""
    decoder = instantiate(OmegaConf.to_container(cfg.decoder, resolve=True)).to(device)
    rnn = decoder.rnn
    x = torch.randn(batch, frames, rnn.input_size, requires_grad=True, device=device)
    lengths = torch.linspace(0.9 * frames, frames, batch).round().long()
    flops = rnn_matmul_flops(rnn, int(lengths.sum())) * repeats
    autocast = _autocast(device, dtype)

    def packed() -> torch.Tensor:
        sequences = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(rnn(sequences)[0], batch_first=True, total_length=frames)[0]

    direct = _backward_step(lambda: decoder(x, lengths)[0], autocast)
    return {
        "rnn_gflops_synthetic_shape": timed_gflops([direct] * repeats, flops, device),
        "rnn_gflops_packed_synthetic_shape": timed_gflops(
            [_backward_step(packed, autocast)] * repeats, flops, device
        ),
    }


def rnn_gflops_preset_batches(
    cfg: DictConfig, batches: int = 8, device: str = "cpu", dtype: torch.dtype | None = None
) -> dict[str, float]:
    """The decoder on the preset's first ``batches`` training batches, each once. Their
    decoder inputs are made beforehand, untimed, by the frontend and subsampling of
    the preset's model from random waveforms of the utterances' lengths."""
    datamodule = instantiate(cfg.data)
    model = build_task(cfg, datamodule).model.to(device)
    datamodule.setup("fit")
    durations = datamodule.datasets["train"].durations
    sampler = datamodule.train_dataloader().batch_sampler
    rate = int(cfg.data.reader.sample_rate)
    inputs, frames, utterances = [], 0, 0
    model.eval()  # no SpecAugment or dropout in the inputs; the decoder trains below
    with torch.no_grad():
        for keys in list(sampler)[:batches]:
            # the lengths the model receives: a training key carries its speed factor
            seconds = [
                durations[k.item] / k.speed if isinstance(k, AugmentKey) else durations[k]
                for k in keys
            ]
            lengths = torch.tensor([round(s * rate) for s in seconds])
            waves = torch.randn(len(keys), int(lengths.max()), device=device) * 0.1
            x, out_lengths = model.frontend(waves, lengths.to(device))
            if model.encoder is not None:
                x, out_lengths = model.encoder(x, out_lengths)
            inputs.append((x.detach().requires_grad_(True), out_lengths))  # (B, T, F)
            frames += int(out_lengths.sum())
            utterances += len(keys)
    model.decoder.train()
    autocast = _autocast(device, dtype)
    steps = [_backward_step(lambda x=x, n=n: model.decoder(x, n)[0], autocast) for x, n in inputs]
    return {
        "rnn_gflops_preset_batches": timed_gflops(
            steps, rnn_matmul_flops(model.decoder.rnn, frames), device
        ),
        "preset_batches": float(len(inputs)),
        "preset_batch_utterances_mean": utterances / len(inputs),
        "preset_batch_frames_max_mean": sum(x.shape[1] for x, _ in inputs) / len(inputs),
    }


def gemm_gflops(
    n: int = 2048,
    repeats: int = 10,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return timed_gflops([lambda: a @ b] * repeats, 2 * n**3 * repeats, device, clock)
