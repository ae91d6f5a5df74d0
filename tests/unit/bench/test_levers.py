"""seqrec.bench.levers: a lever's row from its finished run, without training again."""

import json

from omegaconf import OmegaConf

from seqrec.bench.levers import run_lever, table


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
