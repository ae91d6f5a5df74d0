"""seqrec-bench-ts: the time-series recipe on the eight UCR/UEA problems bundled with
aeon, seqrec and its peers side by side on the same official splits, in one command.

For each problem and each seed it trains seqrec's preset (``experiment=ts_<problem>``:
trained on the training split less its validation share, the checkpoint chosen on
that validation share) and scores it on the official test split. Beside it, on the
same splits and seeds:

- aeon's ``MiniRocketClassifier`` (10,000 kernels, ridge regression), fitted on the
  whole training split as its authors do; series of unequal length are zero-padded to
  the longest series of the problem, which MiniRocket needs;
- sktime's ``InceptionTimeClassifierTorch`` (one network of the InceptionTime
  ensemble, in PyTorch; batches of 64, its default), fitted on the whole training
  split for ``--sktime-epochs``
  epochs, padded the same way, on ``--sktime-seeds`` seeds (it costs minutes per
  fit on 2 cores).

Every fit is timed alone, one after another (wall clock: seqrec's includes Lightning's
validation and test passes; MiniRocket's numba code is compiled once before any
timing). The figures print per run and as a table (mean ± std over seeds), and are
written as JSON to ``--out``.

    seqrec-bench-ts                                   # all eight, 5 seeds, both peers
    seqrec-bench-ts --problems gunpoint basic_motions --seeds 2 --no-sktime
    seqrec-bench-ts --table outputs/bench_time_series/results.json   # print a saved table
"""

import argparse
import json
import logging
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.bench.common import compose_config
from seqrec.data.time_series import load_problem

# experiment key (conf/experiment/ts_<key>.yaml) -> the problem's name in aeon
PROBLEMS = {
    "gunpoint": "GunPoint",
    "italy_power_demand": "ItalyPowerDemand",
    "arrowhead": "ArrowHead",
    "osuleaf": "OSULeaf",
    "acsf1": "ACSF1",
    "pickup_gesture": "PickupGestureWiimoteZ",
    "japanese_vowels": "JapaneseVowels",
    "basic_motions": "BasicMotions",
}

# Published accuracies on the official test splits; each with its source.
PUBLISHED: dict[str, list[tuple[str, float, str]]] = {
    "GunPoint": [
        ("InceptionTime, mean of 30 resamples", 0.995, "aeon InceptionTime_accuracy.csv"),
        ("MiniRocket, mean of 30 resamples", 0.992, "angus924/minirocket results_ucr109_mean.csv"),
    ],
    "ItalyPowerDemand": [
        ("InceptionTime, mean of 30 resamples", 0.960, "aeon InceptionTime_accuracy.csv"),
        ("MiniRocket, mean of 30 resamples", 0.960, "angus924/minirocket results_ucr109_mean.csv"),
    ],
    "ArrowHead": [
        ("InceptionTime, mean of 30 resamples", 0.880, "aeon InceptionTime_accuracy.csv"),
        ("MiniRocket, mean of 30 resamples", 0.881, "angus924/minirocket results_ucr109_mean.csv"),
    ],
    "OSULeaf": [
        ("InceptionTime, mean of 30 resamples", 0.953, "aeon InceptionTime_accuracy.csv"),
        ("MiniRocket, mean of 30 resamples", 0.958, "angus924/minirocket results_ucr109_mean.csv"),
    ],
    "ACSF1": [
        ("InceptionTime, mean of 30 resamples", 0.827, "aeon InceptionTime_accuracy.csv"),
        ("MiniRocket, mean of 30 resamples", 0.822, "angus924/minirocket results_ucr109_mean.csv"),
    ],
    "PickupGestureWiimoteZ": [
        ("InceptionTime, one run", 0.76, "hfawaz/InceptionTime results-InceptionTime-128.csv"),
        ("ROCKET, one run", 0.83, "MSD-IRIMAS/LITE results.csv"),
    ],
    "JapaneseVowels": [
        ("MLSTM-FCN", 1.00, "Karim et al. 2019"),
        ("LSTM-FCN", 0.99, "Karim et al. 2019"),
        ("FCN, mean of 10 runs", 0.993, "Fawaz et al. 2019, dl-4-tsc results-mts-avg-std.csv"),
    ],
    "BasicMotions": [("MiniRocket", 1.0, "aeon's example notebooks")],
}

log = logging.getLogger(__name__)


def padded(series: list[np.ndarray], length: int) -> np.ndarray:
    """(N, C, length) float array: each (T, C) series zero-padded after its end (its
    missing values, if any, filled first as the seqrec reader fills them)."""
    from seqrec.core.series import fill_missing

    out = np.zeros((len(series), series[0].shape[1], length))
    for i, values in enumerate(series):
        out[i, :, : values.shape[0]] = fill_missing(values).T
    return out


