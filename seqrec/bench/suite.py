"""seqrec-bench: how close seqrec runs to what the machine allows, measured in one run.

    seqrec-bench                                   # CPU, the figures below
    seqrec-bench --asr-ckpt <asr run>/checkpoints/best.ckpt --kws-ckpt <kws run>/checkpoints/best.ckpt
    seqrec-bench --skip ddp2_speedup,asr_rtf       # leave measurements out

Every figure is measured here, side by side, on this machine:

- ``train_pipeline_efficiency``: samples per second of the whole Lightning training
  loop of the ASR recipe (data loading, augmentation, features, model, optimizer),
  over samples per second of forward + backward + optimizer step alone on the same
  batches, made beforehand and held in memory.
- ``padding_efficiency``: real audio over padded audio in the batches the bucketing
  sampler makes from the ASR training set's durations.
- ``asr_rtf``: seconds of processing per second of audio when transcribing the ASR
  test set with greedy decoding, on ``--threads`` threads (the trained model with
  ``--asr-ckpt``, else the recipe's model with random weights: same cost).
- ``kws_ms_per_clip``: milliseconds to classify one 1 s clip, on 1 thread (median).
- ``ddp2_speedup``: training samples per second with 2 CPU DDP processes (gloo,
  1 thread each) over 1 process (``--threads`` threads), ASR recipe.
- ``rnn_gflops`` / ``gemm_gflops``: matrix-multiply GFLOP/s achieved by the ASR
  recipe's recurrent decoder, forward + backward, against one large fp32 matrix
  product: the machine's practical limit.

A human table comes first; the last line is one JSON object.
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from seqrec.bench.timing import StepTimer
from seqrec.config import conf_dir, register_resolvers
from seqrec.data.sampler import DurationBucketSampler
from seqrec.inference import Classifier, Transcriber
from seqrec.tasks.callbacks import SamplerEpochCallback

MEASUREMENTS = ("train_pipeline_efficiency", "padding_efficiency", "asr_rtf", "kws_ms_per_clip",
                "ddp2_speedup", "rnn_gflops", "gemm_gflops")  # fmt: skip


def compose_config(experiment: str, overrides: list[str] = ()) -> DictConfig:
    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(
            "train", overrides=[f"experiment={experiment}", "paths.output_dir=unused", *overrides]
        )


def build_task(cfg: DictConfig, datamodule) -> pl.LightningModule:
    factory = instantiate(cfg.task, _partial_=True)
    return factory(model_config=OmegaConf.to_container(cfg.model, resolve=True),
                   input_spec=OmegaConf.to_container(cfg.input_spec, resolve=True),
                   **datamodule.task_targets())  # fmt: skip


def padding_efficiency(durations: list[float], max_batch_seconds, max_batch_size) -> float:
    """Real over padded seconds across one epoch of the bucketing sampler's batches."""
    sampler = DurationBucketSampler(durations, max_batch_seconds, max_batch_size, shuffle=True)
    real = padded = 0.0
    for batch in sampler:
        lengths = [durations[i] for i in batch]
        real += sum(lengths)
        padded += len(lengths) * max(lengths)
    return real / padded


def train_pipeline_efficiency(cfg: DictConfig, steps: int, warmup: int = 3) -> dict[str, float]:
    datamodule = instantiate(cfg.data)
    task = build_task(cfg, datamodule)
    timer = StepTimer(warmup=warmup)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=warmup + steps, limit_val_batches=0,
                         num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                         gradient_clip_val=cfg.trainer.gradient_clip_val, callbacks=[timer, SamplerEpochCallback()])  # fmt: skip
    trainer.fit(task, datamodule=datamodule)
    loop_rate = timer.samples / timer.seconds

    # the same batches (same sampler seed and epoch), collated beforehand
    batches = []
    for batch in datamodule.train_dataloader():
        batches.append(batch)
        if len(batches) == warmup + steps:
            break
    optimizer = task.configure_optimizers()["optimizer"]
    task.train()
    samples, seconds = 0, 0.0
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        loss = task._loss(batch)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()
        optimizer.zero_grad()
        if i >= warmup:
            seconds += time.perf_counter() - start
            samples += len(batch)
    compute_rate = samples / seconds
    return {"loop_samples_per_s": loop_rate, "compute_samples_per_s": compute_rate,
            "train_pipeline_efficiency": loop_rate / compute_rate}  # fmt: skip


def asr_model(cfg: DictConfig, checkpoint: str | None) -> Transcriber:
    if checkpoint:
        import seqrec

        return seqrec.load(checkpoint)
    datamodule = instantiate(cfg.data)
    task = build_task(cfg, datamodule)
    return Transcriber(task.model, task.tokenizer, dict(task.hparams.input_spec))


def asr_rtf(model: Transcriber, manifest: Path, limit: int) -> float:
    from seqrec.data.audio import load_audio
    from seqrec.data.manifest import read_manifest

    entries = read_manifest(manifest, target_key="text")[:limit]
    waves = [load_audio(e.path, model.sample_rate, e.offset, e.duration) for e in entries]
    model.transcribe_waveforms(waves[:4])  # warm-up
    start = time.perf_counter()
    model.transcribe_waveforms(waves)
    return (time.perf_counter() - start) / (sum(w.shape[0] for w in waves) / model.sample_rate)


