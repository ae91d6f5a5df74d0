"""seqrec-bench: how close seqrec runs to what the machine allows, measured in one run.

    seqrec-bench                                   # CPU, the figures below
    seqrec-bench --asr-ckpt <asr run>/checkpoints/best.ckpt --kws-ckpt <kws run>/checkpoints/best.ckpt
    seqrec-bench --skip ddp2_speedup,asr_rtf       # leave measurements out

Every figure is measured here, side by side, on this machine:

- ``train_pipeline_efficiency``: audio seconds per second of the whole Lightning training
  loop of the ASR recipe (data loading, augmentation, features, model, optimizer),
  over that of forward + backward + optimizer step alone on the same batches, made
  beforehand and held in memory (measured before and after the loop and pooled;
  ``compute_drift`` is the after/before ratio, 1.0 on a steady machine). Both are
  counted in audio seconds, since augmentation draws, and so lengths, differ.
- ``padding_efficiency``: real audio over padded audio in the batches the bucketing
  sampler makes from the ASR training set's durations.
- ``asr_rtf``: seconds of processing per second of audio when transcribing the ASR
  test set with greedy decoding, on ``--threads`` threads (the trained model with
  ``--asr-ckpt``, else the recipe's model with random weights: same cost).
- ``kws_ms_per_clip``: milliseconds to classify one 1 s clip, on 1 thread (median).
  ``kws_ms_per_clip_lstm`` / ``_gru``: the same for the ``kws_synthetic`` preset with
  each recurrent cell (random weights), timed in turn with it.
- ``ddp2_speedup``: training samples per second with 2 CPU DDP processes (gloo,
  1 thread each) over 1 process (``--threads`` threads), ASR recipe.
- ``rnn_gflops`` / ``gemm_gflops``: matrix-multiply GFLOP/s achieved by the ASR
  recipe's recurrent decoder, forward + backward, on a bucketing-like padded batch,
  against one large fp32 matrix product: the machine's practical limit.
  ``rnn_gflops_packed`` is the same RNN on the same batch through packed sequences.

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
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqrec.bench.timing import StepTimer
from seqrec.config import conf_dir, register_resolvers
from seqrec.data.sampler import DurationBucketSampler
from seqrec.inference import Classifier, Transcriber
from seqrec.tasks.callbacks import SamplerEpochCallback
from seqrec.tasks.classification import parameter_groups

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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_steps(
    batches: list, warmup: int, device: torch.device, step
) -> tuple[int, float, float]:
    """Run ``step(batch)`` on each batch: (samples, audio samples, seconds) of the steps
    after ``warmup``, each timed to the end of its device work."""
    samples, audio, seconds = 0, 0.0, 0.0
    for i, batch in enumerate(batches):
        _sync(device)
        start = time.perf_counter()
        step(batch)
        _sync(device)
        if i >= warmup:
            seconds += time.perf_counter() - start
            samples += len(batch)
            audio += float(batch.lengths.sum())
    return samples, audio, seconds


def _compute_only(task: pl.LightningModule, batches: list, warmup: int, clip: float,
                  autocast: torch.autocast) -> tuple[int, float, float]:  # fmt: skip
    """Forward + backward + clip + optimizer step on batches held in memory (on the task's
    device), timed by :func:`_timed_steps`."""
    # the task's own optimizer; its schedule needs a trainer, and costs nothing to step
    optimizer = task.optimizer_factory(parameter_groups(task.model, task.weight_decay))
    task.train()

    def step(batch) -> None:
        with autocast:
            loss = task._loss(batch)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad()

    return _timed_steps(batches, warmup, task.device, step)


def _features_only(task: pl.LightningModule, batches: list, warmup: int,
                   autocast: torch.autocast) -> float:  # fmt: skip
    """Samples per second of the frontend alone (features and SpecAugment, training mode)."""
    task.train()

    def step(batch) -> None:
        with torch.no_grad(), autocast:
            task.model.frontend(batch.inputs, batch.lengths)

    samples, _, seconds = _timed_steps(batches, warmup, task.device, step)
    return samples / seconds


def train_pipeline_efficiency(cfg: DictConfig, steps: int, warmup: int = 3, accelerator: str = "cpu",
                              precision: str = "32-true") -> dict[str, float]:  # fmt: skip
    """Whole-loop over compute-only throughput, with the rates of each stage.

    Both run the same utterances in the same batches (same sampler seed and epoch); the
    compute-only pass takes them collated beforehand and held in memory. Augmentation
    draws differ between the two, and speed perturbation changes lengths, so the ratio
    is taken in audio seconds per second, which the cost follows. The compute-only pass
    runs once before and once after the loop, pooled, so that a machine that speeds up
    or slows down during the measurement does not bias the ratio (``compute_drift`` is
    after over before). The data loader alone (its configured workers, nothing else
    running) and the frontend alone are timed on the same batches, to tell what bounds
    the loop.
    """
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16")
    )
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    batches, load_seconds, loaded = [], 0.0, 0
    start = time.perf_counter()
    for batch in datamodule.train_dataloader():
        batches.append(batch)
        if len(batches) == warmup:  # worker start-up is not counted
            start = time.perf_counter()
        elif len(batches) > warmup:
            loaded += len(batch)
            load_seconds = time.perf_counter() - start
        if len(batches) == warmup + steps:
            break
    task = build_task(cfg, datamodule).to(device)
    batches = [task.transfer_batch_to_device(b, device, 0) for b in batches]
    clip = cfg.trainer.gradient_clip_val
    before = _compute_only(task, batches, warmup, clip, autocast)
    features_rate = _features_only(task, batches, warmup, autocast)

    timer = StepTimer(warmup=warmup)
    trainer = pl.Trainer(accelerator=accelerator, devices=1, precision=precision, max_steps=warmup + steps,
                         limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                         gradient_clip_val=clip, callbacks=[timer, SamplerEpochCallback()])  # fmt: skip
    trainer.fit(task, datamodule=datamodule)
    loop_rate = timer.samples / timer.seconds

    after = _compute_only(task.to(device), batches, warmup, clip, autocast)
    rate = float(cfg.data.dataset.sample_rate)
    compute_samples = (before[0] + after[0]) / (before[2] + after[2])
    compute_audio = (before[1] + after[1]) / rate / (before[2] + after[2])
    loop_audio = timer.audio_seconds / timer.seconds
    return {"loop_samples_per_s": loop_rate, "loop_audio_seconds_per_s": loop_audio,
            "compute_samples_per_s": compute_samples, "compute_audio_seconds_per_s": compute_audio,
            "compute_drift": (after[1] / after[2]) / (before[1] / before[2]),
            "loader_samples_per_s": loaded / load_seconds, "features_samples_per_s": features_rate,
            "train_pipeline_efficiency": loop_audio / compute_audio}  # fmt: skip


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


def kws_model(checkpoint: str | None, overrides: list[str] = ()) -> Classifier:
    """The trained voice-commands model, or the ``kws_synthetic`` preset with random
    weights (the same cost)."""
    if checkpoint:
        import seqrec

        return seqrec.load(checkpoint)
    cfg = compose_config("kws_synthetic", overrides)
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    return Classifier(instantiate(model_config), list(cfg.data.labels),
                      OmegaConf.to_container(cfg.input_spec, resolve=True))  # fmt: skip


def kws_ms_per_clip(models: dict[str, Classifier], runs: int = 200) -> dict[str, float]:
    """Median milliseconds to classify one 1 s clip, for each model. The models take
    turns clip by clip, so a change in the machine's speed reaches them all alike."""
    clip = [[torch.randn(next(iter(models.values())).sample_rate) * 0.1]]
    times: dict[str, list[float]] = {name: [] for name in models}
    for i in range(runs + 10):
        for name, model in models.items():
            start = time.perf_counter()
            model.classify_clips(clip, ["clip"], top_k=1)
            if i >= 10:  # warm-up
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


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


