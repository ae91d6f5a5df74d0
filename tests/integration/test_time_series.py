"""The time-series recipe end to end on BasicMotions (bundled with aeon): a tiny
training run through the CLI, then what every seqrec model offers: seqrec.load and
classify on arrays and files, seqrec-eval with per-class accuracy, ONNX export and the
torch-free runtime, and DDP by override."""

import json

import numpy as np
import pytest

import seqrec
from seqrec.export import check_export, export_onnx
from tests.helpers import run_cli

pytest.importorskip("aeon")

TINY = [
    "experiment=ts_basic_motions",
    "trainer.max_epochs=2",
    "encoder.channels=[8,8,8]",
    "encoder.out_dim=8",
    "decoder.hidden=8",
    "trainer.enable_progress_bar=false",
]


@pytest.fixture(scope="module")
def ts_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ts")
    run = tmp / "run"
    run_cli("seqrec-train", *TINY, f"paths.data_dir={tmp / 'data'}", f"hydra.run.dir={run}",
            cwd=tmp)  # fmt: skip
    return run, tmp / "data" / "time_series" / "BasicMotions"


def test_a_series_model_trains_loads_classifies_evaluates_and_exports(ts_run, tmp_path):
    run, data = ts_run
    metrics = json.loads((run / "metrics.json").read_text())
    labels = ["badminton", "running", "standing", "walking"]
    assert {k for k in metrics if k.startswith("test/acc_class/")} == {
        f"test/acc_class/{label}" for label in labels
    }
    assert (run / "confusion_matrix.png").is_file()
    model = seqrec.load(run / "checkpoints" / "best.ckpt")
    assert model.modality == "series" and model.labels == [
        "badminton",
        "running",
        "standing",
        "walking",
    ]
    rows = [json.loads(line) for line in (data / "test.jsonl").open()]
    files = [data / row["series_filepath"] for row in rows[:6]]
    arrays = [np.load(f) for f in files]
    by_file, by_array = model.classify(files), model.classify(arrays)
    assert [p.label for p in by_file] == [p.label for p in by_array]
    assert [p.score for p in by_file] == pytest.approx([p.score for p in by_array], abs=1e-6)
    with pytest.raises(ValueError, match="series 0: a series for this model has 6 channel"):
        model.classify([np.zeros((10, 2))])
    out = tmp_path / "eval.json"
    run_cli("seqrec-eval", f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}",
            f"manifest={data / 'test.jsonl'}", f"output={out}", cwd=tmp_path)  # fmt: skip
    scored = json.loads(out.read_text())
    assert scored["num_examples"] == 40
    assert scored["acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert set(k for k in scored if k.startswith("acc_class/")) == {
        f"acc_class/{label}" for label in model.labels
    }
    onnx = export_onnx(model, tmp_path / "ts.onnx")
    assert "max |onnx - torch|" in check_export(model, onnx)
    runtime = seqrec.load(onnx)
    got = runtime.classify(files)
    assert [p.label for p in got] == [p.label for p in by_file]
    assert [p.score for p in got] == pytest.approx([p.score for p in by_file], abs=1e-4)


@pytest.mark.slow
def test_a_series_model_trains_under_ddp(tmp_path):
    run = tmp_path / "run"
    run_cli("seqrec-train", *TINY, f"paths.data_dir={tmp_path / 'data'}", "trainer=ddp",
            "trainer.accelerator=cpu", "trainer.devices=2", f"hydra.run.dir={run}",
            cwd=tmp_path)  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    # 32 training series in batches of 16: one batch per rank and epoch, 2 epochs
    assert metrics["global_step"] == 2 and 0.0 <= metrics["test/acc"] <= 1.0
    assert seqrec.load(run / "checkpoints" / "best.ckpt").modality == "series"
