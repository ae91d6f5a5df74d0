"""seqrec-levers: train a recipe once per lever and score each run in-domain, on the
held-out synthesizer (and any other, ``more_heldout``) and, where the lever set names
one (``real``), on recordings of real speakers, so a user sees what each lever buys.

    seqrec-levers                                    # the voice-commands levers, seed 0
    seqrec-levers only=[baseline,clips] seeds=[0,1]
    seqrec-levers lever_set=asr_synthetic

A lever set (``conf/lever_set/<name>.yaml``) names the ``experiment``, the overrides every
run shares (``common``), the held-out manifest, and each lever as a list of Hydra
overrides for seqrec-train. Each run is one ``seqrec-train`` process
(``<out>/<lever>/seed<seed>``), timed by the wall clock from start to end (corpus
synthesis included when a lever's corpus does not exist yet); its test figure comes
from the run's ``metrics.json`` and its held-out figure from ``seqrec-eval`` on the
checkpoint it tested (``heldout.json``, one file per scored set). A run whose files exist
is not run again,
so an interrupted table resumes. The table is printed and written to
``<out>/levers.md``, with every figure in ``<out>/levers.json``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from seqrec.config import conf_dir, register_resolvers

register_resolvers()


def run_lever(
    cfg: DictConfig, lever: str, overrides: list[str], seed: int, out: Path
) -> dict[str, Any]:
    """Train one lever with one seed (unless already done) and score it; its row."""
    run = out / lever / f"seed{seed}"
    metrics_path = run / "metrics.json"
    timing = run / "wall_seconds.txt"
    if not (metrics_path.is_file() and timing.is_file()):
        command = [
            "seqrec-train",
            f"experiment={cfg.experiment}",
            f"seed={seed}",
            f"hydra.run.dir={run}",
            *cfg.common,
            *overrides,
        ]
        print(f"[{lever} seed {seed}] {' '.join(command)}", flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        timing.write_text(f"{time.perf_counter() - start:.1f}\n")
    metrics = json.loads(metrics_path.read_text())
    checkpoint = metrics["evaluated_checkpoint"]
    row = {
        "lever": lever,
        "seed": seed,
        "overrides": list(overrides),
        "in_domain": {key: metrics[f"test/{key}"] for key in cfg.figures},
        "wall_seconds": float(timing.read_text()),
        "checkpoint": checkpoint,
    }
    for name, scored in scored_sets(cfg).items():  # measured, never trained on
        path = run / f"{name}.json"
        if not path.is_file():
            subprocess.run(
                [
                    "seqrec-eval",
                    f"ckpt_path={checkpoint}",
                    f"manifest={scored['manifest']}",
                    f"output={path}",
                    f"threads={cfg.eval_threads}",
                ],
                check=True,
            )
        figures = json.loads(path.read_text())
        row[name] = {key: figures[key] for key in cfg.figures}
    return row


def scored_sets(cfg: DictConfig) -> dict[str, dict[str, str]]:
    """The sets each run is scored on besides its own test split, in column order:
    ``heldout`` (the held-out synthesizer), each of ``more_heldout`` (more held-out
    synthesizers: ``{name: {manifest, build, title}}``) and ``real`` if set; each as
    ``{manifest, build, title}``."""
    sets = {
        "heldout": {
            "manifest": cfg.heldout,
            "build": f"{cfg.get('build_heldout')} (needs pip install -e '.[voices]')",
            "title": TITLES["heldout"],
        }
    }
    for name, spec in (cfg.get("more_heldout") or {}).items():
        sets[name] = dict(spec)
    if cfg.get("real"):
        sets["real"] = {
            "manifest": cfg.real,
            "build": cfg.get("build_real"),
            "title": TITLES["real"],
        }
    return sets


TITLES = {
    "in_domain": "in-domain test",
    "heldout": "held-out synthesizer",
    "real": "real speakers",
}


def table(
    rows: list[dict[str, Any]], figures: list[str], titles: dict[str, str] | None = None
) -> str:
    """The rows as a markdown table, one line per lever and seed; a column per figure
    of each set in ``titles`` (the in-domain test, then :func:`scored_sets`' titles;
    default: in-domain, held-out synthesizer).

    >>> row = {"lever": "baseline", "seed": 0, "overrides": [], "wall_seconds": 421.0,
    ...        "in_domain": {"acc": 0.96}, "heldout": {"acc": 0.505}}
    >>> print(table([row], ["acc"]).splitlines()[-1])
    | baseline | 0 | 0.9600 | 0.5050 | 7 min 01 s | (none) |
    """
    titles = titles or {part: TITLES[part] for part in ("in_domain", "heldout")}
    parts = list(titles)
    names = [f"{titles[part]} {key}" for part in parts for key in figures]
    lines = [
        f"| lever | seed | {' | '.join(names)} | training wall time | overrides |",
        "|" + "---|" * (len(names) + 4),
    ]
    for row in rows:
        minutes, seconds = divmod(round(row["wall_seconds"]), 60)
        overrides = " ".join(f"`{o}`" for o in row["overrides"]) or "(none)"
        values = [f"{row[part][key]:.4f}" for part in parts for key in figures]
        lines.append(
            f"| {row['lever']} | {row['seed']} | {' | '.join(values)} | "
            f"{minutes} min {seconds:02d} s | {overrides} |"
        )
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="levers")
def main(cfg: DictConfig) -> None:
    levers = OmegaConf.to_container(cfg.levers, resolve=True)
    chosen = list(cfg.only) if cfg.get("only") else list(levers)
    unknown = sorted(set(chosen) - set(levers))
    if unknown:
        raise SystemExit(f"seqrec-levers: no lever {unknown}; the file has {sorted(levers)}")
    sets = scored_sets(cfg)
    for scored in sets.values():
        if not Path(scored["manifest"]).is_file():
            raise SystemExit(
                f"seqrec-levers: {scored['manifest']} ({scored['title']}) does not exist; "
                f"build it with `{scored['build']}`"
            )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for lever in chosen:
        for seed in cfg.seeds:
            rows.append(run_lever(cfg, lever, list(levers[lever]), int(seed), out))
    titles = {"in_domain": TITLES["in_domain"]} | {k: v["title"] for k, v in sets.items()}
    text = table(rows, list(cfg.figures), titles)
    (out / "levers.md").write_text(text + "\n")
    (out / "levers.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(text)
    print(f"written: {out / 'levers.md'}, {out / 'levers.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