def rnn_gflops(cfg: DictConfig, batch: int = 32, frames: int = 250, repeats: int = 3,
               device: str = "cpu", dtype: torch.dtype | None = None) -> dict[str, float]:  # fmt: skip
    """Matrix-multiply GFLOP/s of the recipe's recurrent decoder, forward + backward
    (under autocast to ``dtype`` when it is given), on a padded batch like the bucketing
    sampler's: lengths spread evenly over the last 10 % of ``frames``. Only real frames
    count as work. ``rnn_gflops_packed`` times the same RNN on the same batch through
    packed sequences, which is what the decoder runs on CUDA."""
    decoder = instantiate(OmegaConf.to_container(cfg.decoder, resolve=True)).to(device)
    rnn = decoder.rnn
    x = torch.randn(batch, frames, decoder.rnn.input_size, requires_grad=True, device=device)
    lengths = torch.linspace(0.9 * frames, frames, batch).round().long()
    gates = 4 if isinstance(rnn, torch.nn.LSTM) else 3
    directions = 2 if rnn.bidirectional else 1
    flops = 0
    for layer in range(rnn.num_layers):
        inputs = rnn.input_size if layer == 0 else rnn.hidden_size * directions
        flops += 2 * gates * rnn.hidden_size * (inputs + rnn.hidden_size) * directions
    flops *= 3 * int(lengths.sum())  # backward costs about twice the forward
    autocast = torch.autocast(
        torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None
    )

    def decoder_step() -> torch.Tensor:
        return decoder(x, lengths)[0]

    def packed_step() -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=frames)[0]

    def gflops(forward) -> float:
        def step() -> None:
            with autocast:
                out = forward()
            out.float().sum().backward()

        step()  # warm-up
        _sync(torch.device(device))
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        _sync(torch.device(device))
        return flops * repeats / (time.perf_counter() - start) / 1e9

    return {"rnn_gflops": gflops(decoder_step), "rnn_gflops_packed": gflops(packed_step)}


