"""seqrec-bench: how close seqrec runs to what the machine allows, measured in one run.

    seqrec-bench                                   # CPU, the figures below
    seqrec-bench --asr-ckpt <asr run>/checkpoints/best.ckpt --kws-ckpt <kws run>/checkpoints/best.ckpt
    seqrec-bench --skip ddp2_speedup,asr_rtf       # leave measurements out

Every figure is measured here, side by side, on this machine, for the
``asr_synthetic`` recipe (with the Hydra overrides given). Each measurement has its
own module, which defines it exactly:

- ``train_pipeline_efficiency`` (:mod:`seqrec.bench.pipeline`): audio seconds per
  second of ``seqrec-train`` itself, over forward + backward + optimizer step alone
  on the same batches held in memory; the median of ``--repeats`` runs of
  ``--steps`` timed steps, with ``_min`` and ``_max``.
- ``padding_efficiency`` (:mod:`seqrec.bench.padding`): real over padded audio in one
  epoch of training batches, on the lengths the model receives (after speed
  perturbation); ``padding_efficiency_manifest`` on the manifest durations of the
  same batches; ``batches_over_cap`` and ``batch_seconds_over_cap_max``: how the
  batches keep to ``data.max_batch_seconds`` after augmentation.
- ``asr_rtf`` (:func:`seqrec.bench.asr_rtf.measure_rtf`, shared with
  ``seqrec-bench-asr``): seconds per audio second to transcribe the test set from
  its files, greedy, on ``--threads`` threads (the trained model with ``--asr-ckpt``,
  else the recipe's model with random weights: the same cost).
- ``kws_ms_per_clip`` (:mod:`seqrec.bench.kws`): milliseconds to classify one 1 s
  clip, 1 thread, with ``_lstm`` / ``_gru`` for the ``kws_synthetic`` preset's cells.
- ``ddp2_speedup`` (:mod:`seqrec.bench.ddp`): audio seconds trained per second by 2
  CPU DDP processes over 1 process, at the same global batch and the same cores.
- ``rnn_gflops`` and ``gemm_gflops`` (:mod:`seqrec.bench.gflops`): the recurrent
  decoder's matrix-multiply GFLOP/s, forward + backward, on a synthetic batch
  shape (``rnn_gflops_synthetic_shape``, ``rnn_gflops_packed_synthetic_shape``) and
  on the preset's own batches (``rnn_gflops_preset_batches``), against one large
  fp32 (bf16 on GPU) matrix product.

A figure with a goal is printed with it, and said to miss it, or to be unresolved
when its spread over repeats is not smaller than its distance from the goal. A human
table comes first; the last line is one JSON object.
"""

import argparse
import json
import operator
import platform
import sys
import time
from collections.abc import Callable

import torch
from hydra.utils import instantiate

from seqrec.api import Transcriber
from seqrec.bench.asr_rtf import measure_rtf
from seqrec.bench.common import build_task, compose_config
from seqrec.bench.ddp import ddp2_speedup
from seqrec.bench.gflops import gemm_gflops, rnn_gflops_preset_batches, rnn_gflops_synthetic_shape
from seqrec.bench.kws import kws_model, kws_ms_per_clip
from seqrec.bench.padding import measure_padding
from seqrec.bench.pipeline import bottleneck, train_pipeline_efficiency
from seqrec.inference import torch_transcriber

__all__ = ["GOALS", "MEASUREMENTS", "compose_config", "judge", "main", "run"]

MEASUREMENTS = (
    "train_pipeline_efficiency",
    "padding_efficiency",
    "asr_rtf",
    "kws_ms_per_clip",
    "ddp2_speedup",
    "rnn_gflops",
    "gemm_gflops",
)
# figure: (comparison, goal); the README quotes the same goals
GOALS = {
    "train_pipeline_efficiency": (">=", 0.9),
    "padding_efficiency": (">=", 0.9),
    "asr_rtf": ("<=", 0.02),
    "kws_ms_per_clip": ("<=", 5.0),
}
_COMPARE = {">=": operator.ge, "<=": operator.le}


def judge(results: dict[str, float]) -> dict[str, str]:
    """For each figure with a goal: ``met``, ``missed``, or ``unresolved`` when its
    spread (``_max`` - ``_min``, if measured) is not smaller than its distance from
    the goal."""
    verdicts = {}
    for name, (comparison, goal) in GOALS.items():
        if name not in results:
            continue
        value = results[name]
        spread = results.get(f"{name}_max", value) - results.get(f"{name}_min", value)
        verdict = "met" if _COMPARE[comparison](value, goal) else "missed"
        if spread > 0 and spread >= abs(value - goal):
            verdict = (
                f"unresolved: spread {spread:.4f} >= distance {abs(value - goal):.4f} from the goal"
            )
        verdicts[name] = f"{verdict} (goal {comparison} {goal})"
    return verdicts


def asr_model(cfg, checkpoint: str | None) -> Transcriber:
    if checkpoint:
        import seqrec

        return seqrec.load(checkpoint)
    datamodule = instantiate(cfg.data)
    task = build_task(cfg, datamodule)
    return torch_transcriber(task.model, task.tokenizer, datamodule.reader)


