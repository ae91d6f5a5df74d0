"""seqrec.bench.levers: a lever's row from its finished run, without training again."""

import json
from pathlib import Path

from omegaconf import OmegaConf

from seqrec.bench.levers import run_lever, scored_sets, table


def test_a_finished_run_is_read_not_run_again(tmp_path, monkeypatch):
    run = tmp_path / "clips" / "seed1"
    run.mkdir(parents=True)
    metrics = {"evaluated_checkpoint": str(run / "best.ckpt"), "test/acc": 0.95, "test/loss": 1}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "heldout.json").write_text(json.dumps({"acc": 0.61, "skipped": 0}))
    (run / "wall_seconds.txt").write_text("432.5\n")

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr("subprocess.run", no_subprocess)
    cfg = OmegaConf.create(
        {"experiment": "kws_synthetic", "common": [], "heldout": "h.jsonl", "eval_threads": 1,
         "figures": ["acc"]}
    )  # fmt: skip
    row = run_lever(cfg, "clips", ["data.prepare.clean_share=0.3"], 1, tmp_path)
    assert row["in_domain"] == {"acc": 0.95} and row["heldout"] == {"acc": 0.61}
    assert row["wall_seconds"] == 432.5 and row["checkpoint"] == str(run / "best.ckpt")
    lines = table([row], ["acc"]).splitlines()
    assert (
        lines[-1] == "| clips | 1 | 0.9500 | 0.6100 | 7 min 12 s | `data.prepare.clean_share=0.3` |"
    )
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")


def test_each_scored_set_is_a_column_in_order_and_each_missing_figure_is_measured(
    tmp_path, monkeypatch
):
    run = tmp_path / "mix" / "seed0"
    run.mkdir(parents=True)
    metrics = {"evaluated_checkpoint": str(run / "best.ckpt"), "test/acc": 0.9}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "wall_seconds.txt").write_text("60\n")
    (run / "heldout.json").write_text(json.dumps({"acc": 0.7}))
    evaluated = []

    def fake_eval(command, check):  # seqrec-eval writes its output file
        manifest = next(a.split("=", 1)[1] for a in command if a.startswith("manifest="))
        output = next(a.split("=", 1)[1] for a in command if a.startswith("output="))
        evaluated.append(manifest)
        Path(output).write_text(json.dumps({"acc": {"g.jsonl": 0.5, "r.jsonl": 0.8}[manifest]}))

    monkeypatch.setattr("subprocess.run", fake_eval)
    cfg = OmegaConf.create(
        {"experiment": "kws_embedding", "common": [], "heldout": "h.jsonl", "eval_threads": 1,
         "figures": ["acc"], "real": "r.jsonl",
         "more_heldout": {"gnuspeech": {"manifest": "g.jsonl", "build": "b", "title": "GnuSpeech"}}}
    )  # fmt: skip
    row = run_lever(cfg, "mix", [], 0, tmp_path)
    assert evaluated == ["g.jsonl", "r.jsonl"]  # heldout.json was there already
    assert row["heldout"] == {"acc": 0.7} and row["gnuspeech"] == {"acc": 0.5}
    assert row["real"] == {"acc": 0.8}
    sets = scored_sets(cfg)
    assert list(sets) == ["heldout", "gnuspeech", "real"]
    titles = {"in_domain": "in-domain test"} | {k: v["title"] for k, v in sets.items()}
    header, _, line = table([row], ["acc"], titles).splitlines()
    assert "held-out synthesizer acc | GnuSpeech acc | real speakers acc" in header
    assert line == "| mix | 0 | 0.9000 | 0.7000 | 0.5000 | 0.8000 | 1 min 00 s | (none) |"
