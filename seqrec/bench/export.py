"""seqrec-bench-export: PyTorch eager against ONNX Runtime fp32 and int8, side by side.

    seqrec-bench-export --kws-ckpt <kws run>/checkpoints/best.ckpt \\
        --asr-ckpt <asr run>/checkpoints/best.ckpt --video-ckpt <video run>/checkpoints/best.ckpt

Each checkpoint given is exported twice (:func:`seqrec.export.export_onnx`: float, and
int8 by onnxruntime's dynamic quantisation), into ``--out-dir`` (default: a temporary
folder). The three versions of the model, ``torch`` (the checkpoint, eager), ``fp32``
and ``int8`` (:mod:`seqrec.runtime`), then run in one process on ``--threads``
threads (default 1: PyTorch's intra-op threads and onnxruntime's), taking turns, so
that a change in the machine's speed reaches them all alike:

- ``kws_ms_per_clip``: milliseconds to classify one 1 s clip held in memory
  (``classify_clips``), the median of ``--runs`` turns.
- ``kws_detect_rtf``: seconds per stream second to detect keywords
  (:mod:`seqrec.kws.detector`: 1 s windows every 100 ms, from chunks of 0.1 s held in
  memory) in ``--stream-seconds`` of the test clips end to end, the median of
  ``--repeats`` turns.
- ``asr_rtf``: seconds per audio second to transcribe the first ``--utterances`` of
  the test manifest from their files, greedy, in batches of 16 (``transcribe``:
  reading, resampling, the network, the search), the median of ``--repeats`` turns.
- ``video_clips_per_second``: clips classified per second, batches of 8 prepared
  clips of the reader's frames and size held in memory (:mod:`seqrec.runtime` takes
  prepared clips, not video files), the median of ``--runs`` turns.

Each test manifest given (``--kws-manifest`` and the others; the synthetic presets'
by default, where they exist) is then scored by all three with ``seqrec-eval``'s
code (:mod:`seqrec.inference.evaluate`): accuracy, or greedy CER and WER. The table gives each
figure, its ratio (fp32 / torch, int8 / fp32) and the goals of the ONNX export
(fp32 at most 0.7x PyTorch's time, int8 at most 0.6x fp32's, with at most 0.005
accuracy or 0.01 CER lost). The last line is one JSON object.
"""

import argparse
import functools
import json
import platform
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqrec.bench.common import in_turns
from seqrec.bench.kws import kws_ms_per_clip

VARIANTS = ("torch", "fp32", "int8")
GOALS = {
    "fp32/torch": 0.7,
    "int8/fp32": 0.6,
    "kws_acc_lost": 0.005,
    "asr_cer_added": 0.01,
    "detect_rtf": 0.05,  # always-on detection at most 5 % of one core (streaming issue)
}
DEFAULT_MANIFESTS = {
    "kws": "data/kws_synthetic/test.jsonl",
    "asr": "data/asr_synthetic/test.jsonl",
    "video": "data/video_synthetic/test.jsonl",
}


def load_variants(ckpt: str | Path, out_dir: Path, threads: int) -> dict[str, Any]:
    """The checkpoint (PyTorch, eager) and its float and int8 exports (onnxruntime on
    ``threads`` threads), exported into ``out_dir``."""
    import seqrec
    import seqrec.runtime
    from seqrec.export import check_export, export_onnx

    loaded = seqrec.load(ckpt)
    name = Path(ckpt).stem
    fp32 = export_onnx(loaded, out_dir / f"{loaded.reader.modality}-{name}.onnx")
    check_export(loaded, fp32)  # parity with PyTorch, or an error
    int8 = export_onnx(loaded, out_dir / f"{loaded.reader.modality}-{name}.int8.onnx", "int8")
    return {
        "torch": loaded,
        "fp32": seqrec.runtime.load(fp32, threads=threads),
        "int8": seqrec.runtime.load(int8, threads=threads),
    }