def run(argv: list[str] | None = None) -> dict:
    """Measure, print, and return the results."""
    parser = argparse.ArgumentParser(prog="seqrec-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--steps",
        type=int,
        default=60,
        help="timed optimizer steps per training run (default 60), after 3 warm-up steps",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="training runs for train_pipeline_efficiency, run pairs for ddp2_speedup (default 3)",
    )
    parser.add_argument(
        "--accelerator",
        choices=["cpu", "gpu"],
        default="cpu",
        help="where training and the rnn/gemm measurements run (default cpu); "
        "asr_rtf, kws_ms_per_clip and ddp2_speedup are CPU figures either way",
    )
    parser.add_argument(
        "--precision",
        default=None,
        help="Lightning precision for training (default 32-true on cpu, bf16-mixed on gpu)",
    )
    parser.add_argument("--asr-ckpt", default=None)
    parser.add_argument("--kws-ckpt", default=None)
    parser.add_argument(
        "--utterances",
        type=int,
        default=None,
        help="use the first N test utterances for asr_rtf (default: all)",
    )
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
    # what seqrec-train is run with for train_pipeline_efficiency; the config composed
    # from the same overrides serves every measurement
    train_overrides = [
        f"trainer={args.accelerator}",
        f"trainer.precision={precision}",
        f"threads={args.threads}",
        *args.overrides,
    ]
    cfg = compose_config("asr_synthetic", train_overrides)
    instantiate(cfg.data.prepare)()  # the corpus, if it is not there yet

    def asr() -> dict[str, float]:
        rtf = measure_rtf(
            asr_model(cfg, args.asr_ckpt), cfg.data.test_manifest, limit=args.utterances
        )
        return {
            "asr_rtf": rtf["greedy"]["rtf"],
            "asr_rtf_read_seconds": rtf["greedy"]["read_seconds"],
            "asr_rtf_audio_seconds": rtf["audio_seconds"],
            "asr_rtf_utterances": float(rtf["utterances"]),
        }

    def kws() -> dict[str, float]:
        torch.set_num_threads(1)
        try:  # beside the model, the preset with each recurrent cell: the cost of the choice
            return kws_ms_per_clip(
                {
                    "kws_ms_per_clip": kws_model(args.kws_ckpt),
                    **{
                        f"kws_ms_per_clip_{cell}": kws_model(None, [f"decoder.cell={cell}"])
                        for cell in ("lstm", "gru")
                    },
                }
            )
        finally:
            torch.set_num_threads(args.threads)

    measurements: dict[str, Callable[[], dict[str, float]]] = {
        "train_pipeline_efficiency": lambda: train_pipeline_efficiency(
            cfg, ["experiment=asr_synthetic", *train_overrides], args.steps, args.repeats
        ),
        "padding_efficiency": lambda: measure_padding(
            instantiate(cfg.data), int(cfg.data.reader.sample_rate), cfg.data.max_batch_seconds
        ),
        "asr_rtf": asr,
        "kws_ms_per_clip": kws,
        "ddp2_speedup": lambda: ddp2_speedup(
            cfg, args.overrides, args.threads, args.steps, args.repeats
        ),
        "rnn_gflops": lambda: {
            **rnn_gflops_synthetic_shape(cfg, device=device, dtype=dtype),
            **rnn_gflops_preset_batches(cfg, device=device, dtype=dtype),
        },
        "gemm_gflops": lambda: {
            "gemm_gflops": gemm_gflops(
                8192 if device == "cuda" else 2048, device=device, dtype=dtype or torch.float32
            )
        },
    }
    results: dict[str, float] = {}
    errors: dict[str, str] = {}
    durations: dict[str, float] = {}
    for name in (m for m in MEASUREMENTS if m not in skip):
        start = time.perf_counter()
        try:  # one failing measurement must not lose the others
            results.update(measurements[name]())
        except Exception as error:  # reported below; the exit status says so
            errors[name] = f"{type(error).__name__}: {error}"
        durations[name] = round(time.perf_counter() - start, 1)

    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    if device == "cuda":
        machine += f", {torch.cuda.get_device_name()}"
    extra: dict[str, object] = {
        "threads": args.threads,
        "machine": machine,
        "accelerator": args.accelerator,
        "precision": precision,
        "steps": args.steps,
        "repeats": args.repeats,
        "measurement_seconds": durations,
    }
    if "loader_samples_per_s" in results:
        extra["bound"] = bottleneck(results)
    verdicts = judge(results)
    if verdicts:
        extra["goals"] = verdicts
    print(
        f"seqrec-bench on {machine}, {args.threads} threads, {precision}, torch {torch.__version__}"
    )
    for key, value in results.items():
        print(f"  {key:34} {value:10.4f}  {verdicts.get(key, '')}".rstrip())
    if "bound" in extra:
        print(f"  {'training bound by':34} {extra['bound']}")
    for name, message in errors.items():
        print(f"  {name:34} FAILED: {message}")
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