def gemm_gflops(n: int = 2048, repeats: int = 10, device: str = "cpu",
                dtype: torch.dtype = torch.float32) -> float:  # fmt: skip
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(torch.device(device))
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(torch.device(device))
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def bottleneck(results: dict[str, float]) -> str:
    """What bounds training, from the stage rates that ``train_pipeline_efficiency`` measured:
    the data loader when it alone delivers less than 1.1x what the model consumes, else
    the larger share of a compute step (features, or the rest of the model)."""
    compute = results["compute_samples_per_s"]
    if results["loader_samples_per_s"] < 1.1 * compute:
        return "data loading"
    features_share = compute / results["features_samples_per_s"]
    return "features" if features_share > 0.5 else "model (subsampling, RNN, CTC)"


def run(argv: list[str] | None = None) -> dict:
    """Measure, print, and return the results."""
    parser = argparse.ArgumentParser(prog="seqrec-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (default 20)")
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu",
                        help="where training and the rnn/gemm measurements run (default cpu); "
                             "asr_rtf, kws_ms_per_clip and ddp2_speedup are CPU figures either way")  # fmt: skip
    parser.add_argument("--precision", default=None,
                        help="Lightning precision for training (default 32-true on cpu, bf16-mixed on gpu)")  # fmt: skip
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
    skip = {m for m in args.skip.split(",") if m}
    if skip - set(MEASUREMENTS):
        parser.error(f"unknown measurement(s) {sorted(skip - set(MEASUREMENTS))}")
    if args.accelerator == "gpu" and not torch.cuda.is_available():
        parser.error("--accelerator gpu: no CUDA device is visible")
    precision = args.precision or ("bf16-mixed" if args.accelerator == "gpu" else "32-true")
    device = "cuda" if args.accelerator == "gpu" else "cpu"
    dtype = torch.bfloat16 if precision.startswith("bf16") else None
    torch.set_num_threads(args.threads)
    cfg = compose_config("asr_synthetic", args.overrides)
    instantiate(cfg.data.prepare)()  # the corpus, if it is not there yet
    todo = [m for m in MEASUREMENTS if m not in skip]

    def padding() -> dict[str, float]:
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        durations = datamodule.datasets["train"].durations
        return {"padding_efficiency": padding_efficiency(durations, cfg.data.max_batch_seconds,
                                                         cfg.data.max_batch_size)}  # fmt: skip

    def kws() -> dict[str, float]:
        torch.set_num_threads(1)
        try:  # beside the model, the preset with each recurrent cell: the cost of the choice
            return kws_ms_per_clip({
                "kws_ms_per_clip": kws_model(args.kws_ckpt),
                **{f"kws_ms_per_clip_{cell}": kws_model(None, [f"decoder.cell={cell}"])
                   for cell in ("lstm", "gru")},
            })  # fmt: skip
        finally:
            torch.set_num_threads(args.threads)

    def ddp() -> dict[str, float]:
        one = ddp_samples_per_s(1, args.threads, args.steps, args.overrides)
        two = ddp_samples_per_s(2, 1, args.steps, args.overrides)
        return {"ddp1_samples_per_s": one, "ddp2_samples_per_s": two, "ddp2_speedup": two / one}

    measurements = {
        "padding_efficiency": padding,
        "train_pipeline_efficiency": lambda: train_pipeline_efficiency(
            cfg, args.steps, accelerator=args.accelerator, precision=precision),
        "asr_rtf": lambda: {"asr_rtf": asr_rtf(asr_model(cfg, args.asr_ckpt), Path(cfg.data.test_manifest),
                                               args.utterances)},
        "kws_ms_per_clip": kws,
        "ddp2_speedup": ddp,
        "rnn_gflops": lambda: rnn_gflops(cfg, device=device, dtype=dtype),
        "gemm_gflops": lambda: {"gemm_gflops": gemm_gflops(8192 if device == "cuda" else 2048, device=device,
                                                           dtype=dtype or torch.float32)},
    }  # fmt: skip
    results: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in todo:
        try:  # one failing measurement must not lose the others
            results.update(measurements[name]())
        except Exception as error:  # reported below; the exit status says so
            errors[name] = f"{type(error).__name__}: {error}"

    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    if device == "cuda":
        machine += f", {torch.cuda.get_device_name()}"
    extra: dict[str, object] = {"threads": args.threads, "machine": machine, "accelerator": args.accelerator,
                                "precision": precision}  # fmt: skip
    if "loader_samples_per_s" in results:
        extra["bound"] = bottleneck(results)
    print(
        f"seqrec-bench on {machine}, {args.threads} threads, {precision}, torch {torch.__version__}"
    )
    for key, value in results.items():
        print(f"  {key:28} {value:10.4f}")
    if "bound" in extra:
        print(f"  {'training bound by':28} {extra['bound']}")
    for name, message in errors.items():
        print(f"  {name:28} FAILED: {message}")
    if errors:
        extra["errors"] = errors
    results = {k: round(v, 5) for k, v in results.items()}
    print(json.dumps({**results, **extra}))
    return {**results, **extra}


def main(argv: list[str] | None = None) -> None:
    if "errors" in run(argv):
        sys.exit(1)


if __name__ == "__main__":
    main()