def problem_arrays(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The official splits as equal-length arrays, for the peers (padded to the
    longest series of either split, and at least the 9 steps MiniRocket needs)."""
    train_x, train_y = load_problem(name, "train")
    test_x, test_y = load_problem(name, "test")
    length = max(9, *(x.shape[0] for x in train_x + test_x))
    return padded(train_x, length), np.array(train_y), padded(test_x, length), np.array(test_y)


def run_seqrec(key: str, seed: int, out_dir: Path, overrides: list[str]) -> dict[str, Any]:
    from seqrec.train import train

    run_dir = out_dir / key / f"seed{seed}"
    cfg = compose_config(
        f"ts_{key}",
        [
            f"seed={seed}",
            f"paths.output_dir={run_dir}",
            "overwrite=true",
            "trainer.enable_progress_bar=false",
            *overrides,
        ],
    )
    began = time.perf_counter()
    metrics = train(cfg).metrics
    return {"acc": float(metrics["test/acc"]), "seconds": time.perf_counter() - began}


def run_minirocket(arrays: tuple, seed: int) -> dict[str, Any]:
    from aeon.classification.convolution_based import MiniRocketClassifier

    train_x, train_y, test_x, test_y = arrays
    began = time.perf_counter()
    model = MiniRocketClassifier(random_state=seed, n_jobs=1).fit(train_x, train_y)
    acc = float((model.predict(test_x) == test_y).mean())
    return {"acc": acc, "seconds": time.perf_counter() - began}


def run_sktime(arrays: tuple, seed: int, epochs: int) -> dict[str, Any]:
    from sktime.classification.deep_learning.inceptiontime import InceptionTimeClassifierTorch

    train_x, train_y, test_x, test_y = arrays
    began = time.perf_counter()
    model = InceptionTimeClassifierTorch(num_epochs=epochs, batch_size=64, random_state=seed)
    model.fit(train_x, train_y)
    acc = float((model.predict(test_x) == test_y).mean())
    return {"acc": acc, "seconds": time.perf_counter() - began}


def warm_up_minirocket() -> None:
    """Compile MiniRocket's numba code before any fit is timed."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    rng = np.random.default_rng(0)
    MiniRocketClassifier(n_kernels=84, random_state=0).fit(
        rng.standard_normal((8, 2, 20)), np.array([0, 1] * 4)
    )


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    accs = [r["acc"] for r in runs]
    return {
        "acc_mean": statistics.fmean(accs),
        "acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "seconds_mean": statistics.fmean(r["seconds"] for r in runs),
        "runs": len(runs),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    """The results as a Markdown table: accuracy mean ± std (seeds), seconds per fit."""
    systems = ["seqrec", "minirocket", "sktime_inceptiontime"]
    lines = [
        "| problem | seqrec BiLSTM | MiniRocket (aeon) | InceptionTime (sktime) | published |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        cells = []
        for system in systems:
            s = result.get(system)
            if not s:
                cells.append("–")
                continue
            seeds = f"{s['runs']} seed{'s' if s['runs'] > 1 else ''}"
            seconds = s["seconds_mean"]
            took = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
            cells.append(f"{s['acc_mean']:.3f} ± {s['acc_std']:.3f} ({seeds}, {took})")
        published = "; ".join(f"{what} {acc:.3f}" for what, acc, _ in PUBLISHED.get(name, []))
        lines.append(f"| {name} | {' | '.join(cells)} | {published} |")
    means = []
    for system in systems:
        accs = [r[system]["acc_mean"] for r in results.values() if system in r]
        means.append(f"{statistics.fmean(accs):.3f}" if len(accs) == len(results) else "–")
    lines.append(f"| mean of the {len(results)} | {' | '.join(means)} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="seqrec-bench-ts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--seeds", type=int, default=5, help="seqrec and MiniRocket seeds (5)")
    parser.add_argument("--sktime-seeds", type=int, default=1)
    parser.add_argument("--sktime-epochs", type=int, default=100)
    parser.add_argument("--no-sktime", action="store_true", help="leave the sktime peer out")
    parser.add_argument("--no-minirocket", action="store_true", help="leave MiniRocket out")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_time_series"))
    parser.add_argument("--override", action="append", default=[], help="a training override")
    parser.add_argument(
        "--table", type=Path, help="print the table of a results.json written before, and stop"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())["results"]))
        return
    for name in ("pytorch_lightning", "lightning_fabric", "seqrec"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    if not args.no_minirocket:
        warm_up_minirocket()
    results: dict[str, dict[str, Any]] = {}
    per_run: dict[str, dict[str, list[dict[str, Any]]]] = {}
    began = time.perf_counter()
    for key in args.problems:
        name = PROBLEMS[key]
        arrays = problem_arrays(name)
        runs: dict[str, list[dict[str, Any]]] = {
            "seqrec": [],
            "minirocket": [],
            "sktime_inceptiontime": [],
        }
        for seed in range(args.seeds):
            runs["seqrec"].append(run_seqrec(key, seed, args.out, args.override))
            print(f"{name} seed {seed} seqrec: {runs['seqrec'][-1]}", flush=True)
            if not args.no_minirocket:
                runs["minirocket"].append(run_minirocket(arrays, seed))
                print(f"{name} seed {seed} minirocket: {runs['minirocket'][-1]}", flush=True)
        if not args.no_sktime:
            for seed in range(args.sktime_seeds):
                runs["sktime_inceptiontime"].append(run_sktime(arrays, seed, args.sktime_epochs))
                print(f"{name} seed {seed} sktime: {runs['sktime_inceptiontime'][-1]}", flush=True)
        results[name] = {system: summary(r) for system, r in runs.items() if r}
        per_run[name] = runs
    report = {
        "results": results,
        "per_run": per_run,
        "published": PUBLISHED,
        "seeds": args.seeds,
        "sktime_seeds": 0 if args.no_sktime else args.sktime_seeds,
        "sktime_epochs": args.sktime_epochs,
        "overrides": args.override,
        "total_seconds": time.perf_counter() - began,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report["results"]))
    print(f"total {report['total_seconds'] / 60:.1f} min; results in {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