def kws_detect_rtf(
    models: dict[str, Any], manifest: str | Path | None, seconds: float, repeats: int
) -> dict[str, float]:
    """Median seconds per stream second of :func:`seqrec.kws.detector.detect`, 100 ms
    chunks in, on a stream of the manifest's clips end to end (noise if none)."""
    from seqrec.core.waveform import read_soundfile
    from seqrec.data.manifest import read_manifest

    rate = models["torch"].sample_rate
    samples = round(seconds * rate)
    parts, total = [], 0
    if manifest is not None and Path(manifest).is_file():
        for entry in read_manifest(manifest):
            if total >= samples:
                break
            wave, _ = read_soundfile(entry.path)
            parts.append(wave)
            total += wave.size
    rng = np.random.default_rng(0)
    stream = np.concatenate([*parts, 0.01 * rng.standard_normal(max(0, samples - total))])
    stream = stream[:samples].astype(np.float32)
    chunk = rate // 10
    chunks = [stream[i : i + chunk] for i in range(0, stream.size, chunk)]

    def run(model: Any) -> None:
        for _ in model.detect(chunks, threshold=0.99, hop_seconds=0.1, smooth_windows=3):
            pass

    calls = {name: functools.partial(run, model) for name, model in models.items()}
    times = in_turns(calls, repeats, warmup=1)
    return {name: statistics.median(t) / seconds for name, t in times.items()}


def asr_rtf(models: dict[str, Any], manifest: str | Path, utterances: int, repeats: int) -> dict:
    """Median seconds per audio second to transcribe the manifest's first ``utterances``
    from their files, and the audio seconds."""
    import soundfile

    from seqrec.data.manifest import read_manifest

    entries = read_manifest(manifest, target_key="text")[:utterances]
    if any(e.offset for e in entries):
        raise SystemExit(f"{manifest}: asr_rtf reads whole files; this manifest has segments")
    paths = [str(e.path) for e in entries]
    audio = sum(soundfile.info(p).duration for p in paths)
    calls = {
        name: (lambda m=model: m.transcribe(paths, batch_size=16)) for name, model in models.items()
    }
    seconds = in_turns(calls, repeats, warmup=1)
    return {"audio_seconds": audio, **{n: statistics.median(t) / audio for n, t in seconds.items()}}


def video_clips_per_second(models: dict[str, Any], runs: int, batch: int = 8) -> dict[str, float]:
    """Median clips per second, ``batch`` prepared clips at a time."""
    reader = models["torch"].reader
    shape = (reader.num_frames, 3, reader.transform.size, reader.transform.size)
    clips = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0)).numpy()
    names = [f"clip{i}" for i in range(batch)]
    calls = {
        name: functools.partial(
            model.classify_clips, [model.prepare(c) for c in clips], names, 1, batch_size=batch
        )
        for name, model in models.items()
    }
    return {name: batch / statistics.median(t) for name, t in in_turns(calls, runs).items()}


def scores(models: dict[str, Any], manifest: str | Path) -> dict[str, dict[str, float]]:
    """Each version's test figures on ``manifest``, as ``seqrec-eval`` prints them."""
    from seqrec.api import Transcribes
    from seqrec.inference.evaluate import evaluate_classifier, evaluate_transcriber

    figures = {}
    for name, model in models.items():
        if isinstance(model, Transcribes):
            r = evaluate_transcriber(model, manifest, batch_size=16)
            figures[name] = {"cer": r["cer"], "wer": r["wer"], "num_examples": r["num_examples"]}
        else:
            r = evaluate_classifier(model, manifest, batch_size=64)
            figures[name] = {"acc": r["acc"], "num_examples": r["num_examples"]}
    return figures


def verdict(value: float, goal: float) -> str:
    return "meets the goal" if value <= goal else f"misses the goal by {value - goal:.3g}"


def report(results: dict[str, Any]) -> list[str]:
    """The human table: each figure for torch, fp32 and int8, the ratios and the goals."""
    lines = [
        f"{'':26} {'torch':>10} {'fp32':>10} {'int8':>10} {'fp32/torch':>11} {'int8/fp32':>10}"
    ]
    for figure, lower_is_better in (
        ("kws_ms_per_clip", True),
        ("kws_detect_rtf", True),
        ("asr_rtf", True),
        ("video_clips_per_second", False),
    ):
        if figure not in results:
            continue
        r = results[figure]
        cost = (lambda v: v) if lower_is_better else (lambda v: 1.0 / v)  # ratios of time
        fp32, int8 = cost(r["fp32"]) / cost(r["torch"]), cost(r["int8"]) / cost(r["fp32"])
        r["fp32/torch"], r["int8/fp32"] = fp32, int8
        lines.append(
            f"{figure:26} {r['torch']:10.4g} {r['fp32']:10.4g} {r['int8']:10.4g} {fp32:11.3f} {int8:10.3f}"
        )
        if figure == "kws_detect_rtf":
            lines.append(
                f"{'':26}   RTF of detection: " + "; ".join(
                    f"{v} {verdict(r[v], GOALS['detect_rtf'])}" for v in VARIANTS
                ) + f" (<= {GOALS['detect_rtf']})"
            )  # fmt: skip
        elif figure != "video_clips_per_second":
            lines.append(
                f"{'':26}   fp32/torch {verdict(fp32, GOALS['fp32/torch'])} (<= "
                f"{GOALS['fp32/torch']}); int8/fp32 {verdict(int8, GOALS['int8/fp32'])} (<= "
                f"{GOALS['int8/fp32']})"
            )
    for kind, figures in results.get("scores", {}).items():
        metrics = [k for k in figures["torch"] if k != "num_examples"]
        for metric in metrics:
            values = [figures[v][metric] for v in VARIANTS]
            lines.append(
                f"{kind + ' ' + metric:26} {values[0]:10.4f} {values[1]:10.4f} {values[2]:10.4f}"
                f"   ({figures['torch']['num_examples']} test items)"
            )
        if kind == "kws":
            lost = figures["fp32"]["acc"] - figures["int8"]["acc"]
            lines.append(
                f"{'':26}   int8 loses {lost:+.4f} accuracy: {verdict(lost, GOALS['kws_acc_lost'])}"
            )
        if kind == "asr":
            added = figures["int8"]["cer"] - figures["fp32"]["cer"]
            lines.append(
                f"{'':26}   int8 adds {added:+.4f} CER: {verdict(added, GOALS['asr_cer_added'])}"
            )
    return lines