def kws_ms_per_clip(checkpoint: str | None, runs: int = 200) -> float:
    if checkpoint:
        import seqrec

        model = seqrec.load(checkpoint)
    else:
        cfg = compose_config("kws_synthetic")
        model_config = OmegaConf.to_container(cfg.model, resolve=True)
        model = Classifier(instantiate(model_config), list(cfg.data.labels),
                           OmegaConf.to_container(cfg.input_spec, resolve=True))  # fmt: skip
    clip = [[torch.randn(model.sample_rate) * 0.1]]
    times = []
    for i in range(runs + 10):
        start = time.perf_counter()
        model.classify_clips(clip, ["clip"], top_k=1)
        if i >= 10:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def ddp_samples_per_s(devices: int, threads: int, steps: int, overrides: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "timer.json"
        command = [sys.executable, "-m", "seqrec.cli.train", "experiment=asr_synthetic", "trainer=ddp",
                   "trainer.accelerator=cpu", f"trainer.devices={devices}", f"+trainer.max_steps={steps + 3}",
                   "+trainer.limit_val_batches=0", "+trainer.limit_test_batches=0", "+trainer.num_sanity_val_steps=0",
                   "trainer.enable_progress_bar=false", f"threads={threads}", f"hydra.run.dir={tmp}/run",
                   f"+callbacks.timer={{_target_: seqrec.bench.timing.StepTimer, warmup: 3, output: {output}}}",
                   *overrides]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not output.is_file():
            raise RuntimeError(
                f"DDP run with {devices} process(es) failed:\n{result.stderr[-2000:]}"
            )
        timing = json.loads(output.read_text())
    return timing["samples"] / timing["seconds"]


def rnn_gflops(cfg: DictConfig, batch: int = 32, frames: int = 250, repeats: int = 3) -> float:
    """Matrix-multiply GFLOP/s of the recipe's recurrent decoder, forward + backward."""
    decoder = instantiate(OmegaConf.to_container(cfg.decoder, resolve=True))
    rnn = decoder.rnn
    x = torch.randn(batch, frames, decoder.rnn.input_size, requires_grad=True)
    lengths = torch.full((batch,), frames)
    gates = 4 if isinstance(rnn, torch.nn.LSTM) else 3
    directions = 2 if rnn.bidirectional else 1
    flops = 0
    for layer in range(rnn.num_layers):
        inputs = rnn.input_size if layer == 0 else rnn.hidden_size * directions
        flops += 2 * gates * rnn.hidden_size * (inputs + rnn.hidden_size) * directions
    flops *= 3 * batch * frames  # backward costs about twice the forward
    decoder(x, lengths)[0].sum().backward()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        decoder(x, lengths)[0].sum().backward()
    return flops * repeats / (time.perf_counter() - start) / 1e9


def gemm_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def run(argv: list[str] | None = None) -> dict:
    """Measure, print, and return the results."""
    parser = argparse.ArgumentParser(prog="seqrec-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (default 20)")
    parser.add_argument("--asr-ckpt", default=None)
    parser.add_argument("--kws-ckpt", default=None)
    parser.add_argument("--utterances", type=int, default=100, help="test utterances for asr_rtf")
    parser.add_argument(
        "--skip",
        default="",
        help=f"comma-separated measurements to leave out: {','.join(MEASUREMENTS)}",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the ASR recipe")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = compose_config("asr_synthetic", args.overrides)
    instantiate(cfg.data.prepare)()  # the corpus, if it is not there yet
    results: dict[str, float] = {}
    skip = {m for m in args.skip.split(",") if m}
    if skip - set(MEASUREMENTS):
        parser.error(f"unknown measurement(s) {sorted(skip - set(MEASUREMENTS))}")
    todo = [m for m in MEASUREMENTS if m not in skip]
    if "padding_efficiency" in todo:
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        results["padding_efficiency"] = padding_efficiency(
            datamodule.datasets["train"].durations,
            cfg.data.max_batch_seconds,
            cfg.data.max_batch_size,
        )
    if "train_pipeline_efficiency" in todo:
        results.update(train_pipeline_efficiency(cfg, args.steps))
    if "asr_rtf" in todo:
        manifest = Path(cfg.data.test_manifest)
        results["asr_rtf"] = asr_rtf(asr_model(cfg, args.asr_ckpt), manifest, args.utterances)
    if "kws_ms_per_clip" in todo:
        torch.set_num_threads(1)
        results["kws_ms_per_clip"] = kws_ms_per_clip(args.kws_ckpt)
        torch.set_num_threads(args.threads)
    if "ddp2_speedup" in todo:
        one = ddp_samples_per_s(1, args.threads, args.steps, args.overrides)
        two = ddp_samples_per_s(2, 1, args.steps, args.overrides)
        results.update(
            {"ddp1_samples_per_s": one, "ddp2_samples_per_s": two, "ddp2_speedup": two / one}
        )
    if "rnn_gflops" in todo:
        results["rnn_gflops"] = rnn_gflops(cfg)
    if "gemm_gflops" in todo:
        results["gemm_gflops"] = gemm_gflops()

    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    print(f"seqrec-bench on {machine}, {args.threads} threads, torch {torch.__version__}")
    for key, value in results.items():
        print(f"  {key:28} {value:10.4f}")
    results = {k: round(v, 5) for k, v in results.items()}
    print(json.dumps({**results, "threads": args.threads, "machine": machine}))
    return results


def main(argv: list[str] | None = None) -> None:
    run(argv)


if __name__ == "__main__":
    main()