def run(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"threads": args.threads, "scores": {}}
    for kind, ckpt in (("kws", args.kws_ckpt), ("asr", args.asr_ckpt), ("video", args.video_ckpt)):
        if not ckpt:
            continue
        models = load_variants(ckpt, out_dir, args.threads)
        model = models["torch"]
        found = (
            "asr"
            if model.kind == "speech-to-text model"
            else {"audio": "kws"}.get(model.modality, "video")
        )
        if found != kind:
            raise SystemExit(f"--{kind}-ckpt {ckpt}: a {model.modality} {model.kind}, not {kind}")
        if kind == "kws":
            results["kws_ms_per_clip"] = kws_ms_per_clip(models, args.runs)
            manifest = args.kws_manifest or DEFAULT_MANIFESTS["kws"]
            results["kws_detect_rtf"] = kws_detect_rtf(
                models, manifest, args.stream_seconds, args.repeats
            )
        elif kind == "asr":
            manifest = Path(args.asr_manifest or DEFAULT_MANIFESTS["asr"])
            if not manifest.is_file():
                raise SystemExit(f"asr_rtf: no test manifest at {manifest}; give --asr-manifest")
            results["asr_rtf"] = asr_rtf(models, manifest, args.utterances, args.repeats)
        else:
            results["video_clips_per_second"] = video_clips_per_second(models, args.runs)
        given = getattr(args, f"{kind}_manifest")
        manifest = Path(given or DEFAULT_MANIFESTS[kind])
        if args.no_scores:
            continue
        if manifest.is_file():
            results["scores"][kind] = scores(models, manifest)
        elif given:
            raise SystemExit(f"--{kind}-manifest {manifest}: file not found")
        else:
            print(f"no {kind} test manifest at {manifest} (--{kind}-manifest): no {kind} scores")
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kws-ckpt", help="a voice-commands checkpoint")
    parser.add_argument("--asr-ckpt", help="a speech-to-text checkpoint")
    parser.add_argument("--video-ckpt", help="a video classifier checkpoint")
    for kind, default in DEFAULT_MANIFESTS.items():
        parser.add_argument(f"--{kind}-manifest", help=f"test manifest (default: {default})")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=200, help="turns for KWS and video timing")
    parser.add_argument("--repeats", type=int, default=3, help="turns over the ASR utterances")
    parser.add_argument("--utterances", type=int, default=100, help="ASR utterances timed")
    parser.add_argument(
        "--stream-seconds", type=float, default=60.0, help="stream length for kws_detect_rtf"
    )
    parser.add_argument("--no-scores", action="store_true", help="time only; no test figures")
    parser.add_argument("--out-dir", help="keep the exported files here")
    args = parser.parse_args(argv)
    if not (args.kws_ckpt or args.asr_ckpt or args.video_ckpt):
        parser.error("give at least one of --kws-ckpt, --asr-ckpt, --video-ckpt")
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(args.out_dir or tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        results = run(args, out_dir)
    machine = f"{platform.processor() or platform.machine()}, {args.threads} thread(s)"
    import onnxruntime

    print(f"PyTorch {torch.__version__} eager, onnxruntime {onnxruntime.__version__}; {machine}")
    if "asr_rtf" in results:
        print(f"asr_rtf over {results['asr_rtf']['audio_seconds']:.1f} s of test audio, from files")
    for line in report(results):
        print(line)
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
